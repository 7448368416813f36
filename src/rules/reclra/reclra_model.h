/* The rec-LRA rule's state behind the rule interface (reclra_rule.c); a
 * header of its own so the rule's unit test can look inside. */
#ifndef PLASTIC_RECLRA_MODEL_H
#define PLASTIC_RECLRA_MODEL_H

#include "plastic/nn/exact.h"
#include "plastic/nn/optim.h"
#include "plastic/rule.h"
#include "rules/layered.h"
#include "rules/reclra/lra.h"

typedef struct reclra_model {
    pl_model base;       /* the trainer's view; must come first */
    pl_layered lay;      /* the net, its data-parallel path and optimiser */
    lra lra;             /* error synapses, targets */
    int s0, s1;          /* the synapses this rank steps: all, or its stage's */
    long e0, e1;         /* their weights: [e0, e1) of lra.E */
    pl_optim eopt;       /* their optimiser (replicated over the ranks sharing them: they
                            are small) */
    pl_exact esum;       /* exact mode: the synapses' increments over chunks and ranks */
    float *escratch;     /* exact mode: one synapse's increment of one chunk */
    /* one-step-stale mode (net.stale, reclra_stale.c) */
    struct reclra_pending {
        int live;        /* a minibatch's forward ran; its targets, sums and step are to come */
        int B, set;      /* its size and set of rows */
        uint64_t step;   /* its step number */
        const float *x;  /* the net's input of its forward (the first layer's increment) */
    } pend;
    long held;           /* 1 + the step number of a minibatch whose increments are summed
                            (net->grads' block, lra.dE) with its step to come, else 0: a
                            checkpoint scalar, beside the increments */
    int diverged;        /* settling met a non-finite loss: the next step stops */
} reclra_model;

extern const pl_rule pl_rule_reclra;

/* Blocks mode (reclra_rule.c): the targets of a share whose forward ran,
 * as each micro-batch's output error arrives, then its increments summed
 * over the pipelines (net->grads' block, lra.dE); *stats its loss and
 * errors. */
void reclra_targets_and_sums(reclra_model *r, const pl_dp_plan *plan, int B, pl_dp_stats *stats);
/* The steps on the summed increments at rate lr (the synapses' at
 * lra.gamma lr). */
void reclra_update(reclra_model *r, float lr);

/* One-step-stale mode (reclra_stale.c): a minibatch's forward, then the
 * previous one's targets, sums and step (layered.h's step; stats are the
 * previous one's); at an epoch's end the pending step (flush); before a
 * checkpoint between minibatches the pending sums (the rule's settle);
 * the checkpoint's arrays of the held increments. */
int reclra_stale_step(void *rule, int B, uint64_t step, float lr, pl_dp_stats *stats);
int reclra_stale_flush(void *rule, pl_dp_stats *stats);
void reclra_stale_settle(pl_model *m, int stage, pl_epoch_pos *pos);
void reclra_stale_state(reclra_model *r, pl_state *s);

#endif
