/* The parameter-free residual add: a block's output is the sum of its last
 * layer's output and its input (an earlier output of the same shape). Its
 * backward passes the gradient unchanged to both. */
#ifndef PLASTIC_NN_RESIDUAL_H
#define PLASTIC_NN_RESIDUAL_H

/* y = a + b over count values (y may be a or b). */
void pl_residual_forward(float *y, const float *a, const float *b, long count);

/* dst = beta dst + g over count values; the backward of the add, once for
 * each of its two inputs. beta is 0 or 1. */
void pl_residual_backward(float *dst, const float *g, long count, float beta);

#endif
