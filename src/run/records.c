/* What a run leaves in its directory besides checkpoints: config.ini,
 * metrics.jsonl records, progress lines and weights.png. Rank 0 writes;
 * every rank learns whether it worked. */
#include "plastic/train.h"
#include "plastic/common.h"
#include "plastic/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Units drawn in weights.png (a 10 x 10 grid, as in the paper's Fig. 3). */
#define PNG_UNITS 100

static const char *const phase_names[] = {"kh", "readout", "done"};

static void run_path(const pl_run *r, const char *file, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", r->cfg->run.dir, file);
}

/* A resumed run's record continues from the checkpoint: records written
 * after it (by the session that died) are cut, so every epoch appears once. */
static int cut_metrics(const char *path, long length)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0; /* gone: the record simply restarts here */
    return st.st_size > length ? truncate(path, length) : 0;
}

int pl_run_open_dir(pl_run *r, int resuming)
{
    char path[PL_PATH_MAX + 32];
    int failed = 0;
    if (r->rank == 0) {
        if (pl_mkdir_p(r->cfg->run.dir) != 0) {
            pl_error("cannot create run directory '%s': %s", r->cfg->run.dir, strerror(errno));
            failed = 1;
        }
        run_path(r, "config.ini", path, sizeof path);
        if (!failed && pl_write_text_atomic(path, r->config_text) != 0) {
            pl_error("cannot write '%s': %s", path, strerror(errno));
            failed = 1;
        }
        run_path(r, "metrics.jsonl", path, sizeof path);
        if (!failed) {
            if (resuming)
                failed = cut_metrics(path, r->cur.metrics_bytes) != 0;
            else {
                FILE *f = fopen(path, "w"); /* a fresh run starts a fresh record */
                failed = !f || fclose(f) != 0;
            }
            if (failed)
                pl_error("cannot prepare '%s': %s", path, strerror(errno));
            else
                failed = pl_metrics_open(&r->metrics, path) != 0;
        }
    }
    return pl_allreduce_or(r->comm, failed) ? PL_EXIT_USAGE : 0;
}

long pl_metrics_length(pl_run *r)
{
    long length = 0;
    if (r->metrics.file) {
        fflush(r->metrics.file);
        length = ftell(r->metrics.file);
    }
    pl_bcast_bytes(r->comm, &length, sizeof length, 0);
    return length;
}

static void progress(const pl_run *r, const char *phase, int epoch, int epochs, double lr,
                     double seconds, const char *detail)
{
    if (!r->cfg->log.progress)
        return;
    char per[32], eta[32];
    int done_here = epoch + 1 - r->phase_first_epoch;
    double elapsed = pl_now() - r->phase_started;
    pl_format_duration(seconds, per, sizeof per);
    pl_format_duration(elapsed / (done_here > 0 ? done_here : 1) * (epochs - epoch - 1), eta,
                       sizeof eta);
    pl_info("%-7s epoch %4d/%d  lr %-9.3g %s/epoch  ETA %-6s %s", phase, epoch + 1, epochs, lr,
            per, eta, detail);
}

void pl_record_start(pl_run *r, const char *resumed_from)
{
    pl_json j;
    pl_json_begin(&j, resumed_from ? "resume" : "start");
    pl_json_str(&j, "name", r->cfg->run.name);
    pl_json_str(&j, "version", PLASTIC_VERSION);
    pl_json_int(&j, "nranks", pl_comm_size(r->comm));
    if (resumed_from) {
        pl_json_str(&j, "checkpoint", resumed_from);
        pl_json_str(&j, "phase", phase_names[r->cur.phase]);
        pl_json_int(&j, "epoch", r->cur.epoch);
        pl_json_int(&j, "batch", r->cur.batch);
    } else {
        pl_json_int(&j, "train", r->train.n);
        pl_json_int(&j, "valid", r->valid.n);
        pl_json_int(&j, "test", r->test.n);
        pl_json_int(&j, "hidden", r->kh.hidden);
        pl_json_int(&j, "dim", r->kh.dim);
    }
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    pl_info("plastic %s: %s on %d rank(s): %d train, %d valid, %d test examples; K=%ld p=%g k=%d",
            PLASTIC_VERSION, r->cfg->run.name, pl_comm_size(r->comm), r->train.n, r->valid.n,
            r->test.n, r->kh.hidden, r->kh.p, r->kh.k);
    if (resumed_from)
        pl_info("resumed from %s: phase %s, %d epoch(s) done, %d minibatch(es) into the next",
                resumed_from, phase_names[r->cur.phase], r->cur.epoch, r->cur.batch);
}

/* The fields every epoch record starts with. */
static void begin_epoch(pl_json *j, const char *phase, int epoch, double lr, double seconds)
{
    pl_json_begin(j, "epoch");
    pl_json_str(j, "phase", phase);
    pl_json_int(j, "epoch", epoch + 1);
    pl_json_num(j, "lr", lr);
    pl_json_num(j, "seconds", seconds);
}

void pl_record_kh_epoch(pl_run *r, int epoch, double seconds)
{
    const pl_config *cfg = r->cfg;
    double mean_dev, max_dev;
    pl_kh_sphere(&r->kh, &mean_dev, &max_dev);
    long never = pl_kh_take_never_won(&r->kh);
    double eps = cfg->kh.eps0 * (1.0 - (double)epoch / cfg->kh.epochs);

    pl_json j;
    begin_epoch(&j, "kh", epoch, eps, seconds);
    pl_json_num(&j, "sphere_mean", mean_dev);
    pl_json_num(&j, "sphere_max", max_dev);
    pl_json_int(&j, "never_won", never);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);

    char detail[128];
    snprintf(detail, sizeof detail, "sphere |sum|W|^p - 1| mean %.3g max %.3g  never won %ld/%ld",
             mean_dev, max_dev, never, r->kh.hidden);
    progress(r, "kh", epoch, cfg->kh.epochs, eps, seconds, detail);
}

void pl_record_readout_epoch(pl_run *r, int epoch, double seconds, double train_error,
                             double valid_error)
{
    const pl_config *cfg = r->cfg;
    double lr = pl_readout_lr(cfg->readout.lr, epoch, cfg->readout.epochs);
    double loss = r->cur.loss_sum / r->train.n;
    pl_json j;
    begin_epoch(&j, "readout", epoch, lr, seconds);
    pl_json_num(&j, "loss", loss);
    pl_json_num(&j, "train_error", train_error);
    pl_json_num(&j, "valid_error", valid_error);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);

    char detail[128];
    if (r->valid.n)
        snprintf(detail, sizeof detail, "loss %.4g  train %.2f%%  valid %.2f%%", loss, train_error,
                 valid_error);
    else
        snprintf(detail, sizeof detail, "loss %.4g  train %.2f%%", loss, train_error);
    progress(r, "readout", epoch, cfg->readout.epochs, lr, seconds, detail);
}

void pl_record_diverged(pl_run *r, const char *phase, int epoch)
{
    pl_json j;
    pl_json_begin(&j, "diverged");
    pl_json_str(&j, "phase", phase);
    pl_json_int(&j, "epoch", epoch + 1);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
}

void pl_record_checkpoint(pl_run *r, const char *why)
{
    char name[64];
    pl_ckpt_name(&r->cur, r->cfg, name, sizeof name);
    pl_json j;
    pl_json_begin(&j, "checkpoint");
    pl_json_str(&j, "file", name);
    pl_json_str(&j, "why", why);
    pl_json_int(&j, "step", r->cur.step);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
}

void pl_record_done(pl_run *r, double train_error)
{
    pl_json j;
    pl_json_begin(&j, "done");
    pl_json_num(&j, "test_error", r->cur.test_error);
    pl_json_num(&j, "valid_error", r->cur.valid_error);
    pl_json_num(&j, "train_error", train_error);
    pl_json_num(&j, "kh_seconds", r->cur.kh_seconds);
    pl_json_num(&j, "seconds", r->cur.seconds);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    char total[32];
    pl_format_duration(r->cur.seconds, total, sizeof total);
    if (r->cfg->readout.epochs == 0)
        pl_info("done in %s: hidden layer only (readout.epochs = 0); outputs in %s/", total,
                r->cfg->run.dir);
    else
        pl_info("done in %s: test error %.2f%% (%d examples), valid %.2f%%, train %.2f%%; "
                "outputs in %s/",
                total, r->cur.test_error, r->test.n, r->cur.valid_error, train_error,
                r->cfg->run.dir);
}

void pl_write_weights_png(const pl_run *r)
{
    const pl_kh *kh = &r->kh;
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
