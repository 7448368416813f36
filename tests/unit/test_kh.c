/* Competing hidden units: the fast step against the literal reference, the
 * p-sphere the rule must reach, tie-breaking, divergence detection, and the
 * threaded step bitwise equal to the serial one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "rules/kh/kh.h"
#include "plastic/par.h"
#include "plastic/rng.h"

#include "support.h"

static int close_enough(double got, double ref, double atol, double rtol)
{
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

/* B examples of n inputs uniform in (0, 1). */
static float *random_inputs(int B, int n, uint64_t substream)
{
    return alloc_uniform((long)B * n, 11, substream, 0.0, 1.0);
}

/* Examples scattered around a few random prototypes: structured data in
 * which several units get recruited, as digits do on MNIST. */
static float *clustered_inputs(int B, int n, int nproto, uint64_t substream)
{
    float *X = pl_alloc((size_t)B * n * sizeof *X);
    pl_rng r;
    pl_rng_init(&r, 12, PL_STREAM_TEST, substream);
    for (int b = 0; b < B; b++) {
        pl_rng proto;
        pl_rng_init(&proto, 13, PL_STREAM_TEST, pl_rng_below(&r, (uint32_t)nproto));
        for (int i = 0; i < n; i++) {
            float v = (pl_rng_uniform(&proto) < 0.3 ? 1.0f : 0.0f) + 0.1f * (float)pl_rng_uniform(&r);
            X[(size_t)b * n + i] = v;
        }
    }
    return X;
}

static void power_row_matches_pow(void **state)
{
    (void)state;
    const double ps[] = {1.0, 2.0, 3.0, 4.0, 6.0, 2.5, 1.7};
    float w[9] = {-2.0f, -1.0f, -0.3f, -0.0f, 0.0f, 1e-4f, 0.5f, 1.0f, 3.0f}, out[9];
    for (size_t t = 0; t < sizeof ps / sizeof ps[0]; t++) {
        pl_kh_power_row(w, out, 9, ps[t]);
        for (int i = 0; i < 9; i++) {
            double sgn = (w[i] > 0) - (w[i] < 0);
            double ref = sgn * pow(fabs((double)w[i]), ps[t] - 1.0);
            assert_true(close_enough(out[i], ref, 1e-7, 1e-6));
        }
    }
}

/* Runs the fast path and the reference side by side; after every step the
 * winners must be identical and W equal within atol + rtol |ref|. */
static void fast_equals_reference(double p, int k, float delta)
{
    enum { K = 48, N = 30, B = 10, STEPS = 12 };
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, p, k, delta, B, 5, 16);
    float *ref = pl_alloc(sizeof(float) * K * N);
    memcpy(ref, kh.W, sizeof(float) * K * N);
    int32_t winners[2 * B];
    for (int step = 0; step < STEPS; step++) {
        float *X = random_inputs(B, N, (uint64_t)step);
        float eps = 0.05f * (1.0f - (float)step / STEPS);
        assert_int_equal(pl_kh_step(&kh, X, B, eps), 0);
        assert_int_equal(pl_kh_reference_step(ref, K, N, p, k, delta, X, B, eps, winners), 0);
        for (int b = 0; b < B; b++) {
            assert_int_equal(kh.top[b * k].index, winners[2 * b]);
            assert_int_equal(kh.top[b * k + k - 1].index, winners[2 * b + 1]);
        }
        for (int i = 0; i < K * N; i++)
            if (!close_enough(kh.W[i], ref[i], 1e-5, 1e-4))
                fail_msg("step %d p %g: W[%d] fast %.9g reference %.9g", step, p, i, kh.W[i],
                         ref[i]);
        pl_free(X);
    }
    pl_free(ref);
    pl_kh_free(&kh);
}

static void fast_equals_reference_p3(void **state) { (void)state; fast_equals_reference(3.0, 3, 0.4f); }
static void fast_equals_reference_p2(void **state) { (void)state; fast_equals_reference(2.0, 2, 0.4f); }
static void fast_equals_reference_p4_5(void **state) { (void)state; fast_equals_reference(4.5, 5, 0.3f); }

/* With R = 1 the fixed point of the rule puts every unit that keeps being
 * recruited on the unit p-sphere: sum_i |W_i|^p -> 1 (Krotov & Hopfield,
 * Eq. 3 and after). Units that (almost) never win keep their random norm. */
static void active_rows_reach_the_p_sphere(void **state)
{
    (void)state;
    enum { K = 12, N = 16, B = 20, EPOCHS = 600, BATCHES = 5 };
    const double p = 3.0;
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, p, 2, 0.4f, B, 9, 5);
    double mean0, max0;
    pl_kh_sphere(&kh, &mean0, &max0);
    long updates[K] = {0}; /* times ranked first or k-th */
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        float eps = 0.1f * (1.0f - (float)epoch / EPOCHS);
        for (int mb = 0; mb < BATCHES; mb++) {
            float *X = clustered_inputs(B, N, 6, 1000 + (uint64_t)(epoch * BATCHES + mb));
            assert_int_equal(pl_kh_step(&kh, X, B, eps), 0);
            for (int b = 0; b < B; b++) {
                updates[kh.top[b * 2].index]++;
                updates[kh.top[b * 2 + 1].index]++;
            }
            pl_free(X);
        }
    }
    assert_true(mean0 > 1.0); /* started far from the sphere */
    int active = 0;
    for (int mu = 0; mu < K; mu++) {
        double norm = 0;
        for (int i = 0; i < N; i++)
            norm += pow(fabs(kh.W[mu * N + i]), p);
        if (updates[mu] < 100)
            continue;
        active++;
        if (fabs(norm - 1.0) > 0.005)
            fail_msg("unit %d was updated %ld times but sum |W|^p = %g", mu, updates[mu], norm);
    }
    assert_true(active >= K / 2);
    pl_kh_free(&kh);
}

/* Equal currents rank by the lower unit index, here and in the merge. */
static void ties_go_to_the_lower_index(void **state)
{
    (void)state;
    enum { K = 6, N = 4, B = 1 };
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, 2.0, 3, 0.4f, B, 1, 2);
    const float rows[K][N] = {
        {0.1f, 0.1f, 0.1f, 0.1f}, {0.5f, 0.5f, 0.5f, 0.5f}, {0.2f, 0.2f, 0.2f, 0.2f},
        {0.5f, 0.5f, 0.5f, 0.5f}, {0.2f, 0.2f, 0.2f, 0.2f}, {0.0f, 0.0f, 0.0f, 0.0f},
    };
    memcpy(kh.W, rows, sizeof rows);
    pl_kh_refresh(&kh);
    const float x[N] = {1, 1, 1, 1};
    assert_int_equal(pl_kh_step(&kh, x, B, 0.01f), 0);
    assert_int_equal(kh.top[0].index, 1); /* 1 and 3 tie for first */
    assert_int_equal(kh.top[1].index, 3);
    assert_int_equal(kh.top[2].index, 2); /* 2 and 4 tie for third */
    pl_kh_free(&kh);
}

/* Only rows that rank first or k-th for some example change. */
static void only_ranked_rows_change(void **state)
{
    (void)state;
    enum { K = 40, N = 10, B = 4 };
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, 3.0, 4, 0.4f, B, 2, 64);
    float *before = pl_alloc(sizeof(float) * K * N);
    memcpy(before, kh.W, sizeof(float) * K * N);
    float *X = random_inputs(B, N, 77);
    assert_int_equal(pl_kh_step(&kh, X, B, 0.02f), 0);
    int ranked[K] = {0};
    for (int b = 0; b < B; b++) {
        ranked[kh.top[b * 4].index] = 1;
        ranked[kh.top[b * 4 + 3].index] = 1;
    }
    for (int mu = 0; mu < K; mu++) {
        int changed = memcmp(before + mu * N, kh.W + mu * N, sizeof(float) * N) != 0;
        assert_int_equal(changed, ranked[mu]);
    }
    pl_free(X);
    pl_free(before);
    pl_kh_free(&kh);
}

static void nan_input_is_diverged_and_leaves_W(void **state)
{
    (void)state;
    enum { K = 8, N = 5, B = 2 };
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, 3.0, 2, 0.4f, B, 4, 3);
    float *before = pl_alloc(sizeof(float) * K * N);
    memcpy(before, kh.W, sizeof(float) * K * N);
    float X[B * N] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.1f, 0.2f, NAN, 0.4f, 0.5f};
    assert_int_equal(pl_kh_step(&kh, X, B, 0.02f), PL_EXIT_DIVERGED);
    assert_memory_equal(before, kh.W, sizeof(float) * K * N);
    pl_free(before);
    pl_kh_free(&kh);
}

static void never_won_counts_and_resets(void **state)
{
    (void)state;
    enum { K = 30, N = 6, B = 3 };
    pl_kh kh;
    pl_kh_init(&kh, pl_comm_world(), K, N, 3.0, 2, 0.4f, B, 8, 7);
    float *X = random_inputs(B, N, 5);
    assert_int_equal(pl_kh_step(&kh, X, B, 0.01f), 0);
    int distinct = 0, seen[K] = {0};
    for (int b = 0; b < B; b++)
        if (!seen[kh.top[b * 2].index]++)
            distinct++;
    assert_int_equal(pl_kh_take_never_won(&kh), K - distinct);
    assert_int_equal(pl_kh_take_never_won(&kh), K);
    pl_free(X);
    pl_kh_free(&kh);
}

/* The step on T threads (T shards of whole tiles) against T = 1: W, Wp, the
 * merged rankings and the win counters bitwise equal after every step,
 * including a diverged step in the middle (NaN input: both refuse it, W
 * untouched, and both go on equal); winners equal to the reference's, W
 * within tolerance. K is odd and the tiles small, so the tiles do not divide
 * evenly over the threads and the last tile is short. OpenBLAS is on 2
 * threads around the steps, which must run their SGEMMs on one and restore
 * the count. */
static void threads_equal_one_thread(int threads, int K, int tile, double p, int k)
{
    enum { N = 30, B = 10, STEPS = 12, NAN_STEP = 5 };
    const float delta = 0.4f;
    pl_kh one, many;
    pl_kh_init(&one, pl_comm_world(), K, N, p, k, delta, B, 5, tile);
    pl_kh_init(&many, pl_comm_world(), K, N, p, k, delta, B, 5, tile);
    assert_int_equal(one.threads, 1);
    assert_int_equal(pl_kh_set_threads(&many, threads), threads);
    const size_t wsize = sizeof(float) * (size_t)K * N;
    const size_t wpsize = sizeof(float) * (size_t)K * (size_t)one.ldp;
    float *ref = pl_alloc(wsize), *before = pl_alloc(wsize);
    memcpy(ref, one.W, wsize);
    int32_t winners[2 * B];
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(2);
    for (int step = 0; step < STEPS; step++) {
        float *X = step % 2 ? random_inputs(B, N, (uint64_t)step)
                            : clustered_inputs(B, N, 4, 500 + (uint64_t)step);
        float eps = 0.05f * (1.0f - (float)step / STEPS);
        if (step == NAN_STEP) {
            X[3 * N + 7] = NAN;
            memcpy(before, many.W, wsize);
            assert_int_equal(pl_kh_step(&one, X, B, eps), PL_EXIT_DIVERGED);
            assert_int_equal(pl_kh_step(&many, X, B, eps), PL_EXIT_DIVERGED);
            assert_memory_equal(many.W, before, wsize);
        } else {
            assert_int_equal(pl_kh_step(&one, X, B, eps), 0);
            assert_int_equal(pl_kh_step(&many, X, B, eps), 0);
            assert_int_equal(pl_kh_reference_step(ref, K, N, p, k, delta, X, B, eps, winners), 0);
            for (int b = 0; b < B; b++) {
                assert_int_equal(many.top[b * k].index, winners[2 * b]);
                assert_int_equal(many.top[b * k + k - 1].index, winners[2 * b + 1]);
            }
            for (int i = 0; i < K * N; i++)
                if (!close_enough(many.W[i], ref[i], 1e-5, 1e-4))
                    fail_msg("T %d step %d: W[%d] %.9g reference %.9g", threads, step, i,
                             many.W[i], ref[i]);
        }
        assert_int_equal(openblas_get_num_threads(), 2);
        if (memcmp(many.W, one.W, wsize) != 0)
            fail_msg("K %d tile %d, %d threads, step %d: W differs from one thread", K, tile,
                     threads, step);
        assert_memory_equal(many.Wp, one.Wp, wpsize);
        assert_memory_equal(many.top, one.top, sizeof(pl_rank_entry) * B * k);
        assert_memory_equal(many.wins, one.wins, sizeof(long) * K);
        pl_free(X);
    }
    openblas_set_num_threads(blas_threads);
    pl_free(ref);
    pl_free(before);
    pl_kh_free(&one);
    pl_kh_free(&many);
}

static void two_threads_equal_one(void **state) { (void)state; threads_equal_one_thread(2, 53, 5, 3.0, 3); }
static void three_threads_equal_one(void **state) { (void)state; threads_equal_one_thread(3, 53, 5, 3.0, 3); }
static void three_threads_equal_one_p4_5(void **state) { (void)state; threads_equal_one_thread(3, 37, 3, 4.5, 5); }
static void two_threads_tiles_of_one(void **state) { (void)state; threads_equal_one_thread(2, 37, 1, 3.0, 4); }
static void three_threads_tiles_of_16(void **state) { (void)state; threads_equal_one_thread(3, 37, 16, 3.0, 3); }

/* More threads than tiles: one tile per thread; back to one thread works. */
static void threads_clamped_to_tiles(void **state)
{
    (void)state;
    enum { K = 7, N = 6, B = 3 };
    const int tiles[] = {1, 3, 7, 64};
    for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++) {
        pl_kh a, b;
        pl_kh_init(&a, pl_comm_world(), K, N, 3.0, 2, 0.4f, B, 3, tiles[t]);
        pl_kh_init(&b, pl_comm_world(), K, N, 3.0, 2, 0.4f, B, 3, tiles[t]);
        assert_int_equal(pl_kh_set_threads(&b, 16), (K + tiles[t] - 1) / tiles[t]);
        float *X = random_inputs(B, N, 9);
        for (int step = 0; step < 3; step++) {
            if (step == 2)
                assert_int_equal(pl_kh_set_threads(&b, 0), 1);
            assert_int_equal(pl_kh_step(&a, X, B, 0.02f), 0);
            assert_int_equal(pl_kh_step(&b, X, B, 0.02f), 0);
            assert_memory_equal(a.W, b.W, sizeof(float) * K * N);
        }
        pl_free(X);
        pl_kh_free(&a);
        pl_kh_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(power_row_matches_pow),
        cmocka_unit_test(fast_equals_reference_p3),
        cmocka_unit_test(fast_equals_reference_p2),
        cmocka_unit_test(fast_equals_reference_p4_5),
        cmocka_unit_test(active_rows_reach_the_p_sphere),
        cmocka_unit_test(ties_go_to_the_lower_index),
        cmocka_unit_test(only_ranked_rows_change),
        cmocka_unit_test(nan_input_is_diverged_and_leaves_W),
        cmocka_unit_test(never_won_counts_and_resets),
        cmocka_unit_test(two_threads_equal_one),
        cmocka_unit_test(three_threads_equal_one),
        cmocka_unit_test(three_threads_equal_one_p4_5),
        cmocka_unit_test(two_threads_tiles_of_one),
        cmocka_unit_test(three_threads_tiles_of_16),
        cmocka_unit_test(threads_clamped_to_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
