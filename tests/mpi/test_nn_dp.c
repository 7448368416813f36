/* The data-parallel path on N ranks against one rank, in one process
 * group: every rank trains a net on the world communicator twice, with the
 * replicated optimiser step and with the sharded one (pl_dp_shard: each
 * rank steps its block, then the blocks are all-gathered); rank 0 also
 * trains the same net on a communicator of its own. After every step:
 *   exact mode: the parameters, loss and error count on N ranks, either
 *   step, are bitwise those of 1 rank, and the same on every rank;
 *   evaluation too;
 *   fast mode (float all-reduce, or reduce-scatter when sharded): every
 *   parameter of either within FAST_ATOL + FAST_RTOL |w| of 1 rank's, and
 *   the sharded net the same on every rank.
 * Nets: an MLP with SGD, a conv net with a residual block and dropout
 * with momentum, a conv net with Adam, a net of two pconv layers with
 * Adam, and an MLP whose steps are shaped (optim.clip, net.bias = 0: the
 * norms of tensors split over shards are summed exactly). Minibatches of 7 or 8 chunks do not divide
 * evenly over 2, 3 or 4 ranks, and the last minibatch (3 examples) leaves
 * ranks without work; parameter counts are odd, so blocks differ by one.
 * First, the block collectives alone on vectors shorter and longer than
 * the rank count. */
#include "plastic/common.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/par.h"
#include "plastic/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { STEPS = 12, MAX_B = 50 };
#define FAST_ATOL 1e-6
#define FAST_RTOL 1e-5

struct setup {
    const char *layers;
    pl_shape in;
    int batch, chunk;
    pl_optim_method method;
    float lr;
    double clip;  /* update shaping (nn/clip.h): per-tensor norm clip, */
    int no_bias;  /* biases held at zero */
};

static const struct setup setups[] = {
    {"dense 32 tanh, dense 32 tanh, dense 10 softmax", {1, 8, 8, 0}, 50, 8, PL_OPTIM_SGD, 0.1f, 0, 0},
    {"conv 4 3x3 relu, pool 2, dense 16 tanh, res( dense 16 tanh ), dropout 0.2, dense 10 softmax",
     {2, 8, 8, 0}, 30, 4, PL_OPTIM_MOMENTUM, 0.05f, 0, 0},
    {"conv 3 3x3 s2 elu, dense 12 clip, dense 10 linear", {1, 8, 8, 0}, 30, 4, PL_OPTIM_ADAM,
     0.01f, 0, 0},
    {"pconv 4 m3 n0.3 relu, pool 2, pconv 3 m2 tanh, dense 10 softmax", {2, 8, 8, 0}, 30, 4,
     PL_OPTIM_ADAM, 0.01f, 0, 0},
    /* clipped (every tensor's norm summed over the shards) and without biases */
    {"dense 32 tanh, dense 10 softmax", {1, 8, 8, 0}, 50, 8, PL_OPTIM_SGD, 0.5f, 0.05, 1},
};

static void minibatch(float *x, uint8_t *y, int B, long dim, int step)
{
    pl_rng r;
    pl_rng_init(&r, 31, PL_STREAM_TEST, (uint64_t)step);
    for (long i = 0; i < B * dim; i++)
        x[i] = (float)(2.0 * pl_rng_uniform(&r) - 1.0);
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)pl_rng_below(&r, 10);
}

struct trainer {
    pl_net net;
    pl_dp dp;
    pl_optim opt;
};

static void trainer_init(struct trainer *t, const struct setup *s, const pl_comm *c, int exact,
                         int shard)
{
    char err[512];
    int cap = pl_dp_capacity(s->batch, s->chunk, exact, pl_comm_size(c));
    if (pl_net_create(&t->net, s->layers, s->in, 10, PL_LOSS_XENT, 1, cap, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        pl_comm_abort(c, 1);
    }
    pl_net_init(&t->net, PL_INIT_HE, 0, 5);
    pl_dp_init(&t->dp, &t->net, c, s->chunk, exact, s->batch);
    if (shard)
        pl_dp_shard(&t->dp);
    pl_dp_shaping(&t->dp, s->clip, !s->no_bias);
    long lo, hi;
    pl_dp_block(&t->dp, &lo, &hi);
    pl_optim_init(&t->opt, s->method, hi - lo, 0.9f, 0.9f, 0.999f, 1e-8f);
}

static void trainer_free(struct trainer *t)
{
    pl_optim_free(&t->opt);
    pl_dp_free(&t->dp);
    pl_net_free(&t->net);
}

/* Rank 0's parameters against every rank's: 0 if all equal. */
static int same_on_every_rank(const pl_comm *world, const float *params, long n)
{
    float *first = pl_alloc(sizeof(float) * n);
    memcpy(first, params, sizeof(float) * n);
    pl_bcast_bytes(world, first, (long)sizeof(float) * n, 0);
    int differs = memcmp(first, params, sizeof(float) * n) != 0;
    pl_free(first);
    return pl_allreduce_or(world, differs);
}

/* The largest |a - b| over n parameters, in units of the fast tolerance
 * around b. */
static double fast_ratio(const float *a, const float *b, long n, double worst)
{
    for (long i = 0; i < n; i++) {
        double w = b[i], d = fabs((double)a[i] - w);
        double ratio = d / (FAST_ATOL + FAST_RTOL * fabs(w));
        worst = ratio > worst ? ratio : worst;
    }
    return worst;
}

/* One minibatch and step of t; the bytes this rank handed to collectives. */
static long train_step(struct trainer *t, const struct setup *s, const float *x,
                       const uint8_t *y, int B, int step, pl_dp_stats *st)
{
    long sent = pl_comm_bytes_sent(t->dp.comm);
    pl_dp_gradient(&t->dp, &t->net, x, y, B, 3, (uint64_t)step, st);
    pl_dp_step(&t->dp, &t->net, &t->opt, s->lr);
    return pl_comm_bytes_sent(t->dp.comm) - sent;
}

static int run(const struct setup *s, int exact, int si)
{
    const pl_comm *world = pl_comm_world();
    int rank = pl_comm_rank(world), size = pl_comm_size(world), failures = 0;
    struct trainer par, zero, one;
    trainer_init(&par, s, world, exact, 0);
    trainer_init(&zero, s, world, exact, 1);
    if (rank == 0)
        trainer_init(&one, s, pl_comm_self(), exact, 0);
    const long n = par.net.nparams;
    long lo, hi;
    pl_dp_block(&zero.dp, &lo, &hi);
    /* sharded fast step: reduce-scatter n floats, loss and errors, all-gather the block */
    const long fast_bytes = size > 1 ? 4 * n + 16 + 4 * (hi - lo) : 0;
    long dim = pl_shape_size(s->in);
    float *x = pl_alloc(sizeof(float) * MAX_B * dim);
    uint8_t y[MAX_B];
    double worst = 0, worst_zero = 0; /* fast mode, against 1 rank */
    for (int step = 0; step < STEPS; step++) {
        int B = step == STEPS - 1 ? 3 : s->batch;
        minibatch(x, y, B, dim, step);
        pl_dp_stats st_par, st_zero, st_one;
        train_step(&par, s, x, y, B, step, &st_par);
        long sent = train_step(&zero, s, x, y, B, step, &st_zero);
        if (same_on_every_rank(world, par.net.params, n) ||
            same_on_every_rank(world, zero.net.params, n)) {
            if (rank == 0)
                fprintf(stderr, "setup %d step %d: parameters differ between ranks\n", si, step);
            failures++;
        }
        /* clipping adds a max and a sum per tensor */
        if (!exact && s->clip == 0.0 && sent != fast_bytes) {
            fprintf(stderr, "setup %d step %d rank %d: a sharded fast step sent %ld bytes, "
                    "expected %ld\n", si, step, rank, sent, fast_bytes);
            failures++;
        }
        if (exact && (memcmp(zero.net.params, par.net.params, sizeof(float) * n) != 0 ||
                      st_zero.loss != st_par.loss || st_zero.errors != st_par.errors)) {
            fprintf(stderr, "setup %d step %d rank %d: the sharded step differs from the "
                    "replicated one\n", si, step, rank);
            failures++;
        }
        if (rank != 0)
            continue;
        train_step(&one, s, x, y, B, step, &st_one);
        if (exact) {
            if (memcmp(par.net.params, one.net.params, sizeof(float) * n) != 0 ||
                st_par.loss != st_one.loss || st_par.errors != st_one.errors) {
                fprintf(stderr, "setup %d step %d: exact mode on %d ranks differs from 1 rank\n",
                        si, step, size);
                failures++;
            }
            continue;
        }
        worst = fast_ratio(par.net.params, one.net.params, n, worst);
        worst_zero = fast_ratio(zero.net.params, one.net.params, n, worst_zero);
        if (st_par.errors != st_one.errors && size == 1)
            failures++;
    }
    if (exact) { /* evaluation: chunks shared over the ranks */
        pl_dp_stats e_par, e_one;
        minibatch(x, y, MAX_B, dim, 99);
        pl_dp_evaluate(&par.dp, &par.net, x, y, MAX_B, &e_par);
        if (rank == 0) {
            pl_dp_evaluate(&one.dp, &one.net, x, y, MAX_B, &e_one);
            if (e_par.loss != e_one.loss || e_par.errors != e_one.errors) {
                fprintf(stderr, "setup %d: evaluation on %d ranks differs from 1 rank\n", si, size);
                failures++;
            }
        }
    } else if (rank == 0) {
        printf("setup %d fast mode on %d ranks: largest parameter difference %.3g of the "
               "tolerance replicated, %.3g sharded\n", si, size, worst, worst_zero);
        failures += worst > 1.0 || worst_zero > 1.0;
    }
    pl_free(x);
    trainer_free(&par);
    trainer_free(&zero);
    if (rank == 0)
        trainer_free(&one);
    return failures;
}

/* The block collectives on vectors shorter than, and longer than, the rank
 * count (some blocks empty; blocks differing by one): rank r adds
 * (r + 1)(i + 1) to element i (floats, then doubles), sums exact; then each
 * rank's block holds i + 0.5 and the rest -1 before the all-gather. */
static int block_collectives(void)
{
    const pl_comm *world = pl_comm_world();
    const int rank = pl_comm_rank(world), size = pl_comm_size(world);
    const long lengths[] = {0, 1, 3, 1001};
    int failures = 0;
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        const long n = lengths[k];
        long lo, hi, bad = 0;
        float *buf = pl_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        pl_block_range(n, size, rank, &lo, &hi);
        for (long i = 0; i < n; i++)
            buf[i] = (float)((rank + 1) * (i + 1));
        pl_reduce_scatter_sum_float(world, buf, n);
        for (long i = lo; i < hi; i++)
            bad += buf[i] != (float)((long)size * (size + 1) / 2 * (i + 1));
        double *dbuf = pl_alloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        for (long i = 0; i < n; i++)
            dbuf[i] = (double)((rank + 1) * (i + 1));
        pl_reduce_scatter_sum_double(world, dbuf, n);
        for (long i = lo; i < hi; i++)
            bad += dbuf[i] != (double)((long)size * (size + 1) / 2 * (i + 1));
        pl_free(dbuf);
        for (long i = 0; i < n; i++)
            buf[i] = i >= lo && i < hi ? (float)i + 0.5f : -1.0f;
        pl_allgather_blocks_float(world, buf, n);
        for (long i = 0; i < n; i++)
            bad += buf[i] != (float)i + 0.5f;
        if (bad) {
            fprintf(stderr, "rank %d: block collectives on %ld floats: %ld wrong\n", rank, n, bad);
            failures++;
        }
        pl_free(buf);
    }
    return failures;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    long failures = block_collectives();
    for (int si = 0; si < (int)(sizeof setups / sizeof setups[0]); si++)
        for (int exact = 1; exact >= 0; exact--)
            failures += run(&setups[si], exact, si);
    pl_allreduce_sum_long(world, &failures, 1);
    if (pl_comm_rank(world) == 0)
        printf("%s: %ld failure(s) on %d ranks\n", failures ? "FAIL" : "ok", failures,
               pl_comm_size(world));
    pl_par_finalize();
    return failures ? 1 : 0;
}
