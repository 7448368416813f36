/* 2-D convolution with "same" padding and a stride, over a minibatch of
 * examples stored CHW (channel, row, column) one after another. Computed
 * per example as one SGEMM on the im2col matrix (Caffe's layout), so the
 * output comes out CHW with no transpose:
 *     y_b (out_c x out_hw) = W (out_c x in_c k_h k_w) col_b (in_c k_h k_w x out_hw) + b
 * W is stored out_c x in_c x k_h x k_w, row-major. */
#ifndef PLASTIC_NN_CONV_H
#define PLASTIC_NN_CONV_H

typedef struct pl_conv_geom {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int k_h, k_w, stride;
    int pad_top, pad_left; /* zero rows/columns before the input; the rest after it */
} pl_conv_geom;

/* "Same" padding along one axis of `in` values, a window of k and a stride:
 * *out = ceil(in / stride) positions, *before zero values ahead of the
 * input (the padding split evenly, the odd one after the input, as
 * TensorFlow's SAME). Shared by convolution and pooling. */
void pl_same_axis(int in, int k, int stride, int *out, int *before);

/* "Same" padding: out = ceil(in / stride) per axis (pl_same_axis). */
void pl_conv_geom_same(pl_conv_geom *g, int in_c, int in_h, int in_w, int out_c, int k_h,
                       int k_w, int stride);

long pl_conv_in_size(const pl_conv_geom *g);  /* floats per example */
long pl_conv_out_size(const pl_conv_geom *g);
long pl_conv_col_size(const pl_conv_geom *g); /* floats of the im2col scratch */
long pl_conv_w_size(const pl_conv_geom *g);

/* col = im2col(x) for one example: row (c k_h + i) k_w + j, column
 * oy out_w + ox holds x[c][oy s + i - pad_top][ox s + j - pad_left], 0 in
 * the padding. */
void pl_im2col(const pl_conv_geom *g, const float *x, float *col);
/* dx += col2im(col): the adjoint of pl_im2col, for one example. */
void pl_col2im_add(const pl_conv_geom *g, const float *col, float *dx);

/* y = conv(x, W) + b for B examples; col is pl_conv_col_size scratch. */
void pl_conv_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                     const float *b, int B, float *col);

/* dW = beta dW + sum over examples of delta_b col_b^T, db likewise (db may
 * be NULL); examples are added in order. beta is 0 or 1. */
void pl_conv_backward_weights(const pl_conv_geom *g, float *dW, float *db, const float *delta,
                              const float *x, int B, float *col, float beta);

/* dx = beta dx + the input gradient through M (W, or a feedback matrix of
 * W's shape). col is scratch. */
void pl_conv_backward_input(const pl_conv_geom *g, float *dx, const float *delta, const float *M,
                            int B, float *col, float beta);

/* Bounds on |dW| and |db| (see pl_dense_grad_bound): per example, the sum
 * over output positions of max over channels |delta|, times max |x| for W. */
void pl_conv_grad_bound(const pl_conv_geom *g, const float *delta, const float *x, int B,
                        double *bound_W, double *bound_b);

#endif
