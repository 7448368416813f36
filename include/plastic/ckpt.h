/* Checkpoints: everything a run needs to continue, as the rule's named
 * global arrays (rule.h, pl_state) in one parallel-HDF5 file (mpi/ckpt.c),
 * and the run directory's ckpt/ folder with its LATEST pointer and
 * retention (src/run/ckpt_dir.c). Nothing here knows which rule runs. The
 * layout is documented in docs/checkpoint-format.md. */
#ifndef PLASTIC_CKPT_H
#define PLASTIC_CKPT_H

#include <stdio.h>

#include "plastic/config.h"
#include "plastic/par.h"
#include "plastic/rule.h"

#define PL_CKPT_FORMAT_VERSION 1

/* Where a run is: the stage (nstages when done), the epochs of it
 * completed, the position in the next epoch, and the run's clocks. */
typedef struct pl_cursor {
    int stage;
    int epoch;
    pl_epoch_pos pos;    /* minibatches of the next epoch done, running sums */
    long step;           /* minibatches completed over all stages */
    double seconds;      /* training wall time before this point */
    double stage_seconds[PL_MAX_STAGES]; /* of which in each stage */
    long metrics_bytes;  /* length of metrics.jsonl at this point */
    double test_error;   /* done: the final errors (NaN before) */
    double valid_error;  /* the last validation error */
    double train_error;  /* the last supervised epoch's running training error */
} pl_cursor;

/* What a checkpoint is written from and read into. */
typedef struct pl_ckpt_ctx {
    const pl_comm *comm;
    const pl_rule *rule;
    const pl_config *cfg;
    const char *config_text; /* the resolved configuration (written) */
    pl_state *state;         /* the model's arrays */
    int nstages;             /* stages the run trains (checkpoint names count their epochs) */
} pl_ckpt_ctx;

/* Collective. Writes path (via path.tmp and rename once every rank is done),
 * holding the arrays, scalars and cursor. Returns 0 or PL_EXIT_DATA. */
int pl_ckpt_write(const char *path, const pl_ckpt_ctx *c, const pl_cursor *cur);

/* Collective. Checks the file (format, checksums of every array and of the
 * configuration, shapes) and that it was written by a configuration that
 * computes the same run as c->cfg, then fills the arrays, scalars and cur.
 * Any number of ranks can read a checkpoint written by any other number.
 * The caller then runs the rule's `loaded`.
 * Returns 0; PL_EXIT_DATA for a missing, truncated or damaged file;
 * PL_EXIT_USAGE when it belongs to another configuration. Every error names
 * the file and what is wrong. */
int pl_ckpt_read(const char *path, const pl_ckpt_ctx *c, pl_cursor *cur);

/* `plastic info`: what a checkpoint or model file holds. Serial (rank 0).
 * Returns 0, or PL_EXIT_DATA after one error naming the file: it cannot be
 * opened, or its stored configuration does not parse (what else it holds
 * is still printed). */
int pl_h5_info(const char *path, FILE *out);

/* ---- the run directory's ckpt/ folder (src/run/ckpt_dir.c) ---- */

/* ckpt_<epochs>.h5 at an epoch boundary, ckpt_<epochs>_<batch>.h5 inside an
 * epoch; <epochs> counts the epochs of all stages so far, zero-padded so
 * names sort in training order. */
void pl_ckpt_name(const pl_cursor *cur, const pl_ckpt_ctx *c, char *buf, size_t size);

/* Collective: writes the checkpoint into run.dir/ckpt, points LATEST at it
 * (written to a temporary name and renamed), and deletes all but the newest
 * checkpoint.keep. Returns 0 or PL_EXIT_DATA. */
int pl_ckpt_save(const pl_ckpt_ctx *c, const pl_cursor *cur);

/* Collective: resolves run.resume. Fills path with the checkpoint resumed
 * from (its arrays and cur read), or "" to start fresh. With "auto", a
 * damaged LATEST falls back to the newest older checkpoint that reads
 * cleanly (saying so). Returns 0, or the exit code of the error. */
int pl_ckpt_resume(const pl_ckpt_ctx *c, pl_cursor *cur, char *path, size_t size);

#endif
