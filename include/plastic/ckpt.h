/* Checkpoints: everything a run needs to continue, as global arrays in one
 * parallel-HDF5 file (mpi/ckpt.c), and the run directory's ckpt/ folder with
 * its LATEST pointer and retention (src/ckpt_dir.c). The layout is
 * documented in docs/checkpoint-format.md. */
#ifndef PLASTIC_CKPT_H
#define PLASTIC_CKPT_H

#include <stdio.h>

#include "plastic/config.h"
#include "rules/kh/kh.h"
#include "plastic/par.h"
#include "rules/kh/readout.h"

#define PL_CKPT_FORMAT_VERSION 1

enum pl_phase { PL_PHASE_KH = 0, PL_PHASE_READOUT = 1, PL_PHASE_DONE = 2 };

/* Where a run is: the data cursor and the running sums of the current epoch. */
typedef struct pl_cursor {
    int phase;           /* enum pl_phase */
    int epoch;           /* epochs of the current phase completed */
    int batch;           /* minibatches of the current epoch completed */
    long step;           /* minibatches completed over both phases */
    double loss_sum;     /* readout: loss and errors of the current epoch so far */
    long wrong;
    double seconds;      /* training wall time before this point */
    double kh_seconds;   /* of which in the hidden-layer phase */
    long metrics_bytes;  /* length of metrics.jsonl at this point */
    double test_error;   /* phase DONE: the final errors (NaN before) */
    double valid_error;
} pl_cursor;

/* Collective. Writes path (via path.tmp and rename once every rank is done),
 * holding the model, optimiser state and cursor. Returns 0 or PL_EXIT_DATA. */
int pl_ckpt_write(const char *path, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                  const pl_cursor *cur, const char *config_text, const pl_config *cfg);

/* Collective. Checks the file (format, checksums of every array and of the
 * configuration, shapes) and that it was written by a configuration that
 * computes the same run as cfg, then fills kh, ro and cur. Any number of
 * ranks can read a checkpoint written by any other number.
 * Returns 0; PL_EXIT_DATA for a missing, truncated or damaged file;
 * PL_EXIT_USAGE when it belongs to another configuration. Every error names
 * the file and what is wrong. */
int pl_ckpt_read(const char *path, const pl_comm *comm, const pl_config *cfg, pl_kh *kh,
                 pl_readout *ro, pl_cursor *cur);

/* `plastic info`: what a checkpoint or model file holds. Serial (rank 0).
 * Returns 0 or PL_EXIT_DATA. */
int pl_h5_info(const char *path, FILE *out);

/* ---- the run directory's ckpt/ folder (src/ckpt_dir.c) ---- */

/* ckpt_<epochs>.h5 at an epoch boundary, ckpt_<epochs>_<batch>.h5 inside an
 * epoch; <epochs> counts the epochs of both phases, zero-padded so names sort
 * in training order (the finished run's is kh.epochs + readout.epochs). */
void pl_ckpt_name(const pl_cursor *cur, const pl_config *cfg, char *buf, size_t size);

/* Collective: writes the checkpoint into run_dir/ckpt, points LATEST at it
 * (written to a temporary name and renamed), and deletes all but the newest
 * `keep`. Returns 0 or PL_EXIT_DATA. */
int pl_ckpt_save(const char *run_dir, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                 const pl_cursor *cur, const char *config_text, const pl_config *cfg);

/* Collective: resolves run.resume. Fills path with the checkpoint to resume
 * from, or "" to start fresh. With "auto", a damaged LATEST falls back to the
 * newest older checkpoint that reads cleanly (saying so) and fills kh, ro,
 * cur from it. Returns 0, or the exit code of the error. */
int pl_ckpt_resume(const pl_config *cfg, const pl_comm *comm, pl_kh *kh, pl_readout *ro,
                   pl_cursor *cur, char *path, size_t size);

#endif
