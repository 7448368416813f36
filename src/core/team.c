/* The KH step's thread team (team.h). Two counters carry all the
 * signalling: `job` counts runs started, `bar_gen` counts barriers passed.
 * A waiter watches one of them change (wait_change); whoever changes one
 * wakes the sleepers, if any (bump). */
#include "plastic/team.h"
#include "plastic/common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <time.h>

/* Spin this many polls before yielding, then yield for up to YIELD_NS
 * before sleeping. The spin covers a barrier whose members are all running
 * (a microsecond or two); the yields cover one that waits for a member the
 * kernel has descheduled, and the gap between two minibatches. */
enum { SPINS = 128 };
#define YIELD_NS 1000000L

struct pl_team {
    int n;
    pl_team_fn fn;
    void *ctx;
    int quit;
    _Alignas(64) atomic_uint job;
    _Alignas(64) atomic_uint bar_gen;
    _Alignas(64) atomic_uint bar_count;
    _Alignas(64) atomic_int sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t *threads;
    struct worker_arg *args;
};

struct worker_arg {
    pl_team *team;
    int id;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* Returns once *word != seen. The sleeper count and the word are seq_cst on
 * both sides, so either bump() sees a sleeper and broadcasts under the lock,
 * or the sleeper sees the new value before it waits. */
static void wait_change(pl_team *t, atomic_uint *word, unsigned seen)
{
    for (int i = 0; i < SPINS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        cpu_relax();
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        sched_yield();
    } while (elapsed_ns(&t0) < YIELD_NS);
    pthread_mutex_lock(&t->lock);
    atomic_fetch_add(&t->sleepers, 1);
    while (atomic_load(word) == seen)
        pthread_cond_wait(&t->wake, &t->lock);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->lock);
}

static void bump(pl_team *t, atomic_uint *word)
{
    atomic_fetch_add(word, 1);
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
    }
}

void pl_team_barrier(pl_team *t)
{
    if (t->n == 1)
        return;
    unsigned gen = atomic_load_explicit(&t->bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->bar_count, 1, memory_order_acq_rel) == (unsigned)t->n - 1) {
        atomic_store_explicit(&t->bar_count, 0, memory_order_relaxed);
        bump(t, &t->bar_gen);
    } else {
        wait_change(t, &t->bar_gen, gen);
    }
}

static void *worker(void *p)
{
    struct worker_arg *a = p;
    pl_team *t = a->team;
    unsigned seen = 0;
    for (;;) {
        wait_change(t, &t->job, seen);
        seen++;
        if (t->quit)
            return NULL;
        t->fn(t->ctx, a->id);
        pl_team_barrier(t);
    }
}

pl_team *pl_team_create(int n)
{
    pl_team *t = pl_calloc(1, sizeof *t);
    t->n = n < 1 ? 1 : n;
    atomic_init(&t->job, 0);
    atomic_init(&t->bar_gen, 0);
    atomic_init(&t->bar_count, 0);
    atomic_init(&t->sleepers, 0);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    if (t->n > 1) {
        t->threads = pl_alloc((size_t)(t->n - 1) * sizeof *t->threads);
        t->args = pl_alloc((size_t)(t->n - 1) * sizeof *t->args);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (int i = 0; i < t->n - 1; i++) {
            t->args[i] = (struct worker_arg){t, i + 1};
            if (pthread_create(&t->threads[i], NULL, worker, &t->args[i]) != 0) {
                pl_error_all("cannot start a thread of the KH step");
                abort();
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return t;
}

void pl_team_destroy(pl_team *t)
{
    if (!t)
        return;
    if (t->n > 1) {
        t->quit = 1;
        bump(t, &t->job);
        for (int i = 0; i < t->n - 1; i++)
            pthread_join(t->threads[i], NULL);
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    pl_free(t->threads);
    pl_free(t->args);
    pl_free(t);
}

int pl_team_size(const pl_team *t) { return t->n; }

void pl_team_run(pl_team *t, pl_team_fn fn, void *ctx)
{
    t->fn = fn;
    t->ctx = ctx;
    if (t->n > 1)
        bump(t, &t->job); /* seq_cst: publishes fn and ctx */
    fn(ctx, 0);
    pl_team_barrier(t);
}
