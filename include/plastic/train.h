/* The verbs of bin/plastic that run models (src/train.c, src/bench.c). */
#ifndef PLASTIC_TRAIN_H
#define PLASTIC_TRAIN_H

#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/kh.h"
#include "plastic/par.h"

/* `plastic train`: the whole protocol on comm. Returns an exit code. */
int pl_train(const pl_config *cfg, const pl_comm *comm);

/* `plastic bench`: KH epoch time against the raw SGEMM of its currents. */
int pl_bench(const pl_config *cfg, const pl_comm *comm);

/* Checks what only the communicator can tell (kh.impl = naive needs 1
 * rank). Returns 0 or PL_EXIT_USAGE. */
int pl_check_run(const pl_config *cfg, const pl_comm *comm);

/* Loads the data of cfg and splits off the validation set. */
int pl_load_splits(const pl_config *cfg, pl_dataset *train, pl_dataset *valid,
                   pl_dataset *test);

/* One unsupervised epoch: minibatches of cfg->kh.batch in the order keyed by
 * (seed, epoch), learning rate eps0 (1 - epoch/epochs). xbuf holds batch x
 * dim floats. Returns 0 or PL_EXIT_DIVERGED. Collective. */
int pl_kh_epoch(pl_kh *kh, const pl_dataset *train, const pl_config *cfg, int epoch,
                float *xbuf);

/* The fully resolved configuration as INI text (caller frees). */
char *pl_config_text(const pl_config *cfg);

#endif
