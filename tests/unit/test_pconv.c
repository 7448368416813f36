/* The perturbative layer (src/nn/pconv.c) against the naive references,
 * over geometries with one and several channels and maps, 1x1 images and
 * a 28x28 one, noise that flips the relu often; products added onto a
 * previous value; rows in pieces bitwise the rows at once; gradient
 * bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/nn_ref.h"
#include "plastic/nn/pconv.h"

#include "support.h"

/* in_c, h, w, maps, out_c */
static const int geoms[][5] = {{1, 5, 7, 3, 4}, {3, 4, 4, 2, 5}, {2, 1, 1, 4, 3},
                               {1, 28, 28, 2, 3}, {4, 3, 5, 1, 2}, {2, 6, 3, 5, 1}};
enum { NGEOM = sizeof geoms / sizeof geoms[0], B = 3 };

static pl_pconv_geom geom(int s)
{
    const int *g = geoms[s];
    return (pl_pconv_geom){g[0], g[1], g[2], g[3], g[4]};
}

static void check_all(const float *got, const float *ref, long n, double atol, double rtol,
                      const char *what)
{
    for (long i = 0; i < n; i++)
        check_close(got[i], ref[i], atol, rtol, what, i);
}

static void sizes(void **state)
{
    (void)state;
    pl_pconv_geom g = {3, 4, 5, 2, 7};
    assert_int_equal(pl_pconv_in_size(&g), 3 * 20);
    assert_int_equal(pl_pconv_out_size(&g), 7 * 20);
    assert_int_equal(pl_pconv_w_size(&g), 7 * 3 * 2);
    assert_int_equal(pl_pconv_noise_size(&g), 3 * 2 * 20);
    assert_int_equal(pl_pconv_scratch_size(&g), 3 * 2 * 20);
}

/* a[c M + m] = relu(x[c] + N[c M + m]), exactly, and a NaN passes on. */
static void perturb_is_the_relu_of_the_sum(void **state)
{
    (void)state;
    pl_pconv_geom g = {2, 3, 3, 3, 1};
    const long hw = 9, n = pl_pconv_noise_size(&g);
    float *x = alloc_uniform(pl_pconv_in_size(&g), 1, 0, -1, 1);
    float *N = alloc_uniform(n, 2, 0, -1, 1), *a = pl_alloc(sizeof(float) * n);
    x[4] = NAN;
    pl_pconv_perturb(&g, x, N, a);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < 3; m++)
            for (long p = 0; p < hw; p++) {
                float v = x[c * hw + p] + N[(c * 3 + m) * hw + p];
                float got = a[(c * 3 + m) * hw + p];
                if (c == 0 && p == 4)
                    assert_true(isnan(got));
                else
                    assert_true(got == (v > 0.0f ? v : 0.0f));
            }
    pl_free(x), pl_free(N), pl_free(a);
}

static void pconv_matches_reference(void **state)
{
    (void)state;
    for (int s = 0; s < NGEOM; s++) {
        const pl_pconv_geom g = geom(s);
        const long in = pl_pconv_in_size(&g), out = pl_pconv_out_size(&g);
        const long nw = pl_pconv_w_size(&g), nn = pl_pconv_noise_size(&g);
        float *x = alloc_uniform(B * in, 3, (uint64_t)s, -1, 1);
        float *N = alloc_uniform(nn, 4, (uint64_t)s, -0.8, 0.8); /* flips about half the relus */
        float *V = alloc_uniform(nw, 5, (uint64_t)s, -1, 1);
        float *b = alloc_uniform(g.out_c, 6, (uint64_t)s, -1, 1);
        float *d = alloc_uniform(B * out, 7, (uint64_t)s, -1, 1);
        float *scratch = pl_alloc(sizeof(float) * pl_pconv_scratch_size(&g));
        float *y = pl_alloc(sizeof(float) * B * out), *ry = pl_alloc(sizeof(float) * B * out);
        float *dV = alloc_uniform(nw, 8, (uint64_t)s, -9, 9), *rV = pl_alloc(sizeof(float) * nw);
        float *db = pl_alloc(sizeof(float) * g.out_c), *rb = pl_alloc(sizeof(float) * g.out_c);
        float *dx = alloc_uniform(B * in, 9, (uint64_t)s, -9, 9);
        float *rx = pl_alloc(sizeof(float) * B * in);

        pl_pconv_forward(&g, y, x, N, V, b, B, scratch);
        pl_ref_pconv_forward(&g, ry, x, N, V, b, B);
        check_all(y, ry, B * out, 1e-5, 1e-5, "y");

        pl_pconv_backward_weights(&g, dV, db, d, x, N, B, scratch, 0.0f);
        pl_ref_pconv_backward_weights(&g, rV, rb, d, x, N, B);
        check_all(dV, rV, nw, 1e-4, 1e-5, "dV");
        check_all(db, rb, g.out_c, 1e-4, 1e-5, "db");
        pl_pconv_backward_weights(&g, dV, db, d, x, N, B, scratch, 1.0f);
        for (long i = 0; i < nw; i++)
            check_close(dV[i], 2.0 * rV[i], 1e-4, 1e-5, "dV + dV", i);

        pl_pconv_backward_input(&g, dx, d, V, x, N, B, scratch, 0.0f);
        pl_ref_pconv_backward_input(&g, rx, d, V, x, N, B);
        check_all(dx, rx, B * in, 1e-5, 1e-5, "dx");
        pl_pconv_backward_input(&g, dx, d, V, x, N, B, scratch, 1.0f);
        for (long i = 0; i < B * in; i++)
            check_close(dx[i], 2.0 * rx[i], 1e-5, 1e-5, "dx + dx", i);

        double bW, bb;
        pl_pconv_grad_bound(&g, d, x, N, B, &bW, &bb);
        for (long i = 0; i < nw; i++)
            assert_true(fabs(rV[i]) <= bW * (1 + 1e-6));
        for (int i = 0; i < g.out_c; i++)
            assert_true(fabs(rb[i]) <= bb * (1 + 1e-6));
        pl_free(x), pl_free(N), pl_free(V), pl_free(b), pl_free(d), pl_free(scratch);
        pl_free(y), pl_free(ry), pl_free(dV), pl_free(rV), pl_free(db), pl_free(rb);
        pl_free(dx), pl_free(rx);
    }
}

/* One example at a time gives the bits of all at once (each is its own
 * SGEMM), so a chunk's rows do not depend on where the chunk starts. */
static void rows_in_pieces_are_bitwise_the_same(void **state)
{
    (void)state;
    const pl_pconv_geom g = geom(1);
    enum { R = 5 };
    const long in = pl_pconv_in_size(&g), out = pl_pconv_out_size(&g), nw = pl_pconv_w_size(&g);
    float *x = alloc_uniform(R * in, 10, 0, -1, 1);
    float *N = alloc_uniform(pl_pconv_noise_size(&g), 11, 0, -0.5, 0.5);
    float *V = alloc_uniform(nw, 12, 0, -1, 1), *b = alloc_uniform(g.out_c, 13, 0, -1, 1);
    float *d = alloc_uniform(R * out, 14, 0, -1, 1);
    float *scratch = pl_alloc(sizeof(float) * pl_pconv_scratch_size(&g));
    float *whole = pl_alloc(sizeof(float) * R * out), *parts = pl_alloc(sizeof(float) * R * out);
    float *dxw = pl_alloc(sizeof(float) * R * in), *dxp = pl_alloc(sizeof(float) * R * in);
    float *dVw = pl_alloc(sizeof(float) * nw), *dVp = pl_alloc(sizeof(float) * nw);
    pl_pconv_forward(&g, whole, x, N, V, b, R, scratch);
    pl_pconv_backward_input(&g, dxw, d, V, x, N, R, scratch, 0.0f);
    pl_pconv_backward_weights(&g, dVw, NULL, d, x, N, R, scratch, 0.0f);
    for (int r = 0; r < R; r++) {
        pl_pconv_forward(&g, parts + r * out, x + r * in, N, V, b, 1, scratch);
        pl_pconv_backward_input(&g, dxp + r * in, d + r * out, V, x + r * in, N, 1, scratch,
                                0.0f);
        pl_pconv_backward_weights(&g, dVp, NULL, d + r * out, x + r * in, N, 1, scratch,
                                  r == 0 ? 0.0f : 1.0f);
    }
    assert_memory_equal(whole, parts, sizeof(float) * R * out);
    assert_memory_equal(dxw, dxp, sizeof(float) * R * in);
    assert_memory_equal(dVw, dVp, sizeof(float) * nw);
    pl_free(x), pl_free(N), pl_free(V), pl_free(b), pl_free(d), pl_free(scratch);
    pl_free(whole), pl_free(parts), pl_free(dxw), pl_free(dxp), pl_free(dVw), pl_free(dVp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes),
        cmocka_unit_test(perturb_is_the_relu_of_the_sum),
        cmocka_unit_test(pconv_matches_reference),
        cmocka_unit_test(rows_in_pieces_are_bitwise_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
