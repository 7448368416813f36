/* Competing hidden units behind the rule interface (rule.h): two stages,
 * the hidden layer (kh.c: the fast ranking step, or kh_ref.c's literal
 * reference with kh.impl = naive; kh_slow.c and kh_slow_ref.c the same for
 * kh.dynamics = slow) and the supervised readout on its frozen
 * features (readout.c). The readout's features are computed when its stage
 * begins and kept while a sweep restarts the readout with the same n. */
#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/kh/kh_model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STAGE_HIDDEN = 0, STAGE_READOUT = 1 };



static kh_model *as_kh(pl_model *m) { return (kh_model *)m; }

/* ---- checks, creation ---- */

static int kh_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    const int slow = strcmp(cfg->kh.dynamics, "slow") == 0;
    if (!slow && cfg->kh.k > cfg->kh.hidden) {
        snprintf(err, size, "kh.k = %d must be <= kh.hidden = %d (k ranks the hidden units)",
                 cfg->kh.k, cfg->kh.hidden);
        return -1;
    }
    if (strcmp(cfg->kh.impl, "naive") == 0 && nranks > 1) {
        snprintf(err, size, "kh.impl = naive is the serial reference: run it on 1 rank");
        return -1;
    }
    return 0;
}

static void init_readout(kh_model *k, const pl_config *cfg)
{
    pl_readout_init(&k->ro, k->base.comm, k->base.train->nclass, k->kh.hidden, k->kh.row0,
                    k->kh.nrows, cfg->readout.n, cfg->readout.m, cfg->readout.beta, cfg->run.seed,
                    (float)cfg->readout.init_std);
    pl_readout_batch_init(&k->buf, cfg->readout.batch, k->ro.nunits, k->base.train->n);
}

static void free_readout(kh_model *k)
{
    if (k->members)
        pl_readout_bank_free(&k->bank);
    k->members = 0;
    pl_readout_batch_free(&k->buf);
    pl_readout_free(&k->ro);
}

/* ---- the hidden layer's step: one strategy per (dynamics, impl) ---- */

static int fast_step(kh_model *k, const int *rows, int B, float eps)
{
    return pl_kh_step_rows(&k->kh, k->base.train->x, rows, B, eps);
}

/* The minibatch into k->xbuf, dense (the references hold the whole matrix:
 * kh_check allows them 1 rank). */
static void gather(kh_model *k, const int *rows, int B)
{
    const int dim = k->base.train->dim;
    for (int b = 0; b < B; b++)
        memcpy(k->xbuf + (size_t)b * dim, k->base.train->x + (size_t)rows[b] * dim,
               (size_t)dim * sizeof *k->xbuf);
}

static int naive_step(kh_model *k, const int *rows, int B, float eps)
{
    pl_kh *kh = &k->kh;
    gather(k, rows, B);
    int rc = pl_kh_reference_step(kh->W, kh->hidden, kh->dim, kh->p, kh->k, kh->delta, k->xbuf, B,
                                  eps, k->winners);
    for (int b = 0; b < B && rc == 0; b++)
        kh->wins[k->winners[2 * b]]++;
    if (rc == 0)
        pl_kh_refresh(kh);
    return rc;
}

static int slow_step(kh_model *k, const int *rows, int B, float eps)
{
    return pl_kh_slow_step(&k->kh, &k->slow_work, k->base.train->x, rows, B, eps);
}

static int slow_naive_step(kh_model *k, const int *rows, int B, float eps)
{
    pl_kh *kh = &k->kh;
    pl_kh_slow *s = &k->slow_work;
    gather(k, rows, B);
    int steps = 0, capped = 0;
    int rc = pl_kh_slow_reference_step(kh->W, kh->hidden, kh->dim, kh->p, kh->delta, &s->prm,
                                       k->xbuf, B, eps, k->slow_h, &steps, &capped);
    s->minibatches++;
    s->steps += steps;
    s->capped += capped;
    for (long mu = 0; mu < kh->hidden && rc == 0; mu++)
        for (int b = 0; b < B; b++)
            kh->wins[mu] += pl_kh_slow_g(k->slow_h[mu * B + b], s->prm.h_star, kh->delta) == 1.0f;
    if (rc == 0)
        pl_kh_refresh(kh);
    return rc;
}

static void init_slow(kh_model *k, const pl_config *cfg)
{
    const pl_kh_slow_params prm = {cfg->kh.w_inh,    cfg->kh.h_star,         cfg->kh.dt,
                                   cfg->kh.slow_tol, cfg->kh.slow_max_steps, cfg->kh.slow_normalize};
    pl_kh_slow_init(&k->slow_work, &k->kh, &prm);
    if (k->naive)
        k->slow_h = pl_alloc((size_t)cfg->kh.hidden * (size_t)cfg->kh.batch * sizeof *k->slow_h);
}

static pl_model *kh_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                           const pl_dataset *valid, const pl_dataset *test)
{
    kh_model *k = pl_calloc(1, sizeof *k);
    k->base = (pl_model){&pl_rule_kh, cfg, comm, train, valid, test};
    pl_kh_init(&k->kh, comm, cfg->kh.hidden, train->dim, cfg->kh.p, cfg->kh.k,
               (float)cfg->kh.delta, cfg->kh.batch, cfg->run.seed, cfg->kh.tile);
    /* as many KH threads as BLAS threads (run.threads, else OpenBLAS's own
     * setting, e.g. OPENBLAS_NUM_THREADS) */
    pl_kh_set_threads(&k->kh, openblas_get_num_threads());
    k->naive = strcmp(cfg->kh.impl, "naive") == 0;
    k->slow = strcmp(cfg->kh.dynamics, "slow") == 0;
    k->step = k->slow ? (k->naive ? slow_naive_step : slow_step)
                      : (k->naive ? naive_step : fast_step);
    k->order = pl_alloc((size_t)(train->n ? train->n : 1) * sizeof *k->order);
    if (k->naive) {
        k->xbuf = pl_alloc((size_t)cfg->kh.batch * (size_t)train->dim * sizeof *k->xbuf);
        k->winners = pl_alloc(2 * (size_t)cfg->kh.batch * sizeof *k->winners);
    }
    if (k->slow)
        init_slow(k, cfg);
    k->features_n = NAN;
    init_readout(k, cfg);
    return &k->base;
}

static void drop_features(kh_model *k)
{
    for (int i = 0; i < 3; i++) {
        pl_free(k->H[i]);
        k->H[i] = NULL;
    }
    k->features_n = NAN;
}

static void kh_destroy(pl_model *m)
{
    kh_model *k = as_kh(m);
    drop_features(k);
    free_readout(k);
    if (k->slow)
        pl_kh_slow_free(&k->slow_work);
    pl_free(k->slow_h);
    pl_kh_free(&k->kh);
    pl_free(k->xbuf);
    pl_free(k->order);
    pl_free(k->winners);
    pl_free(k);
}

/* ---- state ---- */

static void kh_state(pl_model *m, pl_state *s)
{
    kh_model *k = as_kh(m);
    const pl_config *cfg = m->cfg;
    const long K = k->kh.hidden, N = k->kh.dim, C = k->ro.nclass;
    pl_array *w = pl_state_rows(s, "kh/W", PL_ARRAY_MODEL, PL_F32, K, N, k->kh.row0, k->kh.nrows,
                                k->kh.W, STAGE_HIDDEN);
    w->init_from = cfg->kh.init;
    w->picture = 1;
    pl_state_rows(s, "kh/wins", PL_ARRAY_STATE, PL_I64, K, 1, k->kh.row0, k->kh.nrows, k->kh.wins,
                  STAGE_HIDDEN);
    pl_state_cols(s, "readout/S", PL_ARRAY_MODEL, PL_F32, C, K, k->ro.unit0, k->ro.nunits, k->ro.S,
                  STAGE_READOUT);
    pl_state_cols(s, "readout/adam_m", PL_ARRAY_OPTIM, PL_F32, C, K, k->ro.unit0, k->ro.nunits,
                  k->ro.adam.m, STAGE_READOUT);
    pl_state_cols(s, "readout/adam_v", PL_ARRAY_OPTIM, PL_F32, C, K, k->ro.unit0, k->ro.nunits,
                  k->ro.adam.v, STAGE_READOUT);
    pl_state_scalar(s, "readout", "adam_t", &k->ro.adam.t);
    pl_state_attr(s, "kh", "hidden", (double)K, 1);
    pl_state_attr(s, "kh", "dim", (double)N, 1);
    pl_state_attr(s, "kh", "p", k->kh.p, 0);
    pl_state_attr(s, "kh", "k", k->kh.k, 1);
    pl_state_attr(s, "kh", "delta", k->kh.delta, 0);
    pl_state_attr(s, "readout", "n", k->ro.n, 0);
    pl_state_attr(s, "readout", "m", k->ro.m, 0);
    pl_state_attr(s, "readout", "beta", k->ro.beta, 0);
}

static void kh_loaded(pl_model *m)
{
    kh_model *k = as_kh(m);
    pl_kh_refresh(&k->kh);
    drop_features(k); /* W may have changed under them */
}

/* ---- schedules ---- */

static int kh_epochs(const pl_config *cfg, int stage)
{
    return stage == STAGE_HIDDEN ? cfg->kh.epochs : cfg->readout.epochs;
}

static double kh_lr(const pl_config *cfg, int stage, int epoch)
{
    if (stage == STAGE_HIDDEN)
        return cfg->kh.eps0 * (1.0 - (double)epoch / cfg->kh.epochs);
    return pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
}

/* ---- the hidden layer ---- */

/* One unsupervised epoch: minibatches of kh.batch in the order keyed by
 * (seed, epoch), learning rate eps0 (1 - epoch/epochs). */
static int hidden_epoch(kh_model *k, int epoch, pl_epoch_pos *pos, pl_poll_fn poll, void *ctx)
{
    const pl_config *cfg = k->base.cfg;
    const pl_dataset *train = k->base.train;
    const int size = cfg->kh.batch, n = train->n;
    const float eps = (float)kh_lr(cfg, STAGE_HIDDEN, epoch);
    const long capped0 = k->slow_work.capped;
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_KH_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, k->order, n);
    int rc = 0;
    for (int start = pos->batch * size; start < n && rc == 0; start += size) {
        int B = n - start < size ? n - start : size;
        rc = k->step(k, k->order + start, B, eps);
        if (rc == 0) {
            pos->batch++;
            if (poll && start + B < n && poll(ctx))
                rc = PL_EXIT_CHECKPOINTED;
        }
    }
    if (k->slow_work.capped > capped0)
        pl_warn("kh epoch %d: %ld minibatch(es) hit kh.slow_max_steps = %d before max |dh| < "
                "kh.slow_tol = %g; g was taken from the state reached",
                epoch + 1, k->slow_work.capped - capped0, cfg->kh.slow_max_steps,
                cfg->kh.slow_tol);
    return rc;
}

/* ---- the readout ---- */

/* Hidden features relu(W v)^n of every example of d for this rank's units
 * (d->n x nrows). */
static float *features(const pl_kh *kh, const pl_dataset *d, double n)
{
    float *H = pl_alloc((size_t)(d->n ? d->n : 1) * (size_t)(kh->nrows ? kh->nrows : 1) *
                        sizeof *H);
    if (d->n && kh->nrows)
        pl_readout_features(kh->W, kh->nrows, kh->dim, d->x, d->n, n, kh->tile,
                            openblas_get_num_threads(), H);
    return H;
}

static int kh_begin_stage(pl_model *m, int stage)
{
    kh_model *k = as_kh(m);
    const double n = m->cfg->readout.n;
    if (stage != STAGE_READOUT || k->features_n == n)
        return 0;
    drop_features(k);
    double t0 = pl_now();
    const pl_dataset *split[3] = {m->train, m->valid, m->test};
    for (int i = 0; i < 3; i++)
        k->H[i] = features(&k->kh, split[i], n);
    k->features_n = n;
    if (m->cfg->log.progress)
        pl_info("features: relu(W v)^%g for %d + %d + %d examples in %.1fs", n, m->train->n,
                m->valid->n, m->test->n, pl_now() - t0);
    return 0;
}

static int kh_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                    void *ctx)
{
    kh_model *k = as_kh(m);
    if (stage == STAGE_HIDDEN)
        return hidden_epoch(k, epoch, pos, poll, ctx);
    const pl_config *cfg = m->cfg;
    const float lr = (float)kh_lr(cfg, STAGE_READOUT, epoch);
    int stop = pl_readout_epoch(&k->ro, k->H[PL_SPLIT_TRAIN], m->train->y, m->train->n,
                                cfg->run.seed, epoch, lr, &pos->batch, &k->buf, &pos->loss_sum,
                                &pos->wrong, poll, ctx);
    return stop ? PL_EXIT_CHECKPOINTED : 0;
}

static long kh_errors(pl_model *m, int split)
{
    kh_model *k = as_kh(m);
    const pl_dataset *d = split == PL_SPLIT_TRAIN ? m->train
                          : split == PL_SPLIT_VALID ? m->valid
                                                    : m->test;
    return pl_readout_errors(&k->ro, k->H[split], d->y, d->n, NULL);
}

/* ---- records ---- */

static void kh_record(pl_model *m, int stage, pl_json *j, char *detail, size_t size)
{
    kh_model *k = as_kh(m);
    detail[0] = '\0';
    if (stage != STAGE_HIDDEN)
        return;
    double mean_dev, max_dev;
    pl_kh_sphere(&k->kh, &mean_dev, &max_dev);
    long never = pl_kh_take_never_won(&k->kh);
    pl_json_num(j, "sphere_mean", mean_dev);
    pl_json_num(j, "sphere_max", max_dev);
    pl_json_int(j, "never_won", never);
    int len = snprintf(detail, size, "sphere |sum|W|^p - 1| mean %.3g max %.3g  never won %ld/%ld",
                       mean_dev, max_dev, never, k->kh.hidden);
    pl_kh_slow *s = &k->slow_work;
    if (k->slow && s->minibatches > 0 && len >= 0 && (size_t)len < size) {
        /* the Euler steps per minibatch since the last record (this session's) */
        const double steps = (double)s->steps / (double)s->minibatches;
        pl_json_num(j, "slow_steps", steps);
        pl_json_int(j, "slow_capped", s->capped);
        snprintf(detail + len, size - (size_t)len, "  Euler steps %.1f/minibatch, %ld capped", steps,
                 s->capped);
        s->steps = s->minibatches = s->capped = 0;
    }
}

static void kh_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    kh_model *k = as_kh(m);
    if (j) {
        pl_json_int(j, "hidden", k->kh.hidden);
        pl_json_int(j, "dim", k->kh.dim);
    }
    const pl_kh_slow_params *s = &k->slow_work.prm;
    if (k->slow)
        snprintf(line, size, "K=%ld p=%g slow dynamics: w_inh=%g h*=%g delta=%g dt=%g", k->kh.hidden,
                 k->kh.p, s->w_inh, s->h_star, k->kh.delta, s->dt);
    else
        snprintf(line, size, "K=%ld p=%g k=%d", k->kh.hidden, k->kh.p, k->kh.k);
}

static const char *kh_diverged_hint(int stage)
{
    return stage == STAGE_HIDDEN ? "try a smaller kh.eps0 (slow dynamics: or kh.dt)"
                                 : "try a smaller readout.lr or readout.beta";
}

/* ---- sweeps ---- */

/* A new readout for cfg on the same hidden layer; the features stay if n
 * is the same (kh_begin_stage checks). */
static void kh_restart(pl_model *m, const pl_config *cfg, int from)
{
    kh_model *k = as_kh(m);
    m->cfg = cfg;
    if (from <= STAGE_READOUT) {
        free_readout(k);
        init_readout(k, cfg);
    }
}

/* A bank of readouts, one per cfg (the same hidden layer, n, seed and
 * every other readout key; m and beta their own: batch_keys). */
static void kh_restart_batch(pl_model *m, const pl_config *const *cfgs, int n, int from)
{
    kh_model *k = as_kh(m);
    m->cfg = cfgs[0];
    if (from > STAGE_READOUT)
        return;
    free_readout(k);
    init_readout(k, cfgs[0]);
    double *m_of = pl_alloc((size_t)n * sizeof *m_of), *beta_of = pl_alloc((size_t)n * sizeof *beta_of);
    for (int i = 0; i < n; i++) {
        m_of[i] = cfgs[i]->readout.m;
        beta_of[i] = cfgs[i]->readout.beta;
    }
    const pl_config *cfg = cfgs[0];
    pl_readout_bank_init(&k->bank, m->comm, m->train->nclass, k->kh.hidden, k->kh.row0,
                         k->kh.nrows, cfg->readout.n, n, m_of, beta_of, cfg->run.seed,
                         (float)cfg->readout.init_std);
    k->members = n;
    pl_free(m_of);
    pl_free(beta_of);
}

static int kh_epoch_batch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos)
{
    kh_model *k = as_kh(m);
    if (stage != STAGE_READOUT || k->members == 0)
        return PL_EXIT_USAGE; /* the hidden layer is shared, never batched */
    const pl_config *cfg = m->cfg;
    const int R = k->members;
    const float lr = (float)kh_lr(cfg, STAGE_READOUT, epoch);
    double *loss = pl_calloc((size_t)R, sizeof *loss);
    long *wrong = pl_calloc((size_t)R, sizeof *wrong);
    pl_readout_bank_epoch(&k->bank, k->H[PL_SPLIT_TRAIN], m->train->y, m->train->n, cfg->run.seed,
                          epoch, lr, &k->buf, loss, wrong);
    const int minibatches = (m->train->n + k->buf.size - 1) / k->buf.size;
    for (int i = 0; i < R; i++) {
        if (k->bank.dead[i])
            continue;
        pos[i] = (pl_epoch_pos){.batch = minibatches, .loss_sum = loss[i], .wrong = wrong[i]};
        if (!isfinite(loss[i]))
            pl_readout_bank_kill(&k->bank, i);
    }
    pl_free(loss);
    pl_free(wrong);
    return 0;
}

static void kh_errors_batch(pl_model *m, int split, long *errors)
{
    kh_model *k = as_kh(m);
    const pl_dataset *d = split == PL_SPLIT_TRAIN ? m->train
                          : split == PL_SPLIT_VALID ? m->valid
                                                    : m->test;
    pl_readout_bank_errors(&k->bank, k->H[split], d->y, d->n, errors);
}

/* ---- bench ---- */

/* The bare currents SGEMM of every minibatch of an epoch, over the same
 * examples (consecutive blocks instead of the shuffled order), one untiled
 * call per minibatch with OpenBLAS on the rank's threads (the yardstick of
 * the tiled step); slowest rank. */
static double kh_bench_bare(pl_model *m, int stage)
{
    kh_model *k = as_kh(m);
    const pl_kh *kh = &k->kh;
    const pl_dataset *train = m->train;
    const int B = m->cfg->kh.batch, minibatches = (train->n + B - 1) / B;
    (void)stage;
    float *currents = pl_alloc((size_t)B * (size_t)(kh->nrows ? kh->nrows : 1) * sizeof *currents);
    pl_barrier(m->comm);
    double t0 = pl_now();
    for (int i = 0; i < minibatches && kh->nrows > 0; i++) {
        int first = i * B + B <= train->n ? i * B : 0;
        const float *X = train->x + (size_t)first * kh->dim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)kh->nrows, kh->dim, 1.0f, X,
                    kh->dim, kh->Wp, kh->ldp, 0.0f, currents, (int)kh->nrows);
    }
    double t = pl_now() - t0;
    pl_allreduce_max_double(m->comm, &t, 1);
    pl_free(currents);
    return t;
}

static void kh_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    kh_model *k = as_kh(m);
    (void)stage;
    snprintf(line, size,
             "the KH step on %d shard(s) of tiles per rank, the bare SGEMM of its currents on %d "
             "BLAS thread(s); K=%ld N=%d B=%d p=%g k=%d tile=%d",
             k->kh.threads, openblas_get_num_threads(), k->kh.hidden, k->kh.dim, m->cfg->kh.batch,
             k->kh.p, k->kh.k, k->kh.tile);
}

const pl_rule pl_rule_kh = {
    .name = "kh",
    .title = "competing hidden units (Krotov & Hopfield 2019): unsupervised hidden layer, "
             "then a supervised readout",
    .nstages = 2,
    .stages = {{"kh", "kh", 0}, {"readout", "readout", 1}},
    .shared_stages = 1,
    .reuse_keys = {"readout.n", NULL},
    .summary_fields = {"sphere_mean", "sphere_max", "never_won", NULL},
    .converge_field = "sphere_mean",
    .check = kh_check,
    .create = kh_create,
    .destroy = kh_destroy,
    .state = kh_state,
    .loaded = kh_loaded,
    .epochs = kh_epochs,
    .lr = kh_lr,
    .begin_stage = kh_begin_stage,
    .epoch = kh_epoch,
    .errors = kh_errors,
    .record = kh_record,
    .describe = kh_describe,
    .diverged_hint = kh_diverged_hint,
    .restart = kh_restart,
    .batch_keys = {"readout.m", "readout.beta", NULL},
    .restart_batch = kh_restart_batch,
    .epoch_batch = kh_epoch_batch,
    .errors_batch = kh_errors_batch,
    .bench_bare = kh_bench_bare,
    .bench_describe = kh_bench_describe,
};
