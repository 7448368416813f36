/* A sweep's worker: one group of ranks executing runs one after another
 * (src/sweep/sweep_worker.c), for any rule. It keeps what consecutive runs
 * share in memory: the dataset, its train/validation split, and a model
 * holding the rule's shared stages (KH: the hidden layer W, and the
 * features the rule caches). Shared stages are trained at most once per
 * sweep, by `plastic train` machinery into <sweep.dir>/runs/<shared key>/
 * (checkpointed, resumable), and loaded from its model.h5 by every later
 * run that needs them; the later stages then run in memory. A rule without
 * shared stages trains each run whole the same way (resumable too). */
#ifndef PLASTIC_WORKER_H
#define PLASTIC_WORKER_H

#include "plastic/data.h"
#include "plastic/rule.h"
#include "plastic/sweep.h"

#define PL_SUMMARY_FIELDS 4

typedef struct pl_run_result {
    int status;                /* PL_EXIT_OK, or PL_EXIT_DIVERGED */
    double valid_error, test_error, train_error; /* percent; NaN if not measured */
    double summary[PL_SUMMARY_FIELDS]; /* the rule's summary_fields (NaN: unknown) */
    double shared_seconds;     /* training the shared stages (0 when they were reused) */
    double load_seconds;       /* loading data and the shared stages */
    double train_seconds;      /* the run's own stages */
    double seconds;            /* all of the above */
    int trained_shared;        /* 1 if this run trained its shared stages */
} pl_run_result;

typedef struct pl_worker {
    const pl_sweep *sw;
    const pl_comm *comm;
    char data_key[2 * PL_PATH_MAX];
    int have_data;
    pl_dataset all, test;
    uint64_t split_seed;
    int split_valid, have_split;
    pl_dataset train, valid;
    uint64_t held;             /* shared key of model (0: none) */
    int held_diverged;
    pl_config cfg;             /* the configuration model runs (it keeps a pointer) */
    pl_config *bcfg;           /* a batch's configurations (restart_batch keeps pointers) */
    pl_model *model;
    double summary[PL_SUMMARY_FIELDS]; /* of the held shared stages */
    long trainings, loads;     /* counters for the summary */
} pl_worker;

void pl_worker_init(pl_worker *w, const pl_sweep *sw, const pl_comm *comm);
void pl_worker_free(pl_worker *w);

/* Executes one run on the worker's communicator (collective). Returns 0 with
 * res filled (res->status says whether it diverged), PL_EXIT_CHECKPOINTED
 * when a signal stopped it (nothing to record: it reruns), or an error code
 * (bad data, unusable shared-stage directory). */
int pl_worker_run(pl_worker *w, const pl_sweep_run *run, pl_run_result *res);

/* Executes n runs that share their shared stages and differ only in the
 * rule's batch_keys (pl_sched_next_batch chose them) together, each res[i]
 * what pl_worker_run would give it alone, bitwise, except the timings: the
 * batch's own-stage time is shared out equally (train_seconds = batch time
 * / n), the shared stages' and loading time go to the first run, as if
 * they ran one after another. n = 1, or a rule without batch hooks: one by
 * one. Returns like pl_worker_run, for the whole batch. */
int pl_worker_run_batch(pl_worker *w, const pl_sweep_run *runs, int n, pl_run_result *res);

/* The results table's header for this sweep, and one run's row (both
 * allocated, caller frees). */
char *pl_sweep_header(const pl_sweep *sw);
char *pl_sweep_row(const pl_sweep *sw, const pl_sweep_run *run, const pl_run_result *res,
                   int ranks);

#endif
