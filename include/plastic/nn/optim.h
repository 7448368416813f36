/* Optimisers over one flat float array of n parameters and its gradient:
 *   sgd       p -= lr g
 *   momentum  v = mu v + g;  p -= lr v          (v starts at 0)
 *   adam      Kingma & Ba with bias correction (adam.h)
 * Each parameter is updated from its own gradient and state only, so any
 * split of the array updates exactly as the whole would. */
#ifndef PLASTIC_NN_OPTIM_H
#define PLASTIC_NN_OPTIM_H

#include "plastic/adam.h"
#include "plastic/config.h"

typedef enum pl_optim_method { PL_OPTIM_SGD, PL_OPTIM_MOMENTUM, PL_OPTIM_ADAM } pl_optim_method;

typedef struct pl_optim {
    pl_optim_method method;
    long n;
    float momentum;
    float *velocity; /* momentum's state (n), else NULL */
    pl_adam adam;    /* adam's state (m, v: n each; t), else empty */
} pl_optim;

/* A state array, for checkpoints: "optim/velocity", "optim/m", "optim/v". */
typedef struct pl_optim_array {
    const char *name;
    float *data;
    long count;
} pl_optim_array;

/* "sgd" | "momentum" | "adam", or -1. */
int pl_optim_parse(const char *name);

void pl_optim_init(pl_optim *o, pl_optim_method method, long n, float momentum, float beta1,
                   float beta2, float eps);
/* From [optim]: method, momentum, beta1, beta2, eps. */
void pl_optim_init_config(pl_optim *o, const pl_config *cfg, long n);
void pl_optim_free(pl_optim *o);

/* One step of the method with learning rate lr. */
void pl_optim_step(pl_optim *o, float *param, const float *grad, float lr);

/* The state arrays into out (at most 2); returns how many. Adam's step
 * count is o->adam.t. */
int pl_optim_arrays(pl_optim *o, pl_optim_array out[2]);

#endif
