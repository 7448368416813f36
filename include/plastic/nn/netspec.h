/* The network description of net.layers: a compact grammar parsed into a
 * flat list of layers, whose shapes are then inferred and checked against
 * the input geometry before anything runs.
 *
 *   layers := item { "," item }
 *   item   := layer [ "x" N ]  |  "res(" layers ")" [ "x" N ]
 *   layer  := "dense" UNITS [ACT]
 *           | "conv" CHANNELS K[xK] [ "s" STRIDE ] [ACT]    same padding, stride 1
 *           | "pconv" CHANNELS "m" MAPS [ "n" STD ] [ACT]   perturbative, below
 *           | "pool" K[xK] [ "s" STRIDE ]                    max, same padding, stride K
 *           | "dropout" P                                    0 <= P < 1
 *   ACT    := tanh | relu | relu^N | elu | sign | logistic | clip | linear | softmax
 *             (default linear; relu^N is relu(h)^N, 0 < N <= 64)
 *
 * "pconv K mM nS" is a perturbative layer (nn/pconv.h): each input channel
 * plus M fixed Gaussian noise maps of std S (default 0.1, > 0; 1 <= M <=
 * 1024), a relu, then a learned 1x1 mixing into K channels at the input's
 * resolution, e.g. "pconv 16 m8 relu" or "pconv 16 m8 n0.05 relu".
 *
 * "x N" repeats an item N times; "res( ... )" is a residual block: its
 * output is its last layer's output plus its input (same shape). So
 *   dense 256 tanh, res( dense 256 tanh, dense 256 tanh ) x4, dense 10 softmax
 * is 4 residual blocks of gap 2. Whitespace is free; a dense layer takes
 * any input (flattened CHW). The last layer is dense with one unit per class,
 * and softmax (or linear: logits) for the cross-entropy loss.
 *
 * Entries are the layer items in the order written (inside blocks too),
 * numbered from 1; errors name them: "entry 3 'conv 32 5x5 rleu': ...". */
#ifndef PLASTIC_NN_NETSPEC_H
#define PLASTIC_NN_NETSPEC_H

#include <stddef.h>

#include "plastic/nn/act.h"
#include "plastic/nn/loss.h"

typedef enum pl_layer_kind { PL_LAYER_DENSE, PL_LAYER_CONV, PL_LAYER_POOL, PL_LAYER_DROPOUT,
                             PL_LAYER_ADD, PL_LAYER_PCONV } pl_layer_kind;

/* Per example: channels x rows x cols; flat after a dense layer (c units). */
typedef struct pl_shape {
    int c, h, w;
    int flat;
} pl_shape;

typedef struct pl_layer_spec {
    pl_layer_kind kind;
    pl_act act;          /* dense, conv, pconv; linear for the others */
    float power;         /* act = relu^N: N */
    int units;           /* dense: outputs; conv, pconv: output channels */
    int maps;            /* pconv: noise maps per input channel */
    float noise;         /* pconv: the noise maps' standard deviation */
    int k_h, k_w, stride; /* conv, pool */
    float p;             /* dropout probability */
    int from;            /* add: the layer whose output is added to the previous
                            layer's (-1: the network input) */
    int entry;           /* entry of net.layers it came from (add: the block's last) */
    int block;           /* add: index of its res block in blocks[] */
    pl_shape in, out;    /* set by pl_netspec_shapes */
} pl_layer_spec;

typedef struct pl_netspec {
    char *text;          /* the description, whitespace collapsed */
    int nlayers;
    pl_layer_spec *layers;
    int nentries;
    struct pl_span { int start, len; } *entries, *blocks; /* in text */
    int nblocks;
} pl_netspec;

/* Parses text; 0, or -1 with the reason in err ("entry 3 'x': ..."). */
int pl_netspec_parse(pl_netspec *s, const char *text, char *err, size_t errsize);
/* Parse and free: a syntax check. */
int pl_netspec_check(const char *text, char *err, size_t errsize);

/* Infers every layer's input and output shape from the input and checks
 * them (kernels that fit, residual blocks that keep their shape, an output
 * layer of nclass units whose activation suits the loss). 0, or -1 with
 * the reason in err. */
int pl_netspec_shapes(pl_netspec *s, pl_shape input, int nclass, pl_loss_kind loss, char *err,
                      size_t errsize);

/* The description in its canonical spelling into out (size bytes): one
 * space between tokens, none before ',' or between 'res' and '(':
 * "res( dense 256 tanh, dense 256 tanh ) x2". Checks it like
 * pl_netspec_check. 0, or -1 with the reason in err. */
int pl_netspec_canonical(const char *text, char *out, size_t size, char *err, size_t errsize);

void pl_netspec_free(pl_netspec *s);

/* Floats per example of a shape. */
static inline long pl_shape_size(pl_shape s) { return (long)s.c * s.h * s.w; }

/* One line describing layer i, e.g. "dense 256 tanh  1x28x28 -> 256". */
void pl_netspec_describe(const pl_netspec *s, int i, char *buf, size_t size);

#endif
