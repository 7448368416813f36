/* What the layered rules (bp, rec-LRA) share: a net on the data's shape
 * whose buffers hold this rank's share of a minibatch, the data-parallel
 * path (nn/dp.h) with the optimiser step sharded over the ranks or, with
 * net.parallel = blocks, the pipeline of stages (nn/pipe.h), the
 * learning-rate schedule, an epoch's minibatches in the order keyed by
 * (run.seed, epoch), the net's part of the rule's state, evaluation, and
 * the bare GEMMs of the net's forward and weight products for bench. */
#ifndef PLASTIC_RULES_LAYERED_H
#define PLASTIC_RULES_LAYERED_H

#include <stddef.h>
#include <stdint.h>

#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/pipe.h"
#include "plastic/nn/schedule.h"
#include "plastic/par.h"
#include "plastic/rule.h"

typedef struct pl_layered {
    pl_net net;          /* parameters, activations, deltas, gradients */
    int blocks;          /* net.parallel = blocks: pipe, not dp */
    pl_dp dp;            /* data: the minibatch over the ranks; the sharded step */
    pl_pipe pipe;        /* blocks: the stages, their sums over the pipelines */
    pl_optim opt;        /* the net's optimiser, over this rank's block */
    pl_schedule sched;
    float *xbuf;         /* minibatches in the epoch's order: `sets` of optim.batch rows */
    uint8_t *ybuf;
    int sets;            /* 2 in one-step-stale mode (net.stale: the minibatch loaded and the
                            pending one, whose first layer's increment reads its inputs), else 1 */
    int set;             /* where the last minibatch loaded went: minibatch b to b % sets */
    int batch, dim;      /* optim.batch rows of dim floats: one set */
    int *order;          /* an epoch's permutation of the training set */
    int nbatches;        /* minibatches per epoch */
} pl_layered;

/* A set of xbuf's and ybuf's rows. */
static inline float *pl_layered_x(const pl_layered *L, int set)
{
    return L->xbuf + (size_t)set * (size_t)L->batch * (size_t)L->dim;
}
static inline uint8_t *pl_layered_y(const pl_layered *L, int set)
{
    return L->ybuf + (size_t)set * (size_t)L->batch;
}

/* The rule-interface members every layered rule has alike: net.layers
 * parses and the layout keys agree (check: net.stages and net.stale need
 * net.parallel = blocks), optim.epochs (epochs), the schedule's rate at
 * the start of an epoch (lr), and the dataset of a split. */
int pl_layered_check(const pl_config *cfg, int nranks, char *err, size_t size);
int pl_layered_epochs(const pl_config *cfg, int stage);
double pl_layered_lr(const pl_config *cfg, int stage, int epoch);
const pl_dataset *pl_layered_split(const pl_model *m, int split);

/* From net.*, optim.* and run.seed, for train's shape on comm. 0, or -1
 * after an error printed (a net that does not fit the data). In blocks
 * mode the net is whole on every rank, its buffers a pipeline's share of
 * a minibatch (two, with net.stale), and pl_layered_stages must follow. */
int pl_layered_create(pl_layered *L, const pl_config *cfg, const pl_comm *comm,
                      const pl_dataset *train);
/* Blocks mode: the stages (units start, layer costs cost: nn/stages.h),
 * the pipelines, and the optimiser over this rank's block of its stage's
 * parameters. 0, or -1 after an error printed naming net.stages when
 * there are fewer units than stages (units: what a unit is, for it). */
int pl_layered_stages(pl_layered *L, const pl_config *cfg, const pl_comm *comm,
                      const char *start, const double *cost, const char *units);
void pl_layered_free(pl_layered *L);

/* The data-parallel path whose block the optimiser steps: data mode's, or
 * this stage's over the pipelines. */
static inline pl_dp *pl_layered_dp(pl_layered *L) { return L->blocks ? &L->pipe.dp : &L->dp; }

/* Whether a configuration asks for net.parallel = blocks. */
int pl_layered_blocks(const pl_config *cfg);

/* "2 stages x 1 pipeline: layers 1-9 | 10-19 (multiply-adds 8.8e+06 |
 * 8.0e+06)" in blocks mode, "" in data mode. */
void pl_layered_layout(const pl_layered *L, const double *cost, char *line, size_t size);

/* Draws the epoch's order of the training set. */
void pl_layered_begin_epoch(pl_layered *L, const pl_config *cfg, const pl_dataset *train,
                            int epoch);
/* Copies minibatch `batch` of the epoch into set batch % sets of xbuf (not
 * on a pipeline's later stages, which never read it) and ybuf, and sets
 * L->set; returns its size (the last may be smaller), 0 past the end. */
int pl_layered_minibatch(pl_layered *L, const pl_config *cfg, const pl_dataset *train, int batch);

/* One minibatch of B examples (in set L->set of xbuf, ybuf) for a layered
 * rule: its learning signal, increments summed over the ranks, and the
 * steps at rate lr; *stats = the summed loss and errors of the minibatch
 * whose increments it summed (in stale mode the previous one, zeros for an
 * epoch's first). Returns 0, or PL_EXIT_DIVERGED before any step when the
 * loss is not finite. */
typedef int (*pl_layered_step_fn)(void *rule, int B, uint64_t step, float lr,
                                  pl_dp_stats *stats);
/* At an epoch's end: the step a rule left pending (stale mode) applied;
 * *stats as step's (zeros if nothing was pending). 0 or PL_EXIT_DIVERGED. */
typedef int (*pl_layered_flush_fn)(void *rule, pl_dp_stats *stats);
/* One epoch from pos->batch on, in the order keyed by (run.seed, epoch),
 * each minibatch through step(rule, ...) at the schedule's rate; poll (may
 * be NULL) between minibatches; flush (may be NULL) after the last. The
 * rule interface's epoch (rule.h). */
int pl_layered_epoch(pl_layered *L, const pl_config *cfg, const pl_dataset *train, int epoch,
                     pl_epoch_pos *pos, pl_poll_fn poll, void *ctx, pl_layered_step_fn step,
                     pl_layered_flush_fn flush, void *rule);
/* The schedule's rate of the minibatch with step number `step` (the one
 * pl_layered_epoch gives step with it). */
float pl_layered_step_lr(const pl_layered *L, uint64_t step);

/* The net's tensors (first dimension by the rest; replicated in data
 * mode, in blocks mode all rows on their stage's ranks, none elsewhere,
 * copies in pipelines after the first; the first dense layer's W seeing
 * the raw input is the picture), the optimiser's arrays ("net/m", "net/v"
 * or "net/velocity", 1 x nparams by columns: this rank's block), Adam's
 * step count and the net's attributes. Names and shapes are the same in
 * both modes, so a checkpoint resumes in either on any rank count. */
void pl_layered_state(pl_layered *L, const pl_dataset *train, pl_state *s);

/* An optimiser's arrays ("<group>/m", "<group>/v" or "<group>/velocity")
 * as 1 x total arrays of which opt holds [lo, lo + opt->n): replicated
 * (whole) or by columns, a copy in pipelines after the first; and Adam's
 * step count "<group>/adam_t". */
void pl_layered_optim_state(pl_optim *opt, const char *group, long total, long lo, int whole,
                            int copy, pl_state *s);

/* Misclassified examples of d, shared over the ranks. Collective. */
long pl_layered_errors(pl_layered *L, const pl_dataset *d);

/* Seconds of the bare GEMMs of an epoch of n examples on this rank's share
 * of each minibatch (the slowest rank's): per dense layer the forward
 * product and the weight gradient, and the input gradient past the first
 * layer when backprop is set; per conv layer the same per example on
 * im2col'd inputs; then the rule's own products per minibatch, extra[i]
 * an m x n by n x k product (m = 0: the rows of the share). In blocks
 * mode, this rank's stage's layers on its pipeline's share. Collective. */
typedef struct pl_gemm_shape {
    int m, n, k;
} pl_gemm_shape;
double pl_layered_bench_bare(pl_layered *L, const pl_config *cfg, const pl_comm *comm, long n,
                             int backprop, const pl_gemm_shape *extra, int nextra);
/* Rows of this rank's share of a minibatch (bench). */
int pl_layered_share_rows(const pl_layered *L, const pl_config *cfg, const pl_comm *comm);

/* bench, blocks mode: every rank's minibatch time, of it computing (in
 * the forward, in the backward sweep, the rest) and blocked on the
 * pipeline's messages, and its CPU time outside the waits (its compute on
 * a core of its own), per minibatch since the last call, and the time of
 * one micro-batch's activations from stage 0 to stage 1, as a line for
 * rank 0 ("" in data mode). Collective. */
void pl_layered_bench_detail(pl_layered *L, const pl_comm *comm, char *line, size_t size);

#endif
