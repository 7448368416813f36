/* Elementwise activations z = f(h) and their derivatives, over flat arrays.
 * softmax is not elementwise: it is named here so a layer can carry it, and
 * is applied row by row by the loss module (loss.h). */
#ifndef PLASTIC_NN_ACT_H
#define PLASTIC_NN_ACT_H

#include <stddef.h>

typedef enum pl_act {
    PL_ACT_LINEAR,
    PL_ACT_TANH,
    PL_ACT_RELU,
    PL_ACT_ELU,      /* alpha = 1 */
    PL_ACT_SIGN,     /* -1, 0, +1; derivative 0 almost everywhere */
    PL_ACT_LOGISTIC,
    PL_ACT_CLIP,     /* saturated linearity: clip(h, -1, 1); derivative 1 inside, 0 outside */
    PL_ACT_SOFTMAX,  /* output layers only, row-wise (pl_softmax_rows) */
    PL_ACT_REPU,     /* rectified power unit relu(h)^n, n > 0 (Krotov & Hopfield's hidden
                        activation); written relu^N in net.layers, n carried by the layer */
    PL_ACT_COUNT
} pl_act;

/* "tanh|relu|relu^N|elu|sign|logistic|clip|linear|softmax", for messages. */
#define PL_ACT_NAMES "tanh|relu|relu^N|elu|sign|logistic|clip|linear|softmax"

const char *pl_act_name(pl_act a);
/* The activation called name, or -1. "relu^N" (N a number > 0, at most 64)
 * is PL_ACT_REPU with *power = N; power may be NULL for the others. */
int pl_act_parse(const char *name);
int pl_act_parse_power(const char *name, float *power);

/* name into buf: "relu^4.5" for PL_ACT_REPU, else pl_act_name. */
const char *pl_act_text(pl_act a, float power, char *buf, size_t size);

/* z[i] = f(h[i]) for i < n; z may equal h (in place). Not for softmax. */
void pl_act_forward(pl_act a, const float *h, float *z, long n);

/* d[i] = f'(h[i]), computed from h or from z = f(h), whichever is cheaper
 * (tanh and logistic use z). Not for softmax. */
void pl_act_deriv(pl_act a, const float *h, const float *z, float *d, long n);

/* g[i] *= f'(h[i]): turns dL/dz into dL/dh in place. Not for softmax. */
void pl_act_backprop(pl_act a, const float *h, const float *z, float *g, long n);

/* The same three with the exponent of PL_ACT_REPU (ignored by the others;
 * the functions above pass 1, where relu^1 is relu). */
void pl_act_forward_p(pl_act a, float power, const float *h, float *z, long n);
void pl_act_deriv_p(pl_act a, float power, const float *h, const float *z, float *d, long n);
void pl_act_backprop_p(pl_act a, float power, const float *h, const float *z, float *g, long n);

#endif
