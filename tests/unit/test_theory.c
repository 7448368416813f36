/* The linear theory of URFB (theory.h; algorithms.md §8.1): its building
 * blocks (an SGD step is minus the gradient of the squared error, by
 * central differences on a tiny net; the feedback rule's R moves by exactly
 * ε times W's increment, transposed; feedback through R = Wᵀ is SGD; the
 * draws keyed by the seed) and what the paper's theorems say on its
 * setting, for each of 3 seeds: every rule converges, URFB faster than
 * FRFB from the same random initialisation, and from zero forward weights
 * faster as ε grows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/theory.h"

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { L = PL_THEORY_LAYERS, NSEEDS = 3, B = 3 };
static const int TINY[L + 1] = {3, 4, 5, 2};

static long wsize(const int *dim, int l) { return (long)dim[l + 1] * dim[l]; }

/* B rows of N(0, 1) draws from substream sub. */
static void gaussian(double *a, long n, uint64_t sub)
{
    pl_rng r;
    pl_rng_init(&r, 7, PL_STREAM_TEST, sub);
    for (long i = 0; i < n; i++)
        a[i] = pl_rng_normal(&r);
}

/* (1/B) Σ ½|W_2 W_1 W_0 x - t|², written out on its own. */
static double loss(const pl_theory_net *n, const double *x, const double *t)
{
    const int *d = n->dim;
    double sum = 0, h[3][8];
    for (int b = 0; b < B; b++) {
        const double *in = x + b * d[0];
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < d[l + 1]; i++) {
                h[l][i] = 0;
                for (int j = 0; j < d[l]; j++)
                    h[l][i] += n->W[l][i * d[l] + j] * in[j];
            }
            in = h[l];
        }
        for (int k = 0; k < d[L]; k++)
            sum += 0.5 * (in[k] - t[b * d[L] + k]) * (in[k] - t[b * d[L] + k]);
    }
    return sum / B;
}

struct tiny {
    pl_theory_net net;
    double x[B * 3], t[B * 2];
    double *G[L];
};

static void tiny_setup(struct tiny *s)
{
    pl_theory_net_create(&s->net, TINY);
    pl_theory_init(&s->net, 5, 0);
    gaussian(s->x, B * TINY[0], 1);
    gaussian(s->t, B * TINY[L], 2);
    for (int l = 0; l < L; l++)
        s->G[l] = pl_alloc((size_t)wsize(TINY, l) * sizeof(double));
}

static void tiny_teardown(struct tiny *s)
{
    pl_theory_net_free(&s->net);
    for (int l = 0; l < L; l++)
        pl_free(s->G[l]);
}

static void sgd_step_is_minus_the_gradient(void **state)
{
    (void)state;
    struct tiny s;
    tiny_setup(&s);
    double f = pl_theory_increments(&s.net, 1, s.x, s.t, B, s.G);
    check_close(f, loss(&s.net, s.x, s.t), 1e-14, 1e-12, "loss", 0);
    pl_theory_net after;
    pl_theory_net_create(&after, TINY);
    pl_theory_net_copy(&after, &s.net);
    const double lr = 0.1, h = 1e-6;
    pl_theory_apply(&after, 1, 0, lr, s.G);
    for (int l = 0; l < L; l++)
        for (long i = 0; i < wsize(TINY, l); i++) {
            double w = s.net.W[l][i];
            s.net.W[l][i] = w + h;
            double up = loss(&s.net, s.x, s.t);
            s.net.W[l][i] = w - h;
            double down = loss(&s.net, s.x, s.t);
            s.net.W[l][i] = w;
            double grad = (up - down) / (2 * h);
            check_close((w - after.W[l][i]) / lr, grad, 1e-8, 1e-6, "step / lr", l * 100 + i);
        }
    /* SGD leaves R alone */
    for (int l = 1; l < L; l++)
        assert_memory_equal(after.R[l], s.net.R[l], (size_t)wsize(TINY, l) * sizeof(double));
    pl_theory_net_free(&after);
    tiny_teardown(&s);
}

/* Feedback through R = Wᵀ is backprop: the same increments. */
static void feedback_through_w_transposed_is_sgd(void **state)
{
    (void)state;
    struct tiny s;
    tiny_setup(&s);
    for (int l = 1; l < L; l++)
        for (int i = 0; i < TINY[l + 1]; i++)
            for (int j = 0; j < TINY[l]; j++)
                s.net.R[l][j * TINY[l + 1] + i] = s.net.W[l][i * TINY[l] + j];
    double *H[L];
    for (int l = 0; l < L; l++)
        H[l] = pl_alloc((size_t)wsize(TINY, l) * sizeof(double));
    pl_theory_increments(&s.net, 1, s.x, s.t, B, s.G);
    pl_theory_increments(&s.net, 0, s.x, s.t, B, H);
    for (int l = 0; l < L; l++) {
        for (long i = 0; i < wsize(TINY, l); i++)
            check_close(H[l][i], s.G[l][i], 1e-15, 1e-13, "increment", l * 100 + i);
        pl_free(H[l]);
    }
    tiny_teardown(&s);
}

/* ΔR_l = ε ΔW_lᵀ over 5 steps: W_l -= lr G_l and R_l -= (ε lr) G_lᵀ, bit for
 * bit, so R's change is ε times W's actual change to rounding (with ε = 1
 * R - Wᵀ keeps its value); with ε = 0 R does not move at all. */
static void r_gets_eps_times_ws_increment(void **state)
{
    (void)state;
    const double eps[] = {1, 0.25, 0.5, 0}, lr = 0.05;
    for (int e = 0; e < 4; e++) {
        struct tiny s;
        tiny_setup(&s);
        pl_theory_net before;
        pl_theory_net_create(&before, TINY);
        for (int step = 0; step < 5; step++) {
            pl_theory_net_copy(&before, &s.net);
            pl_theory_increments(&s.net, 0, s.x, s.t, B, s.G);
            pl_theory_apply(&s.net, 0, eps[e], lr, s.G);
            assert_null(s.net.R[0]);
            for (int l = 0; l < L; l++) {
                int in = TINY[l], out = TINY[l + 1];
                for (long i = 0; i < wsize(TINY, l); i++)
                    assert_true(s.net.W[l][i] == before.W[l][i] - lr * s.G[l][i]);
                for (int k = 0; k < out && l > 0; k++)
                    for (int j = 0; j < in; j++) {
                        double r0 = before.R[l][j * out + k], r1 = s.net.R[l][j * out + k];
                        double dw = s.net.W[l][k * in + j] - before.W[l][k * in + j];
                        if (eps[e] == 0)
                            assert_true(r1 == r0);
                        else
                            assert_true(r1 == r0 - (eps[e] * lr) * s.G[l][k * in + j]);
                        /* and so ε times W's actual increment, to rounding */
                        check_close(r1 - r0, eps[e] * dw, 1e-15, 1e-12, "dR", k * 10 + j);
                    }
            }
        }
        pl_theory_net_free(&before);
        tiny_teardown(&s);
    }
}

static void draws_are_keyed_by_the_seed(void **state)
{
    (void)state;
    const int *dim = TINY;
    double T1[6], T2[6], T3[6];
    pl_theory_teacher(dim, 1, T1);
    pl_theory_teacher(dim, 1, T2);
    pl_theory_teacher(dim, 2, T3);
    assert_memory_equal(T1, T2, sizeof T1);
    assert_memory_not_equal(T1, T3, sizeof T1);
    pl_theory_net a, z;
    pl_theory_net_create(&a, dim);
    pl_theory_net_create(&z, dim);
    pl_theory_init(&a, 1, 0);
    pl_theory_init(&z, 1, 1);
    for (int l = 0; l < L; l++) {
        size_t bytes = (size_t)wsize(dim, l) * sizeof(double);
        for (long i = 0; i < wsize(dim, l); i++)
            assert_true(z.W[l][i] == 0);
        if (l > 0) /* Fig. 4's R is the R of Fig. 3's runs of the seed */
            assert_memory_equal(a.R[l], z.R[l], bytes);
    }
    /* W = 0: the error is the target's own, exactly 1 */
    assert_true(pl_theory_error(&z, T1) == 1.0);
    pl_theory_net_free(&a);
    pl_theory_net_free(&z);
}

/* ---- the theorems on the paper's setting -------------------------------- */

/* The default setting, shortened: every threshold asserted below is
 * crossed by iteration 1200. */
static pl_theory_setting setting(void)
{
    pl_theory_setting s = pl_theory_default_setting();
    s.iters = 1500;
    return s;
}

/* Runs m for seeds 1 .. NSEEDS into err (NSEEDS x points). */
static double *run(const pl_theory_setting *s, const pl_theory_method *m)
{
    long np = pl_theory_points(s);
    double *err = pl_alloc((size_t)NSEEDS * np * sizeof *err);
    for (int k = 0; k < NSEEDS; k++)
        assert_int_equal(pl_theory_train(s, m, (uint64_t)k + 1, err + k * np, NULL), 0);
    return err;
}

/* From this iteration on a faster rule's error is below a slower one's at
 * every record; before it the curves start together (equal at 0 from zero
 * weights) and cross within the noise of single examples. */
enum { FROM = 100 };

/* The iterations of thresholds asserted to come in order. */
static const double THR[] = {1e-2, 1e-3};

/* err_fast below err_slow at every record from FROM on, and each of THR
 * reached strictly sooner, for every seed. */
static void expect_faster(const pl_theory_setting *s, const double *fast, const double *slow,
                          const char *what)
{
    long np = pl_theory_points(s);
    for (int k = 0; k < NSEEDS; k++) {
        const double *f = fast + k * np, *w = slow + k * np;
        for (long p = FROM / s->every; p < np; p++)
            if (!(f[p] < w[p]))
                fail_msg("%s, seed %d, iteration %ld: error %g not below %g", what, k + 1,
                         p * s->every, f[p], w[p]);
        for (int i = 0; i < 2; i++) {
            long a = pl_theory_first_below(s, f, THR[i]), b = pl_theory_first_below(s, w, THR[i]);
            if (a < 0 || b < 0 || a >= b)
                fail_msg("%s, seed %d: %g reached at %ld, not before %ld", what, k + 1, THR[i], a,
                         b);
        }
        print_message("%s, seed %d: 1e-3 at %ld vs %ld; final %.3g vs %.3g\n", what, k + 1,
                      pl_theory_first_below(s, f, 1e-3), pl_theory_first_below(s, w, 1e-3),
                      f[np - 1], w[np - 1]);
    }
}

/* Every seed's final error is below 1e-3 of its initial one. */
static void expect_converged(const pl_theory_setting *s, const double *err, const char *what)
{
    long np = pl_theory_points(s);
    for (int k = 0; k < NSEEDS; k++) {
        const double *e = err + k * np;
        if (!(e[np - 1] < 1e-3 * e[0]))
            fail_msg("%s, seed %d: error %g after %ld steps, from %g", what, k + 1, e[np - 1],
                     s->iters, e[0]);
    }
}

static void urfb_converges_faster_than_frfb(void **state)
{
    (void)state;
    pl_theory_setting s = setting();
    const pl_theory_method sgd = {"SGD", 1, 0, 0}, urfb = {"URFB", 0, 1, 0},
                           frfb = {"FRFB", 0, 0, 0};
    double *e_sgd = run(&s, &sgd), *e_urfb = run(&s, &urfb), *e_frfb = run(&s, &frfb);
    expect_converged(&s, e_sgd, "SGD");
    expect_converged(&s, e_urfb, "URFB");
    expect_converged(&s, e_frfb, "FRFB");
    expect_faster(&s, e_urfb, e_frfb, "URFB against FRFB");
    pl_free(e_sgd);
    pl_free(e_urfb);
    pl_free(e_frfb);
}

static void rate_increases_with_eps_from_zero_weights(void **state)
{
    (void)state;
    pl_theory_setting s = setting();
    const double eps[] = {0, 0.25, 0.5, 1};
    double *err[4];
    for (int e = 0; e < 4; e++) {
        pl_theory_method m = {"eps", 0, eps[e], 1};
        err[e] = run(&s, &m);
        expect_converged(&s, err[e], "from zero weights");
    }
    for (int e = 1; e < 4; e++) {
        char what[64];
        snprintf(what, sizeof what, "eps %g against eps %g", eps[e], eps[e - 1]);
        expect_faster(&s, err[e], err[e - 1], what);
    }
    for (int e = 0; e < 4; e++)
        pl_free(err[e]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_step_is_minus_the_gradient),
        cmocka_unit_test(feedback_through_w_transposed_is_sgd),
        cmocka_unit_test(r_gets_eps_times_ws_increment),
        cmocka_unit_test(draws_are_keyed_by_the_seed),
        cmocka_unit_test(urfb_converges_faster_than_frfb),
        cmocka_unit_test(rate_increases_with_eps_from_zero_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
