/* The bp rule's state behind the rule interface (bp_rule.c); a header of
 * its own so the rule's unit test can look inside. */
#ifndef PLASTIC_BP_MODEL_H
#define PLASTIC_BP_MODEL_H

#include <stdint.h>

#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/schedule.h"
#include "plastic/rule.h"

typedef struct bp_model {
    pl_model base;       /* the trainer's view; must come first */
    pl_net net;          /* parameters, activations, gradients */
    pl_dp dp;            /* the minibatch over the ranks */
    pl_optim opt;
    pl_schedule sched;
    float *xbuf;         /* one minibatch, in the epoch's order */
    uint8_t *ybuf;
    int *order;          /* an epoch's permutation of the training set */
} bp_model;

extern const pl_rule pl_rule_bp;

#endif
