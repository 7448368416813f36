/* Optimisers against closed forms (SGD, momentum under a constant
 * gradient, Adam equal to adam.c), their state arrays, and the learning-rate
 * schedules against their formulas, from the configuration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/adam.h"
#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/schedule.h"

#include "support.h"

enum { N = 9 };

static void sgd_steps(void **state)
{
    (void)state;
    float p[N], g[N], p0[N];
    fill_uniform(p, N, 1, 0, -1, 1);
    fill_uniform(g, N, 2, 0, -1, 1);
    memcpy(p0, p, sizeof p);
    pl_optim o;
    pl_optim_init(&o, PL_OPTIM_SGD, N, 0, 0, 0, 0);
    pl_optim_step(&o, p, g, 0.1f);
    for (int i = 0; i < N; i++)
        assert_true(p[i] == p0[i] - 0.1f * g[i]);
    pl_optim_array arrays[2];
    assert_int_equal(pl_optim_arrays(&o, arrays), 0);
    pl_optim_free(&o);
}

/* A constant gradient g: v_k = g (1 - mu^k) / (1 - mu), and the parameter
 * has moved by lr g sum_{j <= k} (1 - mu^j) / (1 - mu). */
static void momentum_closed_form(void **state)
{
    (void)state;
    float p[N], g[N];
    fill_uniform(g, N, 3, 0, -1, 1);
    memset(p, 0, sizeof p);
    const double mu = 0.9, lr = 0.01;
    pl_optim o;
    pl_optim_init(&o, PL_OPTIM_MOMENTUM, N, (float)mu, 0, 0, 0);
    double moved = 0;
    for (int k = 1; k <= 30; k++) {
        pl_optim_step(&o, p, g, (float)lr);
        moved += (1 - pow(mu, k)) / (1 - mu);
        for (int i = 0; i < N; i++) {
            check_close(o.velocity[i], g[i] * (1 - pow(mu, k)) / (1 - mu), 1e-6, 1e-5, "v", k);
            check_close(p[i], -lr * g[i] * moved, 1e-6, 1e-5, "p", k);
        }
    }
    pl_optim_array arrays[2];
    assert_int_equal(pl_optim_arrays(&o, arrays), 1);
    assert_string_equal(arrays[0].name, "optim/velocity");
    assert_ptr_equal(arrays[0].data, o.velocity);
    pl_optim_free(&o);
}

/* Adam through pl_optim is adam.c's step, bitwise. */
static void adam_is_adam(void **state)
{
    (void)state;
    float p[N], q[N], g[N];
    fill_uniform(p, N, 4, 0, -1, 1);
    memcpy(q, p, sizeof p);
    pl_optim o;
    pl_adam a;
    pl_optim_init(&o, PL_OPTIM_ADAM, N, 0, 0.8f, 0.99f, 1e-7f);
    pl_adam_init(&a, N, 0.8f, 0.99f, 1e-7f);
    for (int t = 0; t < 5; t++) {
        fill_uniform(g, N, 5, (uint64_t)t, -1, 1);
        pl_optim_step(&o, p, g, 0.01f);
        pl_adam_step(&a, q, g, 0.01f);
    }
    assert_memory_equal(p, q, sizeof p);
    assert_int_equal(o.adam.t, 5);
    pl_optim_array arrays[2];
    assert_int_equal(pl_optim_arrays(&o, arrays), 2);
    assert_string_equal(arrays[1].name, "optim/v");
    pl_optim_free(&o);
    pl_adam_free(&a);
}

static void from_config(void **state)
{
    (void)state;
    pl_config cfg;
    pl_config_defaults(&cfg);
    assert_int_equal(pl_config_override(&cfg, "optim.method=momentum"), 0);
    assert_int_equal(pl_config_override(&cfg, "optim.momentum=0.5"), 0);
    pl_optim o;
    pl_optim_init_config(&o, &cfg, N);
    assert_int_equal(o.method, PL_OPTIM_MOMENTUM);
    assert_true(o.momentum == 0.5f);
    pl_optim_free(&o);
    assert_int_equal(pl_optim_parse("nesterov"), -1);
    assert_int_equal(pl_schedule_parse("cosine"), -1);
}

static pl_schedule schedule(pl_schedule_kind kind, double warmup)
{
    return (pl_schedule){.kind = kind, .lr = 0.1, .gamma = 0.5, .power = 2, .warmup = warmup,
                         .every = 3, .epochs = 10};
}

static void schedules_follow_their_formulas(void **state)
{
    (void)state;
    const int nb = 4; /* minibatches per epoch */
    pl_schedule c = schedule(PL_SCHEDULE_CONST, 0), st = schedule(PL_SCHEDULE_STEP, 0);
    pl_schedule lin = schedule(PL_SCHEDULE_LINEAR, 0), poly = schedule(PL_SCHEDULE_POLY, 0);
    for (int e = 0; e < 10; e++)
        for (int b = 0; b < nb; b++) {
            double s = e + (double)b / nb;
            check_close(pl_schedule_lr(&c, e, b, nb), 0.1, 0, 1e-15, "const", e);
            check_close(pl_schedule_lr(&st, e, b, nb), 0.1 * pow(0.5, e / 3), 0, 1e-15, "step", e);
            check_close(pl_schedule_lr(&lin, e, b, nb), 0.1 * (1 - s / 10), 0, 1e-12, "linear", e);
            check_close(pl_schedule_lr(&poly, e, b, nb), 0.1 * pow(1 - s / 10, 2), 0, 1e-12,
                        "poly", e);
        }
    /* the last step of a decay is small but not zero */
    assert_true(pl_schedule_lr(&lin, 9, nb - 1, nb) > 0);
}

/* Warm-up: linear up to lr over w epochs (never 0: it looks after the
 * step), then the decay over the remaining epochs. */
static void warmup_then_decay(void **state)
{
    (void)state;
    const int nb = 4;
    pl_schedule w = schedule(PL_SCHEDULE_POLY, 2), c = schedule(PL_SCHEDULE_CONST, 1.5);
    check_close(pl_schedule_lr(&w, 0, 0, nb), 0.1 * 0.25 / 2, 0, 1e-12, "first", 0);
    check_close(pl_schedule_lr(&w, 1, 1, nb), 0.1 * 1.5 / 2, 0, 1e-12, "warm", 1);
    check_close(pl_schedule_lr(&w, 2, 0, nb), 0.1, 0, 1e-12, "peak", 2);
    check_close(pl_schedule_lr(&w, 6, 0, nb), 0.1 * pow(1 - 4.0 / 8, 2), 0, 1e-12, "decay", 6);
    check_close(pl_schedule_lr(&c, 1, 0, nb), 0.1 * 1.25 / 1.5, 0, 1e-12, "const warm", 1);
    check_close(pl_schedule_lr(&c, 1, 1, nb), 0.1, 0, 1e-12, "const after", 1);
}

static void schedule_from_config(void **state)
{
    (void)state;
    pl_config cfg;
    pl_config_defaults(&cfg);
    assert_int_equal(pl_config_override(&cfg, "optim.schedule=step"), 0);
    assert_int_equal(pl_config_override(&cfg, "optim.step_every=2"), 0);
    assert_int_equal(pl_config_override(&cfg, "optim.gamma=0.5"), 0);
    assert_int_equal(pl_config_override(&cfg, "optim.lr=0.2"), 0);
    pl_schedule s;
    pl_schedule_from_config(&s, &cfg);
    check_close(pl_schedule_lr(&s, 5, 0, 10), 0.2 * 0.25, 0, 1e-15, "lr", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_steps),
        cmocka_unit_test(momentum_closed_form),
        cmocka_unit_test(adam_is_adam),
        cmocka_unit_test(from_config),
        cmocka_unit_test(schedules_follow_their_formulas),
        cmocka_unit_test(warmup_then_decay),
        cmocka_unit_test(schedule_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
