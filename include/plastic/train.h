/* The verbs of bin/plastic that run models (src/train.c, src/bench.c). */
#ifndef PLASTIC_TRAIN_H
#define PLASTIC_TRAIN_H

#include "plastic/ckpt.h"
#include "plastic/config.h"
#include "plastic/data.h"
#include "rules/kh/kh.h"
#include "plastic/metrics.h"
#include "plastic/par.h"
#include "rules/kh/readout.h"

/* One `train` run: its inputs, model, position and records. */
typedef struct pl_run {
    const pl_config *cfg;
    const pl_comm *comm;
    int rank;
    char *config_text;     /* the resolved configuration */
    pl_dataset train, valid, test;
    pl_kh kh;
    pl_readout ro;
    pl_cursor cur;
    pl_metrics metrics;    /* open on rank 0 */
    double started;        /* pl_now() at the start, less the seconds of earlier sessions */
    double last_ckpt;      /* pl_now() of the last checkpoint */
    double phase_started;  /* when this session entered the phase (ETA, timings) */
    double kh_seconds_before; /* hidden-layer seconds of earlier sessions */
    int phase_first_epoch; /* and at which epoch */
} pl_run;

/* `plastic train`: the whole protocol on comm. Returns an exit code. */
int pl_train(const pl_config *cfg, const pl_comm *comm);

/* `plastic bench`: KH epoch time against the raw SGEMM of its currents. */
int pl_bench(const pl_config *cfg, const pl_comm *comm);

/* `plastic ckpt-bench`: checkpoint write/read time against plain I/O of the
 * same bytes (src/ckpt_bench.c). */
int pl_ckpt_bench(const pl_config *cfg, const pl_comm *comm);

/* Checks what only the communicator can tell (kh.impl = naive needs 1
 * rank). Returns 0 or PL_EXIT_USAGE. */
int pl_check_run(const pl_config *cfg, const pl_comm *comm);

/* Loads the data of cfg and splits off the validation set. */
int pl_load_splits(const pl_config *cfg, pl_dataset *train, pl_dataset *valid,
                   pl_dataset *test);

/* Hidden features relu(W v)^n of every example of d for this rank's units
 * (d->n x nrows; pl_free it). */
float *pl_features(const pl_kh *kh, const pl_dataset *d, double n);

/* Called between minibatches (collectively); nonzero stops the epoch. */
typedef int (*pl_poll_fn)(void *ctx);

/* One unsupervised epoch: minibatches of cfg->kh.batch in the order keyed by
 * (seed, epoch), learning rate eps0 (1 - epoch/epochs), starting after the
 * *batch minibatches already done and counting them in *batch. xbuf holds
 * batch x dim floats. poll (may be NULL) runs after every minibatch but
 * the epoch's last (the caller is at a boundary then anyway).
 * Returns 0 when the epoch is complete, PL_EXIT_CHECKPOINTED when poll
 * stopped it, or PL_EXIT_DIVERGED. Collective. */
int pl_kh_epoch(pl_kh *kh, const pl_dataset *train, const pl_config *cfg, int epoch, int *batch,
                float *xbuf, pl_poll_fn poll, void *ctx);

/* ---- the run directory's records (src/records.c) ---- */

/* Rank 0 creates run.dir, writes config.ini and opens metrics.jsonl: fresh,
 * or, when resuming, cut back to where the checkpoint was taken. */
int pl_run_open_dir(pl_run *r, int resuming);
void pl_record_start(pl_run *r, const char *resumed_from);
void pl_record_kh_epoch(pl_run *r, int epoch, double seconds);
void pl_record_readout_epoch(pl_run *r, int epoch, double seconds, double train_error,
                             double valid_error);
void pl_record_diverged(pl_run *r, const char *phase, int epoch);
void pl_record_checkpoint(pl_run *r, const char *why);
void pl_record_done(pl_run *r, double train_error);
void pl_write_weights_png(const pl_run *r);
/* Length of metrics.jsonl so far, the same on every rank. Collective. */
long pl_metrics_length(pl_run *r);


#endif
