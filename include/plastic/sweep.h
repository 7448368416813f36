/* Sweeps: a grid (or a random or TPE search) of runs over configuration
 * keys, every run with a stable id, results in one table.
 *
 * A sweep file is a normal configuration plus a [sweep] section:
 *
 *   [sweep]
 *   kh.p = 2,3,4,5,6          ; an axis: a key and its values
 *   kh.k = 2..8               ; an integer range
 *   readout.beta = 0.01,0.1,1
 *   repeats = 3               ; runs per point, seeds run.seed + 0, 1, 2
 *   strategy = grid           ; grid | random | tpe
 *   trials = 0                ; points of a random or TPE search
 *   group_size = 1            ; ranks per run in an MPI task farm
 *   batch = 16                ; runs a group trains together (rule.h batch_keys)
 *   dir = sweeps/<run.name>   ; where the sweep lives
 *
 * A run is (stage, point, repeat): the point picks one value per axis. The
 * search stage runs the grid (or the sampled points); the final stage
 * retrains the best point of each cell on the full training set
 * (data.valid = 0), final_repeats times. A cell is a combination of the
 * axes outside the tuned sections (sweep.tune; by default the sections of
 * the rule's stages after its shared ones: KH's [readout]).
 *
 * A run's id hashes its resolved configuration (pl_config_identity), so the
 * same run has the same id whatever the sweep file's order or spelling.
 * Runs whose configurations agree on every key of the rule's shared stages
 * (rule.h: KH's hidden layer) share one training of them: their "shared
 * key" hashes the identity without the later stages' sections. A rule
 * without shared stages trains each run alone: its shared key is its id.
 * Either way the training is a `plastic train` run in
 * <sweep.dir>/runs/<shared key>/, checkpointed and resumable. */
#ifndef PLASTIC_SWEEP_H
#define PLASTIC_SWEEP_H

#include <stdint.h>
#include "plastic/config.h"

#define PL_SWEEP_MAX_AXES 16
#define PL_SWEEP_MAX_VALUES 1024
/* Most runs a sweep may have: points (the grid, or the trials of a random
 * or TPE search) times the larger of repeats and final_repeats. Keeps the
 * expansion in memory and every count of runs within an int. */
#define PL_SWEEP_MAX_RUNS 1000000
#define PL_KEY_MAX (2 * PL_NAME_MAX)
/* Most runs one group trains together (sweep.batch). */
#define PL_SWEEP_MAX_BATCH 64

enum pl_sweep_stage { PL_STAGE_SEARCH = 0, PL_STAGE_FINAL = 1 };
enum pl_sweep_strategy { PL_STRATEGY_GRID, PL_STRATEGY_RANDOM, PL_STRATEGY_TPE };

typedef struct pl_sweep_axis {
    char key[PL_KEY_MAX]; /* "kh.p" */
    int tuned;            /* 1 for keys of a tuned section: chosen per cell by the report */
    int nvalues;
    char **values;        /* resolved value texts, as config.ini writes them */
} pl_sweep_axis;

typedef struct pl_sweep {
    char path[PL_PATH_MAX];
    char *text;           /* the sweep file as read */
    pl_config base;       /* the configuration part, finalized */
    int naxes;
    pl_sweep_axis axes[PL_SWEEP_MAX_AXES];
    int repeats, final_repeats;
    int strategy;
    int trials;           /* random and tpe: points to evaluate */
    int tpe_startup;      /* tpe: random points before the model is used */
    int group_size;
    int batch;            /* most runs a group trains together: those sharing the shared
                             stages and differing only in the rule's batch_keys (1: alone) */
    double converge_tol;  /* report: a cell whose shared stage ends with the
                             rule's converge_field above this did not converge */
    char tune[PL_PATH_MAX]; /* sections whose axes are chosen per cell, space separated */
    char dir[PL_PATH_MAX];
    const struct pl_rule *rule; /* base.model.rule's */
} pl_sweep;

typedef struct pl_sweep_run {
    int stage;
    int repeat;
    int choice[PL_SWEEP_MAX_AXES]; /* value index per axis */
} pl_sweep_run;

/* Reads a sweep file. Errors name the file and line (or the axis and
 * value) and return PL_EXIT_USAGE. overrides (may be NULL) apply to the
 * configuration part, as on the train command line. */
int pl_sweep_load(pl_sweep *sw, const char *path, char **overrides, int noverrides);
void pl_sweep_free(pl_sweep *sw);

/* Points of the search stage in schedule order, each repeated: the grid
 * (first axis slowest), or `trials` points sampled without replacement from
 * it (random). Runs are ordered so that those sharing a shared stage are
 * adjacent, and within those, runs agreeing on the rule's reuse_keys (KH:
 * readout.n, the same features).
 * *runs is allocated; returns the count. TPE proposes its points while
 * running: it returns 0 runs here. */
long pl_sweep_expand(const pl_sweep *sw, pl_sweep_run **runs);

/* The run's resolved configuration: base, the axis values, run.seed + the
 * repeat, data.valid = 0 for the final stage, run.dir the sweep's
 * runs/<shared key> directory. Returns 0 or PL_EXIT_USAGE (the rule's
 * check failed). */
int pl_sweep_config(const pl_sweep *sw, const pl_sweep_run *run, pl_config *cfg);

/* The configuration that trains a run's shared stages: cfg with the later
 * stages' sections at their defaults, so every run sharing them trains (or
 * resumes) the same run. */
void pl_sweep_shared_config(const pl_config *cfg, pl_config *shared);

/* Stable ids: of the run (its whole computation) and of its shared stages
 * (everything but the later stages' sections; the run id for a rule
 * without shared stages). */
uint64_t pl_sweep_run_id(const pl_config *cfg);
uint64_t pl_sweep_shared_key(const pl_config *cfg);
/* 16 lower-case hex digits. */
void pl_sweep_hex(uint64_t id, char out[17]);
/* The id of a run of this sweep, as the results table spells it. */
void pl_sweep_run_hex(const pl_sweep *sw, const pl_sweep_run *run, char out[17]);

/* Orders runs for execution: grouped by shared key (in order of first
 * appearance), then by the rule's reuse_keys, then by their given order.
 * Stable. */
void pl_sweep_schedule(const pl_sweep *sw, pl_sweep_run *runs, long nruns);

/* Slice `slice` of `nslices` (0-based) of an ordered run list: the
 * contiguous block [*lo, *hi). The slices partition the list. */
void pl_sweep_slice(long nruns, int slice, int nslices, long *lo, long *hi);

/* Parses "i/N" (0 <= i < N). Returns 0, or -1. */
int pl_sweep_parse_slice(const char *text, int *slice, int *nslices);

/* How many distinct shared keys the runs need. */
long pl_sweep_count_shared(const pl_sweep *sw, const pl_sweep_run *runs, long nruns);

/* `plastic sweep SWEEP.ini [--plan] [--slice i/N] [--report] [--cores N]
 * [section.key=value ...]` on world (src/sweep.c). argv holds what follows
 * the verb. Returns an exit code. */
typedef struct pl_comm pl_comm;
int pl_sweep_verb(int argc, char **argv, const pl_comm *world);

#endif
