/* One convolutional competing-units layer (Krotov & Hopfield 2019, the
 * ranking rule applied per patch).
 *
 * For every patch x (every position of every example of a minibatch, cut
 * from the input maps by the project's im2col and scaled to unit length)
 * the currents I_mu = <W_mu, x>_mu = sum_i sign(W_mu,i)|W_mu,i|^(p-1) x_i
 * are ranked over the filters: the largest gets g = 1, the k-th largest
 * g = -delta, and
 *     dW_mu = sum_patches g_mu (x - I_mu W_mu),   W += eps dW / max|dW|.
 * A patch is then exactly an example of the dense rule, so the step is
 * pl_kh_step (kh.h) on the minibatch's patch rows: the filters are the
 * hidden units, sharded over ranks in whole tiles, the per-patch top-k
 * merged across ranks (B * positions * k pairs), and the result bitwise the
 * same on any rank and thread count. All-zero patches (MNIST's background)
 * are left out: their update x - I W is exactly 0 and they would only
 * count as wins of filter 0. */
#ifndef PLASTIC_KHCONV_LAYER_H
#define PLASTIC_KHCONV_LAYER_H

#include <stdint.h>

#include "plastic/nn/conv.h"
#include "plastic/par.h"
#include "rules/kh/kh.h"
#include "rules/khconv/spec.h"

typedef struct khconv_layer {
    khconv_layer_spec s;
    pl_conv_geom g;       /* the valid convolution, for pl_im2col */
    int N;                /* patch length in_c k_h k_w */
    int P, Q;             /* positions, pooled positions */
    int ld;               /* aligned row stride of patch rows and Wp: pl_gemm_ld(N) */
    pl_kh kh;             /* the filters as hidden units: W (F x N), sharded by rows */
    float *col;           /* N x P: im2col of one example */
    float *Wp_all;        /* F x ld: every filter's sign(W)|W|^(p-1) (khconv_layer_gather) */
} khconv_layer;

/* Filters drawn from N(0,1), filter mu of layer `index` keyed by (seed,
 * index, mu): the same for any rank count. batch: the largest minibatch of
 * examples a step takes. */
void khconv_layer_init(khconv_layer *L, const pl_comm *comm, const khconv_layer_spec *s,
                       int index, int batch, uint64_t seed, int tile);
void khconv_layer_free(khconv_layer *L);

/* The patches of one example's input maps x as rows at stride ld, each
 * scaled to unit length (an all-zero patch stays zero). skip_zero leaves
 * all-zero patches out. col: N x P scratch. Returns the rows written. */
int khconv_patches(const khconv_layer *L, const float *x, float *col, float *rows, int ld,
                   int skip_zero);

/* One step on B examples' input maps (B x in_c in_h in_w). Collective.
 * Returns 0 or PL_EXIT_DIVERGED (W unchanged). */
int khconv_layer_step(khconv_layer *L, const float *maps, int B, float eps);

/* Every rank gets every filter's Wp into Wp_all (W is only sharded): what
 * the next layer's inputs and the features are computed from. Collective. */
void khconv_layer_gather(khconv_layer *L);

/* The literal reference of one step on the whole F x N matrix W: patches
 * cut by index arithmetic (no im2col), currents by pow() in double and
 * ranked as floats (as the fast step ranks them), a full sort per patch,
 * dense dW summed in double. Serial. winners (B P x 2, may be NULL) gets the
 * first and k-th filter of each patch, -1 for an all-zero patch. Returns 0
 * or PL_EXIT_DIVERGED. */
int khconv_reference_step(float *W, const khconv_layer_spec *s, const float *maps, int B,
                          float eps, int32_t *winners);

#endif
