/* KH on N ranks against one rank and against the literal reference, in one
 * process group: every rank runs the sharded fast path on the world, with
 * one thread and (a second model) with 2 threads per rank; rank 0 also runs
 * the fast path on a communicator of its own and the dense reference,
 * gathers both sharded W after every step, and compares:
 *   sharded W (1 and 2 threads per rank) == single-rank W, bitwise
 *   (rank-count and thread-count independence)
 *   sharded winners == reference winners, W within atol + rtol |ref|.
 * K = 53 is odd; tiles of 5 (11 tiles, the last of 3 units: uneven over 2-4
 * ranks and their threads), of 16 (4 tiles), and of 64 (one tile: every rank
 * but rank 0 holds no unit). */
#include "plastic/common.h"
#include "rules/kh/kh.h"
#include "plastic/par.h"
#include "plastic/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { K = 53, N = 24, B = 16, KTH = 4, STEPS = 25 };

static void inputs(float *X, int step)
{
    pl_rng r;
    pl_rng_init(&r, 21, PL_STREAM_TEST, (uint64_t)step);
    for (int i = 0; i < B * N; i++)
        X[i] = (float)pl_rng_uniform(&r);
}

/* The comparisons for one tile size; returns this rank's failures. */
static int parity(int tile)
{
    const pl_comm *world = pl_comm_world();
    int rank = pl_comm_rank(world), size = pl_comm_size(world);
    const double p = 3.0;
    const float delta = 0.4f;

    pl_kh sharded, threaded, single;
    pl_kh_init(&sharded, world, K, N, p, KTH, delta, B, 17, tile);
    pl_kh_init(&threaded, world, K, N, p, KTH, delta, B, 17, tile);
    pl_kh_set_threads(&threaded, 2);
    float *ref = NULL, *gathered = NULL, *gathered_threaded = NULL;
    if (rank == 0) {
        pl_kh_init(&single, pl_comm_self(), K, N, p, KTH, delta, B, 17, tile);
        ref = pl_alloc(sizeof(float) * K * N);
        gathered = pl_alloc(sizeof(float) * K * N);
        gathered_threaded = pl_alloc(sizeof(float) * K * N);
        memcpy(ref, single.W, sizeof(float) * K * N);
    }
    float X[B * N];
    int32_t winners[2 * B];
    int failures = 0;
    long sent[2] = {0, 0}; /* by the steps of sharded and of threaded */

    for (int step = 0; step < STEPS; step++) {
        inputs(X, step);
        float eps = 0.05f * (1.0f - (float)step / STEPS);
        long b0 = pl_comm_bytes_sent(world);
        if (pl_kh_step(&sharded, X, B, eps) != 0)
            failures++;
        long b1 = pl_comm_bytes_sent(world);
        if (pl_kh_step(&threaded, X, B, eps) != 0)
            failures++;
        sent[0] += b1 - b0;
        sent[1] += pl_comm_bytes_sent(world) - b1;
        pl_gatherv_float(world, sharded.W, sharded.nrows * N, gathered);
        pl_gatherv_float(world, threaded.W, threaded.nrows * N, gathered_threaded);
        if (rank != 0)
            continue;
        pl_kh_step(&single, X, B, eps);
        pl_kh_reference_step(ref, K, N, p, KTH, delta, X, B, eps, winners);
        if (memcmp(gathered, single.W, sizeof(float) * K * N) != 0) {
            fprintf(stderr, "tile %d step %d: W on %d ranks differs from W on 1 rank\n", tile,
                    step, size);
            failures++;
        }
        if (memcmp(gathered_threaded, single.W, sizeof(float) * K * N) != 0) {
            fprintf(stderr, "tile %d step %d: W on %d ranks x 2 threads differs from W on 1 rank\n",
                    tile, step, size);
            failures++;
        }
        for (int b = 0; b < B; b++)
            if (sharded.top[b * KTH].index != winners[2 * b] ||
                sharded.top[b * KTH + KTH - 1].index != winners[2 * b + 1]) {
                fprintf(stderr, "tile %d step %d example %d: winners differ from the reference\n",
                        tile, step, b);
                failures++;
            }
        for (int i = 0; i < K * N; i++)
            if (fabsf(gathered[i] - ref[i]) > 1e-5f + 1e-4f * fabsf(ref[i])) {
                fprintf(stderr, "tile %d step %d: W[%d] %.9g, reference %.9g\n", tile, step, i,
                        gathered[i], ref[i]);
                failures++;
                break;
            }
    }
    /* Communication per step is the B x k merge plus one scalar, whatever K
     * and however many threads or units a rank holds. */
    long expected = size > 1 ? (long)B * KTH * (long)sizeof(pl_rank_entry) + 4 : 4;
    for (int t = 0; t < 2; t++)
        if (sent[t] != expected * STEPS) {
            fprintf(stderr, "tile %d: rank %d sent %ld bytes per step with %d thread(s), "
                    "expected %ld\n", tile, rank, sent[t] / STEPS, t + 1, expected);
            failures++;
        }
    if (rank == 0) {
        pl_kh_free(&single);
        pl_free(ref);
        pl_free(gathered);
        pl_free(gathered_threaded);
    }
    pl_kh_free(&sharded);
    pl_kh_free(&threaded);
    return failures;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    int rank = pl_comm_rank(world), size = pl_comm_size(world);
    const int tiles[] = {5, 16, 64};
    int failures = 0;
    for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++)
        failures += parity(tiles[t]);
    int any = pl_allreduce_or(world, failures > 0);
    if (rank == 0)
        printf(any ? "KH parity FAILED on %d ranks\n"
                   : "KH parity ok on %d ranks (tiles of 5, 16, 64; 1 and 2 threads): bitwise "
                     "equal to 1 rank, reference within tolerance\n",
               size);
    pl_par_finalize();
    return any;
}
