/* Unit tests of the readout bank (readout_bank.h): the tiled gradient sums
 * against their naive reference, and R readouts trained together bitwise
 * equal to each trained alone by the plain path (pl_readout_epoch,
 * pl_readout_errors), also when one member diverges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/par.h"
#include "plastic/rng.h"
#include "rules/kh/readout.h"
#include "rules/kh/readout_bank.h"
#include "rules/kh/readout_simd.h"

#include "support.h"

enum { SEED = 4321 };

/* Features like relu(.)^n: non-negative, many zeros, a wide range. */
static float *features(long count, uint64_t sub)
{
    float *H = alloc_uniform(count, SEED, sub, -0.5, 1.0);
    for (long i = 0; i < count; i++)
        H[i] = H[i] <= 0.0f ? 0.0f : H[i] * H[i] * H[i];
    return H;
}

/* ---- the gradient kernel ------------------------------------------------------ */

/* Every shape around the register tiles' edges: bitwise the reference. */
static void test_grad_sum_matches_reference(void **state)
{
    (void)state;
    const int shapes[][3] = {{1, 1, 1},    {4, 4, 3},    {7, 13, 9}, {40, 37, 100},
                             {8, 8, 1},    {5, 3, 17},   {4, 32, 5}, {150, 200, 100},
                             {12, 65, 33}, {3, 64, 100}};
    for (int wide = 0; wide < 2; wide++)
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        pl_readout_simd_limit(wide ? 512 : 0);
        const int rows = shapes[s][0], B = shapes[s][2];
        const long n = shapes[s][1];
        float *df = alloc_uniform((long)rows * B, SEED, 10 + s, -1.0, 1.0);
        float *hf = features((long)B * n, 20 + s);
        double *dT = pl_alloc((size_t)rows * (size_t)B * sizeof *dT);
        double *h = pl_alloc((size_t)B * (size_t)n * sizeof *h);
        for (long i = 0; i < (long)rows * B; i++)
            dT[i] = (double)df[i];
        for (long i = 0; i < (long)B * n; i++)
            h[i] = (double)hf[i];
        double *fast = pl_calloc((size_t)rows * (size_t)n, sizeof *fast);
        double *ref = pl_calloc((size_t)rows * (size_t)n, sizeof *ref);
        pl_readout_grad_sum(dT, B, rows, h, B, n, fast, n);
        pl_readout_grad_sum_ref(dT, B, rows, h, B, n, ref, n);
        assert_memory_equal(fast, ref, (size_t)rows * (size_t)n * sizeof *ref);
        double any = 0.0;
        for (long i = 0; i < (long)rows * n; i++)
            any += fabs(ref[i]);
        assert_true(any > 0.0);
        pl_free(df), pl_free(hf), pl_free(dT), pl_free(h), pl_free(fast), pl_free(ref);
    }
    pl_readout_simd_limit(512);
}

/* Integers like the slices (|hi| <= 2^b, |lo| <= 2^(b-1), b = 21 for
 * K <= 2048): the wide products equal the two DGEMMs bitwise, for row and
 * column counts around the tiles (and none at all). */
static void test_exact_products_match_dgemm(void **state)
{
    (void)state;
    const int shapes[][3] = {{1, 1, 1}, {4, 16, 8}, {5, 17, 33}, {100, 150, 2000}, {128, 40, 37},
                             {3, 10, 300}, {0, 10, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1];
        const long n = shapes[s][2];
        const size_t n2 = 2 * (size_t)n;
        pl_rng rng;
        pl_rng_init(&rng, SEED, PL_STREAM_TEST, 100 + s);
        double *H2 = pl_alloc(((size_t)rows + 1) * n2 * sizeof *H2);
        double *S2 = pl_alloc((size_t)cols * n2 * sizeof *S2);
        for (size_t i = 0; i < (size_t)rows * n2; i++)
            H2[i] = (double)((int32_t)pl_rng_below(&rng, 1u << 22) - (1 << 21)) /
                    (i % n2 < (size_t)n ? 1 : 2);
        for (size_t i = 0; i < (size_t)cols * n2; i++)
            S2[i] = (double)((int32_t)pl_rng_below(&rng, 1u << 22) - (1 << 21)) /
                    (i % n2 < (size_t)n ? 2 : 1);
        const size_t out = ((size_t)rows + 1) * (size_t)cols;
        double *a1 = pl_calloc(out, sizeof *a1), *a2 = pl_calloc(out, sizeof *a2);
        double *b1 = pl_calloc(out, sizeof *b1), *b2 = pl_calloc(out, sizeof *b2);
        pl_readout_simd_limit(512); /* wide where the CPU has it */
        pl_exact_products(H2, rows, n, S2, cols, a1, a2, cols);
        pl_exact_products_ref(H2, rows, n, S2, cols, b1, b2, cols);
        assert_memory_equal(a1, b1, out * sizeof *a1);
        assert_memory_equal(a2, b2, out * sizeof *a2);
        double any = 0.0;
        for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
            any += fabs(b2[i]);
        assert_true(rows == 0 || any > 0.0);
        pl_free(H2), pl_free(S2), pl_free(a1), pl_free(a2), pl_free(b1), pl_free(b2);
    }
}

/* ---- bank against alone ----------------------------------------------------------- */

enum { C = 10, NTRAIN = 53, NTEST = 31, BATCH = 8, EPOCHS = 3, MAXR = 5 };

typedef struct alone {
    double loss[EPOCHS];
    long wrong[EPOCHS];
    int diverged_at;      /* first epoch with a non-finite loss, or -1 */
    long errors;          /* on the test split after the last epoch (-1: diverged) */
    float *S, *am, *av;
} alone;

/* Poisoned members get a NaN in S (class 3, unit 1) before epoch 1, as an
 * overflow mid-training would leave it. */
enum { POISON_EPOCH = 1 };

/* One member trained by itself the way the worker does it: epochs until one
 * has a non-finite loss. */
static void train_alone(alone *out, long K, double n, double m, double beta, int poison,
                        const float *H, const uint8_t *y, const float *Ht, const uint8_t *yt)
{
    pl_readout r;
    pl_readout_batch buf;
    pl_readout_init(&r, pl_comm_world(), C, K, 0, K, n, m, beta, 7, 0.1f);
    pl_readout_batch_init(&buf, BATCH, K, NTRAIN);
    out->diverged_at = -1;
    for (int e = 0; e < EPOCHS; e++) {
        if (poison && e == POISON_EPOCH)
            r.S[3 * K + 1] = NAN;
        int batch = 0;
        double loss = 0.0;
        long wrong = 0;
        pl_readout_epoch(&r, H, y, NTRAIN, 7, e, (float)pl_readout_lr(0.01, e, EPOCHS), &batch,
                         &buf, &loss, &wrong, NULL, NULL);
        out->loss[e] = loss;
        out->wrong[e] = wrong;
        if (!isfinite(loss)) {
            out->diverged_at = e;
            break;
        }
    }
    out->errors = out->diverged_at < 0 ? pl_readout_errors(&r, Ht, yt, NTEST, NULL) : -1;
    size_t bytes = (size_t)C * (size_t)K * sizeof(float);
    out->S = pl_alloc(bytes), out->am = pl_alloc(bytes), out->av = pl_alloc(bytes);
    memcpy(out->S, r.S, bytes);
    memcpy(out->am, r.adam.m, bytes);
    memcpy(out->av, r.adam.v, bytes);
    pl_readout_batch_free(&buf);
    pl_readout_free(&r);
}

/* R members together (killing one whose epoch loss is not finite), each
 * compared with its run alone: losses, wrong counts, the epoch it
 * diverged at, test errors, and for live members S and Adam's moments.
 * Returns how many members diverged. */
static int bank_vs_alone(long K, int R, const double *m_of, const double *beta_of, int poison)
{
    const double n = 3.0;
    float *H = features(NTRAIN * K, 1), *Ht = features(NTEST * K, 2);
    uint8_t *y = alloc_labels(NTRAIN, C, SEED, 3), *yt = alloc_labels(NTEST, C, SEED, 4);
    alone ref[MAXR];
    for (int i = 0; i < R; i++)
        train_alone(&ref[i], K, n, m_of[i], beta_of[i], i == poison, H, y, Ht, yt);

    pl_readout_bank bank;
    pl_readout_batch buf;
    pl_readout_bank_init(&bank, pl_comm_world(), C, K, 0, K, n, R, m_of, beta_of, 7, 0.1f);
    pl_readout_batch_init(&buf, BATCH, K, NTRAIN);
    int diverged_at[MAXR];
    for (int i = 0; i < R; i++)
        diverged_at[i] = -1;
    for (int e = 0; e < EPOCHS; e++) {
        double loss[MAXR] = {0};
        long wrong[MAXR] = {0};
        if (poison >= 0 && e == POISON_EPOCH)
            bank.ro[poison].S[3 * K + 1] = NAN;
        pl_readout_bank_epoch(&bank, H, y, NTRAIN, 7, e, (float)pl_readout_lr(0.01, e, EPOCHS),
                              &buf, loss, wrong);
        for (int i = 0; i < R; i++) {
            if (bank.dead[i])
                continue;
            assert_memory_equal(&loss[i], &ref[i].loss[e], sizeof loss[i]);
            assert_int_equal(wrong[i], ref[i].wrong[e]);
            if (!isfinite(loss[i])) {
                diverged_at[i] = e;
                pl_readout_bank_kill(&bank, i);
            }
        }
    }
    long errors[MAXR];
    pl_readout_bank_errors(&bank, Ht, yt, NTEST, errors);
    size_t bytes = (size_t)C * (size_t)K * sizeof(float);
    int diverged = 0;
    for (int i = 0; i < R; i++) {
        diverged += diverged_at[i] >= 0;
        assert_int_equal(diverged_at[i], ref[i].diverged_at);
        assert_int_equal(errors[i], ref[i].errors);
        if (ref[i].diverged_at < 0) {
            assert_memory_equal(bank.ro[i].S, ref[i].S, bytes);
            assert_memory_equal(bank.ro[i].adam.m, ref[i].am, bytes);
            assert_memory_equal(bank.ro[i].adam.v, ref[i].av, bytes);
            assert_int_equal(bank.ro[i].adam.t, (long)EPOCHS * ((NTRAIN + BATCH - 1) / BATCH));
        }
        pl_free(ref[i].S), pl_free(ref[i].am), pl_free(ref[i].av);
    }
    pl_readout_batch_free(&buf);
    pl_readout_bank_free(&bank);
    pl_free(H), pl_free(Ht), pl_free(y), pl_free(yt);
    return diverged;
}

/* The sweep's pairs: several m and beta, K not a multiple of the tiles. */
static void test_bank_equals_alone(void **state)
{
    (void)state;
    const double m_of[] = {4, 6, 3.5, 2, 12}, beta_of[] = {0.1, 1, 0.5, 0.01, 1};
    assert_int_equal(bank_vs_alone(37, 5, m_of, beta_of, -1), 0);
    assert_int_equal(bank_vs_alone(8, 3, m_of + 1, beta_of + 1, -1), 0);
    assert_int_equal(bank_vs_alone(96, 4, m_of, beta_of, -1), 0); /* whole wide tiles */
}

/* The same with the portable kernels (DGEMM and the C tiles). */
static void test_bank_equals_alone_portable(void **state)
{
    (void)state;
    const double m_of[] = {4, 6, 3.5, 2, 12}, beta_of[] = {0.1, 1, 0.5, 0.01, 1};
    pl_readout_simd_limit(0);
    assert_int_equal(bank_vs_alone(37, 5, m_of, beta_of, -1), 0);
    assert_int_equal(bank_vs_alone(64, 4, m_of, beta_of, 2), 1);
    pl_readout_simd_limit(512);
}

/* A bank of one is the plain readout. */
static void test_bank_of_one(void **state)
{
    (void)state;
    const double m_of[] = {6}, beta_of[] = {0.1};
    assert_int_equal(bank_vs_alone(19, 1, m_of, beta_of, -1), 0);
}

/* A member whose loss is NaN from the start (beta = NaN) diverges at epoch
 * 0 as alone; it is frozen and the others stay bitwise their alone runs. */
static void test_diverged_member_isolated(void **state)
{
    (void)state;
    const double m_of[] = {4, 6, 4}, beta_of[] = {0.1, NAN, 1};
    assert_int_equal(bank_vs_alone(23, 3, m_of, beta_of, -1), 1);
}

/* A member whose S turns NaN after a finite epoch (in the middle of the
 * stack) diverges in the same epoch as alone, its NaNs stay in its own rows
 * of the stacked GEMM, and its neighbours are untouched. */
static void test_member_blowing_up(void **state)
{
    (void)state;
    const double m_of[] = {4, 12, 6}, beta_of[] = {0.5, 1, 0.1};
    assert_int_equal(bank_vs_alone(16, 3, m_of, beta_of, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_sum_matches_reference),
        cmocka_unit_test(test_exact_products_match_dgemm),
        cmocka_unit_test(test_bank_equals_alone),
        cmocka_unit_test(test_bank_equals_alone_portable),
        cmocka_unit_test(test_bank_of_one),
        cmocka_unit_test(test_diverged_member_isolated),
        cmocka_unit_test(test_member_blowing_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
