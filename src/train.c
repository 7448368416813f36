/* `plastic train`: load data, train the hidden layer with the competing
 * hidden units rule, compute hidden features once, train the readout, and
 * record everything in the run directory. Rank 0 writes the text records;
 * model.h5 is written by all ranks together. */
#include "plastic/train.h"
#include "plastic/common.h"
#include "plastic/image.h"
#include "plastic/metrics.h"
#include "plastic/model.h"
#include "plastic/readout.h"
#include "plastic/rng.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Units drawn in weights.png (a 10 x 10 grid, as in the paper's Fig. 3). */
#define PNG_UNITS 100

typedef struct run {
    const pl_config *cfg;
    const pl_comm *comm;
    int rank;
    pl_metrics metrics;
    char *config_text;
    pl_dataset train, valid, test;
} run;

char *pl_config_text(const pl_config *cfg)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) {
        pl_error_all("open_memstream: %s", strerror(errno));
        abort();
    }
    pl_config_write(cfg, f);
    fclose(f);
    return text;
}

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

static int mkdir_p(const char *path)
{
    char buf[PL_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes path via path.tmp and rename(), so a reader never sees half a file. */
static int write_file_atomically(const char *path, const char *text)
{
    char tmp[2 * PL_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

static void run_path(const run *r, const char *file, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", r->cfg->run.dir, file);
}

/* Rank 0 creates the run directory, config.ini and a fresh metrics.jsonl;
 * every rank learns whether that worked. */
static int open_run_dir(run *r)
{
    char path[PL_PATH_MAX + 32];
    int failed = 0;
    if (r->rank == 0) {
        if (mkdir_p(r->cfg->run.dir) != 0) {
            pl_error("cannot create run directory '%s': %s", r->cfg->run.dir, strerror(errno));
            failed = 1;
        }
        run_path(r, "config.ini", path, sizeof path);
        if (!failed && write_file_atomically(path, r->config_text) != 0) {
            pl_error("cannot write '%s': %s", path, strerror(errno));
            failed = 1;
        }
        run_path(r, "metrics.jsonl", path, sizeof path);
        if (!failed) {
            FILE *f = fopen(path, "w"); /* a fresh run starts a fresh record */
            failed = !f || fclose(f) != 0 || pl_metrics_open(&r->metrics, path) != 0;
            if (!f)
                pl_error("cannot create '%s': %s", path, strerror(errno));
        }
    }
    return pl_allreduce_or(r->comm, failed) ? PL_EXIT_USAGE : 0;
}

static void progress(const run *r, const char *phase, int epoch, int epochs, double lr,
                     double seconds, double elapsed, const char *detail)
{
    if (!r->cfg->log.progress)
        return;
    char per[32], eta[32];
    pl_format_duration(seconds, per, sizeof per);
    pl_format_duration(elapsed / (epoch + 1) * (epochs - epoch - 1), eta, sizeof eta);
    pl_info("%-7s epoch %4d/%d  lr %-9.3g %s/epoch  ETA %-6s %s", phase, epoch + 1, epochs, lr,
            per, eta, detail);
}

int pl_kh_epoch(pl_kh *kh, const pl_dataset *train, const pl_config *cfg, int epoch, float *xbuf)
{
    const int batch = cfg->kh.batch, n = train->n, dim = train->dim;
    const float eps = (float)(cfg->kh.eps0 * (1.0 - (double)epoch / cfg->kh.epochs));
    int *order = pl_alloc((size_t)n * sizeof *order);
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_KH_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, order, n);
    int naive = strcmp(cfg->kh.impl, "naive") == 0;
    int32_t *winners = naive ? pl_alloc(2 * (size_t)batch * sizeof *winners) : NULL;
    int rc = 0;
    for (int start = 0; start < n && rc == 0; start += batch) {
        int B = n - start < batch ? n - start : batch;
        for (int b = 0; b < B; b++)
            memcpy(xbuf + (size_t)b * dim, train->x + (size_t)order[start + b] * dim,
                   (size_t)dim * sizeof *xbuf);
        if (!naive) {
            rc = pl_kh_step(kh, xbuf, B, eps);
            continue;
        }
        /* the reference holds the whole matrix: pl_check_run allows 1 rank */
        rc = pl_kh_reference_step(kh->W, kh->hidden, dim, kh->p, kh->k, kh->delta, xbuf, B, eps,
                                  winners);
        for (int b = 0; b < B && rc == 0; b++)
            kh->wins[winners[2 * b]]++;
    }
    if (naive)
        pl_kh_refresh(kh);
    pl_free(winners);
    pl_free(order);
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

static void record_diverged(run *r, const char *phase, int epoch)
{
    pl_json j;
    pl_json_begin(&j, "diverged");
    pl_json_str(&j, "phase", phase);
    pl_json_int(&j, "epoch", epoch + 1);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
}

static int kh_phase(run *r, pl_kh *kh)
{
    const pl_config *cfg = r->cfg;
    float *xbuf = pl_alloc((size_t)cfg->kh.batch * r->train.dim * sizeof *xbuf);
    double t0 = pl_now();
    int rc = 0;
    for (int epoch = 0; epoch < cfg->kh.epochs; epoch++) {
        double te = pl_now();
        rc = pl_kh_epoch(kh, &r->train, cfg, epoch, xbuf);
        if (rc) {
            pl_error("diverged: the hidden-layer update became NaN/Inf in epoch %d "
                     "(try a smaller kh.eps0)", epoch + 1);
            record_diverged(r, "kh", epoch);
            break;
        }
        double mean_dev, max_dev;
        pl_kh_sphere(kh, &mean_dev, &max_dev);
        long never = pl_kh_take_never_won(kh);
        double seconds = pl_now() - te;
        double eps = cfg->kh.eps0 * (1.0 - (double)epoch / cfg->kh.epochs);

        pl_json j;
        pl_json_begin(&j, "epoch");
        pl_json_str(&j, "phase", "kh");
        pl_json_int(&j, "epoch", epoch + 1);
        pl_json_num(&j, "lr", eps);
        pl_json_num(&j, "seconds", seconds);
        pl_json_num(&j, "sphere_mean", mean_dev);
        pl_json_num(&j, "sphere_max", max_dev);
        pl_json_int(&j, "never_won", never);
        pl_json_end(&j);
        pl_metrics_write(&r->metrics, &j);

        char detail[128];
        snprintf(detail, sizeof detail, "sphere |sum|W|^p - 1| mean %.3g max %.3g  never won %ld/%ld",
                 mean_dev, max_dev, never, kh->hidden);
        progress(r, "kh", epoch, cfg->kh.epochs, eps, seconds, pl_now() - t0, detail);
    }
    pl_free(xbuf);
    return rc;
}

/* Counts argmax(act) != y over a minibatch whose activations are in ro->act. */
static long minibatch_errors(const pl_readout *ro, const uint8_t *y, int B)
{
    long wrong = 0;
    for (int b = 0; b < B; b++) {
        const double *a = ro->act + (size_t)b * ro->nclass;
        int best = 0;
        for (int c = 1; c < ro->nclass; c++)
            if (a[c] > a[best])
                best = c;
        wrong += best != y[b];
    }
    return wrong;
}

static double percent(long wrong, long n) { return n ? 100.0 * (double)wrong / (double)n : NAN; }

static int readout_phase(run *r, pl_readout *ro, const float *Htrain, const float *Hvalid,
                         double *train_error, double *valid_error)
{
    const pl_config *cfg = r->cfg;
    const long nunits = ro->nunits;
    const int batch = cfg->readout.batch, n = r->train.n;
    float *hbuf = pl_alloc((size_t)batch * (size_t)(nunits ? nunits : 1) * sizeof *hbuf);
    uint8_t *ybuf = pl_alloc((size_t)batch);
    int *order = pl_alloc((size_t)n * sizeof *order);
    double t0 = pl_now();
    int rc = 0;
    *train_error = *valid_error = NAN;
    for (int epoch = 0; epoch < cfg->readout.epochs; epoch++) {
        double te = pl_now(), lr = pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
        pl_rng rng;
        pl_rng_init(&rng, cfg->run.seed, PL_STREAM_READOUT_ORDER, (uint64_t)epoch);
        pl_rng_permutation(&rng, order, n);
        double loss = 0.0;
        long wrong = 0;
        for (int start = 0; start < n; start += batch) {
            int B = n - start < batch ? n - start : batch;
            for (int b = 0; b < B; b++) {
                memcpy(hbuf + (size_t)b * nunits, Htrain + (size_t)order[start + b] * nunits,
                       (size_t)nunits * sizeof *hbuf);
                ybuf[b] = r->train.y[order[start + b]];
            }
            loss += pl_readout_step(ro, hbuf, ybuf, B, (float)lr);
            wrong += minibatch_errors(ro, ybuf, B); /* activations before the step */
        }
        if (!isfinite(loss)) {
            pl_error("diverged: the readout loss became NaN/Inf in epoch %d "
                     "(try a smaller readout.lr or readout.beta)", epoch + 1);
            record_diverged(r, "readout", epoch);
            rc = PL_EXIT_DIVERGED;
            break;
        }
        *train_error = percent(wrong, n);
        if (r->valid.n)
            *valid_error = percent(pl_readout_errors(ro, Hvalid, r->valid.y, r->valid.n, NULL),
                                   r->valid.n);
        double seconds = pl_now() - te;

        pl_json j;
        pl_json_begin(&j, "epoch");
        pl_json_str(&j, "phase", "readout");
        pl_json_int(&j, "epoch", epoch + 1);
        pl_json_num(&j, "lr", lr);
        pl_json_num(&j, "seconds", seconds);
        pl_json_num(&j, "loss", loss / n);
        pl_json_num(&j, "train_error", *train_error);
        pl_json_num(&j, "valid_error", *valid_error);
        pl_json_end(&j);
        pl_metrics_write(&r->metrics, &j);

        char detail[128];
        if (r->valid.n)
            snprintf(detail, sizeof detail, "loss %.4g  train %.2f%%  valid %.2f%%", loss / n,
                     *train_error, *valid_error);
        else
            snprintf(detail, sizeof detail, "loss %.4g  train %.2f%%", loss / n, *train_error);
        progress(r, "readout", epoch, cfg->readout.epochs, lr, seconds, pl_now() - t0, detail);
    }
    pl_free(hbuf);
    pl_free(ybuf);
    pl_free(order);
    return rc;
}

/* Hidden features of a split for this rank's units (n x nunits). */
static float *features(const pl_kh *kh, const pl_dataset *d, double n)
{
    float *H = pl_alloc((size_t)d->n * (size_t)(kh->nrows ? kh->nrows : 1) * sizeof *H);
    if (d->n && kh->nrows)
        pl_readout_features(kh->W, kh->nrows, kh->dim, d->x, d->n, n, H);
    return H;
}

/* Rank 0 gathers the first units and draws them. */
static void write_weights_png(const run *r, const pl_kh *kh)
{
    long shown = kh->hidden < PNG_UNITS ? kh->hidden : PNG_UNITS;
    long mine = kh->row0 >= shown ? 0 : (kh->row0 + kh->nrows > shown ? shown - kh->row0 : kh->nrows);
    float *all = r->rank == 0 ? pl_alloc((size_t)shown * kh->dim * sizeof *all) : NULL;
    pl_gatherv_float(r->comm, kh->W, mine * kh->dim, all);
    if (r->rank == 0) {
        char path[PL_PATH_MAX + 32];
        run_path(r, "weights.png", path, sizeof path);
        int cols = shown < 10 ? (int)shown : 10;
        pl_png_weights(path, all, (int)shown, r->train.rows, r->train.cols, r->train.channels,
                       cols, r->train.rows <= 32 ? 4 : 2);
        pl_free(all);
    }
}

static void record_start(run *r, const pl_kh *kh)
{
    pl_json j;
    pl_json_begin(&j, "start");
    pl_json_str(&j, "name", r->cfg->run.name);
    pl_json_str(&j, "version", PLASTIC_VERSION);
    pl_json_int(&j, "nranks", pl_comm_size(r->comm));
    pl_json_int(&j, "train", r->train.n);
    pl_json_int(&j, "valid", r->valid.n);
    pl_json_int(&j, "test", r->test.n);
    pl_json_int(&j, "hidden", kh->hidden);
    pl_json_int(&j, "dim", kh->dim);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    pl_info("plastic %s: %s on %d rank(s): %d train, %d valid, %d test examples; K=%ld p=%g k=%d",
            PLASTIC_VERSION, r->cfg->run.name, pl_comm_size(r->comm), r->train.n, r->valid.n,
            r->test.n, kh->hidden, kh->p, kh->k);
}

int pl_train(const pl_config *cfg, const pl_comm *comm)
{
    run r = {.cfg = cfg, .comm = comm, .rank = pl_comm_rank(comm)};
    int rc = pl_check_run(cfg, comm);
    if (rc)
        return rc;
    if (cfg->run.threads > 0)
        openblas_set_num_threads(cfg->run.threads);
    rc = pl_load_splits(cfg, &r.train, &r.valid, &r.test);
    if (rc)
        return rc;
    r.config_text = pl_config_text(cfg);

    /* Everything that can fail on bad input comes before the run directory
     * is touched, so a bad run never damages an earlier one's outputs. */
    double t0 = pl_now();
    pl_kh kh;
    pl_kh_init(&kh, comm, cfg->kh.hidden, r.train.dim, cfg->kh.p, cfg->kh.k, (float)cfg->kh.delta,
               cfg->kh.batch, cfg->run.seed);
    if (cfg->kh.init[0]) {
        rc = pl_model_read_W(cfg->kh.init, comm, &kh);
        if (rc)
            goto out_kh;
    }
    rc = open_run_dir(&r);
    if (rc)
        goto out_kh;
    if (cfg->kh.init[0])
        pl_info("hidden layer starts from %s:/kh/W", cfg->kh.init);
    record_start(&r, &kh);
    rc = kh_phase(&r, &kh);
    if (rc)
        goto out_kh;
    double kh_seconds = pl_now() - t0;

    double tf = pl_now();
    float *Htrain = features(&kh, &r.train, cfg->readout.n);
    float *Hvalid = features(&kh, &r.valid, cfg->readout.n);
    float *Htest = features(&kh, &r.test, cfg->readout.n);
    pl_info("features: relu(W v)^%g for %d + %d + %d examples in %.1fs", cfg->readout.n,
            r.train.n, r.valid.n, r.test.n, pl_now() - tf);

    pl_readout ro;
    pl_readout_init(&ro, comm, r.train.nclass, kh.hidden, kh.row0, kh.nrows, cfg->readout.n,
                    cfg->readout.m, cfg->readout.beta, cfg->run.seed, (float)cfg->readout.init_std);
    double train_error, valid_error;
    rc = readout_phase(&r, &ro, Htrain, Hvalid, &train_error, &valid_error);
    if (rc == 0) {
        double test_error = percent(pl_readout_errors(&ro, Htest, r.test.y, r.test.n, NULL),
                                    r.test.n);
        char path[PL_PATH_MAX + 32];
        run_path(&r, "model.h5", path, sizeof path);
        pl_model_summary summary = {test_error, valid_error};
        rc = pl_model_write(path, comm, &kh, &ro, r.config_text, &summary);
        write_weights_png(&r, &kh);

        double seconds = pl_now() - t0;
        pl_json j;
        pl_json_begin(&j, "done");
        pl_json_num(&j, "test_error", test_error);
        pl_json_num(&j, "valid_error", valid_error);
        pl_json_num(&j, "train_error", train_error);
        pl_json_num(&j, "kh_seconds", kh_seconds);
        pl_json_num(&j, "seconds", seconds);
        pl_json_end(&j);
        if (rc == 0)
            pl_metrics_write(&r.metrics, &j);
        char total[32];
        pl_format_duration(seconds, total, sizeof total);
        pl_info("done in %s: test error %.2f%% (%d examples), valid %.2f%%, train %.2f%%; "
                "outputs in %s/", total, test_error, r.test.n, valid_error, train_error,
                cfg->run.dir);
    }
    pl_readout_free(&ro);
    pl_free(Htrain);
    pl_free(Hvalid);
    pl_free(Htest);
out_kh:
    pl_kh_free(&kh);
    pl_metrics_close(&r.metrics);
    free(r.config_text);
    pl_dataset_free(&r.train);
    pl_dataset_free(&r.valid);
    pl_dataset_free(&r.test);
    return rc;
}
