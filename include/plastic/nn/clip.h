/* Update shaping before an optimiser step, tensor by tensor: biases held
 * at zero (net.bias = 0) and norm clipping (optim.clip: a tensor's summed
 * update g is scaled to clip / |g| when |g| > clip; |g| the Frobenius norm
 * of that W, b or error synapse alone).
 *
 * A tensor's norm may span the blocks of several ranks (the sharded step).
 * It is summed exactly, so the factor is the same bits on any layout: the
 * largest |g| of the tensor over the ranks (a max, order-free) sets a grid,
 * every square is rounded to it on its own, and the integers are summed
 * (an integer sum, order-free). */
#ifndef PLASTIC_NN_CLIP_H
#define PLASTIC_NN_CLIP_H

#include "plastic/nn/net.h"
#include "plastic/par.h"

/* Tensors per call of pl_norms2_exact (pl_shape_updates goes through a
 * net's in batches of as many, with no allocation on the step's path). */
enum { PL_CLIP_BATCH = 64 };

/* The factor that brings a tensor of squared norm norm2 to max_norm
 * (1 if it is within it, or max_norm is 0: off). */
double pl_clip_factor(double norm2, double max_norm);

/* Squared norms of n tensors of which this process holds the parts
 * g[i][0 .. len[i]) (all of tensor i, or its share); parts on several
 * ranks are summed over comm (NULL: each tensor is whole here). The grid of
 * tensor i is max|g_i|^2 count[i] / 2^60 (count: its whole length), so no
 * integer sum can overflow. n <= PL_CLIP_BATCH. Collective over comm. */
void pl_norms2_exact(const pl_comm *comm, int n, float *const *g, const long *len,
                     const long *count, double *norm2);

/* Over the net's tensors of layers [l0, l1) in grads, of which this rank
 * holds [lo, hi) (sharded over comm, or all of them with comm NULL): zero
 * the biases unless bias, then scale each tensor's part by its clip
 * factor. Collective over comm when clip > 0. */
void pl_shape_updates(const pl_comm *comm, const pl_net *net, float *grads, int l0, int l1,
                      long lo, long hi, double clip, int bias);

/* One tensor held whole: g (n) scaled to norm clip when above it. */
void pl_clip_whole(float *g, long n, double clip);

#endif
