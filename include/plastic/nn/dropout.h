/* Inverted dropout: in training, each value is kept with probability 1 - p
 * and scaled by 1/(1 - p), so evaluation needs no scaling. The mask of an
 * example is drawn from Philox keyed by (seed, layer, step, example), where
 * example is the example's position in the global minibatch: the same
 * whichever rank, chunk or buffer row computes it. */
#ifndef PLASTIC_NN_DROPOUT_H
#define PLASTIC_NN_DROPOUT_H

#include <stdint.h>

/* mask (rows x n) = 0 or 1/(1 - p) for rows examples numbered example0,
 * example0 + 1, ... of minibatch `step`, in layer `layer`. 0 <= p < 1. */
void pl_dropout_mask(float *mask, long n, int rows, float p, uint64_t seed, uint32_t layer,
                     uint64_t step, uint64_t example0);

/* y = x * mask, elementwise over count values (y may be x). */
void pl_dropout_apply(float *y, const float *x, const float *mask, long count);

#endif
