/* A sweep's worker: runs of one group, sharing data and the rule's shared
 * stages between consecutive runs (worker.h). Nothing here knows which
 * rule runs. */
#include "plastic/worker.h"
#include "plastic/common.h"
#include "plastic/jsonl.h"
#include "plastic/model.h"
#include "plastic/signals.h"
#include "plastic/train.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

void pl_worker_init(pl_worker *w, const pl_sweep *sw, const pl_comm *comm)
{
    memset(w, 0, sizeof *w);
    w->sw = sw;
    w->comm = comm;
}

static void drop_shared(pl_worker *w)
{
    if (w->model)
        w->sw->rule->destroy(w->model);
    w->model = NULL;
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
    drop_shared(w);
    pl_free(w->bcfg);
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
        drop_shared(w);
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
        drop_shared(w); /* a model points at the split it was made with */
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

/* ---- the shared stages ---- */

/* 1 if path exists, as rank 0 sees it (the same answer on every rank). */
static int exists(const pl_comm *comm, const char *path)
{
    return pl_allreduce_or(comm, pl_comm_rank(comm) == 0 && access(path, F_OK) == 0);
}

/* The rule's summary fields from the last epoch record of the stage called
 * `stage` in dir/metrics.jsonl (NaN where unknown; lines that do not parse
 * are skipped); read on rank 0 and broadcast. */
static void read_summary(pl_worker *w, const char *dir, const char *stage)
{
    const pl_rule *rule = w->sw->rule;
    for (int i = 0; i < PL_SUMMARY_FIELDS; i++)
        w->summary[i] = NAN;
    if (pl_comm_rank(w->comm) == 0) {
        char path[PL_PATH_MAX + 32], why[256];
        snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t size = 0;
        ssize_t len;
        while (f && (len = getline(&line, &size, f)) >= 0) {
            struct pl_jsonl_object o;
            if (pl_jsonl_parse(line, (size_t)len, &o, why, sizeof why) == 0) {
                const char *event = pl_jsonl_string(&o, "event");
                const char *phase = pl_jsonl_string(&o, "phase");
                if (event && phase && !strcmp(event, "epoch") && !strcmp(phase, stage))
                    for (int i = 0; i < PL_SUMMARY_FIELDS && rule->summary_fields[i]; i++)
                        w->summary[i] = pl_jsonl_number(&o, rule->summary_fields[i]);
            }
            pl_jsonl_free(&o);
        }
        free(line); /* getline's */
        if (f)
            fclose(f);
    }
    pl_bcast_bytes(w->comm, w->summary, sizeof w->summary, 0);
}

/* Marks a training that diverged, so no later run trains it again. */
static void mark_diverged(pl_worker *w, const char *marker)
{
    if (pl_comm_rank(w->comm) == 0 && pl_write_text_atomic(marker, "diverged\n") != 0)
        pl_error_all("cannot write %s", marker);
}

/* Makes w->model hold the run's shared stages: in memory already, or
 * loaded from <run.dir>/model.h5, or trained there now (then
 * res->shared_seconds counts it). */
static int ensure_shared(pl_worker *w, const pl_config *cfg, uint64_t key, pl_run_result *res)
{
    const pl_rule *rule = w->sw->rule;
    if (w->held == key)
        return 0;
    drop_shared(w);
    char model[PL_PATH_MAX + 32], marker[PL_PATH_MAX + 32];
    snprintf(model, sizeof model, "%s/model.h5", cfg->run.dir);
    snprintf(marker, sizeof marker, "%s/DIVERGED", cfg->run.dir);
    if (exists(w->comm, marker)) {
        w->held = key;
        w->held_diverged = 1;
        return 0;
    }
    if (!exists(w->comm, model)) {
        /* `plastic train` of the shared stages alone: checkpoints, resume
         * after a kill, metrics.jsonl and weights.png come with it */
        pl_config shared;
        pl_sweep_shared_config(cfg, &shared);
        pl_train_opts opts = {.stages = rule->shared_stages};
        double t0 = pl_now();
        int rc = pl_train(&shared, w->comm, &opts);
        res->shared_seconds = pl_now() - t0;
        w->trainings++;
        res->trained_shared = 1;
        if (rc == PL_EXIT_DIVERGED) {
            mark_diverged(w, marker);
            w->held = key;
            w->held_diverged = 1;
            return 0;
        }
        if (rc)
            return rc;
    }
    w->cfg = *cfg;
    w->model = rule->create(&w->cfg, w->comm, &w->train, &w->valid, &w->test);
    if (!w->model)
        return PL_EXIT_USAGE;
    pl_state *st = pl_calloc(1, sizeof *st);
    rule->state(w->model, st);
    int rc = 0;
    for (int i = 0; i < st->narrays && rc == 0; i++)
        if (st->arrays[i].kind == PL_ARRAY_MODEL && st->arrays[i].stage < rule->shared_stages)
            rc = pl_model_read_array(model, w->comm, &st->arrays[i]);
    pl_free(st);
    if (rc) {
        drop_shared(w);
        return rc;
    }
    if (rule->loaded)
        rule->loaded(w->model);
    read_summary(w, cfg->run.dir, rule->stages[rule->shared_stages - 1].name);
    w->held = key;
    w->loads++;
    return 0;
}

/* ---- the run's own stages ---- */

/* Trains the stages after the shared ones for cfg on the held model, in
 * memory. Returns 0 (res filled), PL_EXIT_DIVERGED, or
 * PL_EXIT_CHECKPOINTED on a signal. */
static int later_stages(pl_worker *w, const pl_config *cfg, pl_run_result *res)
{
    const pl_rule *rule = w->sw->rule;
    w->cfg = *cfg;
    rule->restart(w->model, &w->cfg, rule->shared_stages);
    int rc = 0, last = rule->nstages - 1;
    for (int stage = rule->shared_stages; stage < rule->nstages && rc == 0; stage++) {
        const int epochs = rule->epochs(&w->cfg, stage), supervised = rule->stages[stage].supervised;
        if (epochs == 0)
            continue;
        if (rule->begin_stage)
            rc = rule->begin_stage(w->model, stage);
        for (int epoch = 0; epoch < epochs && rc == 0; epoch++) {
            pl_epoch_pos pos = {0};
            rc = rule->epoch(w->model, stage, epoch, &pos, NULL, NULL);
            if (rc == 0 && supervised && !isfinite(pos.loss_sum))
                rc = PL_EXIT_DIVERGED;
            else if (rc == 0 && pl_allreduce_or(w->comm, pl_signal_received() != 0))
                rc = PL_EXIT_CHECKPOINTED;
            if (rc == 0 && supervised)
                res->train_error = pl_percent(pos.wrong, w->train.n);
        }
    }
    if (rc == 0 && rule->stages[last].supervised && rule->epochs(&w->cfg, last) > 0) {
        res->valid_error = pl_percent(rule->errors(w->model, PL_SPLIT_VALID), w->valid.n);
        res->test_error = pl_percent(rule->errors(w->model, PL_SPLIT_TEST), w->test.n);
    }
    return rc;
}

/* A rule without shared stages: the whole run through `plastic train` in
 * its own directory (resumable after a kill). */
static int whole_run(pl_worker *w, const pl_config *cfg, pl_run_result *res)
{
    char marker[PL_PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/DIVERGED", cfg->run.dir);
    if (exists(w->comm, marker)) {
        res->status = PL_EXIT_DIVERGED;
        return 0;
    }
    pl_train_result out;
    pl_train_opts opts = {.result = &out};
    int rc = pl_train(cfg, w->comm, &opts);
    w->trainings++;
    res->trained_shared = 1;
    if (rc == PL_EXIT_DIVERGED) {
        mark_diverged(w, marker);
        res->status = PL_EXIT_DIVERGED;
        return 0;
    }
    res->valid_error = out.valid_error;
    res->test_error = out.test_error;
    res->train_error = out.train_error;
    return rc;
}

/* A result before the run: OK, nothing measured. */
static void blank_result(pl_run_result *res)
{
    *res = (pl_run_result){.status = PL_EXIT_OK, .valid_error = NAN, .test_error = NAN,
                           .train_error = NAN};
    for (int i = 0; i < PL_SUMMARY_FIELDS; i++)
        res->summary[i] = NAN;
}

/* The data and cfg's shared stages in memory (trained or loaded; then
 * res->shared_seconds counts a training, res->load_seconds the rest since
 * t0). Returns 0 or an error code. */
static int ready_shared(pl_worker *w, const pl_config *cfg, double t0, pl_run_result *res)
{
    int rc = ensure_data(w, cfg);
    if (rc == 0)
        rc = ensure_shared(w, cfg, pl_sweep_shared_key(cfg), res);
    res->load_seconds = pl_now() - t0 - res->shared_seconds;
    return rc;
}

int pl_worker_run(pl_worker *w, const pl_sweep_run *run, pl_run_result *res)
{
    blank_result(res);
    const pl_rule *rule = w->sw->rule;
    pl_config cfg;
    int rc = pl_sweep_config(w->sw, run, &cfg);
    if (rc)
        return rc;
    openblas_set_num_threads(cfg.run.threads);
    double t0 = pl_now();
    if (rule->shared_stages == 0) {
        rc = ensure_data(w, &cfg);
        if (rc == 0)
            rc = whole_run(w, &cfg, res);
        res->train_seconds = res->seconds = pl_now() - t0;
        return rc;
    }
    rc = ready_shared(w, &cfg, t0, res);
    if (rc)
        return rc;
    double t1 = pl_now();
    res->seconds = t1 - t0;
    if (w->held_diverged) {
        res->status = PL_EXIT_DIVERGED;
        return 0;
    }
    memcpy(res->summary, w->summary, sizeof res->summary);
    rc = later_stages(w, &cfg, res);
    res->train_seconds = pl_now() - t1;
    res->seconds += res->train_seconds;
    if (rc == PL_EXIT_DIVERGED) {
        res->status = PL_EXIT_DIVERGED;
        rc = 0;
    }
    return rc;
}

/* ---- a batch of runs ---- */

/* later_stages for the batch in w->bcfg: every member's epochs together; a
 * member whose epoch loss is not finite is left diverged there (the rule
 * freezes it), the rest go on. Returns 0, or PL_EXIT_CHECKPOINTED on a
 * signal (the whole batch reruns). */
static int later_stages_batch(pl_worker *w, int n, pl_run_result *res)
{
    const pl_rule *rule = w->sw->rule;
    const pl_config **cfgs = pl_alloc((size_t)n * sizeof *cfgs);
    pl_epoch_pos *pos = pl_alloc((size_t)n * sizeof *pos);
    long *errors = pl_alloc((size_t)n * sizeof *errors);
    for (int i = 0; i < n; i++)
        cfgs[i] = &w->bcfg[i];
    rule->restart_batch(w->model, cfgs, n, rule->shared_stages);
    const pl_config *cfg = cfgs[0];
    int rc = 0, last = rule->nstages - 1, alive = n;
    for (int stage = rule->shared_stages; stage < rule->nstages && rc == 0 && alive; stage++) {
        const int epochs = rule->epochs(cfg, stage), supervised = rule->stages[stage].supervised;
        if (epochs == 0)
            continue;
        if (rule->begin_stage)
            rc = rule->begin_stage(w->model, stage);
        for (int epoch = 0; epoch < epochs && rc == 0 && alive; epoch++) {
            memset(pos, 0, (size_t)n * sizeof *pos);
            rc = rule->epoch_batch(w->model, stage, epoch, pos);
            for (int i = 0; i < n && rc == 0; i++) {
                if (res[i].status != PL_EXIT_OK || !supervised)
                    continue;
                if (!isfinite(pos[i].loss_sum)) {
                    res[i].status = PL_EXIT_DIVERGED; /* alone: it stops here */
                    alive--;
                } else {
                    res[i].train_error = pl_percent(pos[i].wrong, w->train.n);
                }
            }
            if (rc == 0 && pl_allreduce_or(w->comm, pl_signal_received() != 0))
                rc = PL_EXIT_CHECKPOINTED;
        }
    }
    if (rc == 0 && alive && rule->stages[last].supervised && rule->epochs(cfg, last) > 0) {
        const int split[2] = {PL_SPLIT_VALID, PL_SPLIT_TEST};
        for (int s = 0; s < 2; s++) {
            rule->errors_batch(w->model, split[s], errors);
            for (int i = 0; i < n; i++)
                if (res[i].status == PL_EXIT_OK) {
                    long total = s == 0 ? w->valid.n : w->test.n;
                    *(s == 0 ? &res[i].valid_error : &res[i].test_error) =
                        pl_percent(errors[i], total);
                }
        }
    }
    pl_free(cfgs);
    pl_free(pos);
    pl_free(errors);
    return rc;
}

int pl_worker_run_batch(pl_worker *w, const pl_sweep_run *runs, int n, pl_run_result *res)
{
    const pl_rule *rule = w->sw->rule;
    if (n == 1 || !rule->epoch_batch || rule->shared_stages == 0) {
        for (int i = 0; i < n; i++) {
            int rc = pl_worker_run(w, &runs[i], &res[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    for (int i = 0; i < n; i++)
        blank_result(&res[i]);
    pl_free(w->bcfg);
    w->bcfg = pl_alloc((size_t)n * sizeof *w->bcfg);
    for (int i = 0; i < n; i++) {
        int rc = pl_sweep_config(w->sw, &runs[i], &w->bcfg[i]);
        if (rc)
            return rc;
    }
    const pl_config *cfg = &w->bcfg[0];
    const uint64_t key = pl_sweep_shared_key(cfg); /* it includes run.seed */
    for (int i = 1; i < n; i++)
        if (pl_sweep_shared_key(&w->bcfg[i]) != key) {
            pl_error("internal: a batch of runs with different shared stages");
            return PL_EXIT_USAGE;
        }
    openblas_set_num_threads(cfg->run.threads);
    double t0 = pl_now();
    int rc = ready_shared(w, cfg, t0, &res[0]);
    if (rc)
        return rc;
    double t1 = pl_now();
    res[0].seconds = t1 - t0;
    if (w->held_diverged) {
        for (int i = 0; i < n; i++)
            res[i].status = PL_EXIT_DIVERGED;
        return 0;
    }
    for (int i = 0; i < n; i++)
        memcpy(res[i].summary, w->summary, sizeof res[i].summary);
    rc = later_stages_batch(w, n, res);
    const double each = (pl_now() - t1) / n;
    for (int i = 0; i < n; i++) {
        res[i].train_seconds = each;
        res[i].seconds += each;
    }
    return rc;
}

/* ---- the table's rows ---- */

/* The columns after the axes: the errors, the rule's summary fields, then
 * these. */
static const char *const TIMING_COLUMNS =
    "trained_shared,shared_seconds,load_seconds,train_seconds,seconds,ranks,finished";

char *pl_sweep_header(const pl_sweep *sw)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    fputs("id,stage,shared,repeat,seed", f);
    for (int a = 0; a < sw->naxes; a++)
        fprintf(f, ",%s", sw->axes[a].key);
    fputs(",status,valid_error,test_error,train_error", f);
    for (int i = 0; i < PL_SUMMARY_FIELDS && sw->rule->summary_fields[i]; i++)
        fprintf(f, ",%s", sw->rule->summary_fields[i]);
    fprintf(f, ",%s", TIMING_COLUMNS);
    fclose(f);
    return text;
}

char *pl_sweep_row(const pl_sweep *sw, const pl_sweep_run *run, const pl_run_result *res,
                   int ranks)
{
    pl_config cfg;
    if (pl_sweep_config(sw, run, &cfg) != 0)
        return NULL;
    char id[17], shared[17], when[32];
    pl_sweep_hex(pl_sweep_run_id(&cfg), id);
    pl_sweep_hex(pl_sweep_shared_key(&cfg), shared);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "%s,%s,%s,%d,%llu", id, run->stage == PL_STAGE_FINAL ? "final" : "search", shared,
            run->repeat, (unsigned long long)cfg.run.seed);
    for (int a = 0; a < sw->naxes; a++)
        fprintf(f, ",%s", sw->axes[a].values[run->choice[a]]);
    fprintf(f, ",%s,%.4f,%.4f,%.4f", res->status == PL_EXIT_OK ? "done" : "diverged",
            res->valid_error, res->test_error, res->train_error);
    for (int i = 0; i < PL_SUMMARY_FIELDS && sw->rule->summary_fields[i]; i++)
        fprintf(f, ",%.6g", res->summary[i]);
    fprintf(f, ",%d,%.3f,%.3f,%.3f,%.3f,%d,%s", res->trained_shared, res->shared_seconds,
            res->load_seconds, res->train_seconds, res->seconds, ranks, when);
    fclose(f);
    return text;
}
