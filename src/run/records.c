/* What a run leaves in its directory besides checkpoints: config.ini,
 * metrics.jsonl records, progress lines, weights.png and curves.png. Rank 0 writes;
 * every rank learns whether it worked. The trainer's fields are written
 * here; the rule adds its own through its `record` and `describe`. */
#include "plastic/train.h"
#include "plastic/common.h"
#include "plastic/curves.h"
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
    int done_here = epoch + 1 - r->stage_first_epoch;
    double elapsed = pl_now() - r->stage_started;
    pl_format_duration(seconds, per, sizeof per);
    pl_format_duration(elapsed / (done_here > 0 ? done_here : 1) * (epochs - epoch - 1), eta,
                       sizeof eta);
    pl_info("%-7s epoch %4d/%d  lr %-9.3g %s/epoch  ETA %-6s %s", phase, epoch + 1, epochs, lr,
            per, eta, detail);
}

void pl_record_start(pl_run *r, const char *resumed_from)
{
    const char *stage = pl_rule_stage_name(r->rule, r->cur.stage);
    char line[1024]; /* the rule's description, with a pipeline's layout */
    pl_json j;
    pl_json_begin(&j, resumed_from ? "resume" : "start");
    pl_json_str(&j, "name", r->cfg->run.name);
    pl_json_str(&j, "version", PLASTIC_VERSION);
    pl_json_str(&j, "rule", r->rule->name);
    pl_json_int(&j, "nranks", pl_comm_size(r->comm));
    if (resumed_from) {
        pl_json_str(&j, "checkpoint", resumed_from);
        pl_json_str(&j, "phase", stage);
        pl_json_int(&j, "epoch", r->cur.epoch);
        pl_json_int(&j, "batch", r->cur.pos.batch);
        r->rule->describe(r->model, NULL, line, sizeof line);
    } else {
        pl_json_int(&j, "train", r->train.n);
        pl_json_int(&j, "valid", r->valid.n);
        pl_json_int(&j, "test", r->test.n);
        r->rule->describe(r->model, &j, line, sizeof line);
    }
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    pl_info("plastic %s: %s on %d rank(s): %d train, %d valid, %d test examples; %s %s",
            PLASTIC_VERSION, r->cfg->run.name, pl_comm_size(r->comm), r->train.n, r->valid.n,
            r->test.n, r->rule->name, line);
    if (resumed_from)
        pl_info("resumed from %s: phase %s, %d epoch(s) done, %d minibatch(es) into the next",
                resumed_from, stage, r->cur.epoch, r->cur.pos.batch);
}

void pl_record_epoch(pl_run *r, int epoch, double seconds)
{
    const pl_rule *rule = r->rule;
    const int stage = r->cur.stage;
    const char *name = rule->stages[stage].name;
    const double lr = rule->lr(r->cfg, stage, epoch);
    pl_json j;
    pl_json_begin(&j, "epoch");
    pl_json_str(&j, "phase", name);
    pl_json_int(&j, "epoch", epoch + 1);
    pl_json_num(&j, "lr", lr);
    pl_json_num(&j, "seconds", seconds);
    char detail[256] = "", own[192] = "";
    if (rule->stages[stage].supervised) {
        double loss = r->train.n ? r->cur.pos.loss_sum / r->train.n : NAN;
        pl_json_num(&j, "loss", loss);
        pl_json_num(&j, "train_error", r->cur.train_error);
        pl_json_num(&j, "valid_error", r->cur.valid_error);
        int used = snprintf(detail, sizeof detail, "loss %.4g  train %.2f%%", loss,
                            r->cur.train_error);
        if (r->valid.n)
            used += snprintf(detail + used, sizeof detail - (size_t)used, "  valid %.2f%%",
                             r->cur.valid_error);
        if (isfinite(r->epoch_test)) {
            pl_json_num(&j, "test_error", r->epoch_test);
            snprintf(detail + used, sizeof detail - (size_t)used, "  test %.2f%%", r->epoch_test);
        }
    }
    if (rule->record)
        rule->record(r->model, stage, &j, own, sizeof own);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    if (own[0]) {
        size_t used = strlen(detail);
        snprintf(detail + used, sizeof detail - used, "%s%s", used ? "  " : "", own);
    }
    progress(r, name, epoch, rule->epochs(r->cfg, stage), lr, seconds, detail);
}

void pl_record_diverged(pl_run *r, int epoch)
{
    pl_json j;
    pl_json_begin(&j, "diverged");
    pl_json_str(&j, "phase", pl_rule_stage_name(r->rule, r->cur.stage));
    pl_json_int(&j, "epoch", epoch + 1);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
}

void pl_record_checkpoint(pl_run *r, const char *why)
{
    char name[64];
    pl_ckpt_name(&r->cur, &r->ckpt, name, sizeof name);
    pl_json j;
    pl_json_begin(&j, "checkpoint");
    pl_json_str(&j, "file", name);
    pl_json_str(&j, "why", why);
    pl_json_int(&j, "step", r->cur.step);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
}

void pl_record_done(pl_run *r)
{
    const pl_rule *rule = r->rule;
    pl_json j;
    pl_json_begin(&j, "done");
    pl_json_num(&j, "test_error", r->cur.test_error);
    pl_json_num(&j, "valid_error", r->cur.valid_error);
    pl_json_num(&j, "train_error", r->cur.train_error);
    for (int s = 0; s < r->nstages; s++) {
        char key[64];
        snprintf(key, sizeof key, "%s_seconds", rule->stages[s].name);
        pl_json_num(&j, key, r->cur.stage_seconds[s]);
    }
    pl_json_num(&j, "seconds", r->cur.seconds);
    pl_json_end(&j);
    pl_metrics_write(&r->metrics, &j);
    char total[32];
    pl_format_duration(r->cur.seconds, total, sizeof total);
    if (isnan(r->cur.test_error))
        pl_info("done in %s: %s stage(s) trained, no test error measured; outputs in %s/", total,
                r->nstages < rule->nstages ? "the shared" : "all", r->cfg->run.dir);
    else
        pl_info("done in %s: test error %.2f%% (%d examples), valid %.2f%%, train %.2f%%; "
                "outputs in %s/",
                total, r->cur.test_error, r->test.n, r->cur.valid_error, r->cur.train_error,
                r->cfg->run.dir);
}

/* The first PNG_UNITS rows of a row-distributed (or replicated) array, on
 * rank 0. */
static float *gather_rows(const pl_run *r, const pl_array *a, long shown)
{
    const long cols = a->dims[1];
    float *all = r->rank == 0 ? pl_alloc((size_t)shown * (size_t)cols * sizeof *all) : NULL;
    if (a->replicated) {
        if (all)
            memcpy(all, a->data, (size_t)shown * (size_t)cols * sizeof *all);
        return all;
    }
    long row0 = a->start[0], mine = row0 >= shown ? 0 : (row0 + a->count[0] > shown ? shown - row0
                                                                                   : a->count[0]);
    if (a->copy) /* another rank sends these rows */
        mine = 0;
    pl_gatherv_float(r->comm, a->data, mine * cols, all);
    return all;
}

void pl_write_weights_png(const pl_run *r)
{
    const pl_array *a = NULL;
    for (int i = 0; i < r->state->narrays && !a; i++) {
        const pl_array *c = &r->state->arrays[i];
        /* whole rows of float weights, each a picture of the input */
        if (c->picture && c->dtype == PL_F32 && c->count[1] == c->dims[1] &&
            c->dims[1] == r->train.dim)
            a = c;
    }
    if (!a)
        return;
    long shown = a->dims[0] < PNG_UNITS ? a->dims[0] : PNG_UNITS;
    float *all = gather_rows(r, a, shown);
    if (r->rank == 0) {
        char path[PL_PATH_MAX + 32];
        run_path(r, "weights.png", path, sizeof path);
        int cols = shown < 10 ? (int)shown : 10;
        pl_png_weights(path, all, (int)shown, r->train.rows, r->train.cols, r->train.channels,
                       cols, r->train.rows <= 32 ? 4 : 2);
        pl_free(all);
    }
}

void pl_write_curves_png(const pl_run *r)
{
    if (r->rank != 0)
        return;
    char path[PL_PATH_MAX + 32], why[2 * PL_PATH_MAX + 512];
    run_path(r, "curves.png", path, sizeof path);
    /* a run without supervised epochs (KH's shared stage in a sweep) has
     * nothing to draw; a picture that fails is no failed run */
    if (pl_curves_run_png(r->cfg->run.dir, path, why, sizeof why) > 0)
        pl_warn("curves.png not drawn: %s", why);
}
