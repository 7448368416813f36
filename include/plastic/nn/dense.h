/* A dense (fully connected) layer over a minibatch, row-major:
 * x is B x in (one example per row), W is out x in, b has out entries,
 * y and delta are B x out. Every product is one SGEMM. */
#ifndef PLASTIC_NN_DENSE_H
#define PLASTIC_NN_DENSE_H

/* y = x W^T + b. */
void pl_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                      int out);

/* dW = beta dW + delta^T x (the outer products e z^T summed over the B
 * rows) and, if db is not NULL, db = beta db + sum over rows of delta.
 * beta is 0 (overwrite) or 1 (accumulate). */
void pl_dense_backward_weights(float *dW, float *db, const float *delta, const float *x, int B,
                               int in, int out, float beta);

/* dx = beta dx + delta M, M being out x in: the layer's own W for
 * backprop, or a separate feedback matrix R of the same shape. */
void pl_dense_backward_input(float *dx, const float *delta, const float *M, int B, int in,
                             int out, float beta);

/* Bounds on |dW| and |db| of pl_dense_backward_weights for these rows:
 * sum over rows of max|delta_row| max|x_row|, and of max|delta_row|
 * (pl_exact needs a bound on every value it sums; exact.h). */
void pl_dense_grad_bound(const float *delta, const float *x, int B, int in, int out,
                         double *bound_W, double *bound_b);

#endif
