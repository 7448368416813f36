/* Which run a group of ranks does next (pure bookkeeping, no MPI).
 *
 * Runs that share their shared stages (rule.h; KH: the hidden layer) must
 * not train them twice at once, and a group that holds them (and what the
 * rule caches) in memory should keep using them. So a group asking for
 * work gets, in this order:
 *   1. a pending run of the shared stage it holds;
 *   2. a pending run of a shared stage nobody has touched yet (the group
 *      trains or loads it);
 *   3. a pending run of a shared stage another group has made ready;
 *   4. WAIT if every pending run needs a shared stage still being trained,
 *      else DONE.
 * With sweep.batch > 1 the group also gets the pending runs that may train
 * together with that run (pl_sched_next_batch).
 * TPE sweeps grow the run list: when nothing is pending and fewer than
 * `trials` points were proposed, a new point (all its repeats) is proposed
 * from the points finished so far. */
#ifndef PLASTIC_SCHED_H
#define PLASTIC_SCHED_H

#include <stdint.h>
#include "plastic/sweep.h"
#include "plastic/table.h"

enum pl_sched_answer { PL_SCHED_RUN = 0, PL_SCHED_WAIT = 1, PL_SCHED_DONE = 2 };
enum pl_run_state { PL_RUN_PENDING = 0, PL_RUN_RUNNING = 1, PL_RUN_DONE = 2 };

typedef struct pl_sched {
    const pl_sweep *sw;
    long nruns, cap;
    pl_sweep_run *runs;
    uint64_t *id, *shared;
    long *sidx;            /* index of each run's shared stage in skey[] */
    double *loss;          /* validation error of finished runs (NaN: failed) */
    char *state;           /* pl_run_state */
    long pending, running, skipped;
    /* shared stages: key, and the group that made it ready or is making it
     * (-1 untouched); ready once its first run finished */
    long nshared, scap;
    uint64_t *skey;
    int *sowner;
    char *sready;
    int tpe;               /* proposes points as it goes */
    long proposals;        /* TPE points proposed so far */
} pl_sched;

/* Takes the runs (copied). Runs whose id has a row in done (may be NULL)
 * start finished. For TPE (sw->strategy), runs are ignored: the points
 * already in done (stage search) are taken up again, missing repeats
 * pending. Returns 0 or PL_EXIT_USAGE. */
int pl_sched_init(pl_sched *s, const pl_sweep *sw, const pl_sweep_run *runs, long nruns,
                  const pl_table *done);
void pl_sched_free(pl_sched *s);

/* The next run for `group`, which holds shared stage `held` (0: none).
 * On PL_SCHED_RUN, *run is its index and it is marked running. */
int pl_sched_next(pl_sched *s, int group, uint64_t held, long *run);

/* Like pl_sched_next, then up to max - 1 more pending runs that may train
 * together with the first (the rule's batch_keys, rule.h): the same shared
 * stages, stage and repeat, differing only on axes of batch keys. TPE
 * sweeps and rules without batch hooks get one. runs[0..*n) are marked
 * running. */
int pl_sched_next_batch(pl_sched *s, int group, uint64_t held, int max, long *runs, int *n);

/* Run `run` ended with validation error loss (NaN for a failed run). */
void pl_sched_finish(pl_sched *s, long run, double loss);

/* A running run goes back to pending (its group stopped early); a shared
 * layer it was making becomes untouched again. */
void pl_sched_abandon(pl_sched *s, long run);

/* The run's id as the table spells it. */
void pl_sched_id_hex(const pl_sched *s, long run, char out[17]);

#endif
