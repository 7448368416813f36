/* A layered network built from a net.layers description (netspec.h): its
 * parameters, the activations of a minibatch, forward, loss and backprop.
 * It is a library that rules drive, layer by layer if they wish:
 *
 *   - parameters live in one flat array (params, and grads of the same
 *     layout), so an optimiser steps them at once; each tensor also has a
 *     stable name ("net/dense1/W", "net/conv2/b", "net/pconv1/W"), a shape
 *     and an offset, for checkpoints and model files; a pconv layer's
 *     fixed noise maps are not parameters (pl_layer.noise);
 *   - every layer keeps, for up to `capacity` rows (examples), its
 *     pre-activation h, its output z = f(h) and an error buffer delta; a
 *     forward fills h and z, pl_net_backward fills delta with dL/dh, and a
 *     rule with its own learning signal (targets, feedback matrices) may
 *     write delta itself and call pl_net_layer_grads;
 *   - functions work on a range of rows, so a minibatch can be processed in
 *     fixed chunks (dp.h) with every buffer allocated once, at create.
 *
 * Layouts: one example per row; a layer's values for an example are CHW
 * (conv, pconv, pool) or flat (dense). Dense W is out x in, conv W is
 * out_c x in_c x k_h x k_w, pconv W (V) is out_c x in_c x maps, all
 * row-major. An untied conv (net.untie, local.h) keeps a conv's geometry
 * with W positions x out_c x in_c k_h k_w and b positions x out_c, named
 * "net/local1/W", "net/local1/b"; it is drawn as the convolution it
 * replaces, the same weights at every position, and while net->tied is set
 * it computes that convolution with conv.h's kernels on position 0 and its
 * gradient (the convolution's) is copied to every position, so its
 * positions stay equal: training it tied is training the convolution
 * (Amit's first phase); clearing tied unties it. */
#ifndef PLASTIC_NN_NET_H
#define PLASTIC_NN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "plastic/config.h"
#include "plastic/nn/conv.h"
#include "plastic/nn/netspec.h"
#include "plastic/nn/pconv.h"
#include "plastic/nn/pool.h"

typedef struct pl_param {
    char name[32];  /* "net/dense1/W" */
    int layer;      /* index into net->layers */
    int ndim;
    long shape[4];
    long count;     /* floats */
    long offset;    /* into net->params and net->grads */
} pl_param;

typedef struct pl_layer {
    pl_layer_spec spec;
    long in_size, out_size; /* floats per example */
    float *W, *b;           /* into net->params; NULL for parameter-free layers */
    float *dW, *db;         /* into net->grads */
    int param;              /* index of W in net->tensors (b follows); -1 */
    float *h, *z;           /* capacity x out_size; h == z when f is the identity */
    float *delta;           /* capacity x out_size */
    float *mask;            /* dropout: the last training forward's mask */
    int32_t *argmax;        /* pool */
    float *noise;           /* pconv: its fixed noise maps, in_c maps x h w (pconv.h) */
    pl_conv_geom conv;      /* conv, and an untied conv (local.h) */
    int untied;             /* a conv entry of net.untie: weights of its own per position */
    pl_pconv_geom pconv;
    pl_pool_geom pool;
} pl_layer;

typedef enum pl_init_kind { PL_INIT_XAVIER, PL_INIT_HE, PL_INIT_NORMAL } pl_init_kind;

typedef struct pl_net {
    pl_netspec spec;
    int nlayers;
    pl_layer *layers;
    pl_shape input;
    int nclass;
    pl_loss_kind loss;
    float hinge_mu;
    double power_m, power_beta; /* loss = power: m and beta (pl_power_loss); 6 and 0.1
                                   unless set after creation (pl_net_create_config) */
    int capacity;           /* rows every buffer holds */
    long nparams;
    float *params, *grads;  /* nparams each */
    int ntensors;
    pl_param *tensors;
    const float *x;         /* row 0 of the last forward's input */
    float *col;             /* conv and pconv scratch */
    char *written;          /* backward: which deltas hold a value yet */
    int tied;               /* untied layers compute as the convolution of their position 0
                               weights, their gradients summed over positions (net.untie_after) */
    void *arena;            /* every buffer above, in one allocation */
} pl_net;

/* What a forward pass is for. A training pass applies dropout, with masks
 * keyed by (seed, step, example0 + row): example0 is the position in the
 * global minibatch of buffer row 0. */
typedef struct pl_pass {
    int train;
    uint64_t seed, step, example0;
} pl_pass;

/* Builds the net of description layers for examples of shape input and
 * nclass classes, with buffers for capacity rows; parameters are zero
 * (see pl_net_init). 0, or -1 with the reason in err ("entry 3 ...") and
 * nothing allocated. */
int pl_net_create(pl_net *net, const char *layers, pl_shape input, int nclass, pl_loss_kind loss,
                  float hinge_mu, int capacity, char *err, size_t errsize);
/* The same with the conv entries listed in untie ("2, 5": entries of
 * layers, numbered from 1; NULL or "" for none) built untied. Errors name
 * the entry ("entry 2 'dense 500 clip' is not a convolution ...").
 * net->tied starts 0; the layered rules set it per epoch. */
int pl_net_create_untied(pl_net *net, const char *layers, const char *untie, pl_shape input,
                         int nclass, pl_loss_kind loss, float hinge_mu, int capacity, char *err,
                         size_t errsize);
/* The same from [net] (net.untie too); errors are printed ("net.layers
 * entry 3 ...", "net.untie = 2: entry 2 ...").
 * Returns 0 or PL_EXIT_USAGE. */
int pl_net_create_config(pl_net *net, const pl_config *cfg, pl_shape input, int nclass,
                         int capacity);
void pl_net_free(pl_net *net);

/* "xavier" | "he" | "normal", or -1. */
int pl_init_parse(const char *name);
/* Weights drawn from Philox keyed by (seed, layer index), element by
 * element in storage order, so the same on any rank count; biases 0.
 *   xavier: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
 *   he:     N(0, 2 / fan_in)
 *   normal: N(0, std^2)
 * fan_in is a unit's inputs (in_c k_h k_w for conv, in_c maps for pconv),
 * fan_out out_c k_h k_w (out_c for pconv). A pconv layer's noise maps are
 * drawn here too, N(0, std^2) of its spec, keyed by (seed, layer index) on
 * a stream of their own: never trained, and regenerated alike on every
 * rank and on resume (they are not checkpointed). */
void pl_net_init(pl_net *net, pl_init_kind kind, double std, uint64_t seed);
/* The same draws for every layer's W into dst (the layout of params, W at
 * its tensor's offset; the rest of dst untouched), on Philox stream
 * `stream` keyed by (seed, layer index): pl_net_init uses
 * PL_STREAM_NET_INIT, a rule's second set of weights another stream. */
void pl_net_init_weights(const pl_net *net, pl_init_kind kind, double std, uint64_t seed,
                         uint32_t stream, float *dst);
/* Positions whose weights a layer holds separately: out_h out_w for an
 * untied layer, else 1 (its W and b are that many equal-shaped blocks). */
long pl_layer_positions(const pl_layer *L);

/* From net.init, net.init_std and run.seed. */
void pl_net_init_config(pl_net *net, const pl_config *cfg);

/* Forward pass of rows [row0, row0 + rows) of x (row r at x + r in_size)
 * into the same rows of every layer. x must stay valid until the
 * gradients of these rows are taken. */
void pl_net_forward(pl_net *net, const float *x, int row0, int rows, const pl_pass *pass);

/* The same for layers [l0, l1) only (a pipeline stage, nn/pipe.h): layer
 * l0's input is the net's input (l0 = 0) or layer l0 - 1's z, which the
 * caller filled for the rows; a residual add in the range must take its
 * skip from the range or from layer l0 - 1. The same arithmetic as the
 * whole pass, layer by layer. */
void pl_net_forward_layers(pl_net *net, const float *x, int l0, int l1, int row0, int rows,
                           const pl_pass *pass);

/* The loss of rows [row0, row0 + rows) of the last forward against
 * labels (label of row r at labels[r]), summed over the rows; the output
 * layer's delta becomes scale dL/dz (dL/dh for a softmax output) and
 * *errors (if not NULL) grows by the misclassified rows. */
double pl_net_loss(pl_net *net, const uint8_t *labels, int row0, int rows, float scale,
                   long *errors);

/* Backprop: from the output layer's delta, every layer's delta = dL/dh
 * (dL/dz for pool, dropout and add layers) for rows [row0, row0 + rows). */
void pl_net_backward(pl_net *net, int row0, int rows);
/* The same through layers [l0, l1) only: from layer l1 - 1's delta (the
 * loss's, or dL/dz received from the stage above) to layer l0 - 1's delta
 * = dL/dz of the range's input (nothing when l0 = 0). */
void pl_net_backward_layers(pl_net *net, int l0, int l1, int row0, int rows);
/* The same with feedback matrices: the input gradient of layer l goes
 * through feedback[l] (W's shape and layout) in place of its W, or
 * through W where feedback[l] is NULL; feedback NULL is backprop. Every
 * other step (activations' derivatives, pooling, dropout, residual adds)
 * is backprop's. */
void pl_net_backward_feedback(pl_net *net, int l0, int l1, int row0, int rows,
                              const float *const *feedback);

/* Parameter gradients of layer l from its delta and its input over the
 * rows: dW = beta dW + sum_rows delta input^T, db likewise. */
void pl_net_layer_grads(pl_net *net, int l, int row0, int rows, float *dW, float *db,
                        float beta);
/* Bounds on the |values| pl_net_layer_grads gives (exact.h). */
void pl_net_layer_grad_bound(const pl_net *net, int l, int row0, int rows, double *bound_W,
                             double *bound_b);
/* Every layer's gradients into grad (nparams, the layout of params). */
void pl_net_grads(pl_net *net, int row0, int rows, float *grad, float beta);

/* Row 0 of layer l's input: the previous layer's z, or the net's input. */
const float *pl_net_layer_input(const pl_net *net, int l);
/* dx = beta dx + layer l's input gradient from delta through M (the
 * layer's W, or a feedback matrix of W's shape), for the rows; dx, like
 * delta, points at row 0. Dense, conv and pconv layers only (pconv reads
 * its input's rows, for the relu's mask). */
void pl_net_layer_backward_input(pl_net *net, int l, const float *delta, const float *M,
                                 int row0, int rows, float *dx, float beta);

/* Row 0 of the outputs (capacity x nclass): the last layer's z
 * (probabilities for a softmax output, else f(h)). */
const float *pl_net_output(const pl_net *net);

/* Loss (summed) and errors of n examples, forward in pieces of `piece`
 * rows (<= capacity), without dropout. */
void pl_net_evaluate(pl_net *net, const float *x, const uint8_t *labels, long n, int piece,
                     double *loss, long *errors);

/* The tensor called name, or NULL. */
const pl_param *pl_net_param(const pl_net *net, const char *name);

#endif
