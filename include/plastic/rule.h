/* The rule interface: what a learning rule gives the trainer, and nothing
 * more. In the spirit of CoMD's potential struct, a rule is a table of
 * function pointers (pl_rule) over its own state (a struct whose first
 * member is pl_model). The trainer (src/run/train.c), checkpoints and model
 * files (mpi/ckpt.c, mpi/h5model.c), the records (src/run/records.c),
 * `plastic info`, `bench` and the sweep know cursors, signals, files and
 * records; a rule knows its mathematics.
 *
 * A rule runs as a sequence of stages (KH: the hidden layer, then the
 * readout; a layered rule: one). A stage is trained in epochs of
 * minibatches from a cursor (stage, epoch, minibatch), so any run can stop
 * at a minibatch boundary and continue, on any number of ranks. The rule's
 * state is a list of named global arrays (pl_state), each with its global
 * shape and this rank's block: checkpoints, model.h5 and `plastic info` are
 * written and read from that list alone.
 *
 * Rules are listed in src/rules/registry.c; adding one is a folder under
 * src/rules/, one line there, and its configuration keys
 * (docs/design.md, "How to add a rule"). */
#ifndef PLASTIC_RULE_H
#define PLASTIC_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/metrics.h"
#include "plastic/par.h"

#define PL_MAX_STAGES 4

/* ---- state: named global arrays ---- */

enum pl_dtype { PL_F32, PL_I64 };

/* Where an array goes: model arrays are the trained model (model.h5 at
 * /<name>, checkpoints at /model/<name>); state and optimiser arrays are
 * only needed to continue training (checkpoints at /state/<name>,
 * /optim/<name>). */
enum pl_array_kind { PL_ARRAY_MODEL, PL_ARRAY_STATE, PL_ARRAY_OPTIM };

/* One global 2-D array and this rank's block of it: rows [start[0],
 * +count[0]) and columns [start[1], +count[1]) of dims[0] x dims[1];
 * data holds count[0] x count[1] elements, row-major. A replicated array
 * (every rank holds all of it, e.g. data-parallel weights) is written by
 * rank 0 and read by every rank; a block marked copy is likewise read by
 * its rank and written by the rank whose block it copies. */
typedef struct pl_array {
    char name[64];         /* "kh/W", "net/dense1/W", "readout/adam_m" */
    int kind;              /* enum pl_array_kind */
    int dtype;             /* enum pl_dtype */
    long dims[2], start[2], count[2];
    int replicated;
    int copy;              /* this rank's block is a copy of another rank's (blocks mode: the
                              same stage in another pipeline): read, but neither written nor
                              counted in the checksum */
    void *data;
    int stage;             /* the stage that trains it (sweeps load the shared stages') */
    const char *init_from; /* fresh run: read it from this model file first ("" or NULL: no) */
    int picture;           /* its rows are input-shaped weights: weights.png shows the first 100 */
    int derived;           /* a model array that create regenerates from the configuration
                              (a pconv layer's noise maps): in model.h5, never in checkpoints */
} pl_array;

/* A scalar of the optimiser or the rule, stored as an attribute of the
 * group /optim/<group> (checkpoints only), e.g. Adam's step count. */
typedef struct pl_scalar {
    char group[48];
    char name[32];
    long *value;
} pl_scalar;

/* A descriptive attribute of the model file's group /<group> (e.g. /kh: p). */
typedef struct pl_attr {
    char group[48];
    char name[32];
    double value;
    int integer;           /* written as a long */
} pl_attr;

#define PL_STATE_MAX_ARRAYS 512
#define PL_STATE_MAX_SCALARS 16
#define PL_STATE_MAX_ATTRS 32

typedef struct pl_state {
    int narrays, nscalars, nattrs;
    pl_array arrays[PL_STATE_MAX_ARRAYS];
    pl_scalar scalars[PL_STATE_MAX_SCALARS];
    pl_attr attrs[PL_STATE_MAX_ATTRS];
} pl_state;

/* Adds an array distributed by rows: this rank holds rows [row0, +nrows)
 * of rows x cols. Returns it, for the optional fields. */
pl_array *pl_state_rows(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                        long row0, long nrows, void *data, int stage);
/* By columns: columns [col0, +ncols) of rows x cols. */
pl_array *pl_state_cols(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                        long col0, long ncols, void *data, int stage);
/* Held whole by every rank. */
pl_array *pl_state_whole(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                         void *data, int stage);
void pl_state_scalar(pl_state *s, const char *group, const char *name, long *value);
void pl_state_attr(pl_state *s, const char *group, const char *name, double value, int integer);

/* Bytes of one element, and of this rank's block. */
int pl_dtype_size(int dtype);
long pl_array_local_count(const pl_array *a);

/* ---- the rule ---- */

typedef struct pl_rule pl_rule;

/* The first member of every rule's state. */
typedef struct pl_model {
    const pl_rule *rule;
    const pl_config *cfg;  /* the configuration it runs (sweeps change it: restart) */
    const pl_comm *comm;
    const pl_dataset *train, *valid, *test;
} pl_model;

enum pl_split { PL_SPLIT_TRAIN, PL_SPLIT_VALID, PL_SPLIT_TEST };

/* Where an epoch is: minibatches done, and the running sums of a
 * supervised stage (loss of each minibatch, training examples misclassified
 * by the weights before their step). Part of the checkpointed cursor. */
typedef struct pl_epoch_pos {
    int batch;
    double loss_sum;
    long wrong;
} pl_epoch_pos;

/* Called between minibatches, collectively; nonzero stops the epoch. */
typedef int (*pl_poll_fn)(void *ctx);

typedef struct pl_stage {
    const char *name;      /* in records, checkpoints and progress lines: "kh", "train" */
    const char *sections;  /* the config sections that define it, space separated */
    int supervised;        /* epochs report loss, training and validation error */
} pl_stage;

struct pl_rule {
    const char *name;      /* the value of model.rule */
    const char *title;     /* one line: --help, plastic info */
    int nstages;
    pl_stage stages[PL_MAX_STAGES];
    /* Sweeps: the first shared_stages stages are trained once and shared by
     * every run whose keys of those stages agree (KH: the hidden layer);
     * runs sharing them are ordered by reuse_keys (values a rule may cache
     * across runs, e.g. the features of readout.n). */
    int shared_stages;
    const char *reuse_keys[4];
    /* Fields of the last shared stage's last epoch record that describe it
     * in a sweep's results table (KH: how close the rows are to the unit
     * sphere); the report marks a cell "did not converge" when
     * converge_field exceeds sweep.converge_tol (NULL: never). */
    const char *summary_fields[4];
    const char *converge_field;

    /* Constraints between keys and the rank count, before anything runs.
     * Returns 0, or -1 with the reason (naming the keys) in err. */
    int (*check)(const pl_config *cfg, int nranks, char *err, size_t size);
    /* Allocates and initialises the model for cfg on comm (the same values
     * for any rank count). The datasets outlive the model. NULL after an
     * error printed with pl_error (e.g. a network that does not fit the
     * data's shape), the same on every rank. */
    pl_model *(*create)(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                        const pl_dataset *valid, const pl_dataset *test);
    void (*destroy)(pl_model *m);
    /* The model's state, filled into *s (pointers into the model). */
    void (*state)(pl_model *m, pl_state *s);
    /* After arrays were filled from a file: refresh what derives from them. */
    void (*loaded)(pl_model *m);

    int (*epochs)(const pl_config *cfg, int stage);
    double (*lr)(const pl_config *cfg, int stage, int epoch); /* for records */
    /* Before the first epoch of a stage (also when resuming in it): e.g.
     * KH computes the readout's features. Returns 0 or an exit code. */
    int (*begin_stage)(pl_model *m, int stage);
    /* One epoch of a stage from pos->batch on, counting minibatches in
     * pos->batch and, for supervised stages, adding to the running sums.
     * poll (may be NULL) runs after every minibatch but the epoch's last.
     * Returns 0 when complete, PL_EXIT_CHECKPOINTED when poll stopped it,
     * PL_EXIT_DIVERGED (the model is left finite where the rule can).
     * Collective. */
    int (*epoch)(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                 void *ctx);
    /* (optional) Before a checkpoint between minibatches (a signal's, or
     * checkpoint.minutes'): bring what the last minibatch left in flight
     * into the state, without changing what training computes, and add any
     * loss and errors that completes to pos (rec-LRA's one-step-stale
     * pipeline: the pending minibatch's increments summed and kept for its
     * step). Collective. */
    void (*settle)(pl_model *m, int stage, pl_epoch_pos *pos);
    /* Misclassified examples of a split (supervised rules, after the last
     * stage has begun). Collective, the same on every rank. */
    long (*errors)(pl_model *m, int split);
    /* The rule's own fields of an epoch record (after the trainer's) and
     * the progress line's detail. Collective (may reduce). */
    void (*record)(pl_model *m, int stage, pl_json *j, char *detail, size_t size);
    /* "K=2000 p=3 k=7" for the start line; fields of the start record. */
    void (*describe)(pl_model *m, pl_json *j, char *line, size_t size);
    /* What to try when a stage diverged, e.g. "try a smaller kh.eps0". */
    const char *(*diverged_hint)(int stage);

    /* Sweeps: makes m run cfg from stage `from` on, keeping the earlier
     * stages (the caller checked that their keys agree) and whatever the
     * rule may reuse. */
    void (*restart)(pl_model *m, const pl_config *cfg, int from);

    /* Sweeps, optional (NULL: every run trains alone): a batch of runs that
     * share the shared stages (so run.seed) and differ only in the keys
     * batch_keys names (KH: readout.m, readout.beta) trains its later
     * stages together, each run's results bitwise what it would compute
     * alone. restart_batch makes m run cfgs[0..n) from stage `from` on
     * (m->cfg = cfgs[0]; the caller keeps cfgs alive). epoch_batch runs one
     * epoch of every live member from minibatch 0, filling pos[i] (n of
     * them) as epoch does, without a poll; a member whose epoch loss is not
     * finite has diverged: the rule freezes it (it no longer trains or
     * touches the others, its pos untouched from then on), as the run alone
     * would stop after that epoch. errors_batch: errors[i] of each live
     * member, -1 for a diverged one. Collective. */
    const char *batch_keys[4];
    void (*restart_batch)(pl_model *m, const pl_config *const *cfgs, int n, int from);
    int (*epoch_batch)(pl_model *m, int stage, int epoch, pl_epoch_pos *pos);
    void (*errors_batch)(pl_model *m, int split, long *errors);

    /* bench: seconds of the bare GEMMs one epoch of the stage needs (the
     * yardstick of its epoch time; slowest rank), and a line describing
     * the layout. Collective. */
    double (*bench_bare)(pl_model *m, int stage);
    void (*bench_describe)(pl_model *m, int stage, char *line, size_t size);
    /* bench (optional): the rule's own timings of the epoch just run as a
     * line for rank 0, or "" (e.g. a pipeline's per-stage compute and
     * message times). Collective. */
    void (*bench_detail)(pl_model *m, int stage, char *line, size_t size);
};

/* ---- the registry (src/rules/registry.c) ---- */

/* The rule of model.rule, or NULL. */
const pl_rule *pl_rule_find(const char *name);
const pl_rule *pl_rule_of(const pl_config *cfg);
/* Every registered rule, NULL-terminated. */
const pl_rule *const *pl_rules(void);

/* The rule's check; prints the error and returns PL_EXIT_USAGE, or 0. */
int pl_rule_check(const pl_config *cfg, int nranks);

/* The sections no stage of this rule reads (other rules' sections), as a
 * NULL-terminated list: identities and resume comparisons skip them. */
const char *const *pl_rule_foreign_sections(const pl_rule *rule);

/* The sections of stages [first, nstages), NULL-terminated, appended to the
 * foreign ones: the shared-stage key of a sweep hashes everything else. */
const char *const *pl_rule_sections_from(const pl_rule *rule, int first);

/* Index of the stage called name, nstages for "done", or -1. */
int pl_rule_stage_index(const pl_rule *rule, const char *name);
/* Name of a stage index; "done" for nstages. */
const char *pl_rule_stage_name(const pl_rule *rule, int stage);

#endif
