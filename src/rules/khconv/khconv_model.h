/* The convolutional KH rule's state behind the rule interface
 * (khconv_rule.c); a header of its own so the rule's unit test can look
 * inside. */
#ifndef PLASTIC_KHCONV_MODEL_H
#define PLASTIC_KHCONV_MODEL_H

#include "plastic/rule.h"
#include "rules/kh/readout.h"
#include "rules/khconv/features.h"
#include "rules/khconv/layer.h"
#include "rules/khconv/spec.h"

typedef struct khconv_model {
    /* the trainer's view; must come first */
    pl_model base;
    khconv_spec spec;
    khconv_layer layer[KHCONV_MAX_LAYERS];
    pl_readout ro;          /* on the last layer's pooled maps, filter-major */
    pl_readout_batch buf;   /* readout minibatch */
    int *order;             /* an epoch's permutation of the training set */
    float *maps;            /* khconv.batch inputs of the layer being trained */
    khconv_scratch work;    /* one example through the layers below it */
    float *H[3];            /* features of train, valid, test (examples x local features) */
    double features_n;      /* the readout.n they were computed with; NaN: none */
} khconv_model;

extern const pl_rule pl_rule_khconv;

#endif
