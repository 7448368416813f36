/* A sweep's worker: one group of ranks executing runs one after another
 * (src/sweep_worker.c). It keeps what consecutive runs share in memory:
 * the dataset, its train/validation split, the hidden layer W, and the
 * hidden features relu(W v)^n of every split. A hidden layer is trained at
 * most once per sweep: by `plastic train` machinery into
 * <sweep.dir>/hidden/<hidden key>/ (checkpointed, resumable), and loaded
 * from its model.h5 by every later run that needs it. */
#ifndef PLASTIC_WORKER_H
#define PLASTIC_WORKER_H

#include "plastic/data.h"
#include "rules/kh/kh.h"
#include "plastic/sweep.h"

typedef struct pl_run_result {
    int status;                /* PL_EXIT_OK, or PL_EXIT_DIVERGED */
    double valid_error, test_error, train_error; /* percent; NaN if not measured */
    double sphere_mean, sphere_max;  /* of the hidden layer's rows */
    long never_won;            /* units that never won in the last hidden epoch (-1: unknown) */
    double hidden_seconds;     /* training the hidden layer (0 when it was reused) */
    double load_seconds;       /* loading data, W, and computing features */
    double readout_seconds;
    double seconds;            /* all of the above */
    int trained_hidden;        /* 1 if this run trained its hidden layer */
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
    uint64_t held;             /* hidden key of kh (0: none) */
    int held_diverged;
    pl_kh kh;
    double sphere_mean, sphere_max;
    long never_won;            /* of the held hidden layer's last epoch (-1: unknown) */
    uint64_t feat_key;         /* hidden key and n of the features */
    double feat_n;
    float *Htrain, *Hvalid, *Htest;
    long trainings, loads, feature_sets; /* counters for the summary */
} pl_worker;

void pl_worker_init(pl_worker *w, const pl_sweep *sw, const pl_comm *comm);
void pl_worker_free(pl_worker *w);

/* Executes one run on the worker's communicator (collective). Returns 0 with
 * res filled (res->status says whether it diverged), PL_EXIT_CHECKPOINTED
 * when a signal stopped it (nothing to record: it reruns), or an error code
 * (bad data, unusable hidden directory). */
int pl_worker_run(pl_worker *w, const pl_sweep_run *run, pl_run_result *res);

/* The results table's header for this sweep, and one run's row (both
 * allocated, caller frees). */
char *pl_sweep_header(const pl_sweep *sw);
char *pl_sweep_row(const pl_sweep *sw, const pl_sweep_run *run, const pl_run_result *res,
                   int ranks);

#endif
