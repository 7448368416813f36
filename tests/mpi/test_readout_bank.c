/* A bank of readouts on N ranks against each member trained alone on one
 * rank, bitwise: every rank holds a block of the K = 53 hidden units
 * (uneven over 2-4 ranks), the bank trains R = 5 members (the sweep's m and
 * beta pairs) for 3 epochs of minibatches of 8 (a short last one); rank 0
 * also trains each member by itself with the plain readout
 * (pl_readout_epoch, pl_readout_errors) on a communicator of its own with
 * all the units. Compared: each epoch's loss sum and wrong count, test
 * errors, and S gathered from the ranks; with the AVX-512 kernels and with
 * the portable ones; and with a member whose S turns NaN after epoch 0,
 * which must diverge in the same epoch as alone and leave the others
 * untouched. */
#include "plastic/common.h"
#include "plastic/par.h"
#include "plastic/rng.h"
#include "rules/kh/readout.h"
#include "rules/kh/readout_bank.h"
#include "rules/kh/readout_simd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { K = 53, C = 10, NTRAIN = 61, NTEST = 29, BATCH = 8, EPOCHS = 3, R = 5, POISON_EPOCH = 1 };

static const double M_OF[R] = {4, 6, 8, 3.5, 12}, BETA_OF[R] = {0.1, 1, 0.01, 0.5, 0.1};

/* Global features (non-negative, many zeros) and labels, the same on every
 * rank. */
static void make_data(float *H, uint8_t *y, long n, uint64_t sub)
{
    pl_rng rng;
    pl_rng_init(&rng, 99, PL_STREAM_TEST, sub);
    for (long i = 0; i < n * K; i++) {
        double u = pl_rng_uniform(&rng) * 1.5 - 0.5;
        H[i] = u <= 0 ? 0.0f : (float)(u * u * u);
    }
    for (long i = 0; i < n; i++)
        y[i] = (uint8_t)pl_rng_below(&rng, C);
}

/* Columns [u0, u0 + nu) of the n x K features. */
static float *columns(const float *H, long n, long u0, long nu)
{
    float *out = pl_alloc((size_t)(n * (nu ? nu : 1)) * sizeof *out);
    for (long i = 0; i < n; i++)
        memcpy(out + i * nu, H + i * K + u0, (size_t)nu * sizeof *out);
    return out;
}

typedef struct result {
    double loss[R][EPOCHS];
    long wrong[R][EPOCHS];
    int diverged_at[R];
    long errors[R];
    float S[R][C * K];
} result;

/* S of a readout holding columns [u0, u0 + nu), as the whole C x K matrix
 * on every rank (zeros elsewhere, summed over the ranks). */
static void whole_S(const pl_comm *comm, const pl_readout *r, long u0, long nu, float *out)
{
    memset(out, 0, sizeof(float) * C * K);
    for (int c = 0; c < C; c++)
        for (long j = 0; j < nu; j++)
            out[c * K + u0 + j] = r->S[c * nu + j];
    pl_allreduce_sum_float(comm, out, C * K);
}

static void poison(pl_readout *r, long u0, long nu)
{
    if (u0 <= 1 && 1 < u0 + nu)
        r->S[3 * nu + (1 - u0)] = NAN;
}

static void alone(const float *H, const uint8_t *y, const float *Ht, const uint8_t *yt, int bad,
                  result *out)
{
    const pl_comm *self = pl_comm_self();
    for (int i = 0; i < R; i++) {
        pl_readout r;
        pl_readout_batch buf;
        pl_readout_init(&r, self, C, K, 0, K, 3.0, M_OF[i], BETA_OF[i], 5, 0.1f);
        pl_readout_batch_init(&buf, BATCH, K, NTRAIN);
        out->diverged_at[i] = -1;
        for (int e = 0; e < EPOCHS; e++) {
            if (i == bad && e == POISON_EPOCH)
                poison(&r, 0, K);
            int batch = 0;
            double loss = 0.0;
            long wrong = 0;
            pl_readout_epoch(&r, H, y, NTRAIN, 5, e, (float)pl_readout_lr(0.01, e, EPOCHS),
                             &batch, &buf, &loss, &wrong, NULL, NULL);
            out->loss[i][e] = loss;
            out->wrong[i][e] = wrong;
            if (!isfinite(loss)) {
                out->diverged_at[i] = e;
                break;
            }
        }
        out->errors[i] = out->diverged_at[i] < 0 ? pl_readout_errors(&r, Ht, yt, NTEST, NULL) : -1;
        memcpy(out->S[i], r.S, sizeof out->S[i]);
        pl_readout_batch_free(&buf);
        pl_readout_free(&r);
    }
}

static void banked(const pl_comm *world, const float *H, const uint8_t *y, const float *Ht,
                   const uint8_t *yt, int bad, result *out)
{
    const int rank = pl_comm_rank(world), size = pl_comm_size(world);
    const long u0 = (long)K * rank / size, nu = (long)K * (rank + 1) / size - u0;
    float *Hl = columns(H, NTRAIN, u0, nu), *Htl = columns(Ht, NTEST, u0, nu);
    pl_readout_bank bank;
    pl_readout_batch buf;
    pl_readout_bank_init(&bank, world, C, K, u0, nu, 3.0, R, M_OF, BETA_OF, 5, 0.1f);
    pl_readout_batch_init(&buf, BATCH, nu, NTRAIN);
    for (int i = 0; i < R; i++)
        out->diverged_at[i] = -1;
    for (int e = 0; e < EPOCHS; e++) {
        if (bad >= 0 && e == POISON_EPOCH)
            poison(&bank.ro[bad], u0, nu);
        double loss[R] = {0};
        long wrong[R] = {0};
        pl_readout_bank_epoch(&bank, Hl, y, NTRAIN, 5, e, (float)pl_readout_lr(0.01, e, EPOCHS),
                              &buf, loss, wrong);
        for (int i = 0; i < R; i++) {
            if (bank.dead[i])
                continue;
            out->loss[i][e] = loss[i];
            out->wrong[i][e] = wrong[i];
            if (!isfinite(loss[i])) {
                out->diverged_at[i] = e;
                pl_readout_bank_kill(&bank, i);
            }
        }
    }
    pl_readout_bank_errors(&bank, Htl, yt, NTEST, out->errors);
    for (int i = 0; i < R; i++)
        whole_S(world, &bank.ro[i], u0, nu, out->S[i]);
    pl_readout_batch_free(&buf);
    pl_readout_bank_free(&bank);
    pl_free(Hl);
    pl_free(Htl);
}

/* Rank 0's comparison; returns the failures. */
static int compare(const result *a, const result *b, const char *what)
{
    int failures = 0;
    for (int i = 0; i < R; i++) {
        if (a->diverged_at[i] != b->diverged_at[i]) {
            fprintf(stderr, "%s member %d: diverged at %d, alone at %d\n", what, i,
                    a->diverged_at[i], b->diverged_at[i]);
            failures++;
            continue;
        }
        int last = a->diverged_at[i] < 0 ? EPOCHS - 1 : a->diverged_at[i];
        for (int e = 0; e <= last; e++)
            if (memcmp(&a->loss[i][e], &b->loss[i][e], sizeof(double)) ||
                a->wrong[i][e] != b->wrong[i][e]) {
                fprintf(stderr, "%s member %d epoch %d: loss %.17g wrong %ld, alone %.17g %ld\n",
                        what, i, e, a->loss[i][e], a->wrong[i][e], b->loss[i][e], b->wrong[i][e]);
                failures++;
            }
        if (a->errors[i] != b->errors[i]) {
            fprintf(stderr, "%s member %d: %ld test errors, alone %ld\n", what, i, a->errors[i],
                    b->errors[i]);
            failures++;
        }
        if (a->diverged_at[i] < 0 && memcmp(a->S[i], b->S[i], sizeof a->S[i])) {
            fprintf(stderr, "%s member %d: S differs from alone\n", what, i);
            failures++;
        }
    }
    return failures;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    const int rank = pl_comm_rank(world), size = pl_comm_size(world);
    float *H = pl_alloc(sizeof(float) * NTRAIN * K), *Ht = pl_alloc(sizeof(float) * NTEST * K);
    uint8_t y[NTRAIN], yt[NTEST];
    make_data(H, y, NTRAIN, 1);
    make_data(Ht, yt, NTEST, 2);
    result *ref = pl_alloc(sizeof *ref), *got = pl_alloc(sizeof *got);
    int failures = 0, diverged = 0;
    for (int bad = -1; bad <= 2; bad += 3) {
        if (rank == 0)
            alone(H, y, Ht, yt, bad, ref);
        for (int wide = 1; wide >= 0; wide--) {
            pl_readout_simd_limit(wide ? 512 : 0);
            banked(world, H, y, Ht, yt, bad, got);
            if (rank == 0) {
                char what[64];
                snprintf(what, sizeof what, "%s kernels%s", wide ? "wide" : "portable",
                         bad >= 0 ? ", member 2 poisoned" : "");
                failures += compare(got, ref, what);
                for (int i = 0; i < R; i++)
                    diverged += got->diverged_at[i] >= 0;
            }
        }
    }
    if (rank == 0 && diverged != 2) {
        fprintf(stderr, "%d members diverged, expected the poisoned one twice\n", diverged);
        failures++;
    }
    int any = pl_allreduce_or(world, failures > 0);
    if (rank == 0)
        printf(any ? "readout bank FAILED on %d ranks\n"
                   : "readout bank ok on %d ranks: %d members bitwise each alone on 1 rank "
                     "(losses, errors, S; wide and portable kernels; a diverging member "
                     "isolated)\n",
               size, R);
    pl_free(H), pl_free(Ht), pl_free(ref), pl_free(got);
    pl_par_finalize();
    return any;
}
