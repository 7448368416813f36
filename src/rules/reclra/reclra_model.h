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
} reclra_model;

extern const pl_rule pl_rule_reclra;

#endif
