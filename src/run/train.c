/* `plastic train`: load data, train the hidden layer with the competing
 * hidden units rule, compute hidden features once, train the readout, and
 * record everything in the run directory. A cursor (phase, epoch, minibatch)
 * says where the run is; checkpoints store it with the model, so a run can
 * stop at any minibatch boundary (signal, wall-time) and continue, on any
 * number of ranks, to exactly the weights of an uninterrupted run. */
#include "plastic/train.h"
#include "plastic/common.h"
#include "plastic/model.h"
#include "plastic/rng.h"
#include "plastic/signals.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STOP_SIGNAL = 1, STOP_TIMER = 2 };

int pl_load_splits(const pl_config *cfg, pl_dataset *train, pl_dataset *valid, pl_dataset *test)
{
    pl_dataset all;
    int rc = pl_data_load(cfg, &all, test);
    if (rc)
        return rc;
    rc = pl_dataset_split(&all, cfg->data.valid, cfg->run.seed, train, valid);
    pl_dataset_free(&all);
    if (rc)
        pl_dataset_free(test);
    return rc;
}

int pl_check_run(const pl_config *cfg, const pl_comm *comm)
{
    if (strcmp(cfg->kh.impl, "naive") == 0 && pl_comm_size(comm) > 1) {
        pl_error("kh.impl = naive is the serial reference: run it on 1 rank");
        return PL_EXIT_USAGE;
    }
    return 0;
}

int pl_kh_epoch(pl_kh *kh, const pl_dataset *train, const pl_config *cfg, int epoch, int *batch,
                float *xbuf, pl_poll_fn poll, void *ctx)
{
    const int size = cfg->kh.batch, n = train->n, dim = train->dim;
    const float eps = (float)(cfg->kh.eps0 * (1.0 - (double)epoch / cfg->kh.epochs));
    int *order = pl_alloc((size_t)n * sizeof *order);
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_KH_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, order, n);
    int naive = strcmp(cfg->kh.impl, "naive") == 0;
    int32_t *winners = naive ? pl_alloc(2 * (size_t)size * sizeof *winners) : NULL;
    int rc = 0;
    for (int start = *batch * size; start < n && rc == 0; start += size) {
        int B = n - start < size ? n - start : size;
        for (int b = 0; b < B; b++)
            memcpy(xbuf + (size_t)b * dim, train->x + (size_t)order[start + b] * dim,
                   (size_t)dim * sizeof *xbuf);
        if (naive) {
            /* the reference holds the whole matrix: pl_check_run allows 1 rank */
            rc = pl_kh_reference_step(kh->W, kh->hidden, dim, kh->p, kh->k, kh->delta, xbuf, B,
                                      eps, winners);
            for (int b = 0; b < B && rc == 0; b++)
                kh->wins[winners[2 * b]]++;
            if (rc == 0)
                pl_kh_refresh(kh);
        } else {
            rc = pl_kh_step(kh, xbuf, B, eps);
        }
        if (rc == 0) {
            ++*batch;
            if (poll && start + B < n && poll(ctx))
                rc = PL_EXIT_CHECKPOINTED;
        }
    }
    pl_free(winners);
    pl_free(order);
    return rc;
}

/* ---- checkpoints ---- */

static int save(pl_run *r, const char *why)
{
    r->cur.seconds = pl_now() - r->started;
    if (r->cur.phase == PL_PHASE_KH)
        r->cur.kh_seconds = r->kh_seconds_before + pl_now() - r->phase_started;
    r->cur.metrics_bytes = pl_metrics_length(r);
    int rc = pl_ckpt_save(r->cfg->run.dir, r->comm, &r->kh, &r->ro, &r->cur, r->config_text,
                          r->cfg);
    if (rc == 0) {
        pl_record_checkpoint(r, why);
        r->last_ckpt = pl_now();
    }
    return rc;
}

/* Between minibatches: did a signal arrive on any rank, or is a timed
 * checkpoint due (rank 0's clock decides)? One small reduction. */
static int poll_stop(void *ctx)
{
    pl_run *r = ctx;
    r->cur.step++;
    double minutes = r->cfg->checkpoint.minutes;
    long flags[2] = {pl_signal_received() != 0,
                     r->rank == 0 && minutes > 0 && pl_now() - r->last_ckpt >= 60.0 * minutes};
    pl_allreduce_sum_long(r->comm, flags, 2);
    if (flags[0])
        return STOP_SIGNAL;
    if (flags[1] && save(r, "minutes") != 0)
        return STOP_SIGNAL; /* cannot checkpoint: stop rather than run unprotected */
    return 0;
}

/* After a stop request: checkpoint where we are, and tell the caller to exit
 * with 85 so the job script resubmits. */
static int stop_here(pl_run *r)
{
    int rc = save(r, "signal");
    if (rc)
        return rc;
    char name[64];
    pl_ckpt_name(&r->cur, r->cfg, name, sizeof name);
    pl_info("stopped on a signal: checkpoint %s/ckpt/%s written; exit %d (continue with "
            "run.resume=auto)", r->cfg->run.dir, name, PL_EXIT_CHECKPOINTED);
    return PL_EXIT_CHECKPOINTED;
}

static int epoch_checkpoint_due(const pl_run *r, int epochs_done, int epochs)
{
    int every = r->cfg->checkpoint.every;
    return every > 0 && epochs_done < epochs && epochs_done % every == 0;
}

static void enter_phase(pl_run *r, int phase)
{
    r->cur.phase = phase;
    r->cur.epoch = r->cur.batch = 0;
    r->cur.loss_sum = 0.0;
    r->cur.wrong = 0;
    r->phase_started = pl_now();
    r->phase_first_epoch = 0;
}

/* ---- the two phases ---- */

static int kh_phase(pl_run *r)
{
    const pl_config *cfg = r->cfg;
    float *xbuf = pl_alloc((size_t)cfg->kh.batch * r->train.dim * sizeof *xbuf);
    int rc = 0;
    r->kh_seconds_before = r->cur.kh_seconds;
    for (int epoch = r->cur.epoch; epoch < cfg->kh.epochs && rc == 0; epoch++) {
        double te = pl_now();
        rc = pl_kh_epoch(&r->kh, &r->train, cfg, epoch, &r->cur.batch, xbuf, poll_stop, r);
        if (rc == PL_EXIT_CHECKPOINTED) {
            rc = stop_here(r);
        } else if (rc == PL_EXIT_DIVERGED) {
            pl_error("diverged: the hidden-layer update became NaN/Inf in epoch %d "
                     "(try a smaller kh.eps0)", epoch + 1);
            pl_record_diverged(r, "kh", epoch);
        } else {
            r->cur.step++;
            r->cur.epoch = epoch + 1;
            r->cur.batch = 0;
            pl_record_kh_epoch(r, epoch, pl_now() - te);
            if (epoch_checkpoint_due(r, epoch + 1, cfg->kh.epochs))
                rc = save(r, "every");
        }
    }
    r->cur.kh_seconds = r->kh_seconds_before + pl_now() - r->phase_started;
    pl_free(xbuf);
    return rc;
}

static double percent(long wrong, long n) { return n ? 100.0 * (double)wrong / (double)n : NAN; }

typedef struct readout_data {
    const float *Htrain, *Hvalid;
    pl_readout_batch buf;
} readout_data;

static int poll_readout(void *ctx) { return poll_stop(ctx); }

/* One readout epoch from the cursor's minibatch on. Returns 0 when complete,
 * STOP_SIGNAL when stopped. */
static int readout_epoch(pl_run *r, readout_data *d, int epoch)
{
    const pl_config *cfg = r->cfg;
    const float lr = (float)pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
    int stop = pl_readout_epoch(&r->ro, d->Htrain, r->train.y, r->train.n, cfg->run.seed, epoch,
                                lr, &r->cur.batch, &d->buf, &r->cur.loss_sum, &r->cur.wrong,
                                poll_readout, r);
    return stop ? STOP_SIGNAL : 0;
}

static int readout_phase(pl_run *r, readout_data *d, double *train_error)
{
    const pl_config *cfg = r->cfg;
    int rc = 0;
    for (int epoch = r->cur.epoch; epoch < cfg->readout.epochs && rc == 0; epoch++) {
        double te = pl_now();
        if (readout_epoch(r, d, epoch) == STOP_SIGNAL)
            return stop_here(r);
        if (!isfinite(r->cur.loss_sum)) {
            pl_error("diverged: the readout loss became NaN/Inf in epoch %d "
                     "(try a smaller readout.lr or readout.beta)", epoch + 1);
            pl_record_diverged(r, "readout", epoch);
            return PL_EXIT_DIVERGED;
        }
        *train_error = percent(r->cur.wrong, r->train.n);
        double valid_error = NAN;
        if (r->valid.n)
            valid_error = percent(pl_readout_errors(&r->ro, d->Hvalid, r->valid.y, r->valid.n,
                                                    NULL), r->valid.n);
        pl_record_readout_epoch(r, epoch, pl_now() - te, *train_error, valid_error);
        r->cur.step++;
        r->cur.epoch = epoch + 1;
        r->cur.batch = 0;
        r->cur.loss_sum = 0.0;
        r->cur.wrong = 0;
        r->cur.valid_error = valid_error;
        if (epoch_checkpoint_due(r, epoch + 1, cfg->readout.epochs))
            rc = save(r, "every");
    }
    return rc;
}

/* Hidden features of a split for this rank's units (n x nunits). */
float *pl_features(const pl_kh *kh, const pl_dataset *d, double n)
{
    float *H = pl_alloc((size_t)d->n * (size_t)(kh->nrows ? kh->nrows : 1) * sizeof *H);
    if (d->n && kh->nrows)
        pl_readout_features(kh->W, kh->nrows, kh->dim, d->x, d->n, n, kh->tile,
                            openblas_get_num_threads(), H);
    return H;
}

/* The final outputs and records; after the readout, or at once when there
 * is none (readout.epochs = 0: the hidden layer alone, as sweeps train it). */
static int finish(pl_run *r, double train_error)
{
    const pl_config *cfg = r->cfg;
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.h5", cfg->run.dir);
    pl_model_summary summary = {r->cur.test_error, r->cur.valid_error};
    int rc = pl_model_write(path, r->comm, &r->kh, &r->ro, r->config_text, &summary);
    pl_write_weights_png(r);
    if (rc == 0) {
        /* the final checkpoint first: "done" stays the last record */
        enter_phase(r, PL_PHASE_DONE);
        if (cfg->checkpoint.every > 0 || cfg->checkpoint.minutes > 0)
            rc = save(r, "done");
        r->cur.seconds = pl_now() - r->started;
        if (rc == 0)
            pl_record_done(r, train_error);
    }
    return rc;
}

/* Features, the readout, the test error, and the final outputs. */
static int supervised(pl_run *r)
{
    const pl_config *cfg = r->cfg;
    if (cfg->readout.epochs == 0)
        return finish(r, NAN);
    double tf = pl_now();
    readout_data d = {0};
    float *Htrain = pl_features(&r->kh, &r->train, cfg->readout.n);
    float *Hvalid = pl_features(&r->kh, &r->valid, cfg->readout.n);
    float *Htest = pl_features(&r->kh, &r->test, cfg->readout.n);
    pl_info("features: relu(W v)^%g for %d + %d + %d examples in %.1fs", cfg->readout.n,
            r->train.n, r->valid.n, r->test.n, pl_now() - tf);
    d.Htrain = Htrain;
    d.Hvalid = Hvalid;
    pl_readout_batch_init(&d.buf, cfg->readout.batch, r->ro.nunits, r->train.n);

    double train_error = NAN;
    int rc = readout_phase(r, &d, &train_error);
    if (rc == 0) {
        r->cur.test_error = percent(pl_readout_errors(&r->ro, Htest, r->test.y, r->test.n, NULL),
                                    r->test.n);
        rc = finish(r, train_error);
    }
    pl_readout_batch_free(&d.buf);
    pl_free(Htrain);
    pl_free(Hvalid);
    pl_free(Htest);
    return rc;
}

/* ---- the verb ---- */

static void init_model(pl_run *r)
{
    const pl_config *cfg = r->cfg;
    pl_kh_init(&r->kh, r->comm, cfg->kh.hidden, r->train.dim, cfg->kh.p, cfg->kh.k,
               (float)cfg->kh.delta, cfg->kh.batch, cfg->run.seed, cfg->kh.tile);
    /* as many KH threads as BLAS threads (run.threads, else OpenBLAS's own
     * setting, e.g. OPENBLAS_NUM_THREADS) */
    pl_kh_set_threads(&r->kh, openblas_get_num_threads());
    pl_readout_init(&r->ro, r->comm, r->train.nclass, r->kh.hidden, r->kh.row0, r->kh.nrows,
                    cfg->readout.n, cfg->readout.m, cfg->readout.beta, cfg->run.seed,
                    (float)cfg->readout.init_std);
    r->cur = (pl_cursor){.test_error = NAN, .valid_error = NAN};
}

static int run_phases(pl_run *r)
{
    int rc = 0;
    if (r->cur.phase == PL_PHASE_KH) {
        rc = kh_phase(r);
        if (rc)
            return rc;
        enter_phase(r, PL_PHASE_READOUT);
        if (r->cfg->checkpoint.every > 0 && r->cfg->kh.epochs > 0)
            rc = save(r, "phase");
    }
    if (rc == 0 && r->cur.phase == PL_PHASE_READOUT)
        rc = supervised(r);
    return rc;
}

int pl_train(const pl_config *cfg, const pl_comm *comm)
{
    pl_signals_install();
    pl_run r = {.cfg = cfg, .comm = comm, .rank = pl_comm_rank(comm)};
    int rc = pl_check_run(cfg, comm);
    if (rc)
        return rc;
    if (cfg->run.threads > 0)
        openblas_set_num_threads(cfg->run.threads);
    rc = pl_load_splits(cfg, &r.train, &r.valid, &r.test);
    if (rc)
        return rc;
    /* the stored configuration reproduces the run; how this session was
     * started (run.resume) is not part of it */
    pl_config stored = *cfg;
    stored.run.resume[0] = '\0';
    r.config_text = pl_config_text(&stored);
    init_model(&r);

    /* Everything that can fail on bad input comes before the run directory
     * is touched, so a bad run never damages an earlier one's outputs. */
    char resumed[PL_PATH_MAX + 80] = "";
    rc = pl_ckpt_resume(cfg, comm, &r.kh, &r.ro, &r.cur, resumed, sizeof resumed);
    if (rc == 0 && !resumed[0] && cfg->kh.init[0])
        rc = pl_model_read_W(cfg->kh.init, comm, &r.kh);
    if (rc == 0 && r.cur.phase == PL_PHASE_DONE) {
        pl_info("%s is finished (test error %.2f%%): nothing to do", cfg->run.dir,
                r.cur.test_error);
        goto out;
    }
    if (rc == 0)
        rc = pl_run_open_dir(&r, resumed[0] != '\0');
    if (rc)
        goto out;

    r.started = pl_now() - r.cur.seconds;
    r.last_ckpt = pl_now();
    r.phase_started = pl_now();
    r.phase_first_epoch = r.cur.epoch;
    if (cfg->kh.init[0] && !resumed[0])
        pl_info("hidden layer starts from %s:/kh/W", cfg->kh.init);
    pl_record_start(&r, resumed[0] ? resumed : NULL);
    rc = run_phases(&r);
out:
    pl_metrics_close(&r.metrics);
    pl_readout_free(&r.ro);
    pl_kh_free(&r.kh);
    free(r.config_text);
    pl_dataset_free(&r.train);
    pl_dataset_free(&r.valid);
    pl_dataset_free(&r.test);
    return rc;
}
