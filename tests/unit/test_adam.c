/* Unit tests of Adam: convergence on a quadratic and the bias-correction
 * properties of its first steps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/adam.h"
#include "plastic/common.h"

#include "support.h"

static void test_init(void **state)
{
    (void)state;
    pl_adam a;
    pl_adam_init(&a, 17, 0.9f, 0.999f, 1e-8f);
    assert_int_equal(a.n, 17);
    assert_int_equal(a.t, 0);
    for (long i = 0; i < a.n; i++)
        assert_true(a.m[i] == 0.0f && a.v[i] == 0.0f);
    pl_adam_free(&a);
    assert_null(a.m);
    assert_null(a.v);
}

/* Minimises sum_i (x_i - c_i)^2 from x = 0. */
static void test_quadratic(void **state)
{
    (void)state;
    enum { N = 25 };
    float x[N], c[N], g[N];
    fill_uniform(c, N, 5, 0, -2.0, 2.0);
    for (int i = 0; i < N; i++)
        x[i] = 0.0f;
    pl_adam a;
    pl_adam_init(&a, N, 0.9f, 0.999f, 1e-8f);
    double f0 = 0.0;
    for (int i = 0; i < N; i++)
        f0 += (double)c[i] * c[i];
    const int steps = 3000;
    for (int t = 0; t < steps; t++) {
        /* A decaying step lets Adam settle instead of hovering at ~lr. */
        float lr = 0.05f * (float)(1.0 - (double)t / steps) + 1e-4f;
        for (int i = 0; i < N; i++)
            g[i] = 2.0f * (x[i] - c[i]);
        pl_adam_step(&a, x, g, lr);
    }
    assert_int_equal(a.t, steps);
    double f = 0.0;
    for (int i = 0; i < N; i++) {
        check_close(x[i], c[i], 1e-3, 0.0, "x", i);
        f += ((double)x[i] - c[i]) * ((double)x[i] - c[i]);
    }
    assert_true(f < 1e-6 * f0);
    pl_adam_free(&a);
}

/* With bias correction, mhat = g and vhat = g^2 after the first step, so
 * every parameter moves by lr * g / (|g| + eps) ~ lr * sign(g) whatever the
 * gradient's scale; a zero gradient moves nothing. */
static void test_first_step_is_lr_sign(void **state)
{
    (void)state;
    enum { N = 6 };
    const float g[N] = {3.0f, -0.02f, 1e3f, -7.5f, 0.0f, 0.5f};
    float x[N] = {1.0f, 1.0f, -1.0f, 0.0f, 2.0f, -3.0f};
    float x0[N];
    memcpy(x0, x, sizeof x);
    const float lr = 0.01f;
    pl_adam a;
    pl_adam_init(&a, N, 0.9f, 0.999f, 1e-8f);
    pl_adam_step(&a, x, g, lr);
    for (int i = 0; i < N; i++) {
        double sign = g[i] > 0 ? 1 : g[i] < 0 ? -1 : 0;
        check_close((double)x[i] - x0[i], -lr * sign, 1e-7, 1e-4, "dx", i);
    }
    assert_true(x[4] == x0[4]);
    pl_adam_free(&a);
}

/* A constant gradient keeps mhat = g and vhat = g^2 at every step, so each
 * step is ~lr; without bias correction the early steps would be scaled by
 * (1 - beta1^t) / sqrt(1 - beta2^t), far from 1. */
static void test_constant_gradient_steps(void **state)
{
    (void)state;
    enum { N = 3 };
    const float g[N] = {0.3f, -2.0f, 50.0f};
    float x[N] = {0.0f, 0.0f, 0.0f};
    const float lr = 1e-3f;
    pl_adam a;
    pl_adam_init(&a, N, 0.9f, 0.999f, 1e-8f);
    for (int t = 1; t <= 20; t++) {
        float before[N];
        memcpy(before, x, sizeof x);
        pl_adam_step(&a, x, g, lr);
        for (int i = 0; i < N; i++)
            check_close((double)x[i] - before[i], g[i] > 0 ? -lr : lr, 1e-8, 1e-3, "dx", t);
    }
    pl_adam_free(&a);
}

/* The moments follow their recurrences. */
static void test_moments(void **state)
{
    (void)state;
    pl_adam a;
    pl_adam_init(&a, 1, 0.8f, 0.99f, 1e-8f);
    float x = 0.0f;
    const float gs[3] = {1.0f, -2.0f, 0.5f};
    double m = 0.0, v = 0.0;
    for (int t = 0; t < 3; t++) {
        pl_adam_step(&a, &x, &gs[t], 0.1f);
        m = 0.8 * m + 0.2 * gs[t];
        v = 0.99 * v + 0.01 * gs[t] * gs[t];
        check_close(a.m[0], m, 1e-7, 1e-6, "m", t);
        check_close(a.v[0], v, 1e-9, 1e-6, "v", t);
    }
    pl_adam_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_quadratic),
        cmocka_unit_test(test_first_step_is_lr_sign),
        cmocka_unit_test(test_constant_gradient_steps),
        cmocka_unit_test(test_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
