/* Exact sums: the result does not depend on the order of the parts nor on
 * how they are grouped (as ranks would group them), and is the float
 * rounding of the true sum up to the grid; non-finite bounds give NaN; the
 * side values travel along. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/exact.h"
#include "plastic/par.h"

#include "support.h"

enum { PARTS = 7, T = 4 };
static const long counts[T] = {1, 100, 1000, 17};
static const double scales[T] = {3.0, 1e-3, 1e3, 0.0}; /* the last tensor is all zeros */

static long total(void)
{
    long n = 0;
    for (int t = 0; t < T; t++)
        n += counts[t];
    return n;
}

/* parts[p] holds the T tensors of part p back to back; values spread over
 * several binary orders of magnitude within each tensor. */
static float *make_parts(void)
{
    long n = total();
    float *x = pl_alloc(sizeof(float) * PARTS * n);
    for (int p = 0; p < PARTS; p++) {
        long at = p * n;
        for (int t = 0; t < T; t++) {
            fill_uniform(x + at, counts[t], 3, (uint64_t)(p * T + t), -1, 1);
            for (long i = 0; i < counts[t]; i++)
                x[at + i] = (float)(x[at + i] * scales[t] * pow(2.0, -(double)(i % 20)));
            at += counts[t];
        }
    }
    return x;
}

static void bound_parts(pl_exact *s, const float *x)
{
    long n = total();
    for (int p = 0; p < PARTS; p++) {
        long at = p * n;
        for (int t = 0; t < T; t++) {
            double m = 0;
            for (long i = 0; i < counts[t]; i++)
                m = fmax(m, fabs(x[at + i]));
            pl_exact_bound(s, t, m);
            at += counts[t];
        }
    }
}

static void add_part(pl_exact *s, const float *x, int p)
{
    long at = p * total();
    for (int t = 0; t < T; t++) {
        pl_exact_add(s, t, x + at, 1, 0);
        at += counts[t];
    }
}

/* Sums the parts listed in order[], grouped as groups[] (numbers of parts
 * per group, each group summed on its own as one rank would), then the
 * groups' accumulators added as the SUM all-reduce does. */
static void sum_grouped(const float *x, const int *order, const int *groups, int ngroups,
                        float *out)
{
    long n = total();
    pl_exact s[PARTS];
    int next = 0;
    for (int g = 0; g < ngroups; g++) {
        pl_exact_init(&s[g], T, counts, 1);
        pl_exact_begin(&s[g], PARTS);
        bound_parts(&s[g], x); /* the bounds every rank agrees on */
        pl_exact_agree(&s[g], pl_comm_self());
        for (int k = 0; k < groups[g]; k++)
            add_part(&s[g], x, order[next++]);
        pl_exact_side(&s[g])[0] = g + 0.5;
    }
    for (int g = 1; g < ngroups; g++)
        for (long i = 0; i < n + 1; i++)
            s[0].acc[i] += s[g].acc[i];
    pl_exact_finish(&s[0], pl_comm_self(), out);
    double side = 0;
    for (int g = 0; g < ngroups; g++)
        side += g + 0.5;
    assert_true(pl_exact_side(&s[0])[0] == side);
    for (int g = 0; g < ngroups; g++)
        pl_exact_free(&s[g]);
}

/* Several parts in one call sum as they do one at a time; a tensor no
 * part was added to sums to 0 (a rank without chunks). */
static void parts_at_once(void **state)
{
    (void)state;
    float *x = make_parts();
    long n = total();
    float *a = pl_alloc(sizeof(float) * n), *b = pl_alloc(sizeof(float) * n);
    const int order[PARTS] = {0, 1, 2, 3, 4, 5, 6}, one[1] = {PARTS};
    sum_grouped(x, order, one, 1, a);
    pl_exact s;
    pl_exact_init(&s, T, counts, 1);
    pl_exact_begin(&s, PARTS);
    bound_parts(&s, x);
    pl_exact_agree(&s, pl_comm_self());
    long at = 0;
    for (int t = 0; t < T - 1; t++) { /* parts 0-2, then 3-6, each tensor at a time */
        pl_exact_add(&s, t, x + at, 3, n);
        pl_exact_add(&s, t, x + 3 * n + at, PARTS - 3, n);
        at += counts[t];
    }
    s.acc[n - 1] = 12345; /* left over from an earlier sum: must not count */
    pl_exact_finish(&s, pl_comm_self(), b);
    assert_memory_equal(a, b, sizeof(float) * n);
    pl_exact_free(&s);
    pl_free(x), pl_free(a), pl_free(b);
}

static void order_and_grouping_do_not_matter(void **state)
{
    (void)state;
    float *x = make_parts();
    long n = total();
    float *a = pl_alloc(sizeof(float) * n), *b = pl_alloc(sizeof(float) * n);
    const int forward[PARTS] = {0, 1, 2, 3, 4, 5, 6}, shuffled[PARTS] = {5, 2, 6, 0, 3, 1, 4};
    const int one[1] = {PARTS}, three[3] = {2, 3, 2}, seven[7] = {1, 1, 1, 1, 1, 1, 1};
    sum_grouped(x, forward, one, 1, a);
    sum_grouped(x, shuffled, one, 1, b);
    assert_memory_equal(a, b, sizeof(float) * n);
    sum_grouped(x, shuffled, three, 3, b);
    assert_memory_equal(a, b, sizeof(float) * n);
    sum_grouped(x, forward, seven, 7, b);
    assert_memory_equal(a, b, sizeof(float) * n);
    pl_free(x), pl_free(a), pl_free(b);
}

/* Each value is within a float rounding of the true (double) sum, plus the
 * grid's spacing (2^-44 of the tensor's bound for 7 parts) per part. */
static void close_to_the_true_sum(void **state)
{
    (void)state;
    float *x = make_parts();
    long n = total();
    float *out = pl_alloc(sizeof(float) * n);
    const int order[PARTS] = {0, 1, 2, 3, 4, 5, 6}, one[1] = {PARTS};
    sum_grouped(x, order, one, 1, out);
    long at = 0;
    for (int t = 0; t < T; t++) {
        for (long i = 0; i < counts[t]; i++) {
            double ref = 0;
            for (int p = 0; p < PARTS; p++)
                ref += x[p * n + at + i];
            check_close(out[at + i], ref, PARTS * scales[t] * 0x1p-44, 0x1p-24, "sum", at + i);
        }
        at += counts[t];
    }
    for (long i = n - counts[T - 1]; i < n; i++)
        assert_true(out[i] == 0.0f);
    pl_free(x), pl_free(out);
}

static void nonfinite_bound_gives_nan(void **state)
{
    (void)state;
    const long c[2] = {3, 2};
    pl_exact s;
    pl_exact_init(&s, 2, c, 0);
    pl_exact_begin(&s, 2);
    pl_exact_bound(&s, 0, NAN);
    pl_exact_bound(&s, 0, 1.0); /* does not hide the NaN */
    pl_exact_bound(&s, 1, 4.0);
    pl_exact_agree(&s, pl_comm_self());
    float x[5] = {1, 2, 3, 4, -4}, out[5];
    pl_exact_add(&s, 0, x, 1, 0);
    pl_exact_add(&s, 1, x + 3, 1, 0);
    pl_exact_add(&s, 1, x + 3, 1, 0);
    pl_exact_finish(&s, pl_comm_self(), out);
    for (int i = 0; i < 3; i++)
        assert_true(isnan(out[i]));
    assert_true(out[3] == 8.0f && out[4] == -8.0f);
    pl_exact_free(&s);
}

/* More parts leave fewer bits, so every partial sum stays below 2^53. */
static void grid_bits(void **state)
{
    (void)state;
    const long c[1] = {1};
    pl_exact s;
    pl_exact_init(&s, 1, c, 0);
    const long parts[5] = {1, 2, 4, 5, 1000};
    const int bits[5] = {50, 50, 50, 49, 42};
    for (int k = 0; k < 5; k++) {
        pl_exact_begin(&s, parts[k]);
        assert_int_equal(s.bits, bits[k]);
    }
    pl_exact_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_grouping_do_not_matter),
        cmocka_unit_test(parts_at_once),
        cmocka_unit_test(close_to_the_true_sum),
        cmocka_unit_test(nonfinite_bound_gives_nan),
        cmocka_unit_test(grid_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
