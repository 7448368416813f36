/* What a trained stack of convolutional KH layers computes (layer.h): for
 * an example, each layer's pooled responses
 *     h_mu,q = relu(max over pooling window q of I_mu,position)^n
 * with I the currents of the unit-length patches (the same quantity the
 * filters competed on), maps filter-major (CHW). A layer's maps with
 * n = khconv.n feed the next layer; the last layer's maps with readout.n,
 * flattened filter-major, are the readout's features: a rank's filters give
 * a contiguous block of them. Every product is one pl_sgemm_tile per
 * example and global tile of filters (gemm.h), so the responses are bitwise
 * the same on every rank and thread count. */
#ifndef PLASTIC_KHCONV_FEATURES_H
#define PLASTIC_KHCONV_FEATURES_H

#include "rules/khconv/layer.h"

/* Scratch for one example at a time through a stack of layers. */
typedef struct khconv_scratch {
    float *col;           /* im2col of the largest layer */
    float *rows;          /* its patch rows at the aligned stride */
    float *cur;           /* positions x tile currents */
    float *maps;          /* the input of the last layer */
} khconv_scratch;

void khconv_scratch_init(khconv_scratch *w, const khconv_layer *layers, int nlayers, int tile);
void khconv_scratch_free(khconv_scratch *w);

/* out (nf x Q, filter-major) = the pooled responses, to the power `power`,
 * of the nf filters whose Wp rows (stride L->ld) start at Wp, the first of
 * them a global multiple of tile, to one example's input maps x. */
void khconv_pooled(const khconv_layer *L, const float *x, const float *Wp, long nf, int tile,
                   double power, khconv_scratch *w, float *out);

/* The input maps of layer `upto` for one example x (layer 0: x itself),
 * through the layers below it with every filter (Wp_all, gathered) and
 * power inner_n. Returns a pointer to them (x, or w->maps). */
const float *khconv_input_of(const khconv_layer *layers, int upto, const float *x,
                             double inner_n, int tile, khconv_scratch *w);

/* The readout's features of n examples (rows of dim floats) for this rank's
 * filters of the last layer: H is n x (nrows Q), filter-major. Sets
 * OpenBLAS to one thread meanwhile. */
void khconv_features(const khconv_layer *layers, int nlayers, const float *x, long n, int dim,
                     double inner_n, double readout_n, float *H);

#endif
