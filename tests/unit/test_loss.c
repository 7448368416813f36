/* Losses: softmax cross-entropy, the multi-class hinge and the power loss against the
 * references, closed forms and finite differences; stability for large
 * logits; error counting with ties and NaN. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/loss.h"
#include "plastic/nn/nn_ref.h"

#include "support.h"

enum { B = 7, C = 10 };

static void labels(uint8_t *y)
{
    for (int r = 0; r < B; r++)
        y[r] = (uint8_t)((3 * r + 1) % C);
}

static void softmax_rows_sum_to_one(void **state)
{
    (void)state;
    float h[2 * 3] = {1000.0f, 1001.0f, 999.0f, -50.0f, 0.0f, 50.0f}, p[6];
    pl_softmax_rows(h, p, 2, 3);
    for (int r = 0; r < 2; r++) {
        double s = 0;
        for (int c = 0; c < 3; c++) {
            assert_true(isfinite(p[r * 3 + c]));
            s += p[r * 3 + c];
        }
        check_close(s, 1.0, 1e-6, 0, "sum", r);
    }
    double e = exp(1.0);
    check_close(p[1], e / (1 + e + 1 / e), 1e-6, 1e-6, "p", 1);
    pl_softmax_rows(h, h, 2, 3); /* in place */
    assert_memory_equal(h, p, sizeof p);
}

static void xent_matches_reference(void **state)
{
    (void)state;
    float h[B * C], g[B * C];
    double rg[B * C];
    uint8_t y[B];
    fill_uniform(h, B * C, 1, 0, -5, 5);
    labels(y);
    double loss = pl_xent_loss(h, y, B, C, 0.5f, g);
    double ref = pl_ref_xent(h, y, B, C, 0.5, rg);
    check_close(loss, ref, 1e-9, 1e-9, "loss", 0);
    for (int i = 0; i < B * C; i++)
        check_close(g[i], rg[i], 1e-7, 1e-5, "grad", i);
    /* the gradient is that of the loss: central differences */
    for (int i = 0; i < B * C; i += 3) {
        float save = h[i], eps = 1e-2f, tmp[B * C];
        h[i] = save + eps;
        double up = pl_xent_loss(h, y, B, C, 1.0f, tmp);
        h[i] = save - eps;
        double down = pl_xent_loss(h, y, B, C, 1.0f, tmp);
        h[i] = save;
        check_close(g[i], 0.5 * (up - down) / (2.0 * eps), 1e-4, 1e-3, "finite difference", i);
    }
}

/* Logits far from 0 neither overflow nor lose the loss. */
static void xent_is_stable(void **state)
{
    (void)state;
    float h[2 * 2] = {1000.0f, 0.0f, -1000.0f, -1001.0f}, g[4];
    uint8_t y[2] = {1, 0};
    double loss = pl_xent_loss(h, y, 2, 2, 1.0f, g);
    check_close(loss, 1000.0 + log1p(exp(-1.0)), 1e-7, 0, "loss", 0); /* expf */
    check_close(g[0], 1.0, 1e-7, 0, "grad", 0);
    check_close(g[1], -1.0, 1e-7, 0, "grad", 1);
    check_close(g[2], 1.0 / (1.0 + exp(-1.0)) - 1.0, 1e-6, 0, "grad", 2);
}

static void hinge_matches_reference(void **state)
{
    (void)state;
    float z[B * C], g[B * C];
    double rg[B * C];
    uint8_t y[B];
    fill_uniform(z, B * C, 2, 0, -2, 2);
    labels(y);
    double loss = pl_hinge_loss(z, y, B, C, 0.3f, 0.25f, g);
    double ref = pl_ref_hinge(z, y, B, C, (double)0.3f, 0.25, rg);
    check_close(loss, ref, 1e-9, 1e-7, "loss", 0);
    for (int i = 0; i < B * C; i++)
        check_close(g[i], rg[i], 1e-8, 1e-6, "grad", i);
}

/* One row by hand: target 1 at 0.5 (margin 0.5), others at -2 (fine),
 * -0.5 (0.5) and 2 (3), mu = 0.1. */
static void hinge_closed_form(void **state)
{
    (void)state;
    float z[4] = {-2.0f, 0.5f, -0.5f, 2.0f}, g[4];
    uint8_t y[1] = {1};
    double loss = pl_hinge_loss(z, y, 1, 4, 0.1f, 1.0f, g);
    check_close(loss, 0.5 + 0.1f * (0.5 + 3.0), 1e-7, 1e-7, "loss", 0);
    const float want[4] = {0.0f, -1.0f, 0.1f, 0.1f};
    assert_memory_equal(g, want, sizeof want);
    /* satisfied margins (and the kinks themselves) give nothing */
    float ok[3] = {1.0f, -1.0f, -3.0f};
    uint8_t y0[1] = {0};
    assert_true(pl_hinge_loss(ok, y0, 1, 3, 1.0f, 1.0f, g) == 0.0);
    assert_true(g[0] == 0.0f && g[1] == 0.0f && g[2] == 0.0f);
}

/* Krotov & Hopfield's |tanh(beta z) - t|^m: the gradient against central
 * differences of the loss (in double, per output), for even, odd and
 * fractional m; and one output by hand. */
static void power_loss_matches_finite_differences(void **state)
{
    (void)state;
    const double ms[3] = {6.0, 3.0, 4.5}, beta = 0.7;
    float z[B * C], g[B * C];
    uint8_t y[B];
    fill_uniform(z, B * C, 3, 0, -2, 2);
    labels(y);
    for (int t = 0; t < 3; t++) {
        double loss = pl_power_loss(z, y, B, C, ms[t], beta, 0.5f, g);
        double ref = 0.0;
        for (int i = 0; i < B * C; i++) {
            double target = (i % C) == y[i / C] ? 1.0 : -1.0;
            ref += pow(fabs(tanh(beta * z[i]) - target), ms[t]);
            double e = 1e-4, up = pow(fabs(tanh(beta * (z[i] + e)) - target), ms[t]),
                   down = pow(fabs(tanh(beta * (z[i] - e)) - target), ms[t]);
            check_close(g[i], 0.5 * (up - down) / (2 * e), 1e-6, 1e-4, "grad", i);
        }
        check_close(loss, ref, 1e-9, 1e-9, "loss", t);
    }
    /* target class at z = 0: c = 0, |0 - 1|^2 = 1, dL/dz = 2 (0 - 1) beta = -2 beta */
    float z1[2] = {0.0f, 0.0f}, g1[2];
    uint8_t y1[1] = {0};
    check_close(pl_power_loss(z1, y1, 1, 2, 2.0, 0.5, 1.0f, g1), 2.0, 1e-12, 0, "loss", 0);
    check_close(g1[0], -1.0, 1e-7, 0, "grad target", 0);
    check_close(g1[1], 1.0, 1e-7, 0, "grad other", 0);
}

static void errors_count_argmax(void **state)
{
    (void)state;
    float out[4 * 3] = {0.1f, 0.7f, 0.2f,  /* 1 */
                        0.5f, 0.5f, 0.0f,  /* tie: 0 */
                        0.2f, NAN, 0.9f,   /* NaN: an error */
                        -1.0f, -2.0f, -0.5f}; /* 2 */
    uint8_t right[4] = {1, 0, 2, 2}, wrong[4] = {0, 1, 2, 0};
    assert_int_equal(pl_count_errors(out, right, 4, 3), 1);
    assert_int_equal(pl_count_errors(out, wrong, 4, 3), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(softmax_rows_sum_to_one), cmocka_unit_test(xent_matches_reference),
        cmocka_unit_test(xent_is_stable),          cmocka_unit_test(hinge_matches_reference),
        cmocka_unit_test(hinge_closed_form),       cmocka_unit_test(errors_count_argmax),
        cmocka_unit_test(power_loss_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
