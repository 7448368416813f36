/* The untied (locally connected) layer: a convolution's connectivity (the
 * geometry of conv.h: "same" padding, a stride) with weights of their own
 * at every output position (Amit, Section 4.1). With p = oy out_w + ox and
 * col the im2col matrix of conv.h (row k = (c k_h + i) k_w + j):
 *     y[o][p] = b[p][o] + sum_k W[p][o][k] col[k][p]
 * W is stored position-major, out_h out_w x out_c x in_c k_h k_w, and b
 * out_h out_w x out_c, so position p's block W_p is laid out as a
 * convolution's W: pl_local_from_conv copies a convolution into every block,
 * and a layer whose blocks are all equal computes that convolution (net.h's
 * "tied" phase runs it with conv.h's kernels on block 0).
 *
 * The fast kernels take the examples in tiles of up to PL_LOCAL_TILE: each
 * example's im2col is transposed to position-major rows (hw x kk), so the
 * tile's inputs at position p form a T x kk matrix of leading dimension
 * hw kk, and each position is one SGEMM against W_p. The shapes depend on
 * the rows given only, never on ranks or threads. */
#ifndef PLASTIC_NN_LOCAL_H
#define PLASTIC_NN_LOCAL_H

#include "plastic/nn/conv.h"

#define PL_LOCAL_TILE 32

long pl_local_positions(const pl_conv_geom *g); /* out_h out_w */
long pl_local_w_size(const pl_conv_geom *g);    /* positions x out_c x in_c k_h k_w */
long pl_local_b_size(const pl_conv_geom *g);    /* positions x out_c */
long pl_local_scratch_size(const pl_conv_geom *g);

/* W, b = the convolution Wc, bc (conv.h's layout) at every position. */
void pl_local_from_conv(const pl_conv_geom *g, float *W, float *b, const float *Wc,
                        const float *bc);
/* Copies block 0 of W (and of b, when not NULL) to every other position. */
void pl_local_broadcast(const pl_conv_geom *g, float *W, float *b);

/* y = local(x, W) + b for B examples; scratch holds pl_local_scratch_size. */
void pl_local_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                      const float *b, int B, float *scratch);
/* dW = beta dW + sum over examples of the per-position products delta col^T,
 * db likewise (db may be NULL). beta is 0 or 1. */
void pl_local_backward_weights(const pl_conv_geom *g, float *dW, float *db, const float *delta,
                               const float *x, int B, float *scratch, float beta);
/* dx = beta dx + the input gradient through M (W, or a feedback array of
 * W's shape and layout). */
void pl_local_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                             const float *M, int B, float *scratch, float beta);

/* Bounds on |dW| and |db| for the exact sum (exact.h): each entry sums one
 * product per example, so per example max |delta| (times max |x| for W). */
void pl_local_grad_bound(const pl_conv_geom *g, const float *delta, const float *x, int B,
                         double *bound_W, double *bound_b);

#endif
