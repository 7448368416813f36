/* The convolutional KH layer on N ranks against one rank: every rank runs
 * the sharded layer on the world (with one and with 2 threads per rank);
 * rank 0 also runs it on a communicator of its own. After every step the
 * sharded W (gathered) must equal the single-rank W bitwise; then the
 * gathered Wp (khconv_layer_gather), a second layer's step on the first
 * layer's maps, and the readout's features (each rank's filter-major block,
 * gathered per example) must equal the single-rank ones bitwise.
 * F = 13 filters in tiles of 3 (5 tiles, the last of 1: uneven over 2-4
 * ranks and their threads, and rank 3 of 4 may hold one tile). */
#include "plastic/common.h"
#include "plastic/par.h"
#include "plastic/rng.h"
#include "rules/khconv/features.h"
#include "rules/khconv/layer.h"
#include "rules/khconv/spec.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

enum { SIDE = 9, B = 4, STEPS = 8, TILE = 3, E = 5, F = 13 }; /* F: the filters of each layer */

/* B examples of 1 x SIDE x SIDE maps: uniform values, about a third 0. */
static void inputs(float *x, long n, int step)
{
    pl_rng r;
    pl_rng_init(&r, 41, PL_STREAM_TEST, (uint64_t)step);
    for (long i = 0; i < n; i++) {
        double u = pl_rng_uniform(&r) * 1.5 - 0.5;
        x[i] = u < 0 ? 0.0f : (float)u;
    }
}

static int differ(const char *what, const float *a, const float *b, long n, int step)
{
    if (memcmp(a, b, (size_t)n * sizeof *a) == 0)
        return 0;
    fprintf(stderr, "%s differs from 1 rank after step %d\n", what, step);
    return 1;
}

/* Layer l's W after a step: the sharded and the 2-thread layers' (gathered
 * into all) against 1 rank's, on rank 0. Collective. */
static int check_w(khconv_layer sharded[2], khconv_layer threaded[2], khconv_layer single[2],
                   int l, float *all, int step)
{
    const pl_comm *world = pl_comm_world();
    const long n = F * sharded[l].N;
    const int rank0 = pl_comm_rank(world) == 0;
    char what[32];
    int failures = 0;
    pl_gatherv_float(world, sharded[l].kh.W, sharded[l].kh.nrows * sharded[l].N, all);
    snprintf(what, sizeof what, "layer %d W", l + 1);
    if (rank0)
        failures += differ(what, all, single[l].kh.W, n, step);
    pl_gatherv_float(world, threaded[l].kh.W, threaded[l].kh.nrows * threaded[l].N, all);
    snprintf(what, sizeof what, "layer %d W (2 threads)", l + 1);
    if (rank0)
        failures += differ(what, all, single[l].kh.W, n, step);
    return failures;
}

/* A pair of layers on comm with `threads` per step. */
static void make_layers(khconv_layer L[2], const khconv_spec *s, const pl_comm *comm, int threads)
{
    for (int l = 0; l < 2; l++) {
        khconv_layer_init(&L[l], comm, &s->layer[l], l, B, 23, TILE);
        pl_kh_set_threads(&L[l].kh, threads);
    }
}

/* Layer 2's step on layer 1's pooled maps (Wp_all) of the minibatch x. */
static int second_step(khconv_layer L[2], const float *x, float *maps, khconv_scratch *w)
{
    const long in1 = pl_conv_in_size(&L[1].g);
    openblas_set_num_threads(1);
    for (int b = 0; b < B; b++)
        memcpy(maps + b * in1, khconv_input_of(L, 1, x + b * SIDE * SIDE, 2.0, TILE, w),
               (size_t)in1 * sizeof *maps);
    return khconv_layer_step(&L[1], maps, B, 0.05f);
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    const int rank = pl_comm_rank(world), size = pl_comm_size(world);
    khconv_spec s;
    char err[256];
    if (khconv_spec_parse("conv 3x3 13 k 3, conv 2x2 13 pool 2x2", 2, 3.0, 0.4, &s, err,
                          sizeof err) ||
        khconv_spec_shapes(&s, 1, SIDE, SIDE, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    khconv_layer sharded[2], threaded[2], single[2];
    make_layers(sharded, &s, world, 1);
    make_layers(threaded, &s, world, 2);
    if (rank == 0)
        make_layers(single, &s, pl_comm_self(), 1);
    const long N0 = sharded[0].N, N1 = sharded[1].N;
    float *x = pl_alloc(B * SIDE * SIDE * sizeof *x);
    float *maps = pl_alloc(B * pl_conv_in_size(&sharded[1].g) * sizeof *maps);
    float *all = pl_alloc(F * (N0 > N1 ? N0 : N1) * sizeof *all);
    khconv_scratch w;
    khconv_scratch_init(&w, sharded, 2, TILE);
    int failures = 0;

    /* layer 1 */
    for (int step = 0; step < STEPS; step++) {
        inputs(x, B * SIDE * SIDE, step);
        failures += khconv_layer_step(&sharded[0], x, B, 0.05f) != 0;
        failures += khconv_layer_step(&threaded[0], x, B, 0.05f) != 0;
        if (rank == 0)
            failures += khconv_layer_step(&single[0], x, B, 0.05f) != 0;
        failures += check_w(sharded, threaded, single, 0, all, step);
    }
    khconv_layer_gather(&sharded[0]);
    khconv_layer_gather(&threaded[0]);
    if (rank == 0) {
        khconv_layer_gather(&single[0]);
        failures += differ("layer 1 Wp_all", sharded[0].Wp_all, single[0].Wp_all,
                           F * sharded[0].ld, STEPS);
    }

    /* layer 2 on layer 1's maps */
    for (int step = 0; step < STEPS; step++) {
        inputs(x, B * SIDE * SIDE, 100 + step);
        failures += second_step(sharded, x, maps, &w) != 0;
        failures += second_step(threaded, x, maps, &w) != 0;
        if (rank == 0)
            failures += second_step(single, x, maps, &w) != 0;
        failures += check_w(sharded, threaded, single, 1, all, step);
    }

    /* the readout's features: each rank's block, filter-major */
    const long Q = sharded[1].Q, mine = sharded[1].kh.nrows * Q;
    float *ex = pl_alloc(E * SIDE * SIDE * sizeof *ex);
    inputs(ex, E * SIDE * SIDE, 999);
    float *H = pl_alloc(E * (mine ? mine : 1) * sizeof *H), *row = pl_alloc(F * Q * sizeof *row);
    float *H1 = rank == 0 ? pl_alloc(E * F * Q * sizeof *H1) : NULL;
    khconv_features(sharded, 2, ex, E, SIDE * SIDE, 2.0, 1.5, H);
    if (rank == 0)
        khconv_features(single, 2, ex, E, SIDE * SIDE, 2.0, 1.5, H1);
    for (int e = 0; e < E; e++) {
        pl_gatherv_float(world, H + e * mine, mine, row);
        if (rank == 0)
            failures += differ("features", row, H1 + e * F * Q, F * Q, e);
    }

    int any = pl_allreduce_or(world, failures > 0);
    if (rank == 0)
        printf(any ? "khconv parity FAILED on %d ranks\n"
                   : "khconv parity ok on %d ranks (13 filters in tiles of 3; 1 and 2 threads): "
                     "both layers' W, Wp_all and the features bitwise equal to 1 rank\n",
               size);
    khconv_scratch_free(&w);
    for (int l = 0; l < 2; l++) {
        khconv_layer_free(&sharded[l]);
        khconv_layer_free(&threaded[l]);
        if (rank == 0)
            khconv_layer_free(&single[l]);
    }
    pl_free(x);
    pl_free(maps);
    pl_free(all);
    pl_free(ex);
    pl_free(H);
    pl_free(row);
    pl_free(H1);
    pl_par_finalize();
    return any;
}
