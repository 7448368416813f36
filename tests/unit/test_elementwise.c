/* Elementwise kernels: activations and their derivatives against the
 * references and finite differences, NaN propagation; dropout masks (rate,
 * scale, keyed by example rather than by buffer row); the residual add. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/act.h"
#include "plastic/nn/dropout.h"
#include "plastic/nn/nn_ref.h"
#include "plastic/nn/residual.h"

#include "support.h"

static const pl_act elementwise[] = {PL_ACT_LINEAR, PL_ACT_TANH,     PL_ACT_RELU, PL_ACT_ELU,
                                     PL_ACT_SIGN,   PL_ACT_LOGISTIC, PL_ACT_CLIP};
enum { NACT = sizeof elementwise / sizeof elementwise[0] };

/* A grid over [-4, 4] with the kinks 0, +-1 and -0 in it. */
enum { N = 203 };
static void grid(float *h)
{
    for (int i = 0; i < N - 3; i++)
        h[i] = -4.0f + 8.0f * (float)i / (N - 4);
    h[N - 3] = -0.0f;
    h[N - 2] = 1.0f;
    h[N - 1] = -1.0f;
}

static void names_round_trip(void **state)
{
    (void)state;
    char text[32];
    for (int a = 0; a < PL_ACT_COUNT; a++) {
        float power = 0.0f;
        assert_int_equal(pl_act_parse_power(pl_act_text((pl_act)a, 4.5f, text, sizeof text),
                                            &power), a);
        assert_non_null(strstr(PL_ACT_NAMES, pl_act_name((pl_act)a)));
        if (a == PL_ACT_REPU)
            assert_true(power == 4.5f);
    }
    assert_int_equal(pl_act_parse("rleu"), -1);
    assert_int_equal(pl_act_parse(""), -1);
    const char *bad[] = {"relu^", "relu^0", "relu^-2", "relu^x", "relu^3y", "relu^65"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(pl_act_parse(bad[i]), -1);
}

/* tanh and elu run a vectorised e^y - 1 of their own (act.c), not libm:
 * within 4 float ulp of the double functions over 2 million arguments
 * spread from 1e-8 to 12 in magnitude (dense near 0, where cancellation
 * would show), infinities going to +-1, -1 and inf. */
static void tanh_and_elu_kernels_are_accurate(void **state)
{
    (void)state;
    enum { M = 2000001 };
    float *h = pl_alloc(M * sizeof *h), *t = pl_alloc(M * sizeof *t), *e = pl_alloc(M * sizeof *e);
    for (int i = 0; i < M; i++) {
        double u = (i - M / 2) / (double)(M / 2);
        h[i] = (float)(12.0 * u * u * u);
    }
    pl_act_forward(PL_ACT_TANH, h, t, M);
    pl_act_forward(PL_ACT_ELU, h, e, M);
    double worst_t = 0.0, worst_e = 0.0;
    for (int i = 0; i < M; i++) {
        double rt = tanh((double)h[i]), re = h[i] > 0.0f ? h[i] : expm1((double)h[i]);
        if (rt != 0.0)
            worst_t = fmax(worst_t, fabs(t[i] - rt) / fabs(rt));
        if (re != 0.0)
            worst_e = fmax(worst_e, fabs(e[i] - re) / fabs(re));
    }
    print_message("tanh: worst %.3g relative (%.2f ulp); elu: %.3g\n", worst_t,
                  worst_t / 5.9604645e-8, worst_e);
    assert_true(worst_t <= 4 * 5.9604645e-8);
    assert_true(worst_e <= 4 * 5.9604645e-8);
    const float special[4] = {INFINITY, -INFINITY, 1e-30f, -1e-30f};
    float out[4];
    pl_act_forward(PL_ACT_TANH, special, out, 4);
    assert_true(out[0] == 1.0f && out[1] == -1.0f && out[2] == 1e-30f && out[3] == -1e-30f);
    pl_act_forward(PL_ACT_ELU, special, out, 4);
    assert_true(out[0] == INFINITY && out[1] == -1.0f && out[2] == 1e-30f);
    assert_true(fabsf(out[3] + 1e-30f) <= 1e-36f);
    pl_free(h);
    pl_free(t);
    pl_free(e);
}

static void forward_matches_reference(void **state)
{
    (void)state;
    float h[N], z[N], in_place[N];
    grid(h);
    for (int k = 0; k < NACT; k++) {
        pl_act a = elementwise[k];
        pl_act_forward(a, h, z, N);
        memcpy(in_place, h, sizeof h);
        pl_act_forward(a, in_place, in_place, N);
        for (int i = 0; i < N; i++) {
            check_close(z[i], pl_ref_act(a, h[i]), 1e-6, 1e-6, pl_act_name(a), i);
            assert_memory_equal(&z[i], &in_place[i], sizeof z[i]);
        }
    }
    /* the named points of the piecewise ones */
    float pts[5] = {-2.0f, -1.0f, 0.0f, 0.5f, 3.0f}, out[5];
    pl_act_forward(PL_ACT_CLIP, pts, out, 5);
    const float clip[5] = {-1.0f, -1.0f, 0.0f, 0.5f, 1.0f};
    assert_memory_equal(out, clip, sizeof clip);
    pl_act_forward(PL_ACT_SIGN, pts, out, 5);
    const float sign[5] = {-1.0f, -1.0f, 0.0f, 1.0f, 1.0f};
    assert_memory_equal(out, sign, sizeof sign);
}

/* Derivatives against the reference everywhere, and against central
 * differences of the forward away from the kinks; backprop multiplies. */
static void derivatives_match(void **state)
{
    (void)state;
    float h[N], z[N], d[N], g[N];
    grid(h);
    for (int k = 0; k < NACT; k++) {
        pl_act a = elementwise[k];
        pl_act_forward(a, h, z, N);
        pl_act_deriv(a, h, z, d, N);
        for (int i = 0; i < N; i++)
            g[i] = 0.5f + (float)i / N;
        pl_act_backprop(a, h, z, g, N);
        for (int i = 0; i < N; i++) {
            check_close(d[i], pl_ref_act_deriv(a, h[i]), 1e-6, 1e-5, pl_act_name(a), i);
            check_close(g[i], (0.5 + (double)i / N) * d[i], 1e-7, 1e-6, "backprop", i);
            double x = h[i], eps = 1e-4;
            if (fabs(x) < 2e-3 || fabs(fabs(x) - 1) < 2e-3)
                continue; /* kinks of relu, elu, sign, clip */
            double fd = (pl_ref_act(a, x + eps) - pl_ref_act(a, x - eps)) / (2 * eps);
            check_close(d[i], fd, 1e-4, 1e-4, "finite difference", i);
        }
    }
}

/* relu^n: the value and derivative against pow and central differences
 * for integer, half-integer and general n; 0 at and below 0; NaN passes. */
static void repu_matches_its_definition(void **state)
{
    (void)state;
    const float ns[3] = {3.0f, 4.5f, 1.7f};
    float h[N], z[N], d[N], g[N];
    grid(h);
    for (int t = 0; t < 3; t++) {
        const float n = ns[t];
        pl_act_forward_p(PL_ACT_REPU, n, h, z, N);
        pl_act_deriv_p(PL_ACT_REPU, n, h, z, d, N);
        for (int i = 0; i < N; i++)
            g[i] = 0.5f + (float)i / N;
        pl_act_backprop_p(PL_ACT_REPU, n, h, z, g, N);
        for (int i = 0; i < N; i++) {
            double x = h[i], want = x > 0 ? pow(x, n) : 0.0;
            check_close(z[i], want, 1e-6, 1e-6, "relu^n", i);
            check_close(g[i], (0.5 + (double)i / N) * d[i], 1e-7, 1e-6, "backprop", i);
            if (x < 2e-3) {
                assert_true(d[i] == 0.0f);
                continue;
            }
            double e = 1e-4, fd = (pow(x + e, n) - pow(x - e, n)) / (2 * e);
            check_close(d[i], fd, 1e-4, 1e-4, "finite difference", i);
        }
    }
    float nan = NAN, out = 0.0f;
    pl_act_forward_p(PL_ACT_REPU, 4.5f, &nan, &out, 1);
    assert_true(isnan(out));
}

static void nan_passes_through(void **state)
{
    (void)state;
    for (int k = 0; k < NACT; k++) {
        float h = NAN, z = 0.0f;
        pl_act_forward(elementwise[k], &h, &z, 1);
        if (!isnan(z))
            fail_msg("%s(NaN) = %g", pl_act_name(elementwise[k]), (double)z);
    }
}

/* ---- dropout ---- */

static void dropout_rate_and_scale(void **state)
{
    (void)state;
    enum { ROWS = 40, COLS = 1000 };
    float *mask = pl_alloc(sizeof(float) * ROWS * COLS);
    const float ps[3] = {0.0f, 0.2f, 0.5f};
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        pl_dropout_mask(mask, COLS, ROWS, p, 7, 3, 11, 0);
        long kept = 0;
        for (long i = 0; i < ROWS * COLS; i++) {
            assert_true(mask[i] == 0.0f || mask[i] == 1.0f / (1.0f - p));
            kept += mask[i] != 0.0f;
        }
        /* binomial: within 5 standard deviations */
        double n = ROWS * COLS, mean = n * (1 - p), sd = sqrt(n * p * (1 - p));
        if (fabs(kept - mean) > 5 * sd + 0.5)
            fail_msg("p = %g: kept %ld of %g", (double)p, kept, n);
    }
    pl_free(mask);
}

/* An example's mask depends on (seed, layer, step, example), not on which
 * rows of which call produce it. */
static void dropout_keyed_by_example(void **state)
{
    (void)state;
    enum { ROWS = 10, COLS = 37 };
    float whole[ROWS * COLS], parts[ROWS * COLS], other[ROWS * COLS];
    pl_dropout_mask(whole, COLS, ROWS, 0.3f, 5, 2, 9, 100);
    pl_dropout_mask(parts, COLS, 3, 0.3f, 5, 2, 9, 100);
    pl_dropout_mask(parts + 3 * COLS, COLS, 6, 0.3f, 5, 2, 9, 103);
    pl_dropout_mask(parts + 9 * COLS, COLS, 1, 0.3f, 5, 2, 9, 109);
    assert_memory_equal(whole, parts, sizeof whole);
    /* another step, layer, seed or example gives another mask */
    const uint64_t keys[4][4] = {{5, 2, 10, 100}, {5, 3, 9, 100}, {6, 2, 9, 100}, {5, 2, 9, 101}};
    for (int k = 0; k < 4; k++) {
        pl_dropout_mask(other, COLS, ROWS, 0.3f, keys[k][0], (uint32_t)keys[k][1], keys[k][2],
                        keys[k][3]);
        assert_true(memcmp(whole, other, sizeof whole) != 0);
    }
    float x[ROWS * COLS], y[ROWS * COLS];
    fill_uniform(x, ROWS * COLS, 1, 0, -1, 1);
    pl_dropout_apply(y, x, whole, ROWS * COLS);
    for (int i = 0; i < ROWS * COLS; i++)
        assert_true(y[i] == x[i] * whole[i]);
}

static void residual_add(void **state)
{
    (void)state;
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {0.5f, -2, 0, 1, -5}, y[5], g[5] = {1, -1, 2, 0, 3};
    pl_residual_forward(y, a, b, 5);
    for (int i = 0; i < 5; i++)
        assert_true(y[i] == a[i] + b[i]);
    float d[5] = {9, 9, 9, 9, 9};
    pl_residual_backward(d, g, 5, 0.0f);
    assert_memory_equal(d, g, sizeof g);
    pl_residual_backward(d, g, 5, 1.0f);
    for (int i = 0; i < 5; i++)
        assert_true(d[i] == 2 * g[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),      cmocka_unit_test(forward_matches_reference),
        cmocka_unit_test(tanh_and_elu_kernels_are_accurate),
        cmocka_unit_test(derivatives_match),     cmocka_unit_test(nan_passes_through),
        cmocka_unit_test(repu_matches_its_definition),
        cmocka_unit_test(dropout_rate_and_scale), cmocka_unit_test(dropout_keyed_by_example),
        cmocka_unit_test(residual_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
