/* Max-pooling over k_h x k_w windows with a stride and "same" padding
 * (out = ceil(in / stride)), per channel, examples stored CHW. Padding
 * takes no part in the maximum. */
#ifndef PLASTIC_NN_POOL_H
#define PLASTIC_NN_POOL_H

#include <stdint.h>

typedef struct pl_pool_geom {
    int c, in_h, in_w, out_h, out_w;
    int k_h, k_w, stride, pad_top, pad_left;
} pl_pool_geom;

void pl_pool_geom_same(pl_pool_geom *g, int c, int in_h, int in_w, int k_h, int k_w,
                       int stride);
long pl_pool_in_size(const pl_pool_geom *g);
long pl_pool_out_size(const pl_pool_geom *g);

/* y = the window maxima of B examples; argmax[i] = the index within its
 * example's input of the element that y[i] took (the first of equal ones). */
void pl_maxpool_forward(const pl_pool_geom *g, float *y, int32_t *argmax, const float *x, int B);

/* dx = beta dx + dy routed to the argmax elements (summed where windows
 * overlap). beta is 0 or 1. */
void pl_maxpool_backward(const pl_pool_geom *g, float *dx, const float *dy,
                         const int32_t *argmax, int B, float beta);

#endif
