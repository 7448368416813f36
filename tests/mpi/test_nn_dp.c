/* The data-parallel path on N ranks against one rank, in one process
 * group: every rank trains a net on the world communicator; rank 0 also
 * trains the same net on a communicator of its own. After every step:
 *   exact mode: the parameters, loss and error count on N ranks are
 *   bitwise those of 1 rank, and the same on every rank; evaluation too;
 *   fast mode (float all-reduce): every parameter within
 *   FAST_ATOL + FAST_RTOL |w| of 1 rank's.
 * Nets: an MLP with SGD, and a conv net with a residual block and dropout
 * with momentum and Adam. Minibatches of 7 or 8 chunks do not divide
 * evenly over 2, 3 or 4 ranks, and the last minibatch (3 examples) leaves
 * ranks without work. */
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
};

static const struct setup setups[] = {
    {"dense 32 tanh, dense 32 tanh, dense 10 softmax", {1, 8, 8, 0}, 50, 8, PL_OPTIM_SGD, 0.1f},
    {"conv 4 3x3 relu, pool 2, dense 16 tanh, res( dense 16 tanh ), dropout 0.2, dense 10 softmax",
     {2, 8, 8, 0}, 30, 4, PL_OPTIM_MOMENTUM, 0.05f},
    {"conv 3 3x3 s2 elu, dense 12 clip, dense 10 linear", {1, 8, 8, 0}, 30, 4, PL_OPTIM_ADAM,
     0.01f},
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

static void trainer_init(struct trainer *t, const struct setup *s, const pl_comm *c, int exact)
{
    char err[512];
    int cap = pl_dp_capacity(s->batch, s->chunk, exact, pl_comm_size(c));
    if (pl_net_create(&t->net, s->layers, s->in, 10, PL_LOSS_XENT, 1, cap, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        pl_comm_abort(c, 1);
    }
    pl_net_init(&t->net, PL_INIT_HE, 0, 5);
    pl_dp_init(&t->dp, &t->net, c, s->chunk, exact, s->batch);
    pl_optim_init(&t->opt, s->method, t->net.nparams, 0.9f, 0.9f, 0.999f, 1e-8f);
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

static int run(const struct setup *s, int exact, int si)
{
    const pl_comm *world = pl_comm_world();
    int rank = pl_comm_rank(world), size = pl_comm_size(world), failures = 0;
    struct trainer par, one;
    trainer_init(&par, s, world, exact);
    if (rank == 0)
        trainer_init(&one, s, pl_comm_self(), exact);
    long dim = pl_shape_size(s->in);
    float *x = pl_alloc(sizeof(float) * MAX_B * dim);
    uint8_t y[MAX_B];
    double worst = 0; /* fast mode: the largest difference in units of the tolerance */
    for (int step = 0; step < STEPS; step++) {
        int B = step == STEPS - 1 ? 3 : s->batch;
        minibatch(x, y, B, dim, step);
        pl_dp_stats st_par, st_one;
        pl_dp_gradient(&par.dp, &par.net, x, y, B, 3, (uint64_t)step, &st_par);
        pl_optim_step(&par.opt, par.net.params, par.net.grads, s->lr);
        if (same_on_every_rank(world, par.net.params, par.net.nparams)) {
            if (rank == 0)
                fprintf(stderr, "setup %d step %d: parameters differ between ranks\n", si, step);
            failures++;
        }
        if (rank != 0)
            continue;
        pl_dp_gradient(&one.dp, &one.net, x, y, B, 3, (uint64_t)step, &st_one);
        pl_optim_step(&one.opt, one.net.params, one.net.grads, s->lr);
        if (exact) {
            if (memcmp(par.net.params, one.net.params, sizeof(float) * par.net.nparams) != 0 ||
                st_par.loss != st_one.loss || st_par.errors != st_one.errors) {
                fprintf(stderr, "setup %d step %d: exact mode on %d ranks differs from 1 rank\n",
                        si, step, size);
                failures++;
            }
            continue;
        }
        for (long i = 0; i < par.net.nparams; i++) {
            double w = one.net.params[i], d = fabs((double)par.net.params[i] - w);
            double ratio = d / (FAST_ATOL + FAST_RTOL * fabs(w));
            worst = ratio > worst ? ratio : worst;
        }
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
               "tolerance\n", si, size, worst);
        failures += worst > 1.0;
    }
    pl_free(x);
    trainer_free(&par);
    if (rank == 0)
        trainer_free(&one);
    return failures;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    long failures = 0;
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
