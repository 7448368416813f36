/* `plastic train`: load data, train the rule's stages one after the other,
 * evaluate, and record everything in the run directory. Nothing here knows
 * which rule runs (rule.h). A cursor (stage, epoch, minibatch) says where
 * the run is; checkpoints store it with the rule's arrays, so a run can stop
 * at any minibatch boundary (signal, wall-time) and continue, on any number
 * of ranks, to exactly the weights of an uninterrupted run. */
#include "plastic/train.h"
#include "plastic/common.h"
#include "plastic/model.h"
#include "plastic/signals.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STOP_SIGNAL = 1 };

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

char *pl_run_config_text(const pl_config *cfg)
{
    pl_config stored = *cfg;
    stored.run.resume[0] = '\0';
    const pl_rule *rule = pl_rule_of(cfg);
    return pl_config_text(&stored, rule ? pl_rule_foreign_sections(rule) : NULL);
}

/* ---- checkpoints ---- */

static double stage_seconds(const pl_run *r)
{
    return r->stage_seconds_before + pl_now() - r->stage_started;
}

static int save(pl_run *r, const char *why)
{
    if (r->rule->settle && r->cur.stage < r->rule->nstages)
        r->rule->settle(r->model, r->cur.stage, &r->cur.pos);
    r->cur.seconds = pl_now() - r->started;
    if (r->cur.stage < r->rule->nstages)
        r->cur.stage_seconds[r->cur.stage] = stage_seconds(r);
    r->cur.metrics_bytes = pl_metrics_length(r);
    int rc = pl_ckpt_save(&r->ckpt, &r->cur);
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
    pl_ckpt_name(&r->cur, &r->ckpt, name, sizeof name);
    pl_info("stopped on a signal: checkpoint %s/ckpt/%s written; exit %d (continue with "
            "run.resume=auto)", r->cfg->run.dir, name, PL_EXIT_CHECKPOINTED);
    return PL_EXIT_CHECKPOINTED;
}

static int epoch_checkpoint_due(const pl_run *r, int epochs_done, int epochs)
{
    int every = r->cfg->checkpoint.every;
    return every > 0 && epochs_done < epochs && epochs_done % every == 0;
}

/* log.test_every: a learning curve's test error after this many epochs. */
static int test_due(const pl_config *cfg, int epochs_done)
{
    return cfg->log.test_every > 0 && epochs_done % cfg->log.test_every == 0;
}

static void enter_stage(pl_run *r, int stage)
{
    r->cur.stage = stage;
    r->cur.epoch = 0;
    r->cur.pos = (pl_epoch_pos){0};
    r->stage_started = pl_now();
    r->stage_seconds_before = 0.0;
    r->stage_first_epoch = 0;
}

/* ---- one stage ---- */

/* The epochs of the cursor's stage, from the cursor on. */
static int run_stage(pl_run *r)
{
    const pl_rule *rule = r->rule;
    const int stage = r->cur.stage, epochs = rule->epochs(r->cfg, stage);
    const int supervised = rule->stages[stage].supervised;
    if (epochs == 0)
        return 0;
    int rc = rule->begin_stage ? rule->begin_stage(r->model, stage) : 0;
    for (int epoch = r->cur.epoch; epoch < epochs && rc == 0; epoch++) {
        double te = pl_now();
        rc = rule->epoch(r->model, stage, epoch, &r->cur.pos, poll_stop, r);
        if (rc == 0 && supervised && !isfinite(r->cur.pos.loss_sum))
            rc = PL_EXIT_DIVERGED;
        if (rc == PL_EXIT_CHECKPOINTED)
            return stop_here(r);
        if (rc == PL_EXIT_DIVERGED) {
            pl_error("diverged: the %s stage became NaN/Inf in epoch %d (%s)",
                     rule->stages[stage].name, epoch + 1,
                     rule->diverged_hint ? rule->diverged_hint(stage) : "try a smaller lr");
            pl_record_diverged(r, epoch);
            return rc;
        }
        if (rc)
            return rc;
        if (supervised) {
            r->cur.train_error = pl_percent(r->cur.pos.wrong, r->train.n);
            r->cur.valid_error = r->valid.n ? pl_percent(rule->errors(r->model, PL_SPLIT_VALID),
                                                         r->valid.n)
                                            : NAN;
        }
        double seconds = pl_now() - te; /* training and validation, not the curve's test */
        r->epoch_test = supervised && test_due(r->cfg, epoch + 1)
                            ? pl_percent(rule->errors(r->model, PL_SPLIT_TEST), r->test.n)
                            : NAN;
        pl_record_epoch(r, epoch, seconds);
        r->cur.step++;
        r->cur.epoch = epoch + 1;
        r->cur.pos = (pl_epoch_pos){0};
        if (epoch_checkpoint_due(r, epoch + 1, epochs))
            rc = save(r, "every");
    }
    r->cur.stage_seconds[stage] = stage_seconds(r);
    return rc;
}

/* The test error (when the last stage trained is a supervised one that
 * ran), model.h5, weights.png, the final checkpoint, the `done` record and
 * curves.png (after `done`, whose test error it shows when no epoch has one). */
static int finish(pl_run *r)
{
    const pl_config *cfg = r->cfg;
    const pl_rule *rule = r->rule;
    const int last = r->nstages - 1;
    if (last >= 0 && rule->stages[last].supervised && rule->epochs(cfg, last) > 0)
        r->cur.test_error = isfinite(r->epoch_test) /* the last epoch's, same weights */
                                ? r->epoch_test
                                : pl_percent(rule->errors(r->model, PL_SPLIT_TEST), r->test.n);
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.h5", cfg->run.dir);
    pl_model_summary summary = {rule->name, r->cur.test_error, r->cur.valid_error};
    int rc = pl_model_write(path, r->comm, r->state, r->config_text, &summary);
    pl_write_weights_png(r);
    if (rc == 0) {
        /* the final checkpoint first: "done" stays the last record */
        enter_stage(r, rule->nstages);
        if (cfg->checkpoint.every > 0 || cfg->checkpoint.minutes > 0)
            rc = save(r, "done");
        r->cur.seconds = pl_now() - r->started;
        if (rc == 0)
            pl_record_done(r);
    }
    pl_write_curves_png(r);
    return rc;
}

static int run_stages(pl_run *r)
{
    int rc = 0;
    while (rc == 0 && r->cur.stage < r->nstages) {
        rc = run_stage(r);
        if (rc)
            return rc;
        int next = r->cur.stage + 1;
        int ran = r->rule->epochs(r->cfg, r->cur.stage) > 0;
        enter_stage(r, next);
        /* a checkpoint between stages (the last one's is the `done` one) */
        if (next < r->nstages && ran && r->cfg->checkpoint.every > 0)
            rc = save(r, "phase");
    }
    return rc ? rc : finish(r);
}

/* ---- the verb ---- */

/* Arrays a fresh run starts from a model file (e.g. kh.init). */
static int read_init_arrays(pl_run *r)
{
    for (int i = 0; i < r->state->narrays; i++) {
        pl_array *a = &r->state->arrays[i];
        if (!a->init_from || !a->init_from[0])
            continue;
        int rc = pl_model_read_array(a->init_from, r->comm, a);
        if (rc)
            return rc;
        pl_info("%s starts from %s:/%s", a->name, a->init_from, a->name);
    }
    return 0;
}

static void free_run(pl_run *r)
{
    pl_metrics_close(&r->metrics);
    if (r->model)
        r->rule->destroy(r->model);
    pl_free(r->state);
    free(r->config_text);
    pl_dataset_free(&r->train);
    pl_dataset_free(&r->valid);
    pl_dataset_free(&r->test);
}

int pl_train(const pl_config *cfg, const pl_comm *comm, const pl_train_opts *opts)
{
    pl_signals_install();
    pl_run r = {.cfg = cfg, .comm = comm, .rank = pl_comm_rank(comm), .rule = pl_rule_of(cfg)};
    int rc = pl_rule_check(cfg, pl_comm_size(comm));
    if (rc)
        return rc;
    r.nstages = opts && opts->stages > 0 && opts->stages < r.rule->nstages ? opts->stages
                                                                           : r.rule->nstages;
    if (cfg->run.threads > 0)
        openblas_set_num_threads(cfg->run.threads);
    rc = pl_load_splits(cfg, &r.train, &r.valid, &r.test);
    if (rc)
        return rc;
    r.config_text = pl_run_config_text(cfg);
    r.model = r.rule->create(cfg, comm, &r.train, &r.valid, &r.test);
    if (!r.model) {
        free_run(&r);
        return PL_EXIT_USAGE;
    }
    r.state = pl_calloc(1, sizeof *r.state);
    r.rule->state(r.model, r.state);
    r.ckpt = (pl_ckpt_ctx){comm, r.rule, cfg, r.config_text, r.state, r.nstages};
    r.cur = (pl_cursor){.test_error = NAN, .valid_error = NAN, .train_error = NAN};
    r.epoch_test = NAN;

    /* Everything that can fail on bad input comes before the run directory
     * is touched, so a bad run never damages an earlier one's outputs. */
    char resumed[PL_PATH_MAX + 80] = "";
    rc = pl_ckpt_resume(&r.ckpt, &r.cur, resumed, sizeof resumed);
    if (rc == 0 && !resumed[0])
        rc = read_init_arrays(&r);
    if (rc == 0 && r.rule->loaded)
        r.rule->loaded(r.model);
    if (rc == 0 && r.cur.stage >= r.nstages) {
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
    r.stage_started = pl_now();
    r.stage_first_epoch = r.cur.epoch;
    r.stage_seconds_before = r.cur.stage_seconds[r.cur.stage];
    pl_record_start(&r, resumed[0] ? resumed : NULL);
    rc = run_stages(&r);
out:
    if (opts && opts->result)
        *opts->result = (pl_train_result){r.cur.test_error, r.cur.valid_error,
                                          r.cur.train_error, r.cur.seconds};
    free_run(&r);
    return rc;
}
