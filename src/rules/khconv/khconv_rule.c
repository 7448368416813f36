/* Convolutional competing hidden units behind the rule interface (rule.h):
 * up to two unsupervised conv layers trained stage by stage (layer.c: the
 * ranking step on every patch), then the supervised readout (kh/readout.c)
 * on the last layer's pooled responses (features.c). The stages are always
 * three; with one layer the second has no epochs. Layer 2 learns on layer
 * 1's pooled responses relu(I)^khconv.n, computed per minibatch from layer
 * 1's frozen filters (gathered whole on every rank). */
#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/khconv/khconv_model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STAGE_CONV1 = 0, STAGE_CONV2 = 1, STAGE_READOUT = 2 };

static khconv_model *as_khconv(pl_model *m) { return (khconv_model *)m; }

/* ---- checks, creation ---- */

/* The input's shape for data.set (the loaders' geometry, data.h). */
static void input_shape(const pl_config *cfg, int *c, int *h, int *w)
{
    int cifar = strncmp(cfg->data.set, "cifar", 5) == 0;
    *c = cifar ? 3 : 1;
    *h = *w = cifar ? 32 : 28;
}

static int parse_spec(const pl_config *cfg, int c, int h, int w, khconv_spec *s, char *err,
                      size_t size)
{
    char why[400];
    if (khconv_spec_parse(cfg->khconv.layers, cfg->khconv.k, cfg->khconv.p, cfg->khconv.delta, s,
                          why, sizeof why) ||
        khconv_spec_shapes(s, c, h, w, why, sizeof why)) {
        snprintf(err, size, "khconv.layers: %s", why);
        return -1;
    }
    return 0;
}

static int khconv_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    (void)nranks;
    khconv_spec s;
    int c, h, w;
    input_shape(cfg, &c, &h, &w);
    return parse_spec(cfg, c, h, w, &s, err, size);
}

static void init_readout(khconv_model *m, const pl_config *cfg)
{
    const khconv_layer *last = &m->layer[m->spec.nlayers - 1];
    const long Q = last->Q;
    pl_readout_init(&m->ro, m->base.comm, m->base.train->nclass, last->s.filters * Q,
                    last->kh.row0 * Q, last->kh.nrows * Q, cfg->readout.n, cfg->readout.m,
                    cfg->readout.beta, cfg->run.seed, (float)cfg->readout.init_std);
    pl_readout_batch_init(&m->buf, cfg->readout.batch, m->ro.nunits, m->base.train->n);
}

static void free_readout(khconv_model *m)
{
    pl_readout_batch_free(&m->buf);
    pl_readout_free(&m->ro);
}

static pl_model *khconv_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                               const pl_dataset *valid, const pl_dataset *test)
{
    khconv_spec spec;
    char err[512];
    if (parse_spec(cfg, train->channels, train->rows, train->cols, &spec, err, sizeof err)) {
        pl_error("%s", err);
        return NULL;
    }
    khconv_model *m = pl_calloc(1, sizeof *m);
    m->base = (pl_model){&pl_rule_khconv, cfg, comm, train, valid, test};
    m->spec = spec;
    long maps = 0;
    for (int l = 0; l < spec.nlayers; l++) {
        khconv_layer *L = &m->layer[l];
        khconv_layer_init(L, comm, &spec.layer[l], l, cfg->khconv.batch, cfg->run.seed,
                          cfg->khconv.tile);
        /* as many threads per layer step as BLAS threads, like kh */
        pl_kh_set_threads(&L->kh, openblas_get_num_threads());
        maps = pl_conv_in_size(&L->g) > maps ? pl_conv_in_size(&L->g) : maps;
    }
    m->maps = pl_alloc((size_t)cfg->khconv.batch * (size_t)maps * sizeof *m->maps);
    khconv_scratch_init(&m->work, m->layer, spec.nlayers, cfg->khconv.tile);
    m->order = pl_alloc((size_t)(train->n ? train->n : 1) * sizeof *m->order);
    m->features_n = NAN;
    init_readout(m, cfg);
    return &m->base;
}

static void drop_features(khconv_model *m)
{
    for (int i = 0; i < 3; i++) {
        pl_free(m->H[i]);
        m->H[i] = NULL;
    }
    m->features_n = NAN;
}

static void khconv_destroy(pl_model *base)
{
    khconv_model *m = as_khconv(base);
    drop_features(m);
    free_readout(m);
    for (int l = 0; l < m->spec.nlayers; l++)
        khconv_layer_free(&m->layer[l]);
    khconv_scratch_free(&m->work);
    pl_free(m->maps);
    pl_free(m->order);
    pl_free(m);
}

/* ---- state ---- */

static void khconv_state(pl_model *base, pl_state *s)
{
    khconv_model *m = as_khconv(base);
    for (int l = 0; l < m->spec.nlayers; l++) {
        khconv_layer *L = &m->layer[l];
        char name[64], group[48];
        snprintf(group, sizeof group, "khconv%d", l + 1);
        snprintf(name, sizeof name, "khconv/W%d", l + 1);
        pl_state_rows(s, name, PL_ARRAY_MODEL, PL_F32, L->s.filters, L->N, L->kh.row0,
                      L->kh.nrows, L->kh.W, STAGE_CONV1 + l);
        snprintf(name, sizeof name, "khconv/wins%d", l + 1);
        pl_state_rows(s, name, PL_ARRAY_STATE, PL_I64, L->s.filters, 1, L->kh.row0, L->kh.nrows,
                      L->kh.wins, STAGE_CONV1 + l);
        pl_state_attr(s, group, "filters", L->s.filters, 1);
        pl_state_attr(s, group, "in_c", L->s.in_c, 1);
        pl_state_attr(s, group, "k_h", L->s.k_h, 1);
        pl_state_attr(s, group, "k_w", L->s.k_w, 1);
        pl_state_attr(s, group, "stride", L->s.stride, 1);
        pl_state_attr(s, group, "pool_h", L->s.pool_h, 1);
        pl_state_attr(s, group, "pool_w", L->s.pool_w, 1);
        pl_state_attr(s, group, "p", L->s.p, 0);
        pl_state_attr(s, group, "k", L->s.k, 1);
        pl_state_attr(s, group, "delta", L->s.delta, 0);
    }
    const long C = m->ro.nclass, K = m->ro.hidden;
    pl_state_cols(s, "readout/S", PL_ARRAY_MODEL, PL_F32, C, K, m->ro.unit0, m->ro.nunits, m->ro.S,
                  STAGE_READOUT);
    pl_state_cols(s, "readout/adam_m", PL_ARRAY_OPTIM, PL_F32, C, K, m->ro.unit0, m->ro.nunits,
                  m->ro.adam.m, STAGE_READOUT);
    pl_state_cols(s, "readout/adam_v", PL_ARRAY_OPTIM, PL_F32, C, K, m->ro.unit0, m->ro.nunits,
                  m->ro.adam.v, STAGE_READOUT);
    pl_state_scalar(s, "readout", "adam_t", &m->ro.adam.t);
    pl_state_attr(s, "readout", "n", m->ro.n, 0);
    pl_state_attr(s, "readout", "m", m->ro.m, 0);
    pl_state_attr(s, "readout", "beta", m->ro.beta, 0);
    pl_state_attr(s, "khconv", "n", base->cfg->khconv.n, 0);
}

static void khconv_loaded(pl_model *base)
{
    khconv_model *m = as_khconv(base);
    for (int l = 0; l < m->spec.nlayers; l++)
        pl_kh_refresh(&m->layer[l].kh);
    drop_features(m); /* W may have changed under them */
}

/* ---- schedules ---- */

static int layers_in(const pl_config *cfg)
{
    khconv_spec s;
    char err[256];
    return khconv_spec_parse(cfg->khconv.layers, cfg->khconv.k, cfg->khconv.p, cfg->khconv.delta,
                             &s, err, sizeof err)
               ? 1
               : s.nlayers;
}

static int khconv_epochs(const pl_config *cfg, int stage)
{
    if (stage == STAGE_READOUT)
        return cfg->readout.epochs;
    return stage < layers_in(cfg) ? cfg->khconv.epochs : 0;
}

static double khconv_lr(const pl_config *cfg, int stage, int epoch)
{
    if (stage != STAGE_READOUT)
        return cfg->khconv.eps0 * (1.0 - (double)epoch / cfg->khconv.epochs);
    return pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
}

/* ---- the conv layers ---- */

/* One unsupervised epoch of layer l: minibatches of khconv.batch examples
 * in the order keyed by (seed, layer, epoch), learning rate
 * eps0 (1 - epoch/epochs). */
static int layer_epoch(khconv_model *m, int l, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                       void *ctx)
{
    const pl_config *cfg = m->base.cfg;
    const pl_dataset *train = m->base.train;
    khconv_layer *L = &m->layer[l];
    const int size = cfg->khconv.batch, n = train->n, dim = train->dim;
    const long in_size = pl_conv_in_size(&L->g);
    const float eps = (float)khconv_lr(cfg, l, epoch);
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_KH_ORDER, ((uint64_t)(l + 1) << 32) | (uint64_t)epoch);
    pl_rng_permutation(&rng, m->order, n);
    int rc = 0;
    for (int start = pos->batch * size; start < n && rc == 0; start += size) {
        const int B = n - start < size ? n - start : size;
        /* the layers below run on one BLAS thread (the tile rule, gemm.h) */
        const int blas_threads = openblas_get_num_threads();
        if (blas_threads != 1)
            openblas_set_num_threads(1);
        for (int b = 0; b < B; b++) {
            const float *x = train->x + (size_t)m->order[start + b] * dim;
            const float *in = khconv_input_of(m->layer, l, x, cfg->khconv.n, L->kh.tile,
                                              &m->work);
            memcpy(m->maps + (size_t)b * in_size, in, (size_t)in_size * sizeof *m->maps);
        }
        if (blas_threads != 1)
            openblas_set_num_threads(blas_threads);
        rc = khconv_layer_step(L, m->maps, B, eps);
        if (rc == 0) {
            pos->batch++;
            if (poll && start + B < n && poll(ctx))
                rc = PL_EXIT_CHECKPOINTED;
        }
    }
    return rc;
}

/* ---- the readout ---- */

static float *features(khconv_model *m, const pl_dataset *d, double n)
{
    const khconv_layer *last = &m->layer[m->spec.nlayers - 1];
    const size_t width = (size_t)last->kh.nrows * (size_t)last->Q;
    float *H = pl_alloc((size_t)(d->n ? d->n : 1) * (width ? width : 1) * sizeof *H);
    khconv_features(m->layer, m->spec.nlayers, d->x, d->n, d->dim, m->base.cfg->khconv.n, n, H);
    return H;
}

static int khconv_begin_stage(pl_model *base, int stage)
{
    khconv_model *m = as_khconv(base);
    /* the layers below this stage, frozen, whole on every rank */
    for (int l = 0; l < stage && l < m->spec.nlayers - 1; l++)
        khconv_layer_gather(&m->layer[l]);
    const double n = base->cfg->readout.n;
    if (stage != STAGE_READOUT || m->features_n == n)
        return 0;
    drop_features(m);
    double t0 = pl_now();
    const pl_dataset *split[3] = {base->train, base->valid, base->test};
    for (int i = 0; i < 3; i++)
        m->H[i] = features(m, split[i], n);
    m->features_n = n;
    if (base->cfg->log.progress)
        pl_info("features: pooled relu(I)^%g, %ld per example, for %d + %d + %d examples in %.1fs",
                n, m->ro.hidden, base->train->n, base->valid->n, base->test->n, pl_now() - t0);
    return 0;
}

static int khconv_epoch(pl_model *base, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                        void *ctx)
{
    khconv_model *m = as_khconv(base);
    if (stage != STAGE_READOUT)
        return layer_epoch(m, stage, epoch, pos, poll, ctx);
    const pl_config *cfg = base->cfg;
    const float lr = (float)khconv_lr(cfg, STAGE_READOUT, epoch);
    int stop = pl_readout_epoch(&m->ro, m->H[PL_SPLIT_TRAIN], base->train->y, base->train->n,
                                cfg->run.seed, epoch, lr, &pos->batch, &m->buf, &pos->loss_sum,
                                &pos->wrong, poll, ctx);
    return stop ? PL_EXIT_CHECKPOINTED : 0;
}

static long khconv_errors(pl_model *base, int split)
{
    khconv_model *m = as_khconv(base);
    const pl_dataset *d = split == PL_SPLIT_TRAIN   ? base->train
                          : split == PL_SPLIT_VALID ? base->valid
                                                    : base->test;
    return pl_readout_errors(&m->ro, m->H[split], d->y, d->n, NULL);
}

/* ---- records ---- */

static void khconv_record(pl_model *base, int stage, pl_json *j, char *detail, size_t size)
{
    khconv_model *m = as_khconv(base);
    detail[0] = '\0';
    if (stage == STAGE_READOUT || stage >= m->spec.nlayers)
        return;
    pl_kh *kh = &m->layer[stage].kh;
    double mean_dev, max_dev;
    pl_kh_sphere(kh, &mean_dev, &max_dev);
    long never = pl_kh_take_never_won(kh);
    pl_json_num(j, "sphere_mean", mean_dev);
    pl_json_num(j, "sphere_max", max_dev);
    pl_json_int(j, "never_won", never);
    snprintf(detail, size, "sphere |sum|W|^p - 1| mean %.3g max %.3g  never won %ld/%ld", mean_dev,
             max_dev, never, kh->hidden);
}

static void khconv_describe(pl_model *base, pl_json *j, char *line, size_t size)
{
    khconv_model *m = as_khconv(base);
    if (j) {
        pl_json_int(j, "layers", m->spec.nlayers);
        pl_json_int(j, "features", m->ro.hidden);
    }
    snprintf(line, size, "%s (%d layer(s)), %ld features", base->cfg->khconv.layers,
             m->spec.nlayers, m->ro.hidden);
}

static const char *khconv_diverged_hint(int stage)
{
    return stage != STAGE_READOUT ? "try a smaller khconv.eps0"
                                  : "try a smaller readout.lr or readout.beta";
}

/* ---- sweeps ---- */

/* A new readout for cfg on the same conv layers; the features stay if n is
 * the same (khconv_begin_stage checks). */
static void khconv_restart(pl_model *base, const pl_config *cfg, int from)
{
    khconv_model *m = as_khconv(base);
    base->cfg = cfg;
    if (from <= STAGE_READOUT) {
        free_readout(m);
        init_readout(m, cfg);
    }
}

/* ---- bench ---- */

/* The bare currents SGEMM of the first layer over an epoch's patches: one
 * untiled call per minibatch (all positions of B consecutive examples
 * against the rank's filters); slowest rank. */
static double khconv_bench_bare(pl_model *base, int stage)
{
    khconv_model *m = as_khconv(base);
    khconv_layer *L = &m->layer[0];
    const pl_dataset *train = base->train;
    const int B = base->cfg->khconv.batch, minibatches = (train->n + B - 1) / B;
    const size_t rows = (size_t)B * (size_t)L->P;
    (void)stage;
    float *X = pl_calloc(rows * (size_t)L->ld, sizeof *X);
    float *cur = pl_alloc(rows * (size_t)(L->kh.nrows ? L->kh.nrows : 1) * sizeof *cur);
    for (int b = 0; b < B && b < train->n; b++)
        khconv_patches(L, train->x + (size_t)b * train->dim, L->col,
                       X + (size_t)b * L->P * L->ld, L->ld, 0);
    pl_barrier(base->comm);
    double t0 = pl_now();
    for (int i = 0; i < minibatches && L->kh.nrows > 0; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)L->kh.nrows, L->N,
                    1.0f, X, L->ld, L->kh.Wp, L->kh.ldp, 0.0f, cur, (int)L->kh.nrows);
    double t = pl_now() - t0;
    pl_allreduce_max_double(base->comm, &t, 1);
    pl_free(X);
    pl_free(cur);
    return t;
}

static void khconv_bench_describe(pl_model *base, int stage, char *line, size_t size)
{
    khconv_model *m = as_khconv(base);
    const khconv_layer *L = &m->layer[0];
    (void)stage;
    snprintf(line, size,
             "the conv KH step of layer 1 (%d positions x B=%d patches per minibatch, %d "
             "filters, N=%d, tile=%d) against the bare SGEMM of its currents",
             L->P, base->cfg->khconv.batch, L->s.filters, L->N, L->kh.tile);
}

const pl_rule pl_rule_khconv = {
    .name = "khconv",
    .title = "convolutional competing hidden units (Krotov & Hopfield 2019, per patch): one or "
             "two unsupervised conv layers, then a supervised readout on pooled responses",
    .nstages = 3,
    .stages = {{"conv1", "khconv", 0}, {"conv2", "khconv", 0}, {"readout", "readout", 1}},
    .shared_stages = 2,
    .reuse_keys = {"readout.n", NULL},
    .summary_fields = {"sphere_mean", "sphere_max", "never_won", NULL},
    .converge_field = "sphere_mean",
    .check = khconv_check,
    .create = khconv_create,
    .destroy = khconv_destroy,
    .state = khconv_state,
    .loaded = khconv_loaded,
    .epochs = khconv_epochs,
    .lr = khconv_lr,
    .begin_stage = khconv_begin_stage,
    .epoch = khconv_epoch,
    .errors = khconv_errors,
    .record = khconv_record,
    .describe = khconv_describe,
    .diverged_hint = khconv_diverged_hint,
    .restart = khconv_restart,
    .bench_bare = khconv_bench_bare,
    .bench_describe = khconv_bench_describe,
};
