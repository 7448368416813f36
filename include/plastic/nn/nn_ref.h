/* Naive references for the nn kernels: direct loops in double, written for
 * obviousness, not speed. The unit tests compare every fast kernel with
 * its reference here. Layouts and meanings are those of the fast kernels. */
#ifndef PLASTIC_NN_REF_H
#define PLASTIC_NN_REF_H

#include <stdint.h>

#include "plastic/nn/act.h"
#include "plastic/nn/conv.h"
#include "plastic/nn/pconv.h"
#include "plastic/nn/pool.h"

/* f(h) and f'(h) of one value. */
double pl_ref_act(pl_act a, double h);
double pl_ref_act_deriv(pl_act a, double h);

void pl_ref_dense_forward(float *y, const float *x, const float *W, const float *b, int B,
                          int in, int out);
void pl_ref_dense_backward_weights(float *dW, float *db, const float *delta, const float *x,
                                   int B, int in, int out);
void pl_ref_dense_backward_input(float *dx, const float *delta, const float *M, int B, int in,
                                 int out);

/* Direct convolution: y[o][oy][ox] = b[o] + sum over c, i, j of
 * W[o][c][i][j] x[c][oy s + i - pad_top][ox s + j - pad_left] (0 outside). */
void pl_ref_conv_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                         const float *b, int B);
void pl_ref_conv_backward_weights(const pl_conv_geom *g, float *dW, float *db,
                                  const float *delta, const float *x, int B);
void pl_ref_conv_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                                const float *M, int B);

/* Untied layer (local.h): the direct convolution with the weights and bias
 * of each output position p = oy out_w + ox, W[p][o][(c k_h + i) k_w + j]
 * and b[p][o]. */
void pl_ref_local_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                          const float *b, int B);
void pl_ref_local_backward_weights(const pl_conv_geom *g, float *dW, float *db,
                                   const float *delta, const float *x, int B);
void pl_ref_local_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                                 const float *M, int B);

/* Perturbative layer: y[k][p] = b[k] + sum over c, m of
 * V[k][c M + m] max(0, x[c][p] + N[c M + m][p]), the sum in double. */
void pl_ref_pconv_forward(const pl_pconv_geom *g, float *y, const float *x, const float *noise,
                          const float *V, const float *b, int B);
void pl_ref_pconv_backward_weights(const pl_pconv_geom *g, float *dV, float *db,
                                   const float *delta, const float *x, const float *noise, int B);
void pl_ref_pconv_backward_input(const pl_pconv_geom *g, float *dx, const float *delta,
                                 const float *M, const float *x, const float *noise, int B);

void pl_ref_maxpool_forward(const pl_pool_geom *g, float *y, const float *x, int B);
void pl_ref_maxpool_backward(const pl_pool_geom *g, float *dx, const float *dy, const float *x,
                             int B);

/* Softmax cross-entropy and the hinge loss, as in loss.h, in double. */
double pl_ref_xent(const float *logits, const uint8_t *labels, int B, int C, double scale,
                   double *grad);
double pl_ref_hinge(const float *z, const uint8_t *labels, int B, int C, double mu,
                    double scale, double *grad);

#endif
