/* A sweep's worker: runs of one group, sharing data, hidden layers and
 * features between consecutive runs (worker.h). */
#include "plastic/worker.h"
#include "plastic/common.h"
#include "plastic/model.h"
#include "rules/kh/readout.h"
#include "plastic/signals.h"
#include "plastic/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void pl_worker_init(pl_worker *w, const pl_sweep *sw, const pl_comm *comm)
{
    memset(w, 0, sizeof *w);
    w->sw = sw;
    w->comm = comm;
}

static void drop_features(pl_worker *w)
{
    pl_free(w->Htrain), pl_free(w->Hvalid), pl_free(w->Htest);
    w->Htrain = w->Hvalid = w->Htest = NULL;
    w->feat_key = 0;
}

static void drop_hidden(pl_worker *w)
{
    drop_features(w);
    if (w->held && !w->held_diverged)
        pl_kh_free(&w->kh);
    w->held = 0;
    w->held_diverged = 0;
}

static void drop_split(pl_worker *w)
{
    if (w->have_split) {
        pl_dataset_free(&w->train);
        pl_dataset_free(&w->valid);
    }
    w->have_split = 0;
}

void pl_worker_free(pl_worker *w)
{
    drop_hidden(w);
    drop_split(w);
    if (w->have_data) {
        pl_dataset_free(&w->all);
        pl_dataset_free(&w->test);
    }
    memset(w, 0, sizeof *w);
}

/* ---- data ---- */

static int ensure_data(pl_worker *w, const pl_config *cfg)
{
    char key[sizeof w->data_key], dir[PL_PATH_MAX];
    pl_data_dir(cfg, dir, sizeof dir);
    snprintf(key, sizeof key, "%s|%.1000s|%d|%d", cfg->data.set, dir, cfg->data.train_limit,
             cfg->data.test_limit);
    if (!w->have_data || strcmp(key, w->data_key) != 0) {
        drop_hidden(w);
        drop_split(w);
        if (w->have_data) {
            pl_dataset_free(&w->all);
            pl_dataset_free(&w->test);
            w->have_data = 0;
        }
        int rc = pl_data_load(cfg, &w->all, &w->test);
        if (rc)
            return rc;
        w->have_data = 1;
        snprintf(w->data_key, sizeof w->data_key, "%s", key);
    }
    if (!w->have_split || w->split_seed != cfg->run.seed || w->split_valid != cfg->data.valid) {
        drop_split(w);
        int rc = pl_dataset_split(&w->all, cfg->data.valid, cfg->run.seed, &w->train, &w->valid);
        if (rc)
            return rc;
        w->have_split = 1;
        w->split_seed = cfg->run.seed;
        w->split_valid = cfg->data.valid;
    }
    return 0;
}

/* ---- the hidden layer ---- */

/* 1 if path exists, as rank 0 sees it (the same answer on every rank). */
static int exists(const pl_comm *comm, const char *path)
{
    return pl_allreduce_or(comm, pl_comm_rank(comm) == 0 && access(path, F_OK) == 0);
}

/* never_won of the last hidden-layer epoch in dir/metrics.jsonl, or -1. */
static long last_never_won(const pl_comm *comm, const char *dir)
{
    long value = -1;
    if (pl_comm_rank(comm) == 0) {
        char path[PL_PATH_MAX + 32], line[4096];
        snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            const char *at = strstr(line, "\"never_won\":");
            if (at)
                value = strtol(at + 12, NULL, 10);
        }
        if (f)
            fclose(f);
    }
    pl_bcast_bytes(comm, &value, sizeof value, 0);
    return value;
}

/* Makes kh hold the run's hidden layer: in memory already, or from
 * <dir>/model.h5, or trained now (then res->hidden_seconds counts it). */
static int ensure_hidden(pl_worker *w, const pl_config *cfg, uint64_t key, pl_run_result *res)
{
    if (w->held == key)
        return 0;
    drop_hidden(w);
    char model[PL_PATH_MAX + 32], marker[PL_PATH_MAX + 32];
    snprintf(model, sizeof model, "%s/model.h5", cfg->run.dir);
    snprintf(marker, sizeof marker, "%s/DIVERGED", cfg->run.dir);
    if (exists(w->comm, marker)) {
        w->held = key;
        w->held_diverged = 1;
        return 0;
    }
    if (!exists(w->comm, model)) {
        /* `plastic train` of the hidden layer alone: checkpoints, resume
         * after a kill, metrics.jsonl and weights.png come with it */
        pl_config hidden = *cfg;
        hidden.readout.epochs = 0;
        double t0 = pl_now();
        int rc = pl_train(&hidden, w->comm);
        res->hidden_seconds = pl_now() - t0;
        if (rc == PL_EXIT_DIVERGED) {
            if (pl_comm_rank(w->comm) == 0 && pl_write_text_atomic(marker, "diverged\n") != 0)
                pl_error_all("cannot write %s", marker);
            w->held = key;
            w->held_diverged = 1;
            w->trainings++;
            res->trained_hidden = 1;
            return 0;
        }
        if (rc)
            return rc;
        w->trainings++;
        res->trained_hidden = 1;
    }
    pl_kh_init(&w->kh, w->comm, cfg->kh.hidden, w->train.dim, cfg->kh.p, cfg->kh.k,
               (float)cfg->kh.delta, cfg->kh.batch, cfg->run.seed, cfg->kh.tile);
    int rc = pl_model_read_W(model, w->comm, &w->kh);
    if (rc) {
        pl_kh_free(&w->kh);
        return rc;
    }
    pl_kh_sphere(&w->kh, &w->sphere_mean, &w->sphere_max);
    w->never_won = last_never_won(w->comm, cfg->run.dir);
    w->held = key;
    w->loads++;
    return 0;
}

/* ---- features and the readout ---- */

static void ensure_features(pl_worker *w, const pl_config *cfg, uint64_t key)
{
    if (w->feat_key == key && w->feat_n == cfg->readout.n && w->Htrain)
        return;
    drop_features(w);
    w->Htrain = pl_features(&w->kh, &w->train, cfg->readout.n);
    w->Hvalid = pl_features(&w->kh, &w->valid, cfg->readout.n);
    w->Htest = pl_features(&w->kh, &w->test, cfg->readout.n);
    w->feat_key = key;
    w->feat_n = cfg->readout.n;
    w->feature_sets++;
}

static double percent(long wrong, long n) { return n ? 100.0 * (double)wrong / (double)n : NAN; }

/* Trains the readout of cfg on the held features. Returns 0 (res filled),
 * PL_EXIT_DIVERGED, or PL_EXIT_CHECKPOINTED on a signal. */
static int fit_readout(pl_worker *w, const pl_config *cfg, pl_run_result *res)
{
    pl_readout ro;
    pl_readout_init(&ro, w->comm, w->train.nclass, w->kh.hidden, w->kh.row0, w->kh.nrows,
                    cfg->readout.n, cfg->readout.m, cfg->readout.beta, cfg->run.seed,
                    (float)cfg->readout.init_std);
    pl_readout_batch buf;
    pl_readout_batch_init(&buf, cfg->readout.batch, ro.nunits, w->train.n);
    int rc = 0;
    long wrong = 0;
    for (int epoch = 0; epoch < cfg->readout.epochs && rc == 0; epoch++) {
        double loss = 0.0;
        int batch = 0;
        wrong = 0;
        float lr = (float)pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
        pl_readout_epoch(&ro, w->Htrain, w->train.y, w->train.n, cfg->run.seed, epoch, lr,
                         &batch, &buf, &loss, &wrong, NULL, NULL);
        if (!isfinite(loss))
            rc = PL_EXIT_DIVERGED;
        else if (pl_allreduce_or(w->comm, pl_signal_received() != 0))
            rc = PL_EXIT_CHECKPOINTED;
    }
    if (rc == 0) {
        res->train_error = cfg->readout.epochs ? percent(wrong, w->train.n) : NAN;
        res->valid_error = percent(pl_readout_errors(&ro, w->Hvalid, w->valid.y, w->valid.n, NULL),
                                   w->valid.n);
        res->test_error = percent(pl_readout_errors(&ro, w->Htest, w->test.y, w->test.n, NULL),
                                  w->test.n);
    }
    pl_readout_batch_free(&buf);
    pl_readout_free(&ro);
    return rc;
}

int pl_worker_run(pl_worker *w, const pl_sweep_run *run, pl_run_result *res)
{
    *res = (pl_run_result){.status = PL_EXIT_OK, .valid_error = NAN, .test_error = NAN,
                           .train_error = NAN, .sphere_mean = NAN, .sphere_max = NAN,
                           .never_won = -1};
    pl_config cfg;
    int rc = pl_sweep_config(w->sw, run, &cfg);
    if (rc)
        return rc;
    const uint64_t key = pl_sweep_hidden_key(&cfg);
    openblas_set_num_threads(cfg.run.threads);
    double t0 = pl_now();
    rc = ensure_data(w, &cfg);
    if (rc == 0)
        rc = ensure_hidden(w, &cfg, key, res);
    if (rc)
        return rc;
    if (w->held_diverged) {
        res->status = PL_EXIT_DIVERGED;
        res->seconds = pl_now() - t0;
        res->load_seconds = res->seconds - res->hidden_seconds;
        return 0;
    }
    res->sphere_mean = w->sphere_mean;
    res->sphere_max = w->sphere_max;
    res->never_won = w->never_won;
    ensure_features(w, &cfg, key);
    double t1 = pl_now();
    res->load_seconds = t1 - t0 - res->hidden_seconds;
    rc = fit_readout(w, &cfg, res);
    res->readout_seconds = pl_now() - t1;
    res->seconds = pl_now() - t0;
    if (rc == PL_EXIT_DIVERGED) {
        res->status = PL_EXIT_DIVERGED;
        rc = 0;
    }
    return rc;
}

/* ---- the table's rows ---- */

static const char *const RESULT_COLUMNS =
    "status,valid_error,test_error,train_error,sphere_mean,sphere_max,never_won,trained_hidden,"
    "hidden_seconds,load_seconds,readout_seconds,seconds,ranks,finished";

char *pl_sweep_header(const pl_sweep *sw)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    fputs("id,stage,hidden,repeat,seed", f);
    for (int a = 0; a < sw->naxes; a++)
        fprintf(f, ",%s", sw->axes[a].key);
    fprintf(f, ",%s", RESULT_COLUMNS);
    fclose(f);
    return text;
}

char *pl_sweep_row(const pl_sweep *sw, const pl_sweep_run *run, const pl_run_result *res,
                   int ranks)
{
    pl_config cfg;
    if (pl_sweep_config(sw, run, &cfg) != 0)
        return NULL;
    char id[17], hidden[17], when[32];
    pl_sweep_hex(pl_sweep_run_id(&cfg), id);
    pl_sweep_hex(pl_sweep_hidden_key(&cfg), hidden);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "%s,%s,%s,%d,%llu", id, run->stage == PL_STAGE_FINAL ? "final" : "search", hidden,
            run->repeat, (unsigned long long)cfg.run.seed);
    for (int a = 0; a < sw->naxes; a++)
        fprintf(f, ",%s", sw->axes[a].values[run->choice[a]]);
    fprintf(f, ",%s,%.4f,%.4f,%.4f,%.6g,%.6g,%ld,%d,%.3f,%.3f,%.3f,%.3f,%d,%s",
            res->status == PL_EXIT_OK ? "done" : "diverged", res->valid_error, res->test_error,
            res->train_error, res->sphere_mean, res->sphere_max, res->never_won,
            res->trained_hidden, res->hidden_seconds, res->load_seconds, res->readout_seconds,
            res->seconds, ranks, when);
    fclose(f);
    return text;
}
