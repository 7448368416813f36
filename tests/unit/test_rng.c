/* Counter-based RNG: known answers, independence of draw order, and the
 * distributions the trainer relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "plastic/rng.h"

/* Known-answer vectors of the Philox4x32-10 reference implementation. */
static void philox_known_answers(void **state)
{
    (void)state;
    const uint32_t zero_key[2] = {0, 0}, zero_ctr[4] = {0, 0, 0, 0};
    const uint32_t zero_out[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    const uint32_t ones_key[2] = {0xffffffff, 0xffffffff};
    const uint32_t ones_ctr[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    const uint32_t ones_out[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    const uint32_t pi_key[2] = {0xa4093822, 0x299f31d0};
    const uint32_t pi_ctr[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344};
    const uint32_t pi_out[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    uint32_t out[4];
    pl_philox4x32(zero_key, zero_ctr, out);
    assert_memory_equal(out, zero_out, sizeof out);
    pl_philox4x32(ones_key, ones_ctr, out);
    assert_memory_equal(out, ones_out, sizeof out);
    pl_philox4x32(pi_key, pi_ctr, out);
    assert_memory_equal(out, pi_out, sizeof out);
}

/* Row mu's numbers depend only on (seed, stream, mu): generating rows in
 * another order, or only some of them (as one rank does), changes nothing. */
static void substreams_independent_of_order(void **state)
{
    (void)state;
    enum { ROWS = 7, COLS = 13 };
    double forward[ROWS][COLS], backward[ROWS][COLS];
    for (int mu = 0; mu < ROWS; mu++) {
        pl_rng r;
        pl_rng_init(&r, 42, PL_STREAM_KH_INIT, (uint64_t)mu);
        for (int i = 0; i < COLS; i++)
            forward[mu][i] = pl_rng_normal(&r);
    }
    for (int mu = ROWS - 1; mu >= 0; mu--) {
        pl_rng r;
        pl_rng_init(&r, 42, PL_STREAM_KH_INIT, (uint64_t)mu);
        for (int i = 0; i < COLS; i++)
            backward[mu][i] = pl_rng_normal(&r);
    }
    assert_memory_equal(forward, backward, sizeof forward);
    /* different rows, streams and seeds differ */
    assert_true(forward[0][0] != forward[1][0]);
    pl_rng other;
    pl_rng_init(&other, 42, PL_STREAM_KH_ORDER, 0);
    assert_true(pl_rng_normal(&other) != forward[0][0]);
    pl_rng_init(&other, 43, PL_STREAM_KH_INIT, 0);
    assert_true(pl_rng_normal(&other) != forward[0][0]);
}

static void normal_moments(void **state)
{
    (void)state;
    pl_rng r;
    pl_rng_init(&r, 7, PL_STREAM_TEST, 0);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; i++) {
        double z = pl_rng_normal(&r);
        sum += z;
        sum2 += z * z;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    assert_true(fabs(mean) < 0.01);  /* 4.5 standard errors */
    assert_true(fabs(var - 1.0) < 0.015);
}

static void uniform_range_and_below(void **state)
{
    (void)state;
    pl_rng r;
    pl_rng_init(&r, 9, PL_STREAM_TEST, 1);
    int counts[6] = {0};
    for (int i = 0; i < 60000; i++) {
        double u = pl_rng_uniform(&r);
        assert_true(u > 0.0 && u < 1.0);
        uint32_t v = pl_rng_below(&r, 6);
        assert_true(v < 6);
        counts[v]++;
    }
    for (int i = 0; i < 6; i++)
        assert_true(abs(counts[i] - 10000) < 500); /* ~5 sigma */
}

static void permutation_is_a_permutation(void **state)
{
    (void)state;
    enum { N = 1000 };
    int perm[N], again[N], seen[N] = {0};
    pl_rng r;
    pl_rng_init(&r, 3, PL_STREAM_KH_ORDER, 5);
    pl_rng_permutation(&r, perm, N);
    for (int i = 0; i < N; i++) {
        assert_true(perm[i] >= 0 && perm[i] < N);
        seen[perm[i]]++;
    }
    int moved = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(seen[i], 1);
        moved += perm[i] != i;
    }
    assert_true(moved > N / 2);
    pl_rng_init(&r, 3, PL_STREAM_KH_ORDER, 5);
    pl_rng_permutation(&r, again, N);
    assert_memory_equal(perm, again, sizeof perm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(philox_known_answers),
        cmocka_unit_test(substreams_independent_of_order),
        cmocka_unit_test(normal_moments),
        cmocka_unit_test(uniform_range_and_below),
        cmocka_unit_test(permutation_is_a_permutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
