/* Elementwise activations z = f(h) and their derivatives, over flat arrays.
 * softmax is not elementwise: it is named here so a layer can carry it, and
 * is applied row by row by the loss module (loss.h). */
#ifndef PLASTIC_NN_ACT_H
#define PLASTIC_NN_ACT_H

typedef enum pl_act {
    PL_ACT_LINEAR,
    PL_ACT_TANH,
    PL_ACT_RELU,
    PL_ACT_ELU,      /* alpha = 1 */
    PL_ACT_SIGN,     /* -1, 0, +1; derivative 0 almost everywhere */
    PL_ACT_LOGISTIC,
    PL_ACT_CLIP,     /* saturated linearity: clip(h, -1, 1); derivative 1 inside, 0 outside */
    PL_ACT_SOFTMAX,  /* output layers only, row-wise (pl_softmax_rows) */
    PL_ACT_COUNT
} pl_act;

/* "tanh|relu|elu|sign|logistic|clip|linear|softmax", for messages. */
#define PL_ACT_NAMES "tanh|relu|elu|sign|logistic|clip|linear|softmax"

const char *pl_act_name(pl_act a);
/* The activation called name, or -1. */
int pl_act_parse(const char *name);

/* z[i] = f(h[i]) for i < n; z may equal h (in place). Not for softmax. */
void pl_act_forward(pl_act a, const float *h, float *z, long n);

/* d[i] = f'(h[i]), computed from h or from z = f(h), whichever is cheaper
 * (tanh and logistic use z). Not for softmax. */
void pl_act_deriv(pl_act a, const float *h, const float *z, float *d, long n);

/* g[i] *= f'(h[i]): turns dL/dz into dL/dh in place. Not for softmax. */
void pl_act_backprop(pl_act a, const float *h, const float *z, float *g, long n);

#endif
