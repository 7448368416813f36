/* Data parallelism: every rank takes a slice of each minibatch, and the
 * parameter gradients are summed over ranks.
 *
 * fast (optim.sum = fast, the default): each rank takes an even slice,
 * computes it in one piece, and the gradients are summed by a float
 * all-reduce: results differ with the rank count by float rounding
 * (tests/mpi/test_nn_dp.c: every parameter within 1e-6 + 1e-5 |w| of one
 * rank's after 12 steps; observed 5% of that).
 * exact (optim.sum = exact): the minibatch is cut into fixed chunks of
 * optim.chunk examples, numbered globally; ranks take contiguous runs of
 * whole chunks. Every chunk's forward, backward and gradient products are
 * SGEMMs of the same shapes whatever the layout, computed on one BLAS
 * thread, and the chunk gradients are added with pl_exact (exact.h): the
 * summed gradient, the loss and the error count are bitwise the same on
 * any number of ranks. It costs 20-35% more per minibatch on dense MLPs
 * (the GEMMs of 25-row chunks, and the bound, add and convert passes) and
 * about 4% on a small conv net (make bench-nn; docs/design.md), hence not
 * the default.
 *
 * The optimiser step is replicated (every rank steps every parameter) or,
 * after pl_dp_shard, sharded (ZeRO stage 1): rank r steps only its block
 * pl_block_range(nparams, P, r) of the flat parameter vector, holds the
 * optimiser state of that block only, and the updated blocks are then
 * all-gathered. The gradient sum's all-reduce becomes a reduce-scatter into
 * the blocks (fast: of the floats; exact: of the integers on the grids,
 * pl_exact_finish_block). The step is element by element, so a sharded
 * step is bitwise the replicated one on the same gradient (exact mode: the
 * same bits on any rank count).
 * Blocks are by element, not whole tensors: the optimiser does not care
 * where a tensor ends, and equal blocks balance the step best.
 *
 * A backprop step is pl_dp_gradient then pl_dp_step. A rule with its own
 * learning signal drives the chunks itself:
 *     pl_dp_begin(dp, B, &plan);
 *     for (int i = 0; i < plan.nchunks; i++) {
 *         pl_dp_chunk(dp, &plan, i, &row0, &rows);
 *         ...forward rows [row0, row0 + rows) of X + plan.row0 * in_size,
 *            fill every layer's delta for those rows...
 *         pl_dp_chunk_stats(dp, &plan, i, loss, errors);
 *     }
 *     pl_dp_sum(dp, net, &plan, &stats);    // net->grads = the summed gradients
 *     pl_dp_step(dp, net, &opt, lr);
 * (in exact mode with BLAS on one thread: pl_dp_blas_single). */
#ifndef PLASTIC_NN_DP_H
#define PLASTIC_NN_DP_H

#include <stdint.h>

#include "plastic/config.h"
#include "plastic/nn/exact.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/par.h"

typedef struct pl_dp {
    const pl_comm *comm;
    int chunk;       /* examples per chunk (exact) */
    int exact;
    int max_batch;   /* largest minibatch */
    int max_chunks;  /* its chunks */
    pl_exact sum;    /* exact: the gradient tensors; side: per-chunk loss, errors */
    float *scratch;  /* exact: a layer's gradients (W, then b) of up to `group`
                        chunks, stride floats apart */
    long stride;
    int group;
    int l0, l1;      /* the layers summed and stepped: all, or a pipeline stage's */
    int t0;          /* their first tensor */
    long p0, nparams; /* their parameters: [p0, p0 + nparams) of the flat vector */
    int shard;       /* the optimiser step is sharded (pl_dp_shard) */
    long lo, hi;     /* the parameters this rank steps: its block, or all of the range */
    double fast_stats[2]; /* fast: loss and errors of this rank */
    int blas_threads;     /* saved by pl_dp_blas_single, 0 if not saved */
    double clip;          /* update shaping before the step (nn/clip.h): */
    int bias;             /* set by pl_dp_shaping; 0 and 1 after init */
} pl_dp;

typedef struct pl_dp_plan {
    int batch;          /* B */
    int row0, rows;     /* this rank's examples: [row0, row0 + rows) of the minibatch */
    int chunk0, nchunks; /* this rank's chunks: global numbers chunk0 ... */
    int total_chunks;
    int row_base;       /* the net's buffer row of the share's first example: 0, or where
                           a second set of rows starts (nn/pipe.h's one-step-stale mode) */
} pl_dp_plan;

typedef struct pl_dp_stats {
    double loss;  /* summed over the minibatch's examples */
    long errors;
} pl_dp_stats;

/* For net's parameters on comm, minibatches of at most max_batch; the
 * net must hold pl_dp_capacity(max_batch, chunk, exact, ranks) rows. */
void pl_dp_init(pl_dp *dp, const pl_net *net, const pl_comm *comm, int chunk, int exact,
                int max_batch);
/* The same for layers [l0, l1) only (a pipeline stage, nn/pipe.h): the
 * sums and the step cover their parameters, a contiguous range of the
 * flat vector, and blocks are cut from that range. pl_dp_gradient and
 * pl_dp_evaluate need the whole net. */
void pl_dp_init_layers(pl_dp *dp, const pl_net *net, const pl_comm *comm, int chunk, int exact,
                       int max_batch, int l0, int l1);
/* From optim.chunk, optim.sum and optim.batch. */
void pl_dp_init_config(pl_dp *dp, const pl_net *net, const pl_comm *comm, const pl_config *cfg);
void pl_dp_free(pl_dp *dp);

/* Shards the optimiser step over the ranks (ZeRO stage 1), before the
 * first minibatch. */
void pl_dp_shard(pl_dp *dp);
/* The parameters [*lo, *hi) this rank's optimiser steps (and holds state
 * for): its block when sharded, else all. An optimiser for pl_dp_step has
 * *hi - *lo values. */
void pl_dp_block(const pl_dp *dp, long *lo, long *hi);

/* Rows a net's buffers need for a minibatch of B on any rank of comm. */
int pl_dp_capacity(int B, int chunk, int exact, int nranks);

/* This rank's share of a minibatch of B (<= max_batch), at row_base 0;
 * starts a sum. */
void pl_dp_begin(pl_dp *dp, int B, pl_dp_plan *plan);
/* The i-th of this rank's chunks: rows [*row0, *row0 + *rows) of the net's
 * buffers, buffer row plan->row_base + r being example plan->row0 + r of
 * the minibatch. */
void pl_dp_chunk(const pl_dp *dp, const pl_dp_plan *plan, int i, int *row0, int *rows);
/* Records the loss (summed) and errors of this rank's chunk i. */
void pl_dp_chunk_stats(pl_dp *dp, const pl_dp_plan *plan, int i, double loss, long errors);
/* net->grads = the sum over ranks of every layer's gradients over this
 * rank's chunks, from each layer's delta and input (pl_net_layer_grads);
 * sharded: only this rank's block of net->grads is the sum, the rest
 * undefined. stats (if not NULL) = the summed loss and errors.
 * Collective. */
void pl_dp_sum(pl_dp *dp, pl_net *net, const pl_dp_plan *plan, pl_dp_stats *stats);
/* One optimiser step at rate lr on the summed gradients, shaped first
 * (pl_dp_shaping): opt (of
 * pl_dp_block's length) steps this rank's parameters; sharded, every
 * rank's updated block is then all-gathered, so every rank holds the whole
 * net again. Collective. */
void pl_dp_step(pl_dp *dp, pl_net *net, pl_optim *opt, float lr);
/* The same step for other arrays in the net's flat layout (a rule's
 * feedback weights and their increments): shaped, stepped, gathered. */
void pl_dp_step_arrays(pl_dp *dp, const pl_net *net, pl_optim *opt, float *params, float *grads,
                       float lr);
/* The step's update shaping (nn/clip.h): per-tensor norm clip (0: off) and
 * whether biases learn. */
void pl_dp_shaping(pl_dp *dp, double clip, int bias);

/* One backprop minibatch: the B examples of X (row r at X + r in_size;
 * only this rank's rows are read) with labels y; forward with dropout keyed
 * by (seed, step), loss, backward; net->grads = the gradient of the mean
 * loss over the B examples, summed over ranks (as pl_dp_sum: sharded, only
 * this rank's block). Collective. */
void pl_dp_gradient(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, int B,
                    uint64_t seed, uint64_t step, pl_dp_stats *stats);
/* The same with the input gradients through feedback matrices
 * (pl_net_backward_feedback; NULL: backprop): net->grads = the summed
 * increments delta x^T of a rule that feeds errors back through them. */
void pl_dp_gradient_feedback(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, int B,
                             uint64_t seed, uint64_t step, const float *const *feedback,
                             pl_dp_stats *stats);

/* Loss (summed) and errors of n examples, without dropout, shared over the
 * ranks in chunks (bitwise the same on any rank count in exact mode).
 * Collective. */
void pl_dp_evaluate(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, long n,
                    pl_dp_stats *stats);

/* Exact mode computes on one BLAS thread (a product's summation order may
 * change with the thread count): single saves the count and sets 1,
 * restore puts it back. No-ops in fast mode. */
void pl_dp_blas_single(pl_dp *dp);
void pl_dp_blas_restore(pl_dp *dp);

#endif
