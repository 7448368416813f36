/* Convolution and max-pooling against the naive references, over
 * geometries with odd sizes, strides above and below the kernel, 1x1
 * kernels and rectangular kernels; "same" padding; im2col and col2im as
 * adjoints; gradient bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/conv.h"
#include "plastic/nn/nn_ref.h"
#include "plastic/nn/pool.h"

#include "support.h"

/* in_c, in_h, in_w, out_c, k_h, k_w, stride */
static const int convs[][7] = {
    {1, 28, 28, 4, 5, 5, 1}, {3, 7, 9, 4, 3, 3, 1}, {2, 9, 8, 3, 5, 5, 2}, {2, 7, 7, 2, 2, 3, 3},
    {5, 6, 5, 3, 1, 1, 1},   {4, 7, 6, 2, 1, 1, 2}, {1, 1, 1, 2, 1, 1, 1}, {3, 4, 4, 6, 4, 4, 1},
};
enum { NCONV = sizeof convs / sizeof convs[0], B = 3 };

static void geom(pl_conv_geom *g, int s)
{
    const int *c = convs[s];
    pl_conv_geom_same(g, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
}

static void check_all(const float *got, const float *ref, long n, double tol, const char *what)
{
    for (long i = 0; i < n; i++)
        check_close(got[i], ref[i], tol, tol, what, i);
}

static void same_padding(void **state)
{
    (void)state;
    pl_conv_geom g;
    pl_conv_geom_same(&g, 1, 28, 28, 8, 5, 5, 1); /* 28, pad 2 + 2 */
    assert_int_equal(g.out_h, 28);
    assert_int_equal(g.pad_top, 2);
    pl_conv_geom_same(&g, 1, 28, 28, 8, 3, 3, 2); /* 14, pad 0 + 1 */
    assert_int_equal(g.out_h, 14);
    assert_int_equal(g.pad_top, 0);
    pl_conv_geom_same(&g, 1, 7, 9, 8, 4, 2, 1); /* 7x9, pad 1 + 2 and 0 + 1 */
    assert_int_equal(g.out_h, 7);
    assert_int_equal(g.out_w, 9);
    assert_int_equal(g.pad_top, 1);
    assert_int_equal(g.pad_left, 0);
    pl_pool_geom p;
    pl_pool_geom_same(&p, 3, 7, 7, 2, 2, 2); /* 4, pad 0 + 1 */
    assert_int_equal(p.out_h, 4);
    assert_int_equal(p.pad_top, 0);
    pl_pool_geom_same(&p, 3, 8, 8, 3, 3, 2); /* 4, pad 0 + 1 */
    assert_int_equal(p.out_w, 4);
}

/* <im2col(x), c> = <x, col2im(c)> */
static void im2col_adjoint(void **state)
{
    (void)state;
    for (int s = 0; s < NCONV; s++) {
        pl_conv_geom g;
        geom(&g, s);
        long n = pl_conv_in_size(&g), m = pl_conv_col_size(&g);
        float *x = alloc_uniform(n, 1, (uint64_t)s, -1, 1), *c = alloc_uniform(m, 2, (uint64_t)s, -1, 1);
        float *col = pl_alloc(sizeof(float) * m), *back = pl_calloc((size_t)n, sizeof(float));
        pl_im2col(&g, x, col);
        pl_col2im_add(&g, c, back);
        double left = 0, right = 0;
        for (long i = 0; i < m; i++)
            left += (double)col[i] * c[i];
        for (long i = 0; i < n; i++)
            right += (double)x[i] * back[i];
        check_close(left, right, 1e-6, 1e-6, "adjoint", s); /* back sums in float */
        pl_free(x), pl_free(c), pl_free(col), pl_free(back);
    }
}

static void conv_matches_reference(void **state)
{
    (void)state;
    for (int s = 0; s < NCONV; s++) {
        pl_conv_geom g;
        geom(&g, s);
        long in = pl_conv_in_size(&g), out = pl_conv_out_size(&g), nw = pl_conv_w_size(&g);
        float *x = alloc_uniform(B * in, 3, (uint64_t)s, -1, 1);
        float *W = alloc_uniform(nw, 4, (uint64_t)s, -1, 1);
        float *b = alloc_uniform(g.out_c, 5, (uint64_t)s, -1, 1);
        float *d = alloc_uniform(B * out, 6, (uint64_t)s, -1, 1);
        float *col = pl_alloc(sizeof(float) * pl_conv_col_size(&g));
        float *y = pl_alloc(sizeof(float) * B * out), *ry = pl_alloc(sizeof(float) * B * out);
        float *dW = alloc_uniform(nw, 7, (uint64_t)s, -9, 9), *rW = pl_alloc(sizeof(float) * nw);
        float *db = pl_alloc(sizeof(float) * g.out_c), *rb = pl_alloc(sizeof(float) * g.out_c);
        float *dx = alloc_uniform(B * in, 8, (uint64_t)s, -9, 9), *rx = pl_alloc(sizeof(float) * B * in);

        pl_conv_forward(&g, y, x, W, b, B, col);
        pl_ref_conv_forward(&g, ry, x, W, b, B);
        check_all(y, ry, B * out, 1e-5, "y");

        pl_conv_backward_weights(&g, dW, db, d, x, B, col, 0.0f);
        pl_ref_conv_backward_weights(&g, rW, rb, d, x, B);
        check_all(dW, rW, nw, 1e-4, "dW");
        check_all(db, rb, g.out_c, 1e-4, "db");
        pl_conv_backward_weights(&g, dW, db, d, x, B, col, 1.0f);
        for (long i = 0; i < nw; i++)
            check_close(dW[i], 2.0 * rW[i], 1e-4, 1e-4, "dW + dW", i);

        pl_conv_backward_input(&g, dx, d, W, B, col, 0.0f);
        pl_ref_conv_backward_input(&g, rx, d, W, B);
        check_all(dx, rx, B * in, 1e-5, "dx");
        pl_conv_backward_input(&g, dx, d, W, B, col, 1.0f);
        for (long i = 0; i < B * in; i++)
            check_close(dx[i], 2.0 * rx[i], 1e-5, 1e-5, "dx + dx", i);

        double bW, bb;
        pl_conv_grad_bound(&g, d, x, B, &bW, &bb);
        for (long i = 0; i < nw; i++)
            assert_true(fabs(rW[i]) <= bW * (1 + 1e-6));
        for (int i = 0; i < g.out_c; i++)
            assert_true(fabs(rb[i]) <= bb * (1 + 1e-6));
        pl_free(x), pl_free(W), pl_free(b), pl_free(d), pl_free(col), pl_free(y), pl_free(ry);
        pl_free(dW), pl_free(rW), pl_free(db), pl_free(rb), pl_free(dx), pl_free(rx);
    }
}

/* c, in_h, in_w, k_h, k_w, stride */
static const int pools[][6] = {{3, 8, 8, 2, 2, 2}, {2, 7, 7, 2, 2, 2}, {2, 9, 7, 3, 3, 2},
                               {1, 5, 6, 2, 2, 1}, {2, 6, 6, 3, 2, 3}, {1, 4, 4, 4, 4, 4}};
enum { NPOOL = sizeof pools / sizeof pools[0] };

static void pool_matches_reference(void **state)
{
    (void)state;
    for (int s = 0; s < NPOOL; s++) {
        const int *p = pools[s];
        pl_pool_geom g;
        pl_pool_geom_same(&g, p[0], p[1], p[2], p[3], p[4], p[5]);
        long in = pl_pool_in_size(&g), out = pl_pool_out_size(&g);
        float *x = alloc_uniform(B * in, 9, (uint64_t)s, -1, 1);
        for (long i = 0; i < B * in; i += 5) /* ties: the first of equal ones wins */
            x[i] = 0.25f;
        float *dy = alloc_uniform(B * out, 10, (uint64_t)s, -1, 1);
        float *y = pl_alloc(sizeof(float) * B * out), *ry = pl_alloc(sizeof(float) * B * out);
        int32_t *arg = pl_alloc(sizeof(int32_t) * B * out);
        float *dx = alloc_uniform(B * in, 11, (uint64_t)s, -9, 9), *rx = pl_alloc(sizeof(float) * B * in);
        pl_maxpool_forward(&g, y, arg, x, B);
        pl_ref_maxpool_forward(&g, ry, x, B);
        assert_memory_equal(y, ry, sizeof(float) * B * out);
        pl_maxpool_backward(&g, dx, dy, arg, B, 0.0f);
        pl_ref_maxpool_backward(&g, rx, dy, x, B);
        check_all(dx, rx, B * in, 1e-6, "dx");
        pl_maxpool_backward(&g, dx, dy, arg, B, 1.0f);
        for (long i = 0; i < B * in; i++)
            check_close(dx[i], 2.0 * rx[i], 1e-6, 1e-6, "dx + dx", i);
        pl_free(x), pl_free(dy), pl_free(y), pl_free(ry), pl_free(arg), pl_free(dx), pl_free(rx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_padding),
        cmocka_unit_test(im2col_adjoint),
        cmocka_unit_test(conv_matches_reference),
        cmocka_unit_test(pool_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
