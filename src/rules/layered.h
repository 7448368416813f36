/* What the layered rules (bp, rec-LRA) share: a net on the data's shape
 * whose buffers hold this rank's share of a minibatch, the data-parallel
 * path (nn/dp.h) with the optimiser step sharded over the ranks, the
 * learning-rate schedule, an epoch's minibatches in the order keyed by
 * (run.seed, epoch), the net's part of the rule's state, evaluation, and
 * the bare GEMMs of the net's forward and weight products for bench. */
#ifndef PLASTIC_RULES_LAYERED_H
#define PLASTIC_RULES_LAYERED_H

#include <stdint.h>

#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/schedule.h"
#include "plastic/par.h"
#include "plastic/rule.h"

typedef struct pl_layered {
    pl_net net;          /* parameters, activations, deltas, gradients */
    pl_dp dp;            /* the minibatch over the ranks; the sharded step */
    pl_optim opt;        /* the net's optimiser, over this rank's block */
    pl_schedule sched;
    float *xbuf;         /* one minibatch, in the epoch's order */
    uint8_t *ybuf;
    int *order;          /* an epoch's permutation of the training set */
    int nbatches;        /* minibatches per epoch */
} pl_layered;

/* From net.*, optim.* and run.seed, for train's shape on comm. 0, or -1
 * after an error printed (a net that does not fit the data). */
int pl_layered_create(pl_layered *L, const pl_config *cfg, const pl_comm *comm,
                      const pl_dataset *train);
void pl_layered_free(pl_layered *L);

/* Draws the epoch's order of the training set. */
void pl_layered_begin_epoch(pl_layered *L, const pl_config *cfg, const pl_dataset *train,
                            int epoch);
/* Copies minibatch `batch` of the epoch into xbuf, ybuf; returns its size
 * (the last may be smaller), 0 past the end. */
int pl_layered_minibatch(pl_layered *L, const pl_config *cfg, const pl_dataset *train, int batch);
/* The minibatch's step number over the run, for dropout masks. */
static inline uint64_t pl_layered_step(const pl_layered *L, int epoch, int batch)
{
    return (uint64_t)epoch * (uint64_t)L->nbatches + (uint64_t)batch;
}

/* The net's tensors (replicated, first dimension by the rest; the first
 * dense layer's W seeing the raw input is the picture), the optimiser's
 * arrays ("net/m", "net/v" or "net/velocity", 1 x nparams by columns: this
 * rank's block), Adam's step count and the net's attributes. */
void pl_layered_state(pl_layered *L, const pl_dataset *train, pl_state *s);

/* Misclassified examples of d, shared over the ranks. Collective. */
long pl_layered_errors(pl_layered *L, const pl_dataset *d);

/* Seconds of the bare GEMMs of an epoch of n examples on this rank's share
 * of each minibatch (the slowest rank's): per dense layer the forward
 * product and the weight gradient, and the input gradient past the first
 * layer when backprop is set; per conv layer the same per example on
 * im2col'd inputs. Collective. */
double pl_layered_bench_bare(pl_layered *L, const pl_config *cfg, const pl_comm *comm, long n,
                             int backprop);

#endif
