/* rec-LRA's kernels (src/rules/reclra/lra.c): the error pathway of MLPs and
 * residual nets, targets and errors and the synapses' increments against
 * the naive references (conv and pconv nets too), a pconv layer's
 * increment e a^T by hand, a target that lowers the loss, and the bad
 * pathways refused with the key or entry named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/loss.h"
#include "plastic/nn/net.h"
#include "plastic/rng.h"
#include "rules/reclra/lra.h"

enum { ROWS = 7, NCLASS = 4 };
static const pl_shape INPUT = {1, 3, 3, 0};

static void make_net(pl_net *net, const char *layers)
{
    char err[512];
    int rc = pl_net_create(net, layers, INPUT, NCLASS, PL_LOSS_XENT, 1.0f, ROWS, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", layers, err);
    pl_net_init(net, PL_INIT_XAVIER, 0.0, 5);
}

static void random_fill(float *x, long n, double scale, uint64_t seed)
{
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_TEST, 0);
    for (long i = 0; i < n; i++)
        x[i] = (float)(scale * pl_rng_normal(&r));
}

/* Forward ROWS random inputs and the output's error e_L = p - onehot. */
static void forward(pl_net *net, float *x, uint8_t *y)
{
    random_fill(x, ROWS * pl_shape_size(INPUT), 1.0, 11);
    for (int r = 0; r < ROWS; r++)
        y[r] = (uint8_t)(r % NCLASS);
    const pl_pass pass = {0};
    pl_net_forward(net, x, 0, ROWS, &pass);
    pl_net_loss(net, y, 0, ROWS, 1.0f, NULL);
}

static void make_lra(lra *a, const pl_net *net, lra_pathway path, int gap, lra_e_rule rule)
{
    char err[512];
    if (lra_create(a, net, path, gap, 0.7f, rule, err, sizeof err))
        fail_msg("lra_create: %s", err);
    lra_init(a, LRA_E_INIT_NORMAL, 0.3, 9);
}

static void assert_close(const float *got, const float *ref, long n, double atol, double rtol,
                         const char *what)
{
    for (long i = 0; i < n; i++)
        if (!(fabs((double)got[i] - ref[i]) <= atol + rtol * fabs((double)ref[i])))
            fail_msg("%s[%ld]: %.9g, reference %.9g", what, i, got[i], ref[i]);
}

/* ---- the pathway ---- */

static void expect_sources(const char *layers, lra_pathway path, int gap, const int *dst,
                           const int *src, int n)
{
    pl_net net;
    lra a;
    make_net(&net, layers);
    make_lra(&a, &net, path, gap, LRA_E_TRANSPOSE);
    assert_int_equal(a.n, n);
    for (int i = 0; i < n; i++) {
        if (a.syn[i].dst != dst[i] || a.syn[i].src != src[i])
            fail_msg("%s gap %d: synapse %d is %d <- %d, want %d <- %d", layers, gap, i,
                     a.syn[i].dst, a.syn[i].src, dst[i], src[i]);
        assert_int_equal(a.syn[i].rows, net.layers[dst[i]].out_size);
        assert_int_equal(a.syn[i].cols, net.layers[src[i]].out_size);
        assert_int_equal(a.syn_of[dst[i]], i);
    }
    lra_free(&a);
    pl_net_free(&net);
}

static void pathways_of_mlps_and_residual_nets(void **state)
{
    (void)state;
    const char *mlp = "dense 5 tanh, dense 6 tanh, dense 5 tanh, dense 6 tanh, dense 4 softmax";
    /* layers 0..3 hidden, 4 the output; synapses from the top down */
    expect_sources(mlp, LRA_PATH_OUTPUT, 1, (int[]){3, 2, 1, 0}, (int[]){4, 4, 4, 4}, 4);
    expect_sources(mlp, LRA_PATH_OUTPUT, 2, (int[]){3, 2, 1, 0}, (int[]){4, 3, 4, 1}, 4);
    expect_sources(mlp, LRA_PATH_OUTPUT, 4, (int[]){3, 2, 1, 0}, (int[]){4, 3, 2, 1}, 4);
    expect_sources(mlp, LRA_PATH_CHAIN, 1, (int[]){3, 2, 1, 0}, (int[]){4, 3, 2, 1}, 4);
    /* 0 dense, [1 dense, 2 dense, 3 add(0)], [4 dense, 5 dense, 6 add(3)], 7 output */
    const char *res = "dense 5 tanh, res( dense 6 tanh, dense 5 tanh ) x2, dense 4 softmax";
    expect_sources(res, LRA_PATH_OUTPUT, 1, (int[]){5, 4, 2, 1, 0}, (int[]){7, 5, 7, 2, 7}, 5);
    expect_sources(res, LRA_PATH_CHAIN, 1, (int[]){5, 4, 2, 1, 0}, (int[]){7, 5, 4, 2, 1}, 5);
    /* conv nets: pool and dropout layers get no target and are skipped by
     * the chain: 0 conv, 1 pool, 2 conv, 3 dropout, 4 dense, 5 output */
    const char *cnn = "conv 2 3x3 tanh, pool 2, conv 3 2x2 relu, dropout 0.2, dense 5 tanh, "
                      "dense 4 softmax";
    expect_sources(cnn, LRA_PATH_OUTPUT, 1, (int[]){4, 2, 0}, (int[]){5, 5, 5}, 3);
    expect_sources(cnn, LRA_PATH_CHAIN, 1, (int[]){4, 2, 0}, (int[]){5, 4, 2}, 3);
    expect_sources(cnn, LRA_PATH_OUTPUT, 3, (int[]){4, 2, 0}, (int[]){5, 4, 2}, 3);
    /* a conv layer's target from a conv layer reading its output comes
     * through a filter bank of the source's shape; from elsewhere, through
     * a dense synapse: 0 conv, 1 conv, 2 pool, 3 conv, 4 output */
    pl_net net;
    lra a;
    make_net(&net, "conv 2 3x3 tanh, conv 3 2x2 tanh, pool 2, conv 2 2x2 tanh, dense 4 softmax");
    make_lra(&a, &net, LRA_PATH_CHAIN, 1, LRA_E_TRANSPOSE);
    assert_int_equal(a.n, 3); /* 3 <- 4, 1 <- 3 (through the pool: dense), 0 <- 1 (conv) */
    assert_int_equal(a.syn[0].conv, 0);
    assert_int_equal(a.syn[1].conv, 0);
    assert_int_equal(a.syn[1].e_rows * a.syn[1].e_cols, a.syn[1].rows * a.syn[1].cols);
    assert_int_equal(a.syn[2].conv, 1);
    assert_int_equal(a.syn[2].e_rows, 3);
    assert_int_equal(a.syn[2].e_cols, 2 * 2 * 2);
    assert_int_equal(a.syn[2].taps, 4);
    assert_int_equal(a.nE, a.syn[2].offset + 3 * 8);
    lra_free(&a);
    pl_net_free(&net);
    /* pconv layers have weights, so they get targets as conv layers do:
     * 0 pconv, 1 pool, 2 pconv, 3 dense, 4 output */
    const char *pnet = "pconv 2 m3 relu, pool 2, pconv 3 m2 tanh, dense 5 tanh, dense 4 softmax";
    expect_sources(pnet, LRA_PATH_OUTPUT, 1, (int[]){3, 2, 0}, (int[]){4, 4, 4}, 3);
    expect_sources(pnet, LRA_PATH_CHAIN, 1, (int[]){3, 2, 0}, (int[]){4, 3, 2}, 3);
    /* a block of one layer: its layer ends it */
    expect_sources("dense 5 relu, res( dense 5 relu ) x2, dense 4 softmax", LRA_PATH_OUTPUT, 1,
                   (int[]){3, 1, 0}, (int[]){5, 5, 5}, 3);
}

static void expect_refused(const char *layers, int gap, const char *needle)
{
    pl_net net;
    lra a;
    char err[512] = "";
    make_net(&net, layers);
    assert_int_not_equal(lra_create(&a, &net, LRA_PATH_OUTPUT, gap, 1.0f, LRA_E_TRANSPOSE, err,
                                    sizeof err),
                         0);
    if (!strstr(err, needle))
        fail_msg("%s gap %d: '%s' does not say '%s'", layers, gap, err, needle);
    pl_net_free(&net);
}

static void bad_pathways_are_refused_naming_the_key(void **state)
{
    (void)state;
    expect_refused("dense 5 tanh, dense 5 tanh, dense 5 tanh, dense 4 softmax", 2,
                   "lra.gap = 2 does not divide the 3 hidden layers");
    expect_refused("dense 5 tanh, dense 4 softmax", 0, "lra.gap = 0: it must be at least 1");
    expect_refused("dense 5 tanh, res( dense 5 tanh, dense 5 tanh ), dense 4 softmax", 3,
                   "lra.gap = 3: a net with res( ) blocks");
    expect_refused("conv 2 3x3 relu, pool 2, conv 2 2x2 relu, dense 5 tanh, dense 4 softmax", 2,
                   "lra.gap = 2 does not divide the 3 hidden layers");
}

/* ---- kernels against the references ---- */

static void check_kernels(const char *layers, lra_pathway path, int gap, lra_e_rule rule)
{
    pl_net net;
    lra a;
    make_net(&net, layers);
    make_lra(&a, &net, path, gap, rule);
    float x[ROWS * 9];
    uint8_t y[ROWS];
    forward(&net, x, y);
    /* the reference first, on a copy of the deltas it overwrites */
    float *ref_e[32];
    lra_ref_targets(&a, &net, 0, ROWS);
    long dsize = 0;
    for (int i = 0; i < a.n; i++)
        dsize += (long)net.capacity * a.syn[i].rows;
    float *d_ref = pl_alloc((size_t)dsize * sizeof *d_ref);
    memcpy(d_ref, a.d, (size_t)dsize * sizeof *d_ref);
    for (int i = 0; i < a.n; i++) {
        const pl_layer *D = &net.layers[a.syn[i].dst];
        ref_e[i] = pl_alloc((size_t)ROWS * D->out_size * sizeof *ref_e[i]);
        memcpy(ref_e[i], D->delta, (size_t)ROWS * D->out_size * sizeof *ref_e[i]);
        memset(D->delta, 0, (size_t)ROWS * D->out_size * sizeof *D->delta);
    }
    memset(a.d, 0, (size_t)dsize * sizeof *a.d);
    /* rows in two calls, as chunks would: the same as one */
    lra_targets(&a, &net, 0, 3);
    lra_targets(&a, &net, 3, ROWS - 3);
    assert_close(a.d, d_ref, dsize, 1e-6, 1e-5, "d");
    for (int i = 0; i < a.n; i++) {
        const pl_layer *D = &net.layers[a.syn[i].dst];
        assert_close(D->delta, ref_e[i], (long)ROWS * D->out_size, 1e-6, 1e-4, "e");
        pl_free(ref_e[i]);
    }
    for (int i = 0; i < a.n; i++) {
        const long n = (long)a.syn[i].e_rows * a.syn[i].e_cols;
        float *got = pl_alloc((size_t)n * sizeof *got), *ref = pl_alloc((size_t)n * sizeof *ref);
        lra_synapse_increment(&a, &net, i, 0, 4, got, 0.0f);
        lra_synapse_increment(&a, &net, i, 4, ROWS - 4, got, 1.0f);
        lra_ref_synapse_increment(&a, &net, i, 0, ROWS, ref);
        assert_close(got, ref, n, 1e-6, 1e-5, "dE");
        double bound = lra_synapse_increment_bound(&a, &net, i, 0, ROWS);
        for (long k = 0; k < n; k++)
            assert_true(fabs(ref[k]) <= bound * (1 + 1e-6) + 1e-30);
        pl_free(got);
        pl_free(ref);
    }
    pl_free(d_ref);
    lra_free(&a);
    pl_net_free(&net);
}

static void kernels_match_the_references(void **state)
{
    (void)state;
    const char *mlp = "dense 6 tanh, dense 5 elu, dense 6 logistic, dense 5 relu, dense 4 softmax";
    const char *res = "dense 5 tanh, res( dense 6 clip, dense 5 tanh ) x2, dense 4 linear";
    for (int rule = LRA_E_TRANSPOSE; rule <= LRA_E_FIXED; rule++) {
        check_kernels(mlp, LRA_PATH_OUTPUT, 1, (lra_e_rule)rule);
        check_kernels(mlp, LRA_PATH_OUTPUT, 2, (lra_e_rule)rule);
        check_kernels(mlp, LRA_PATH_CHAIN, 1, (lra_e_rule)rule);
        check_kernels(res, LRA_PATH_OUTPUT, 1, (lra_e_rule)rule);
        check_kernels(res, LRA_PATH_CHAIN, 1, (lra_e_rule)rule);
        check_kernels("conv 2 3x3 tanh, pool 2, conv 3 2x2 elu, dense 5 tanh, dense 4 softmax",
                      LRA_PATH_CHAIN, 1, (lra_e_rule)rule);
        /* convolutional synapses: conv on conv, and inside a conv res( ) block */
        check_kernels("conv 2 3x3 tanh, conv 3 2x2 elu, dense 4 softmax", LRA_PATH_CHAIN, 1,
                      (lra_e_rule)rule);
        check_kernels("conv 2 2x2 relu, res( conv 3 3x3 tanh, conv 2 2x2 tanh ), dense 4 softmax",
                      LRA_PATH_OUTPUT, 1, (lra_e_rule)rule);
        check_kernels("pconv 2 m3 n0.5 tanh, pool 2, pconv 3 m2 relu, dense 5 elu, "
                      "dense 4 softmax", LRA_PATH_OUTPUT, 1, (lra_e_rule)rule);
        check_kernels("res( pconv 1 m4 n0.5 tanh ), pconv 3 m2 logistic, dense 4 softmax",
                      LRA_PATH_CHAIN, 1, (lra_e_rule)rule);
    }
}

/* The equations themselves on one hand-sized case: d = E e_s, y =
 * f(h - beta d), e = z - y, and the increments z e_s^T and d e_s^T. */
static void one_layer_by_hand(void **state)
{
    (void)state;
    pl_net net;
    lra a;
    make_net(&net, "dense 2 tanh, dense 4 softmax");
    make_lra(&a, &net, LRA_PATH_OUTPUT, 1, LRA_E_EQ6);
    float x[ROWS * 9];
    uint8_t y[ROWS];
    forward(&net, x, y);
    lra_targets(&a, &net, 0, ROWS);
    const pl_layer *H = &net.layers[0], *O = &net.layers[1];
    for (int r = 0; r < ROWS; r++) {
        const float *p = O->z + r * 4;
        for (int u = 0; u < 2; u++) {
            double d = 0.0;
            for (int v = 0; v < 4; v++)
                d += a.E[u * 4 + v] * (p[v] - (v == y[r] ? 1.0 : 0.0));
            double e = tanh((double)H->h[r * 2 + u]) - tanh(H->h[r * 2 + u] - 0.7 * d);
            assert_true(fabs(a.d[r * 2 + u] - d) <= 1e-6 + 1e-5 * fabs(d));
            assert_true(fabs(H->delta[r * 2 + u] - e) <= 1e-6 + 1e-4 * fabs(e));
        }
    }
    float dE[8];
    lra_synapse_increment(&a, &net, 0, 0, ROWS, dE, 0.0f);
    for (int u = 0; u < 2; u++)
        for (int v = 0; v < 4; v++) {
            double s = 0.0;
            for (int r = 0; r < ROWS; r++)
                s += (double)a.d[r * 2 + u] * O->delta[r * 4 + v];
            assert_true(fabs(dE[u * 4 + v] - s) <= 1e-6 + 1e-5 * fabs(s));
        }
    lra_free(&a);
    pl_net_free(&net);
}

/* A pconv layer's target and increment by hand: e = z - f(h - beta d)
 * with d = E e_L, and dV = e a^T summed over rows and positions, a =
 * relu(x + N) its perturbed input maps; db = sum e. */
static void pconv_increment_by_hand(void **state)
{
    (void)state;
    enum { K = 2, M = 3, HW = 9 };
    pl_net net;
    lra a;
    make_net(&net, "pconv 2 m3 n0.6 tanh, dense 4 softmax");
    make_lra(&a, &net, LRA_PATH_OUTPUT, 1, LRA_E_TRANSPOSE);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.syn[0].dst, 0);
    float x[ROWS * 9];
    uint8_t y[ROWS];
    forward(&net, x, y);
    lra_targets(&a, &net, 0, ROWS);
    const pl_layer *P = &net.layers[0], *O = &net.layers[1];
    for (int r = 0; r < ROWS; r++)
        for (int u = 0; u < K * HW; u++) {
            double d = 0.0;
            for (int v = 0; v < NCLASS; v++)
                d += a.E[u * NCLASS + v] * (O->z[r * NCLASS + v] - (v == y[r] ? 1.0 : 0.0));
            const double h = P->h[r * K * HW + u];
            const double e = tanh(h) - tanh(h - 0.7 * d);
            if (!(fabs(P->delta[r * K * HW + u] - e) <= 1e-6 + 1e-4 * fabs(e)))
                fail_msg("e[%d][%d]: %.9g, by hand %.9g", r, u, P->delta[r * K * HW + u], e);
        }
    float dV[K * M], db[K];
    pl_net_layer_grads(&net, 0, 0, ROWS, dV, db, 0.0f);
    for (int k = 0; k < K; k++) {
        double sb = 0.0;
        for (int r = 0; r < ROWS; r++)
            for (int p = 0; p < HW; p++)
                sb += P->delta[(r * K + k) * HW + p];
        assert_true(fabs(db[k] - sb) <= 1e-6 + 1e-5 * fabs(sb));
        for (int m = 0; m < M; m++) {
            double s = 0.0;
            for (int r = 0; r < ROWS; r++)
                for (int p = 0; p < HW; p++) {
                    double v = (double)x[r * HW + p] + P->noise[m * HW + p];
                    s += P->delta[(r * K + k) * HW + p] * (v > 0.0 ? v : 0.0);
                }
            if (!(fabs(dV[k * M + m] - s) <= 1e-6 + 1e-5 * fabs(s)))
                fail_msg("dV[%d][%d]: %.9g, e a^T %.9g", k, m, dV[k * M + m], s);
        }
    }
    lra_free(&a);
    pl_net_free(&net);
}

/* With E = W_out^T, d is the loss's gradient with respect to the hidden
 * activity, so for a small beta the target f(h - beta d), put in place of
 * z, lowers the loss: the target moves the activity toward lower loss. */
static void the_target_lowers_the_loss(void **state)
{
    (void)state;
    pl_net net;
    lra a;
    make_net(&net, "dense 6 tanh, dense 4 softmax");
    make_lra(&a, &net, LRA_PATH_OUTPUT, 1, LRA_E_TRANSPOSE);
    a.beta = 0.05f;
    pl_layer *H = &net.layers[0], *O = &net.layers[1];
    for (int u = 0; u < 6; u++)
        for (int v = 0; v < 4; v++)
            a.E[u * 4 + v] = O->W[v * 6 + u];
    float x[ROWS * 9];
    uint8_t y[ROWS];
    forward(&net, x, y);
    float grad[ROWS * NCLASS];
    double before = pl_xent_loss(O->h, y, ROWS, NCLASS, 1.0f, grad);
    lra_targets(&a, &net, 0, ROWS);
    float target[ROWS * 6], logits[ROWS * NCLASS];
    for (int k = 0; k < ROWS * 6; k++)
        target[k] = H->z[k] - H->delta[k]; /* y = z - e */
    for (int r = 0; r < ROWS; r++)
        for (int v = 0; v < NCLASS; v++) {
            double s = O->b[v];
            for (int u = 0; u < 6; u++)
                s += (double)O->W[v * 6 + u] * target[r * 6 + u];
            logits[r * NCLASS + v] = (float)s;
        }
    double after = pl_xent_loss(logits, y, ROWS, NCLASS, 1.0f, grad);
    if (!(after < before))
        fail_msg("loss %.6f with the targets, %.6f with the activity", after, before);
    lra_free(&a);
    pl_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pathways_of_mlps_and_residual_nets),
        cmocka_unit_test(bad_pathways_are_refused_naming_the_key),
        cmocka_unit_test(kernels_match_the_references),
        cmocka_unit_test(one_layer_by_hand),
        cmocka_unit_test(pconv_increment_by_hand),
        cmocka_unit_test(the_target_lowers_the_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
