/* The KH rule's state behind the rule interface (kh_rule.c); a header of
 * its own so the rule's unit test can look inside. */
#ifndef PLASTIC_KH_MODEL_H
#define PLASTIC_KH_MODEL_H

#include <stdint.h>

#include "plastic/rule.h"
#include "rules/kh/kh.h"
#include "rules/kh/kh_slow.h"
#include "rules/kh/readout.h"
#include "rules/kh/readout_bank.h"

struct kh_model;
/* One hidden-layer minibatch (rows of the training set) with learning rate
 * eps: the strategy kh.dynamics and kh.impl select (kh_rule.c). */
typedef int (*kh_step_fn)(struct kh_model *k, const int *rows, int B, float eps);

typedef struct kh_model {
    /* the trainer's view; must come first */
    pl_model base;
    pl_kh kh;
    pl_readout ro;
    kh_step_fn step;       /* fast or slow dynamics, fast path or naive reference */
    int naive;             /* kh.impl = naive: the serial reference step */
    int slow;              /* kh.dynamics = slow */
    pl_kh_slow slow_work;  /* slow: its parameters and work space */
    double *slow_h;        /* slow naive: the reference's steady state (K x B) */
    float *xbuf;           /* naive: one hidden-layer minibatch (the fast step gathers its own) */
    int *order;            /* an epoch's permutation of the training set */
    int32_t *winners;      /* naive: first and k-th unit per example */
    float *H[3];           /* features of train, valid, test (examples x local units) */
    double features_n;     /* the n they were computed with; NaN: none */
    pl_readout_batch buf;  /* readout minibatch */
    pl_readout_bank bank;  /* a sweep's batch of readouts (restart_batch) */
    int members;           /* the bank's members; 0: ro trains alone */
} kh_model;

extern const pl_rule pl_rule_kh;

#endif
