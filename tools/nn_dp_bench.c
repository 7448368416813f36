/* Timing driver for the data-parallel step (make bench-nn): the time of
 * one backprop minibatch (pl_dp_gradient, then the sharded SGD step
 * pl_dp_step, as the bp rule takes it) with exact sums against the fast
 * float sums, on whatever ranks it is started with, one BLAS thread per
 * rank. Not a test: it only prints.
 *     mpirun -np P build/nn_dp_bench [steps]
 * The two modes alternate minibatch by minibatch, so that load from other
 * processes on a shared machine hits both alike; it reports the medians of
 * the per-minibatch wall and CPU times and of the paired ratios. */
#include "plastic/common.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/par.h"
#include "plastic/rng.h"

#include <cblas.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

struct bench {
    const char *name, *layers;
    pl_shape in;
    int batch, chunk;
};

static const struct bench benches[] = {
    {"mlp", "dense 256 tanh, dense 256 tanh, dense 10 softmax", {1, 28, 28, 0}, 100, 25},
    {"mlp-deep", "dense 256 tanh, res( dense 256 tanh, dense 256 tanh ) x3, dense 10 softmax",
     {1, 28, 28, 0}, 100, 25},
    {"mlp-wide", "dense 1024 relu, dense 1024 relu, dense 10 softmax", {1, 28, 28, 0}, 128, 32},
    {"conv", "conv 16 5x5 relu, pool 2, conv 32 3x3 relu, pool 2, dense 10 softmax",
     {1, 28, 28, 0}, 100, 25},
};

enum { WARMUP = 3 };

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One minibatch and SGD step; its wall and CPU seconds (the slowest rank's). */
static void one_step(const struct bench *b, const float *x, const uint8_t *y, long step,
                     pl_net *net, pl_dp *dp, pl_optim *opt, double *wall, double *cpu)
{
    const pl_comm *world = pl_comm_world();
    pl_barrier(world);
    double t[2] = {pl_now(), cpu_now()};
    pl_dp_gradient(dp, net, x, y, b->batch, 1, (uint64_t)step, NULL);
    pl_dp_step(dp, net, opt, 0.01f);
    t[0] = pl_now() - t[0];
    t[1] = cpu_now() - t[1];
    pl_allreduce_max_double(world, t, 2);
    *wall = t[0];
    *cpu = t[1];
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    openblas_set_num_threads(1);
    const pl_comm *world = pl_comm_world();
    const int steps = argc > 1 ? atoi(argv[1]) : 60, size = pl_comm_size(world);
    if (pl_comm_rank(world) == 0)
        printf("%d rank(s) x 1 BLAS thread; %d minibatches per mode, the modes alternating; "
               "medians\n%-9s %5s %5s %9s %9s %7s %9s %9s %7s\n",
               size, steps, "net", "batch", "chunk", "fast ms", "exact ms", "ratio", "fast cpu",
               "exact cpu", "ratio");
    double *wall[2], *cpu[2], *ratio[2];
    for (int m = 0; m < 2; m++) {
        wall[m] = pl_alloc(sizeof(double) * steps);
        cpu[m] = pl_alloc(sizeof(double) * steps);
        ratio[m] = pl_alloc(sizeof(double) * steps);
    }
    for (size_t k = 0; k < sizeof benches / sizeof benches[0]; k++) {
        const struct bench *b = &benches[k];
        long dim = pl_shape_size(b->in);
        float *x = pl_alloc(sizeof(float) * b->batch * dim);
        uint8_t *y = pl_alloc((size_t)b->batch);
        pl_rng r;
        pl_rng_init(&r, 1, PL_STREAM_TEST, 0);
        for (long i = 0; i < b->batch * dim; i++)
            x[i] = (float)pl_rng_uniform(&r);
        for (int i = 0; i < b->batch; i++)
            y[i] = (uint8_t)pl_rng_below(&r, 10);
        pl_net net[2];
        pl_dp dp[2];
        pl_optim opt[2];
        char err[512];
        for (int exact = 0; exact < 2; exact++) {
            int cap = pl_dp_capacity(b->batch, b->chunk, exact, size);
            if (pl_net_create(&net[exact], b->layers, b->in, 10, PL_LOSS_XENT, 1, cap, err,
                              sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            pl_net_init(&net[exact], PL_INIT_XAVIER, 0, 1);
            pl_dp_init(&dp[exact], &net[exact], world, b->chunk, exact, b->batch);
            pl_dp_shard(&dp[exact]);
            long lo, hi;
            pl_dp_block(&dp[exact], &lo, &hi);
            pl_optim_init(&opt[exact], PL_OPTIM_SGD, hi - lo, 0, 0, 0, 0);
        }
        for (int s = -WARMUP; s < steps; s++)
            for (int k2 = 0; k2 < 2; k2++) {
                int m = (s + k2) % 2 == 0; /* alternate which mode goes first */
                double w, c;
                one_step(b, x, y, s, &net[m], &dp[m], &opt[m], &w, &c);
                if (s >= 0) {
                    wall[m][s] = w;
                    cpu[m][s] = c;
                }
            }
        for (int s = 0; s < steps; s++) {
            ratio[0][s] = wall[1][s] / wall[0][s];
            ratio[1][s] = cpu[1][s] / cpu[0][s];
        }
        if (pl_comm_rank(world) == 0)
            printf("%-9s %5d %5d %9.3f %9.3f %7.3f %9.3f %9.3f %7.3f\n", b->name, b->batch,
                   b->chunk, 1e3 * median(wall[0], steps), 1e3 * median(wall[1], steps),
                   median(ratio[0], steps), 1e3 * median(cpu[0], steps),
                   1e3 * median(cpu[1], steps), median(ratio[1], steps));
        for (int e = 0; e < 2; e++) {
            pl_optim_free(&opt[e]);
            pl_dp_free(&dp[e]);
            pl_net_free(&net[e]);
        }
        pl_free(x);
        pl_free(y);
    }
    for (int m = 0; m < 2; m++) {
        pl_free(wall[m]);
        pl_free(cpu[m]);
        pl_free(ratio[m]);
    }
    pl_par_finalize();
    return 0;
}
