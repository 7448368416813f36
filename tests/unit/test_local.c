/* The untied (locally connected) layer (nn/local.h): its fast kernels
 * against the naive references, across tile boundaries; made from a
 * convolution it computes that convolution; in a net, net.untie builds it,
 * refuses entries that are not convolutions, and while tied it is the
 * convolution bit for bit with the convolution's gradient at every position. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/local.h"
#include "plastic/nn/net.h"
#include "plastic/nn/nn_ref.h"

#include "support.h"

/* in_c, in_h, in_w, out_c, k_h, k_w, stride, examples (37 > PL_LOCAL_TILE) */
static const int geoms[][8] = {
    {1, 9, 9, 3, 5, 5, 1, 3}, {3, 7, 9, 4, 3, 3, 1, 37}, {2, 9, 8, 3, 5, 5, 2, 5},
    {2, 7, 7, 2, 2, 3, 3, 2}, {4, 5, 6, 2, 1, 1, 1, 33},
};
enum { NGEOM = sizeof geoms / sizeof geoms[0] };

static int geom(pl_conv_geom *g, int s)
{
    const int *c = geoms[s];
    pl_conv_geom_same(g, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
    return c[7];
}

static void check_all(const float *got, const float *ref, long n, double tol, const char *what)
{
    for (long i = 0; i < n; i++)
        check_close(got[i], ref[i], tol, tol, what, i);
}

static float *zeros(long n) { return pl_calloc((size_t)n, sizeof(float)); }

static void local_matches_reference(void **state)
{
    (void)state;
    for (int s = 0; s < NGEOM; s++) {
        pl_conv_geom g;
        const int B = geom(&g, s);
        const long in = pl_conv_in_size(&g), out = pl_conv_out_size(&g);
        const long nw = pl_local_w_size(&g), nb = pl_local_b_size(&g);
        float *x = alloc_uniform(B * in, 3, (uint64_t)s, -1, 1);
        float *W = alloc_uniform(nw, 4, (uint64_t)s, -1, 1);
        float *b = alloc_uniform(nb, 5, (uint64_t)s, -1, 1);
        float *d = alloc_uniform(B * out, 6, (uint64_t)s, -1, 1);
        float *scratch = zeros(pl_local_scratch_size(&g));
        float *y = zeros(B * out), *ry = zeros(B * out);
        float *dW = alloc_uniform(nw, 7, (uint64_t)s, -9, 9), *rW = zeros(nw);
        float *db = zeros(nb), *rb = zeros(nb);
        float *dx = alloc_uniform(B * in, 8, (uint64_t)s, -9, 9), *rx = zeros(B * in);

        pl_local_forward(&g, y, x, W, b, B, scratch);
        pl_ref_local_forward(&g, ry, x, W, b, B);
        check_all(y, ry, B * out, 1e-5, "y");

        pl_local_backward_weights(&g, dW, db, d, x, B, scratch, 0.0f);
        pl_ref_local_backward_weights(&g, rW, rb, d, x, B);
        check_all(dW, rW, nw, 1e-4, "dW");
        check_all(db, rb, nb, 1e-4, "db");
        pl_local_backward_weights(&g, dW, db, d, x, B, scratch, 1.0f);
        for (long i = 0; i < nw; i++)
            check_close(dW[i], 2.0 * rW[i], 1e-4, 1e-4, "dW + dW", i);

        pl_local_backward_input(&g, dx, d, W, B, scratch, 0.0f);
        pl_ref_local_backward_input(&g, rx, d, W, B);
        check_all(dx, rx, B * in, 1e-5, "dx");
        pl_local_backward_input(&g, dx, d, W, B, scratch, 1.0f);
        for (long i = 0; i < B * in; i++)
            check_close(dx[i], 2.0 * rx[i], 1e-5, 1e-5, "dx + dx", i);

        double bW, bb;
        pl_local_grad_bound(&g, d, x, B, &bW, &bb);
        for (long i = 0; i < nw; i++)
            assert_true(fabs(rW[i]) <= bW * (1 + 1e-6));
        for (long i = 0; i < nb; i++)
            assert_true(fabs(rb[i]) <= bb * (1 + 1e-6));
        pl_free(x), pl_free(W), pl_free(b), pl_free(d), pl_free(scratch), pl_free(y);
        pl_free(ry), pl_free(dW), pl_free(rW), pl_free(db), pl_free(rb), pl_free(dx), pl_free(rx);
    }
}

/* Made from a convolution, the untied layer computes it: the same output
 * and input gradient, and its per-position weight gradients sum to the
 * convolution's. */
static void from_conv_computes_the_conv(void **state)
{
    (void)state;
    for (int s = 0; s < NGEOM; s++) {
        pl_conv_geom g;
        const int B = geom(&g, s);
        const long in = pl_conv_in_size(&g), out = pl_conv_out_size(&g);
        const long nwc = pl_conv_w_size(&g), hw = pl_local_positions(&g);
        float *x = alloc_uniform(B * in, 3, (uint64_t)s, -1, 1);
        float *Wc = alloc_uniform(nwc, 4, (uint64_t)s, -1, 1);
        float *bc = alloc_uniform(g.out_c, 5, (uint64_t)s, -1, 1);
        float *d = alloc_uniform(B * out, 6, (uint64_t)s, -1, 1);
        float *W = zeros(pl_local_w_size(&g)), *b = zeros(pl_local_b_size(&g));
        pl_local_from_conv(&g, W, b, Wc, bc);
        float *scratch = zeros(pl_local_scratch_size(&g)), *col = zeros(pl_conv_col_size(&g));
        float *y = zeros(B * out), *yc = zeros(B * out), *dx = zeros(B * in), *dxc = zeros(B * in);
        float *dW = zeros(pl_local_w_size(&g)), *dWc = zeros(nwc), *dbc = zeros(g.out_c);
        float *db = zeros(pl_local_b_size(&g));

        pl_local_forward(&g, y, x, W, b, B, scratch);
        pl_conv_forward(&g, yc, x, Wc, bc, B, col);
        check_all(y, yc, B * out, 1e-5, "untied y vs conv y");
        pl_local_backward_input(&g, dx, d, W, B, scratch, 0.0f);
        pl_conv_backward_input(&g, dxc, d, Wc, B, col, 0.0f);
        check_all(dx, dxc, B * in, 1e-5, "untied dx vs conv dx");
        pl_local_backward_weights(&g, dW, db, d, x, B, scratch, 0.0f);
        pl_conv_backward_weights(&g, dWc, dbc, d, x, B, col, 0.0f);
        for (long i = 0; i < nwc; i++) {
            double sum = 0.0;
            for (long p = 0; p < hw; p++)
                sum += dW[p * nwc + i];
            check_close(sum, dWc[i], 1e-4, 1e-4, "sum over positions of dW vs conv dW", i);
        }
        for (int o = 0; o < g.out_c; o++) {
            double sum = 0.0;
            for (long p = 0; p < hw; p++)
                sum += db[p * g.out_c + o];
            check_close(sum, dbc[o], 1e-4, 1e-4, "sum over positions of db vs conv db", o);
        }
        pl_free(x), pl_free(Wc), pl_free(bc), pl_free(d), pl_free(W), pl_free(b);
        pl_free(scratch), pl_free(col), pl_free(y), pl_free(yc), pl_free(dx), pl_free(dxc);
        pl_free(dW), pl_free(dWc), pl_free(dbc), pl_free(db);
    }
}

static const char *const LAYERS = "conv 3 3x3 clip, pool 2x2, conv 4 3x3 tanh, dense 5 clip";
static const pl_shape IN = {2, 6, 6, 0};
enum { ROWS = 7, NCLASS = 5 };

static void build(pl_net *net, const char *untie)
{
    char err[512];
    int rc = pl_net_create_untied(net, LAYERS, untie, IN, NCLASS, PL_LOSS_HINGE, 0.5f, ROWS, err,
                                  sizeof err);
    if (rc)
        fail_msg("%s", err);
    pl_net_init(net, PL_INIT_XAVIER, 0.0, 11);
}

/* Forward, loss, backward and gradients of the same rows. */
static void pass(pl_net *net, const float *x, const uint8_t *y, float *grads)
{
    pl_pass train = {0};
    pl_net_forward(net, x, 0, ROWS, &train);
    pl_net_loss(net, y, 0, ROWS, 1.0f, NULL);
    pl_net_backward(net, 0, ROWS);
    pl_net_grads(net, 0, ROWS, grads, 0.0f);
}

/* A net with entries 1 and 3 untied, drawn with the same seed as the conv
 * net: tied, it is the conv net bit for bit (outputs, loss gradients with
 * the convolution's at every position); untied, the same outputs up to
 * rounding. */
static void untied_net_starts_as_the_conv_net(void **state)
{
    (void)state;
    pl_net conv, local;
    build(&conv, NULL);
    build(&local, "1, 3");
    assert_string_equal(local.tensors[0].name, "net/local1/W");
    assert_string_equal(local.tensors[2].name, "net/local2/W");
    assert_string_equal(local.tensors[4].name, "net/dense1/W");
    const pl_layer *L0 = &local.layers[0];
    const long hw = pl_local_positions(&L0->conv), block = pl_conv_w_size(&L0->conv);
    assert_int_equal(hw, 36);
    assert_int_equal(local.tensors[0].count, hw * block);
    assert_int_equal(local.tensors[1].count, hw * 3);
    for (long p = 0; p < hw; p++) /* drawn as the convolution, at every position */
        assert_memory_equal(L0->W + p * block, conv.layers[0].W, (size_t)block * sizeof(float));

    float *x = alloc_uniform(ROWS * pl_shape_size(IN), 1, 2, -1, 1);
    uint8_t y[ROWS];
    for (int r = 0; r < ROWS; r++)
        y[r] = (uint8_t)(r % NCLASS);
    float *gc = zeros(conv.nparams), *gl = zeros(local.nparams);
    pass(&conv, x, y, gc);
    local.tied = 1;
    pass(&local, x, y, gl);
    const long out = conv.layers[conv.nlayers - 1].out_size;
    assert_memory_equal(pl_net_output(&conv), pl_net_output(&local),
                        (size_t)(ROWS * out) * sizeof(float));
    for (int t = 0; t < conv.ntensors; t++) {
        const pl_param *c = &conv.tensors[t], *l = &local.tensors[t];
        const long reps = l->count / c->count;
        for (long p = 0; p < reps; p++)
            assert_memory_equal(gl + l->offset + p * c->count, gc + c->offset,
                                (size_t)c->count * sizeof(float));
    }
    local.tied = 0;
    pl_net_forward(&local, x, 0, ROWS, NULL);
    const float *yl = pl_net_output(&local), *yc = pl_net_output(&conv);
    for (long i = 0; i < ROWS * out; i++)
        check_close(yl[i], yc[i], 1e-5, 1e-5, "untied output vs conv output", i);
    pl_free(x), pl_free(gc), pl_free(gl);
    pl_net_free(&conv);
    pl_net_free(&local);
}

/* Untied, the net's gradient is the loss's: finite differences of one
 * weight per position block of the first untied layer. */
static void untied_gradient_matches_finite_differences(void **state)
{
    (void)state;
    pl_net net;
    build(&net, "1");
    float *x = alloc_uniform(ROWS * pl_shape_size(IN), 1, 3, -1, 1);
    uint8_t y[ROWS];
    for (int r = 0; r < ROWS; r++)
        y[r] = (uint8_t)((r * 3) % NCLASS);
    /* different weights per position, so the test sees the untying */
    const pl_param *W = &net.tensors[0];
    float *w = net.params + W->offset;
    for (long i = 0; i < W->count; i++)
        w[i] *= 1.0f + 0.5f * (float)((i * 7919) % 13) / 13.0f;
    float *g = zeros(net.nparams);
    pass(&net, x, y, g);
    const long block = W->count / W->shape[0];
    for (long p = 0; p < W->shape[0]; p += 5) {
        const long i = W->offset + p * block + (p % block);
        const float keep = net.params[i], h = 1e-3f;
        double lp, lm;
        long errors;
        net.params[i] = keep + h;
        pl_net_evaluate(&net, x, y, ROWS, ROWS, &lp, &errors);
        net.params[i] = keep - h;
        pl_net_evaluate(&net, x, y, ROWS, ROWS, &lm, &errors);
        net.params[i] = keep;
        check_close(g[i], (lp - lm) / (2.0 * h), 2e-3, 2e-2, "dL/dW (finite differences)", i);
    }
    pl_free(x), pl_free(g);
    pl_net_free(&net);
}

static void untie_errors_name_the_entry(void **state)
{
    (void)state;
    pl_net net;
    char err[512];
    assert_int_equal(pl_net_create_untied(&net, LAYERS, "2", IN, NCLASS, PL_LOSS_HINGE, 0.5f, 2,
                                          err, sizeof err), -1);
    assert_non_null(strstr(err, "entry 2 'pool 2x2' is not a convolution"));
    assert_int_equal(pl_net_create_untied(&net, LAYERS, "1, 9", IN, NCLASS, PL_LOSS_HINGE, 0.5f,
                                          2, err, sizeof err), -1);
    assert_non_null(strstr(err, "entry 9 does not exist (net.layers has 4 entries)"));
    assert_int_equal(pl_net_create_untied(&net, LAYERS, "conv", IN, NCLASS, PL_LOSS_HINGE, 0.5f,
                                          2, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected entry numbers"));
    assert_int_equal(pl_net_create_untied(&net, LAYERS, "4", IN, NCLASS, PL_LOSS_HINGE, 0.5f, 2,
                                          err, sizeof err), -1);
    assert_non_null(strstr(err, "entry 4 'dense 5 clip' is not a convolution"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_matches_reference),
        cmocka_unit_test(from_conv_computes_the_conv),
        cmocka_unit_test(untied_net_starts_as_the_conv_net),
        cmocka_unit_test(untied_gradient_matches_finite_differences),
        cmocka_unit_test(untie_errors_name_the_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
