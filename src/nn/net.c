/* The network object: building it from a description, its buffers, and
 * the passes. Every buffer comes from one arena allocated at create, so a
 * minibatch allocates nothing. */
#include "plastic/nn/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/act.h"
#include "plastic/nn/dense.h"
#include "plastic/nn/dropout.h"
#include "plastic/nn/local.h"
#include "plastic/nn/loss.h"
#include "plastic/nn/residual.h"
#include "plastic/rng.h"

/* ---- building ---------------------------------------------------------- */

enum { ALIGN = 64 };

/* Hands out 64-byte aligned pieces of one block; with base NULL it only
 * counts the bytes, so the same code sizes the arena and then fills it. */
struct carver {
    char *base;
    size_t used;
};

static void *carve(struct carver *c, size_t bytes)
{
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (bytes + ALIGN - 1) / ALIGN * ALIGN;
    return p;
}

static int has_params(const pl_layer_spec *s)
{
    return s->kind == PL_LAYER_DENSE || s->kind == PL_LAYER_CONV || s->kind == PL_LAYER_PCONV;
}

/* h gets a buffer of its own only when z = f(h) differs from it. */
static int separate_h(const pl_layer_spec *s)
{
    return has_params(s) && s->act != PL_ACT_LINEAR;
}

static void name_tensors(pl_net *net)
{
    int dense = 0, conv = 0, pconv = 0, local = 0, t = 0;
    long offset = 0;
    for (int l = 0; l < net->nlayers; l++) {
        pl_layer *L = &net->layers[l];
        L->param = -1;
        if (!has_params(&L->spec))
            continue;
        const pl_layer_kind kd = L->spec.kind;
        int conv_layer = kd == PL_LAYER_CONV && !L->untied;
        int k = L->untied ? ++local : conv_layer ? ++conv : kd == PL_LAYER_PCONV ? ++pconv : ++dense;
        const char *kind = L->untied ? "local"
                           : conv_layer ? "conv"
                           : kd == PL_LAYER_PCONV ? "pconv"
                                                  : "dense";
        pl_param *W = &net->tensors[t], *b = &net->tensors[t + 1];
        memset(W, 0, 2 * sizeof *W);
        snprintf(W->name, sizeof W->name, "net/%s%d/W", kind, k);
        snprintf(b->name, sizeof b->name, "net/%s%d/b", kind, k);
        W->layer = b->layer = l;
        if (L->untied) {
            W->ndim = 3;
            W->shape[0] = pl_local_positions(&L->conv);
            W->shape[1] = L->conv.out_c;
            W->shape[2] = (long)L->conv.in_c * L->conv.k_h * L->conv.k_w;
        } else if (conv_layer) {
            W->ndim = 4;
            W->shape[0] = L->conv.out_c;
            W->shape[1] = L->conv.in_c;
            W->shape[2] = L->conv.k_h;
            W->shape[3] = L->conv.k_w;
        } else if (kd == PL_LAYER_PCONV) {
            W->ndim = 3;
            W->shape[0] = L->pconv.out_c;
            W->shape[1] = L->pconv.in_c;
            W->shape[2] = L->pconv.maps;
        } else {
            W->ndim = 2;
            W->shape[0] = L->spec.units;
            W->shape[1] = L->in_size;
        }
        W->count = 1;
        for (int d = 0; d < W->ndim; d++)
            W->count *= W->shape[d];
        b->ndim = 1;
        b->shape[0] = b->count = L->spec.units;
        if (L->untied) {
            b->ndim = 2;
            b->shape[0] = pl_local_positions(&L->conv);
            b->shape[1] = L->spec.units;
            b->count = b->shape[0] * b->shape[1];
        }
        W->offset = offset;
        b->offset = offset + W->count;
        offset += W->count + b->count;
        L->param = t;
        t += 2;
    }
    net->ntensors = t;
    net->nparams = offset;
}

/* Carves every buffer (or, with c->base NULL, counts their bytes). */
static void lay_out(pl_net *net, struct carver *c)
{
    const size_t rows = (size_t)net->capacity;
    long col = 0;
    net->params = carve(c, (size_t)net->nparams * sizeof(float));
    net->grads = carve(c, (size_t)net->nparams * sizeof(float));
    for (int l = 0; l < net->nlayers; l++) {
        pl_layer *L = &net->layers[l];
        size_t values = rows * (size_t)L->out_size;
        L->z = carve(c, values * sizeof(float));
        L->h = separate_h(&L->spec) ? carve(c, values * sizeof(float)) : L->z;
        L->delta = carve(c, values * sizeof(float));
        L->mask = L->spec.kind == PL_LAYER_DROPOUT ? carve(c, values * sizeof(float)) : NULL;
        L->argmax = L->spec.kind == PL_LAYER_POOL ? carve(c, values * sizeof(int32_t)) : NULL;
        L->noise = NULL;
        if (L->spec.kind == PL_LAYER_CONV && pl_conv_col_size(&L->conv) > col)
            col = pl_conv_col_size(&L->conv);
        if (L->untied && pl_local_scratch_size(&L->conv) > col)
            col = pl_local_scratch_size(&L->conv);
        if (L->spec.kind == PL_LAYER_PCONV) {
            L->noise = carve(c, (size_t)pl_pconv_noise_size(&L->pconv) * sizeof(float));
            if (pl_pconv_scratch_size(&L->pconv) > col)
                col = pl_pconv_scratch_size(&L->pconv);
        }
        if (L->param >= 0 && c->base) {
            const pl_param *W = &net->tensors[L->param], *b = &net->tensors[L->param + 1];
            L->W = net->params + W->offset;
            L->b = net->params + b->offset;
            L->dW = net->grads + W->offset;
            L->db = net->grads + b->offset;
        }
    }
    net->col = carve(c, (size_t)col * sizeof(float));
    net->written = carve(c, (size_t)net->nlayers);
}

/* Marks the layers of the entries listed in untie ("2, 5"); -1 with err
 * naming the entry that cannot be untied. */
static int mark_untied(pl_net *net, const char *untie, char *err, size_t errsize)
{
    const pl_netspec *s = &net->spec;
    for (const char *c = untie ? untie : ""; *c;) {
        while (*c == ' ' || *c == ',' || *c == '\t')
            c++;
        if (!*c)
            break;
        char *end;
        long e = strtol(c, &end, 10);
        if (end == c || (*end && *end != ',' && *end != ' ' && *end != '\t')) {
            snprintf(err, errsize, "'%s': expected entry numbers of net.layers, e.g. \"1, 3\"",
                     untie);
            return -1;
        }
        if (e < 1 || e > s->nentries) {
            snprintf(err, errsize, "entry %ld does not exist (net.layers has %d entries)", e,
                     s->nentries);
            return -1;
        }
        const struct pl_span *sp = &s->entries[e - 1];
        for (int l = 0; l < net->nlayers; l++) {
            if (s->layers[l].entry != e || s->layers[l].kind == PL_LAYER_ADD)
                continue;
            if (s->layers[l].kind != PL_LAYER_CONV) {
                snprintf(err, errsize,
                         "entry %ld '%.*s' is not a convolution: only conv layers can be untied",
                         e, sp->len, s->text + sp->start);
                return -1;
            }
            net->layers[l].untied = 1; /* every entry has a layer of its own */
        }
        c = end;
    }
    return 0;
}

int pl_net_create(pl_net *net, const char *layers, pl_shape input, int nclass, pl_loss_kind loss,
                  float hinge_mu, int capacity, char *err, size_t errsize)
{
    return pl_net_create_untied(net, layers, NULL, input, nclass, loss, hinge_mu, capacity, err,
                                errsize);
}

int pl_net_create_untied(pl_net *net, const char *layers, const char *untie, pl_shape input,
                         int nclass, pl_loss_kind loss, float hinge_mu, int capacity, char *err,
                         size_t errsize)
{
    memset(net, 0, sizeof *net);
    if (pl_netspec_parse(&net->spec, layers, err, errsize))
        return -1;
    if (pl_netspec_shapes(&net->spec, input, nclass, loss, err, errsize)) {
        pl_netspec_free(&net->spec);
        return -1;
    }
    net->input = input;
    net->nclass = nclass;
    net->loss = loss;
    net->hinge_mu = hinge_mu;
    net->power_m = 6.0;
    net->power_beta = 0.1;
    net->capacity = capacity > 0 ? capacity : 1;
    net->nlayers = net->spec.nlayers;
    net->layers = pl_calloc((size_t)net->nlayers, sizeof *net->layers);
    int nparam_layers = 0;
    for (int l = 0; l < net->nlayers; l++) {
        pl_layer *L = &net->layers[l];
        L->spec = net->spec.layers[l];
        L->in_size = pl_shape_size(L->spec.in);
        L->out_size = pl_shape_size(L->spec.out);
        if (L->spec.kind == PL_LAYER_CONV)
            pl_conv_geom_same(&L->conv, L->spec.in.c, L->spec.in.h, L->spec.in.w, L->spec.units,
                              L->spec.k_h, L->spec.k_w, L->spec.stride);
        if (L->spec.kind == PL_LAYER_PCONV)
            L->pconv = (pl_pconv_geom){L->spec.in.c, L->spec.in.h, L->spec.in.w, L->spec.maps,
                                       L->spec.units};
        if (L->spec.kind == PL_LAYER_POOL)
            pl_pool_geom_same(&L->pool, L->spec.in.c, L->spec.in.h, L->spec.in.w, L->spec.k_h,
                              L->spec.k_w, L->spec.stride);
        nparam_layers += has_params(&L->spec);
    }
    if (mark_untied(net, untie, err, errsize)) {
        pl_free(net->layers);
        pl_netspec_free(&net->spec);
        memset(net, 0, sizeof *net);
        return -1;
    }
    net->tensors = pl_calloc((size_t)(2 * nparam_layers + 1), sizeof *net->tensors);
    name_tensors(net);
    struct carver sizing = {NULL, 0};
    lay_out(net, &sizing);
    struct carver fill = {pl_calloc(1, sizing.used), 0};
    net->arena = fill.base;
    lay_out(net, &fill);
    return 0;
}

int pl_init_parse(const char *name)
{
    if (strcmp(name, "xavier") == 0)
        return PL_INIT_XAVIER;
    if (strcmp(name, "he") == 0)
        return PL_INIT_HE;
    if (strcmp(name, "normal") == 0)
        return PL_INIT_NORMAL;
    return -1;
}

/* Whether layers alone describe a net that fits (so a failure with an
 * untie list was the list's). Only on the error path. */
static int layers_fit(const char *layers, pl_shape input, int nclass, pl_loss_kind loss)
{
    char why[512];
    pl_netspec spec;
    if (pl_netspec_parse(&spec, layers, why, sizeof why))
        return 0;
    int ok = pl_netspec_shapes(&spec, input, nclass, loss, why, sizeof why) == 0;
    pl_netspec_free(&spec);
    return ok;
}

int pl_net_create_config(pl_net *net, const pl_config *cfg, pl_shape input, int nclass,
                         int capacity)
{
    char err[1024];
    pl_loss_kind loss = !strcmp(cfg->net.loss, "hinge")   ? PL_LOSS_HINGE
                        : !strcmp(cfg->net.loss, "power") ? PL_LOSS_POWER
                                                          : PL_LOSS_XENT;
    if (pl_net_create_untied(net, cfg->net.layers, cfg->net.untie, input, nclass, loss,
                             (float)cfg->net.hinge_mu, capacity, err, sizeof err) == 0) {
        net->power_m = cfg->net.power_m;
        net->power_beta = cfg->net.power_beta;
        return 0;
    }
    if (cfg->net.untie[0] && layers_fit(cfg->net.layers, input, nclass, loss))
        pl_error("net.untie = %s: %s", cfg->net.untie, err);
    else
        pl_error("net.layers%s%s", strncmp(err, "entry ", 6) == 0 ? " " : ": ", err);
    return PL_EXIT_USAGE;
}

void pl_net_free(pl_net *net)
{
    pl_netspec_free(&net->spec);
    pl_free(net->layers);
    pl_free(net->tensors);
    pl_free(net->arena);
    memset(net, 0, sizeof *net);
}

long pl_layer_positions(const pl_layer *L)
{
    return L->untied ? pl_local_positions(&L->conv) : 1;
}

void pl_net_init_weights(const pl_net *net, pl_init_kind kind, double std, uint64_t seed,
                         uint32_t stream, float *dst)
{
    for (int l = 0; l < net->nlayers; l++) {
        const pl_layer *L = &net->layers[l];
        if (L->param < 0)
            continue;
        const pl_param *W = &net->tensors[L->param];
        /* an untied layer: the draws of the convolution it replaces, at
         * every position */
        const long count = W->count / pl_layer_positions(L);
        double taps = L->spec.kind == PL_LAYER_CONV ? (double)L->conv.k_h * L->conv.k_w : 1.0;
        double fan_in = (double)count / L->spec.units, fan_out = L->spec.units * taps;
        pl_rng r;
        pl_rng_init(&r, seed, stream, (uint64_t)l);
        double a = sqrt(6.0 / (fan_in + fan_out)), he = sqrt(2.0 / fan_in);
        float *w = dst + W->offset;
        for (long i = 0; i < count; i++) {
            double v = kind == PL_INIT_XAVIER ? a * (2.0 * pl_rng_uniform(&r) - 1.0)
                       : kind == PL_INIT_HE   ? he * pl_rng_normal(&r)
                                              : std * pl_rng_normal(&r);
            w[i] = (float)v;
        }
        if (L->untied)
            pl_local_broadcast(&L->conv, w, NULL);
    }
}

void pl_net_init(pl_net *net, pl_init_kind kind, double std, uint64_t seed)
{
    memset(net->params, 0, (size_t)net->nparams * sizeof *net->params);
    pl_net_init_weights(net, kind, std, seed, PL_STREAM_NET_INIT, net->params);
    for (int l = 0; l < net->nlayers; l++) {
        pl_layer *L = &net->layers[l];
        if (!L->noise)
            continue;
        pl_rng r;
        pl_rng_init(&r, seed, PL_STREAM_PCONV_NOISE, (uint64_t)l);
        for (long i = 0; i < pl_pconv_noise_size(&L->pconv); i++)
            L->noise[i] = (float)(L->spec.noise * pl_rng_normal(&r));
    }
}

void pl_net_init_config(pl_net *net, const pl_config *cfg)
{
    pl_net_init(net, (pl_init_kind)pl_init_parse(cfg->net.init), cfg->net.init_std,
                cfg->run.seed);
}

const pl_param *pl_net_param(const pl_net *net, const char *name)
{
    for (int t = 0; t < net->ntensors; t++)
        if (strcmp(net->tensors[t].name, name) == 0)
            return &net->tensors[t];
    return NULL;
}

/* ---- passes --------------------------------------------------------------- */

const float *pl_net_layer_input(const pl_net *net, int l)
{
    return l == 0 ? net->x : net->layers[l - 1].z;
}

const float *pl_net_output(const pl_net *net) { return net->layers[net->nlayers - 1].z; }

void pl_net_forward(pl_net *net, const float *x, int row0, int rows, const pl_pass *pass)
{
    pl_net_forward_layers(net, x, 0, net->nlayers, row0, rows, pass);
}

void pl_net_forward_layers(pl_net *net, const float *x, int l0, int l1, int row0, int rows,
                           const pl_pass *pass)
{
    net->x = x;
    if (rows <= 0)
        return;
    if (row0 < 0 || row0 + rows > net->capacity || l0 < 0 || l1 > net->nlayers) {
        /* every later pass trusts this check */
        pl_error_all("pl_net_forward: rows %d to %d (layers %d to %d) do not fit the net's %d "
                     "(%d)", row0, row0 + rows - 1, l0, l1 - 1, net->capacity, net->nlayers);
        abort();
    }
    for (int l = l0; l < l1; l++) {
        pl_layer *L = &net->layers[l];
        const pl_layer_spec *s = &L->spec;
        const float *in = pl_net_layer_input(net, l) + (size_t)row0 * L->in_size;
        const long values = (long)rows * L->out_size;
        float *h = L->h + (size_t)row0 * L->out_size, *z = L->z + (size_t)row0 * L->out_size;
        switch (s->kind) {
        case PL_LAYER_DENSE:
            pl_dense_forward(h, in, L->W, L->b, rows, (int)L->in_size, s->units);
            break;
        case PL_LAYER_CONV:
            if (L->untied && !net->tied)
                pl_local_forward(&L->conv, h, in, L->W, L->b, rows, net->col);
            else /* a tied untied layer: its position 0 is the convolution */
                pl_conv_forward(&L->conv, h, in, L->W, L->b, rows, net->col);
            break;
        case PL_LAYER_PCONV:
            pl_pconv_forward(&L->pconv, h, in, L->noise, L->W, L->b, rows, net->col);
            break;
        case PL_LAYER_POOL:
            pl_maxpool_forward(&L->pool, z, L->argmax + (size_t)row0 * L->out_size, in, rows);
            break;
        case PL_LAYER_DROPOUT:
            if (pass && pass->train && s->p > 0.0f) {
                float *m = L->mask + (size_t)row0 * L->out_size;
                pl_dropout_mask(m, L->out_size, rows, s->p, pass->seed, (uint32_t)l, pass->step,
                                pass->example0 + (uint64_t)row0);
                pl_dropout_apply(z, in, m, values);
            } else {
                if (pass && pass->train) /* p = 0: the mask is all ones */
                    for (long i = 0; i < values; i++)
                        L->mask[(size_t)row0 * L->out_size + i] = 1.0f;
                memcpy(z, in, (size_t)values * sizeof *z);
            }
            break;
        case PL_LAYER_ADD: {
            const float *skip = s->from < 0 ? x : net->layers[s->from].z;
            pl_residual_forward(z, in, skip + (size_t)row0 * L->out_size, values);
            break;
        }
        }
        if (s->act == PL_ACT_SOFTMAX)
            pl_softmax_rows(h, z, rows, (int)L->out_size);
        else if (has_params(s))
            pl_act_forward_p(s->act, s->power, h, z, values);
    }
}

double pl_net_loss(pl_net *net, const uint8_t *labels, int row0, int rows, float scale,
                   long *errors)
{
    pl_layer *L = &net->layers[net->nlayers - 1];
    const size_t at = (size_t)row0 * L->out_size;
    const int C = (int)L->out_size;
    const uint8_t *y = labels + row0;
    if (errors)
        *errors += pl_count_errors(L->h + at, y, rows, C);
    if (net->loss == PL_LOSS_HINGE)
        return pl_hinge_loss(L->z + at, y, rows, C, net->hinge_mu, scale, L->delta + at);
    if (net->loss == PL_LOSS_POWER)
        return pl_power_loss(L->z + at, y, rows, C, net->power_m, net->power_beta, scale,
                             L->delta + at);
    return pl_xent_loss(L->h + at, y, rows, C, scale, L->delta + at);
}

/* dst (rows of the layer below) = beta dst + layer l's input gradient,
 * through M in place of W when M is not NULL. */
static void input_gradient(pl_net *net, int l, const float *M, const float *d, int row0, int rows,
                           float *dst, float beta)
{
    pl_layer *L = &net->layers[l];
    switch (L->spec.kind) {
    case PL_LAYER_DENSE:
    case PL_LAYER_CONV:
    case PL_LAYER_PCONV:
        pl_net_layer_backward_input(net, l, d, M ? M : L->W, row0, rows, dst, beta);
        break;
    case PL_LAYER_POOL:
        pl_maxpool_backward(&L->pool, dst + (size_t)row0 * L->in_size, d + (size_t)row0 * L->out_size,
                            L->argmax + (size_t)row0 * L->out_size, rows, beta);
        break;
    case PL_LAYER_DROPOUT: {
        const size_t at = (size_t)row0 * L->out_size;
        const long values = (long)rows * L->out_size;
        float *o = dst + at;
        if (beta == 0.0f)
            pl_dropout_apply(o, d + at, L->mask + at, values);
        else
            for (long i = 0; i < values; i++)
                o[i] += d[at + i] * L->mask[at + i];
        break;
    }
    case PL_LAYER_ADD: {
        const size_t at = (size_t)row0 * L->out_size;
        pl_residual_backward(dst + at, d + at, (long)rows * L->out_size, beta);
        break;
    }
    }
}

void pl_net_backward(pl_net *net, int row0, int rows)
{
    pl_net_backward_layers(net, 0, net->nlayers, row0, rows);
}

void pl_net_backward_layers(pl_net *net, int l0, int l1, int row0, int rows)
{
    pl_net_backward_feedback(net, l0, l1, row0, rows, NULL);
}

void pl_net_backward_feedback(pl_net *net, int l0, int l1, int row0, int rows,
                              const float *const *feedback)
{
    if (rows <= 0 || l1 <= l0)
        return;
    memset(net->written, 0, (size_t)net->nlayers);
    net->written[l1 - 1] = 1; /* by pl_net_loss, or the stage above */
    for (int l = l1 - 1; l >= l0; l--) {
        pl_layer *L = &net->layers[l];
        const size_t at = (size_t)row0 * L->out_size;
        if (has_params(&L->spec) && L->spec.act != PL_ACT_SOFTMAX)
            pl_act_backprop_p(L->spec.act, L->spec.power, L->h + at, L->z + at, L->delta + at,
                            (long)rows * L->out_size);
        if (L->spec.kind == PL_LAYER_ADD && L->spec.from >= 0) {
            int j = L->spec.from;
            pl_residual_backward(net->layers[j].delta + at, L->delta + at,
                                 (long)rows * L->out_size, net->written[j] ? 1.0f : 0.0f);
            net->written[j] = 1;
        }
        if (l == 0)
            break; /* the input needs no gradient */
        input_gradient(net, l, feedback ? feedback[l] : NULL, L->delta, row0, rows,
                       net->layers[l - 1].delta, net->written[l - 1] ? 1.0f : 0.0f);
        net->written[l - 1] = 1;
    }
}

void pl_net_layer_backward_input(pl_net *net, int l, const float *delta, const float *M,
                                 int row0, int rows, float *dx, float beta)
{
    pl_layer *L = &net->layers[l];
    const float *d = delta + (size_t)row0 * L->out_size;
    float *o = dx + (size_t)row0 * L->in_size;
    if (L->spec.kind == PL_LAYER_DENSE)
        pl_dense_backward_input(o, d, M, rows, (int)L->in_size, L->spec.units, beta);
    else if (L->untied && !net->tied)
        pl_local_backward_input(&L->conv, o, d, M, rows, net->col, beta);
    else if (L->spec.kind == PL_LAYER_CONV)
        pl_conv_backward_input(&L->conv, o, d, M, rows, net->col, beta);
    else if (L->spec.kind == PL_LAYER_PCONV)
        pl_pconv_backward_input(&L->pconv, o, d, M,
                                pl_net_layer_input(net, l) + (size_t)row0 * L->in_size, L->noise,
                                rows, net->col, beta);
}

void pl_net_layer_grads(pl_net *net, int l, int row0, int rows, float *dW, float *db,
                        float beta)
{
    pl_layer *L = &net->layers[l];
    const float *in = pl_net_layer_input(net, l) + (size_t)row0 * L->in_size;
    const float *d = L->delta + (size_t)row0 * L->out_size;
    if (L->spec.kind == PL_LAYER_DENSE)
        pl_dense_backward_weights(dW, db, d, in, rows, (int)L->in_size, L->spec.units, beta);
    else if (L->untied && !net->tied)
        pl_local_backward_weights(&L->conv, dW, db, d, in, rows, net->col, beta);
    else if (L->spec.kind == PL_LAYER_CONV)
        pl_conv_backward_weights(&L->conv, dW, db, d, in, rows, net->col, beta);
    else if (L->spec.kind == PL_LAYER_PCONV)
        pl_pconv_backward_weights(&L->pconv, dW, db, d, in, L->noise, rows, net->col, beta);
    if (L->untied && net->tied) /* the convolution's gradient, at every position */
        pl_local_broadcast(&L->conv, dW, db);
}

void pl_net_layer_grad_bound(const pl_net *net, int l, int row0, int rows, double *bound_W,
                             double *bound_b)
{
    const pl_layer *L = &net->layers[l];
    const float *in = pl_net_layer_input(net, l) + (size_t)row0 * L->in_size;
    const float *d = L->delta + (size_t)row0 * L->out_size;
    *bound_W = *bound_b = 0.0;
    if (L->spec.kind == PL_LAYER_DENSE)
        pl_dense_grad_bound(d, in, rows, (int)L->in_size, L->spec.units, bound_W, bound_b);
    else if (L->untied && !net->tied)
        pl_local_grad_bound(&L->conv, d, in, rows, bound_W, bound_b);
    else if (L->spec.kind == PL_LAYER_CONV)
        pl_conv_grad_bound(&L->conv, d, in, rows, bound_W, bound_b);
    else if (L->spec.kind == PL_LAYER_PCONV)
        pl_pconv_grad_bound(&L->pconv, d, in, L->noise, rows, bound_W, bound_b);
}

void pl_net_grads(pl_net *net, int row0, int rows, float *grad, float beta)
{
    for (int l = 0; l < net->nlayers; l++) {
        const pl_layer *L = &net->layers[l];
        if (L->param < 0)
            continue;
        pl_net_layer_grads(net, l, row0, rows, grad + net->tensors[L->param].offset,
                           grad + net->tensors[L->param + 1].offset, beta);
    }
}

void pl_net_evaluate(pl_net *net, const float *x, const uint8_t *labels, long n, int piece,
                     double *loss, long *errors)
{
    const long in_size = pl_shape_size(net->input);
    if (piece <= 0 || piece > net->capacity)
        piece = net->capacity;
    *loss = 0.0;
    *errors = 0;
    for (long start = 0; start < n; start += piece) {
        int rows = n - start < piece ? (int)(n - start) : piece;
        pl_net_forward(net, x + start * in_size, 0, rows, NULL);
        *loss += pl_net_loss(net, labels + start, 0, rows, 1.0f, errors);
    }
}
