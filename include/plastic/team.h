/* A small, persistent team of threads for the KH step (kh.c): the caller
 * and n - 1 workers run one function together, meeting at barriers.
 *
 * Waiting is tuned for a shared machine with as many threads as cores: a
 * waiter spins briefly, then yields the core for up to about a millisecond
 * (so a descheduled team member gets to run, as OpenBLAS's own threads do),
 * then sleeps on a condition variable. libgomp's default policy spins for
 * much longer without yielding: with one core taken by another process, KH
 * epochs on OpenMP took 1.5x as long as on this team, and in noisy bench runs
 * up to 10x their quiet time (docs/results.md). Idle workers sleep and take
 * no CPU. */
#ifndef PLASTIC_TEAM_H
#define PLASTIC_TEAM_H

typedef struct pl_team pl_team;

/* id is 0 for the calling thread, 1 .. n-1 for the workers. */
typedef void (*pl_team_fn)(void *ctx, int id);

/* Starts n - 1 workers (n >= 1; n = 1 starts none). Workers block every
 * signal, so signals reach the process's other threads. Aborts if a thread
 * cannot be started. */
pl_team *pl_team_create(int n);
void pl_team_destroy(pl_team *t); /* NULL is fine */
int pl_team_size(const pl_team *t);

/* Runs fn(ctx, id) on every member, the caller as id 0, and returns when all
 * have returned; their writes are then visible to the caller. Only the
 * thread that created the team may call it, and not from within fn. */
void pl_team_run(pl_team *t, pl_team_fn fn, void *ctx);

/* Within fn: waits until every member has reached it. Writes made before
 * the barrier by any member are visible after it to all. */
void pl_team_barrier(pl_team *t);

#endif
