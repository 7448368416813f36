/* The urfb rule's state behind the rule interface (urfb_rule.c); a header
 * of its own so the rule's unit test can look inside. */
#ifndef PLASTIC_URFB_MODEL_H
#define PLASTIC_URFB_MODEL_H

#include "plastic/nn/optim.h"
#include "plastic/rule.h"
#include "rules/layered.h"
#include "rules/urfb/feedback.h"

typedef struct urfb_model {
    pl_model base;       /* the trainer's view; must come first */
    pl_layered lay;      /* the net, its data-parallel path, W's optimiser, schedule */
    urfb_feedback fb;    /* R, the masks */
    pl_optim ropt;       /* updated: R's optimiser over this rank's block (as W's) */
} urfb_model;

extern const pl_rule pl_rule_urfb;

#endif
