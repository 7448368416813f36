/* rec-LRA's error pathway and per-minibatch kernels (the scheme is in
 * lra.h): one SGEMM per synapse for d = E e_s, an elementwise pass for the
 * target and error, and one SGEMM per synapse for its increment. */
#include "rules/reclra/lra.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/act.h"
#include "plastic/nn/conv.h"
#include "plastic/nn/stages.h"
#include "plastic/rng.h"
#include "nn/bound.h" /* pl_absmax, as the net's gradient bounds use */

/* Layers given a target: those with weights, dense, conv and pconv (pool,
 * dropout and residual adds pass activity on and have no weights to
 * align). A pconv layer's e then makes its increment e a^T, a its
 * perturbed input maps, through pl_net_layer_grads. */
static int takes_target(const pl_layer_spec *s)
{
    return s->kind == PL_LAYER_DENSE || s->kind == PL_LAYER_CONV || s->kind == PL_LAYER_PCONV;
}

/* The next layer above l given a target (the output if none is between). */
static int target_above(const pl_net *net, int l)
{
    for (int k = l + 1; k < net->nlayers; k++)
        if (takes_target(&net->layers[k].spec))
            return k;
    return net->nlayers - 1;
}

int lra_create(lra *a, const pl_net *net, lra_pathway pathway, int gap, float beta,
               lra_e_rule e_rule, char *err, size_t errsize)
{
    memset(a, 0, sizeof *a);
    const int L = net->nlayers, out = L - 1;
    int hidden = 0, blocks = 0;
    for (int l = 0; l < L; l++) {
        const pl_layer_spec *s = &net->layers[l].spec;
        if (s->kind == PL_LAYER_ADD)
            blocks++;
        else if (takes_target(s) && l != out)
            hidden++;
    }
    if (gap < 1 || (blocks > 0 && gap != 1)) {
        snprintf(err, errsize,
                 "lra.gap = %d: %s", gap,
                 gap < 1 ? "it must be at least 1"
                         : "a net with res( ) blocks takes its groups from the blocks; set "
                           "lra.gap = 1");
        return -1;
    }
    if (hidden % gap != 0) {
        snprintf(err, errsize,
                 "lra.gap = %d does not divide the %d hidden layers of net.layers (each group "
                 "of lra.gap layers gets the output's error at its top)", gap, hidden);
        return -1;
    }
    /* which layers sit inside a block (not counting its last layer) */
    char *inside = pl_calloc((size_t)L, 1);
    for (int l = 0; l < L; l++)
        if (net->layers[l].spec.kind == PL_LAYER_ADD)
            for (int k = net->layers[l].spec.from + 1; k < l - 1; k++)
                inside[k] = 1;
    a->syn = pl_calloc((size_t)(hidden > 0 ? hidden : 1), sizeof *a->syn);
    a->syn_of = pl_alloc((size_t)L * sizeof *a->syn_of);
    for (int l = 0; l < L; l++)
        a->syn_of[l] = -1;
    long off = 0, d_off = 0;
    int j = 0; /* hidden layers from the top */
    for (int l = out - 1; l >= 0; l--) {
        if (!takes_target(&net->layers[l].spec))
            continue;
        int src;
        const int ends_block = l + 1 < L && net->layers[l + 1].spec.kind == PL_LAYER_ADD;
        if (pathway == LRA_PATH_CHAIN)
            src = target_above(net, l);
        else if (ends_block)
            src = out;
        else if (inside[l])
            src = target_above(net, l);
        else
            src = blocks > 0 || j % gap == 0 ? out : target_above(net, l);
        j++;
        lra_synapse *s = &a->syn[a->n];
        const pl_layer *S = &net->layers[src];
        s->dst = l;
        s->src = src;
        s->rows = (int)net->layers[l].out_size;
        s->cols = (int)S->out_size;
        s->conv = S->spec.kind == PL_LAYER_CONV && src == l + 1;
        s->e_rows = s->conv ? S->spec.units : s->rows;
        s->e_cols = s->conv ? (int)(pl_conv_w_size(&S->conv) / S->spec.units) : s->cols;
        s->taps = s->conv ? S->conv.k_h * S->conv.k_w : 1;
        s->offset = off;
        s->d_offset = d_off;
        snprintf(s->name, sizeof s->name, "lra/E%d", l + 1);
        off += (long)s->e_rows * s->e_cols;
        d_off += (long)net->capacity * s->rows;
        a->syn_of[l] = a->n++;
    }
    pl_free(inside);
    a->nE = off;
    a->E = pl_calloc((size_t)(off > 0 ? off : 1), sizeof *a->E);
    a->dE = pl_calloc((size_t)(off > 0 ? off : 1), sizeof *a->dE);
    a->d = pl_calloc((size_t)(d_off > 0 ? d_off : 1), sizeof *a->d);
    a->beta = beta;
    a->e_rule = e_rule;
    return 0;
}

void lra_free(lra *a)
{
    pl_free(a->syn);
    pl_free(a->syn_of);
    pl_free(a->E);
    pl_free(a->dE);
    pl_free(a->d);
    memset(a, 0, sizeof *a);
}

void lra_init(lra *a, lra_e_init kind, double std, uint64_t seed)
{
    for (int i = 0; i < a->n; i++) {
        const lra_synapse *s = &a->syn[i];
        pl_rng r;
        pl_rng_init(&r, seed, PL_STREAM_LRA_INIT, (uint64_t)s->dst);
        /* fan-in + fan-out, counted as the net's xavier counts a filter bank's */
        const double lim = sqrt(6.0 / ((double)s->e_cols + (double)s->e_rows * s->taps));
        float *E = a->E + s->offset;
        for (long k = 0; k < (long)s->e_rows * s->e_cols; k++)
            E[k] = (float)(kind == LRA_E_INIT_XAVIER ? lim * (2.0 * pl_rng_uniform(&r) - 1.0)
                                                     : std * pl_rng_normal(&r));
    }
}

void lra_targets(lra *a, pl_net *net, int row0, int rows)
{
    lra_targets_range(a, net, 0, a->n, row0, rows);
}

void lra_targets_range(lra *a, pl_net *net, int i0, int i1, int row0, int rows)
{
    if (rows <= 0)
        return;
    for (int i = i0; i < i1; i++) { /* top down: a source's error is ready */
        const lra_synapse *s = &a->syn[i];
        pl_layer *D = &net->layers[s->dst];
        const pl_layer *S = &net->layers[s->src];
        const size_t at = (size_t)row0 * (size_t)s->rows;
        float *d = a->d + s->d_offset + at;
        const float *es = S->delta + (size_t)row0 * (size_t)s->cols;
        if (s->conv) /* d = the source's transposed convolution of e_s through E */
            pl_net_layer_backward_input(net, s->src, S->delta, a->E + s->offset, row0, rows,
                                        a->d + s->d_offset, 0.0f);
        else /* d (rows x out_l) = e_s (rows x out_s) E^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, s->rows, s->cols, 1.0f,
                        es, s->cols, a->E + s->offset, s->cols, 0.0f, d, s->rows);
        const long n = (long)rows * s->rows;
        const float *h = D->h + at, *z = D->z + at;
        float *e = D->delta + at, beta = a->beta;
        for (long k = 0; k < n; k++)
            e[k] = h[k] - beta * d[k];
        pl_act_forward_p(D->spec.act, D->spec.power, e, e, n); /* y = f(h - beta d) */
        for (long k = 0; k < n; k++)
            e[k] = z[k] - e[k];
    }
}

/* The row factor of synapse s's increment: z_l (transpose) or d_l (eq6). */
static const float *increment_factor(const lra *a, const pl_net *net, const lra_synapse *s,
                                     int row0)
{
    const size_t at = (size_t)row0 * (size_t)s->rows;
    return a->e_rule == LRA_E_EQ6 ? a->d + s->d_offset + at : net->layers[s->dst].z + at;
}

void lra_synapse_increment(const lra *a, const pl_net *net, int i, int row0, int rows, float *out,
                           float beta_acc)
{
    const lra_synapse *s = &a->syn[i];
    if (a->e_rule == LRA_E_FIXED || rows <= 0) { /* a zero increment */
        if (beta_acc == 0.0f)
            memset(out, 0, (size_t)s->e_rows * (size_t)s->e_cols * sizeof *out);
        return;
    }
    const float *f = increment_factor(a, net, s, row0);
    const pl_layer *S = &net->layers[s->src];
    const float *es = S->delta + (size_t)row0 * (size_t)s->cols;
    if (s->conv) {
        pl_conv_backward_weights(&S->conv, out, NULL, es, f, rows, net->col, beta_acc);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->rows, s->cols, rows, 1.0f, f, s->rows,
                es, s->cols, beta_acc, out, s->cols);
}

double lra_synapse_cost(const lra *a, const pl_net *net, int i)
{
    const lra_synapse *s = &a->syn[i];
    return s->conv ? pl_layer_cost(net, s->src) : (double)s->rows * s->cols;
}

/* |sum_r f[r][i] e[r][j]| <= sum_r max|f[r]| max|e[r]| (NaN if any is not
 * finite), as the net's gradient bounds. */
double lra_synapse_increment_bound(const lra *a, const pl_net *net, int i, int row0, int rows)
{
    const lra_synapse *s = &a->syn[i];
    if (a->e_rule == LRA_E_FIXED || rows <= 0)
        return 0.0;
    const float *f = increment_factor(a, net, s, row0);
    const pl_layer *S = &net->layers[s->src];
    const float *es = S->delta + (size_t)row0 * (size_t)s->cols;
    if (s->conv) {
        double bound_E, bound_b;
        pl_conv_grad_bound(&S->conv, es, f, rows, &bound_E, &bound_b);
        return bound_E;
    }
    double bound = 0.0;
    for (int r = 0; r < rows; r++)
        bound += pl_absmax(f + (size_t)r * s->rows, s->rows) *
                 pl_absmax(es + (size_t)r * s->cols, s->cols);
    return bound;
}
