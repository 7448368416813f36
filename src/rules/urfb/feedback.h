/* Updated random feedback (Amit; algorithms.md §8): the feedback weights R
 * that carry errors down a layered net in place of W, their sparsity masks
 * and their step.
 *
 * R lives in the layout of the net's flat parameter vector (nparams floats,
 * R_l at the offset of W_l), so the step of R reads the same block of the
 * summed increments that the sharded step of W reads: any block layout
 * steps R as one rank would, and exact sums give the same bits on any rank
 * count. Only the W slots of layers whose input gradient is taken (every
 * dense, conv or pconv layer but the first) hold feedback weights; the rest
 * of R (biases, the first layer) stays zero and is never read. */
#ifndef PLASTIC_URFB_FEEDBACK_H
#define PLASTIC_URFB_FEEDBACK_H

#include <stdint.h>

#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"

typedef enum urfb_mode {
    URFB_UPDATED,   /* URFB: R gets W's increment */
    URFB_FIXED,     /* FRFB: R keeps its initial random values */
    URFB_SYMMETRIC  /* backprop: R is W itself, nothing is stored */
} urfb_mode;

typedef struct urfb_feedback {
    urfb_mode mode;
    long n;               /* the net's nparams */
    float *R;             /* n, or NULL (symmetric) */
    float *gR;            /* updated: R's increment this step, n (its block used) */
    uint8_t *keep_r;      /* n: 1 where R holds a weight that is not masked, else 0 */
    uint8_t *keep_w;      /* n, or NULL without W sparsity: 0 where W is held at zero */
    const float **M;      /* per layer: R_l for the backward, or NULL (W, or no weights) */
    int nfeedback;        /* layers with an R_l */
} urfb_feedback;

/* "updated" | "fixed" | "symmetric", or -1. */
int urfb_mode_parse(const char *name);

/* Whether layer l of net has feedback weights: it has weights and is not
 * the first layer. */
int urfb_has_feedback(const pl_net *net, int l);

/* Allocates R and the masks for net (nothing for symmetric mode but the
 * W mask). sparsity_w, sparsity_r in [0, 1). */
void urfb_feedback_create(urfb_feedback *f, const pl_net *net, urfb_mode mode, double sparsity_w,
                          double sparsity_r, uint64_t seed);
void urfb_feedback_free(urfb_feedback *f);

/* R drawn like W (kind, std) on a stream of its own keyed by (seed,
 * layer), then both masks applied to the net's W and to R. */
void urfb_feedback_init(urfb_feedback *f, pl_net *net, pl_init_kind kind, double std,
                        uint64_t seed);
/* Zeroes the masked weights of W and R (after arrays were read from a file). */
void urfb_feedback_apply_masks(const urfb_feedback *f, pl_net *net);

/* Before W's step, on the summed increments g = net->grads of this rank's
 * block [lo, hi): updated mode keeps R's increment g masked by R's mask in
 * gR; then W's masked entries of g are zeroed, so those weights never move. */
void urfb_feedback_increments(urfb_feedback *f, pl_net *net, long lo, long hi);

/* After W's step (pl_dp_step on dp), updated mode: R's block stepped by
 * opt (of the block's length) with gR at rate lr, shaped as W's was
 * (optim.clip, over R's tensors), then all-gathered like W. A no-op in the
 * other modes. Collective. */
void urfb_feedback_step(urfb_feedback *f, pl_dp *dp, pl_net *net, pl_optim *opt, float lr);

#endif
