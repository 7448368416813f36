/* The verbs of bin/plastic that run models (src/run/train.c, bench.c,
 * ckpt_bench.c), and the run directory's records (src/run/records.c). They
 * drive any rule through its interface (rule.h). */
#ifndef PLASTIC_TRAIN_H
#define PLASTIC_TRAIN_H

#include <math.h>

#include "plastic/ckpt.h"
#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/metrics.h"
#include "plastic/par.h"
#include "plastic/rule.h"

/* How a run ended (pl_train fills it when asked). */
typedef struct pl_train_result {
    double test_error, valid_error, train_error; /* percent; NaN if not measured */
    double seconds;                             /* the whole run, over all sessions */
} pl_train_result;

typedef struct pl_train_opts {
    int stages;              /* train only the first `stages` stages (0: all) */
    pl_train_result *result; /* may be NULL */
} pl_train_opts;

/* One `train` run: its inputs, model, position and records. */
typedef struct pl_run {
    const pl_config *cfg;
    const pl_comm *comm;
    int rank;
    const pl_rule *rule;
    int nstages;           /* stages this run trains */
    char *config_text;     /* the resolved configuration */
    pl_dataset train, valid, test;
    pl_model *model;
    pl_state *state;       /* the model's arrays */
    pl_ckpt_ctx ckpt;
    pl_cursor cur;
    pl_metrics metrics;    /* open on rank 0 */
    double started;        /* pl_now() at the start, less the seconds of earlier sessions */
    double last_ckpt;      /* pl_now() of the last checkpoint */
    double stage_started;  /* when this session entered the stage (ETA, timings) */
    double stage_seconds_before; /* seconds of the stage in earlier sessions */
    int stage_first_epoch; /* and at which epoch */
    double epoch_test;     /* log.test_every: this epoch's test error (the final one too, when
                              it is the last epoch's); else NaN */
} pl_run;

/* `plastic train`: the whole protocol on comm. opts may be NULL. Returns an
 * exit code. */
int pl_train(const pl_config *cfg, const pl_comm *comm, const pl_train_opts *opts);

/* `plastic bench`: the first stage's epoch time against the bare GEMMs it
 * needs (the rule says which). */
int pl_bench(const pl_config *cfg, const pl_comm *comm);

/* `plastic ckpt-bench`: checkpoint write/read time against plain I/O of the
 * same bytes (src/run/ckpt_bench.c). */
int pl_ckpt_bench(const pl_config *cfg, const pl_comm *comm);

/* Loads the data of cfg and splits off the validation set. */
int pl_load_splits(const pl_config *cfg, pl_dataset *train, pl_dataset *valid,
                   pl_dataset *test);

/* The configuration text a run stores (config.ini, checkpoints): the
 * resolved keys of the sections its rule reads, run.resume left empty (how
 * a session started is not part of the run). Caller frees. */
char *pl_run_config_text(const pl_config *cfg);

static inline double pl_percent(long wrong, long n)
{
    return n ? 100.0 * (double)wrong / (double)n : (double)NAN;
}

/* ---- the run directory's records (src/run/records.c) ---- */

/* Rank 0 creates run.dir, writes config.ini and opens metrics.jsonl: fresh,
 * or, when resuming, cut back to where the checkpoint was taken. */
int pl_run_open_dir(pl_run *r, int resuming);
void pl_record_start(pl_run *r, const char *resumed_from);
/* The epoch record of the cursor's stage (its epoch `epoch` just ended):
 * lr and seconds; loss and training/validation error for a supervised
 * stage; then the rule's own fields. Collective. */
void pl_record_epoch(pl_run *r, int epoch, double seconds);
void pl_record_diverged(pl_run *r, int epoch);
void pl_record_checkpoint(pl_run *r, const char *why);
void pl_record_done(pl_run *r);
/* weights.png: the first rows of the model array marked `picture`, as
 * receptive fields. Collective. */
void pl_write_weights_png(const pl_run *r);
/* curves.png: the error per epoch of the supervised stages, from
 * metrics.jsonl (curves.h), drawn by rank 0; a failure is a warning. */
void pl_write_curves_png(const pl_run *r);
/* Length of metrics.jsonl so far, the same on every rank. Collective. */
long pl_metrics_length(pl_run *r);

#endif
