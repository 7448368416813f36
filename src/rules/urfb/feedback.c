/* The feedback weights, their masks and their step (feedback.h). */
#include "rules/urfb/feedback.h"

#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/clip.h"
#include "plastic/par.h"
#include "plastic/rng.h"

int urfb_mode_parse(const char *name)
{
    if (strcmp(name, "updated") == 0)
        return URFB_UPDATED;
    if (strcmp(name, "fixed") == 0)
        return URFB_FIXED;
    if (strcmp(name, "symmetric") == 0)
        return URFB_SYMMETRIC;
    return -1;
}

int urfb_has_feedback(const pl_net *net, int l)
{
    return l > 0 && net->layers[l].param >= 0;
}

/* The output layer: the last with weights (never sparsified). */
static int last_weighted(const pl_net *net)
{
    int last = -1;
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].param >= 0)
            last = l;
    return last;
}

/* keep[i] = 0 with probability s for the count weights at keep, from the
 * draws of (seed, the mask stream, substream), in storage order: the same
 * on any rank count. */
static void draw_mask(uint8_t *keep, long count, double s, uint64_t seed, uint64_t substream)
{
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_URFB_MASK, substream);
    for (long i = 0; i < count; i++)
        keep[i] = pl_rng_uniform(&r) >= s;
}

/* A layer's mask: an untied layer's is drawn for one position and repeated
 * at every position, so while it trains tied it is a masked convolution. */
static void draw_layer_mask(uint8_t *keep, const pl_layer *L, long count, double s, uint64_t seed,
                            uint64_t substream)
{
    const long positions = pl_layer_positions(L), block = count / positions;
    draw_mask(keep, block, s, seed, substream);
    for (long p = 1; p < positions; p++)
        memcpy(keep + p * block, keep, (size_t)block);
}

void urfb_feedback_create(urfb_feedback *f, const pl_net *net, urfb_mode mode, double sparsity_w,
                          double sparsity_r, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->n = net->nparams;
    const size_t n = (size_t)(f->n > 0 ? f->n : 1);
    const int last = last_weighted(net);
    if (sparsity_w > 0.0) {
        f->keep_w = pl_alloc(n);
        memset(f->keep_w, 1, n);
        for (int l = 0; l < last; l++) {
            const pl_layer *L = &net->layers[l];
            if (L->param < 0)
                continue;
            const pl_param *W = &net->tensors[L->param];
            draw_layer_mask(f->keep_w + W->offset, L, W->count, sparsity_w, seed, 2 * (uint64_t)l);
        }
    }
    if (mode == URFB_SYMMETRIC)
        return;
    f->R = pl_calloc(n, sizeof *f->R);
    f->keep_r = pl_calloc(n, 1);
    f->M = pl_calloc((size_t)net->nlayers, sizeof *f->M);
    for (int l = 0; l < net->nlayers; l++) {
        if (!urfb_has_feedback(net, l))
            continue;
        const pl_param *W = &net->tensors[net->layers[l].param];
        f->M[l] = f->R + W->offset;
        f->nfeedback++;
        if (sparsity_r > 0.0 && l != last)
            draw_layer_mask(f->keep_r + W->offset, &net->layers[l], W->count, sparsity_r, seed,
                            2 * (uint64_t)l + 1);
        else
            memset(f->keep_r + W->offset, 1, (size_t)W->count);
    }
    if (mode == URFB_UPDATED)
        f->gR = pl_calloc(n, sizeof *f->gR);
}

void urfb_feedback_free(urfb_feedback *f)
{
    pl_free(f->R);
    pl_free(f->gR);
    pl_free(f->keep_r);
    pl_free(f->keep_w);
    pl_free(f->M);
    memset(f, 0, sizeof *f);
}

void urfb_feedback_apply_masks(const urfb_feedback *f, pl_net *net)
{
    for (long i = 0; f->keep_w && i < f->n; i++)
        if (!f->keep_w[i])
            net->params[i] = 0.0f;
    for (long i = 0; f->R && i < f->n; i++)
        if (!f->keep_r[i])
            f->R[i] = 0.0f;
}

void urfb_feedback_init(urfb_feedback *f, pl_net *net, pl_init_kind kind, double std,
                        uint64_t seed)
{
    if (f->R) {
        /* every layer's slot drawn, then the ones without feedback (the
         * first layer's, the biases) zeroed by keep_r */
        pl_net_init_weights(net, kind, std, seed, PL_STREAM_URFB_INIT, f->R);
    }
    urfb_feedback_apply_masks(f, net);
}

void urfb_feedback_increments(urfb_feedback *f, pl_net *net, long lo, long hi)
{
    const float *g = net->grads;
    if (f->mode == URFB_UPDATED)
        for (long i = lo; i < hi; i++)
            f->gR[i] = f->keep_r[i] ? g[i] : 0.0f;
    if (f->keep_w)
        for (long i = lo; i < hi; i++)
            if (!f->keep_w[i])
                net->grads[i] = 0.0f;
}

void urfb_feedback_step(urfb_feedback *f, pl_dp *dp, pl_net *net, pl_optim *opt, float lr)
{
    if (f->mode != URFB_UPDATED)
        return;
    /* R's tensors shaped like W's: with equal masks the same clip factor,
     * so the same increment (its bias slots are zero already) */
    pl_dp_step_arrays(dp, net, opt, f->R, f->gR, lr);
}
