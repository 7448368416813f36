/* The bp rule's state behind the rule interface (bp_rule.c); a header of
 * its own so the rule's unit test can look inside. */
#ifndef PLASTIC_BP_MODEL_H
#define PLASTIC_BP_MODEL_H

#include <stdint.h>

#include "plastic/rule.h"
#include "rules/layered.h"

typedef struct bp_model {
    pl_model base;       /* the trainer's view; must come first */
    pl_layered lay;      /* the net, its data-parallel path, optimiser, schedule */
} bp_model;

extern const pl_rule pl_rule_bp;

#endif
