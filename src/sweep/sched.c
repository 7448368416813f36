/* Run scheduling for sweeps (sched.h). */
#include "plastic/sched.h"
#include "plastic/common.h"
#include "plastic/rule.h"
#include "plastic/tpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void grow(pl_sched *s, long need)
{
    if (need <= s->cap)
        return;
    long cap = s->cap ? s->cap : 64;
    while (cap < need)
        cap *= 2;
#define GROW(p)                                                                 \
    do {                                                                        \
        void *bigger = pl_calloc((size_t)cap, sizeof *(p));                     \
        if (s->nruns)                                                           \
            memcpy(bigger, (p), (size_t)s->nruns * sizeof *(p));                \
        pl_free(p);                                                             \
        (p) = bigger;                                                           \
    } while (0)
    GROW(s->runs);
    GROW(s->id);
    GROW(s->shared);
    GROW(s->sidx);
    GROW(s->loss);
    GROW(s->state);
#undef GROW
    s->cap = cap;
}

static long shared_index(pl_sched *s, uint64_t key)
{
    for (long h = 0; h < s->nshared; h++)
        if (s->skey[h] == key)
            return h;
    if (s->nshared == s->scap) {
        long cap = s->scap ? 2 * s->scap : 64;
        uint64_t *k = pl_calloc((size_t)cap, sizeof *k);
        int *o = pl_calloc((size_t)cap, sizeof *o);
        char *r = pl_calloc((size_t)cap, 1);
        if (s->nshared) {
            memcpy(k, s->skey, (size_t)s->nshared * sizeof *k);
            memcpy(o, s->sowner, (size_t)s->nshared * sizeof *o);
            memcpy(r, s->sready, (size_t)s->nshared);
        }
        pl_free(s->skey), pl_free(s->sowner), pl_free(s->sready);
        s->skey = k, s->sowner = o, s->sready = r;
        s->scap = cap;
    }
    s->skey[s->nshared] = key;
    s->sowner[s->nshared] = -1;
    s->sready[s->nshared] = 0;
    return s->nshared++;
}

/* Appends a run; it starts finished if done holds its id. */
static int add_run(pl_sched *s, const pl_sweep_run *run, const pl_table *done)
{
    pl_config cfg;
    if (pl_sweep_config(s->sw, run, &cfg) != 0)
        return PL_EXIT_USAGE;
    grow(s, s->nruns + 1);
    long i = s->nruns++;
    s->runs[i] = *run;
    s->id[i] = pl_sweep_run_id(&cfg);
    s->shared[i] = pl_sweep_shared_key(&cfg);
    s->loss[i] = NAN;
    s->sidx[i] = shared_index(s, s->shared[i]);
    char hex[17];
    pl_sweep_hex(s->id[i], hex);
    long row = done ? pl_table_find(done, hex) : -1;
    if (row >= 0) {
        s->state[i] = PL_RUN_DONE;
        s->skipped++;
        int col = pl_table_column(done, "valid_error");
        s->loss[i] = col >= 0 ? strtod(done->rows[row][col], NULL) : NAN;
    } else {
        s->state[i] = PL_RUN_PENDING;
        s->pending++;
    }
    return 0;
}

static int add_point(pl_sched *s, const int *choice, const pl_table *done)
{
    for (int rep = 0; rep < s->sw->repeats; rep++) {
        pl_sweep_run run = {.stage = PL_STAGE_SEARCH, .repeat = rep};
        memcpy(run.choice, choice, (size_t)s->sw->naxes * sizeof *choice);
        if (add_run(s, &run, done))
            return PL_EXIT_USAGE;
    }
    s->proposals++;
    return 0;
}

/* TPE restart: the distinct points of the table's search rows. */
static int points_from_table(pl_sched *s, const pl_table *done)
{
    const pl_sweep *sw = s->sw;
    int cols[PL_SWEEP_MAX_AXES], stage = pl_table_column(done, "stage");
    for (int a = 0; a < sw->naxes; a++)
        cols[a] = pl_table_column(done, sw->axes[a].key);
    for (long r = 0; r < done->nrows; r++) {
        if (stage < 0 || strcmp(done->rows[r][stage], "search") != 0)
            continue;
        int choice[PL_SWEEP_MAX_AXES] = {0}, known = 1;
        for (int a = 0; a < sw->naxes && known; a++) {
            known = 0;
            for (int v = 0; v < sw->axes[a].nvalues && cols[a] >= 0; v++)
                if (!strcmp(sw->axes[a].values[v], done->rows[r][cols[a]])) {
                    choice[a] = v;
                    known = 1;
                }
        }
        int seen = !known;
        for (long i = 0; i < s->nruns && !seen; i++)
            seen = !memcmp(s->runs[i].choice, choice, (size_t)sw->naxes * sizeof *choice);
        if (!seen && add_point(s, choice, done))
            return PL_EXIT_USAGE;
    }
    return 0;
}

int pl_sched_init(pl_sched *s, const pl_sweep *sw, const pl_sweep_run *runs, long nruns,
                  const pl_table *done)
{
    memset(s, 0, sizeof *s);
    s->sw = sw;
    s->tpe = sw->strategy == PL_STRATEGY_TPE && (nruns == 0 || runs[0].stage == PL_STAGE_SEARCH);
    if (s->tpe)
        return done ? points_from_table(s, done) : 0;
    for (long i = 0; i < nruns; i++)
        if (add_run(s, &runs[i], done))
            return PL_EXIT_USAGE;
    return 0;
}

void pl_sched_free(pl_sched *s)
{
    pl_free(s->runs), pl_free(s->id), pl_free(s->shared), pl_free(s->sidx), pl_free(s->loss);
    pl_free(s->state);
    pl_free(s->skey), pl_free(s->sowner), pl_free(s->sready);
    memset(s, 0, sizeof *s);
}

void pl_sched_id_hex(const pl_sched *s, long run, char out[17]) { pl_sweep_hex(s->id[run], out); }

/* Proposes the next TPE point from the finished ones (loss: the mean
 * validation error over its repeats; failed repeats make it NaN). */
static int propose(pl_sched *s)
{
    const pl_sweep *sw = s->sw;
    const int naxes = sw->naxes, R = sw->repeats;
    long npoints = s->nruns / R;
    int *obs = pl_alloc((size_t)(npoints ? npoints : 1) * (size_t)naxes * sizeof *obs);
    int *pend = pl_alloc((size_t)(npoints ? npoints : 1) * (size_t)naxes * sizeof *pend);
    double *loss = pl_alloc((size_t)(npoints ? npoints : 1) * sizeof *loss);
    int nobs = 0, npend = 0, nvalues[PL_SWEEP_MAX_AXES];
    for (int a = 0; a < naxes; a++)
        nvalues[a] = sw->axes[a].nvalues;
    for (long p = 0; p < npoints; p++) {
        int finished = 1;
        double sum = 0.0;
        for (int r = 0; r < R; r++) {
            finished &= s->state[p * R + r] == PL_RUN_DONE;
            sum += s->loss[p * R + r];
        }
        if (finished) {
            memcpy(obs + (size_t)nobs * naxes, s->runs[p * R].choice, (size_t)naxes * sizeof *obs);
            loss[nobs++] = sum / R;
        } else {
            memcpy(pend + (size_t)npend * naxes, s->runs[p * R].choice,
                   (size_t)naxes * sizeof *pend);
            npend++;
        }
    }
    pl_tpe_space space = {naxes, nvalues};
    pl_tpe_history hist = {nobs, obs, loss, npend, pend};
    pl_tpe_options opt = {0.25, 24, sw->tpe_startup};
    int choice[PL_SWEEP_MAX_AXES] = {0};
    int rc = pl_tpe_propose(&space, &hist, &opt, sw->base.run.seed, (uint64_t)s->proposals,
                            choice);
    pl_free(obs), pl_free(pend), pl_free(loss);
    return rc == 0 ? add_point(s, choice, NULL) : PL_EXIT_USAGE;
}

static long first_pending(const pl_sched *s, int (*want)(const pl_sched *, long, int, uint64_t),
                          int group, uint64_t held)
{
    for (long i = 0; i < s->nruns; i++)
        if (s->state[i] == PL_RUN_PENDING && want(s, i, group, held))
            return i;
    return -1;
}

static int is_held(const pl_sched *s, long i, int group, uint64_t held)
{
    (void)group;
    return held != 0 && s->shared[i] == held && s->sready[s->sidx[i]];
}

static int is_untouched(const pl_sched *s, long i, int group, uint64_t held)
{
    (void)group, (void)held;
    return s->sowner[s->sidx[i]] < 0;
}

static int is_ready(const pl_sched *s, long i, int group, uint64_t held)
{
    (void)group, (void)held;
    return s->sready[s->sidx[i]];
}

int pl_sched_next(pl_sched *s, int group, uint64_t held, long *run)
{
    if (s->tpe && s->pending == 0 && s->proposals < s->sw->trials && propose(s) != 0)
        return PL_SCHED_DONE;
    long i = first_pending(s, is_held, group, held);
    if (i < 0)
        i = first_pending(s, is_untouched, group, held);
    if (i < 0)
        i = first_pending(s, is_ready, group, held);
    if (i < 0)
        return s->pending > 0 || (s->tpe && s->running > 0 && s->proposals < s->sw->trials)
                   ? PL_SCHED_WAIT
                   : PL_SCHED_DONE;
    if (s->sowner[s->sidx[i]] < 0)
        s->sowner[s->sidx[i]] = group;
    s->state[i] = PL_RUN_RUNNING;
    s->pending--;
    s->running++;
    *run = i;
    return PL_SCHED_RUN;
}

/* 1 if run j may train together with run i: the same stage, repeat and
 * shared stages (so run.seed), and the same value on every axis outside the
 * rule's batch_keys. */
static int batchable(const pl_sched *s, long i, long j)
{
    const pl_sweep *sw = s->sw;
    const pl_sweep_run *a = &s->runs[i], *b = &s->runs[j];
    if (s->shared[i] != s->shared[j] || a->stage != b->stage || a->repeat != b->repeat)
        return 0;
    for (int x = 0; x < sw->naxes; x++) {
        int free_axis = 0;
        for (int k = 0; k < 4 && sw->rule->batch_keys[k] && !free_axis; k++)
            free_axis = !strcmp(sw->axes[x].key, sw->rule->batch_keys[k]);
        if (!free_axis && a->choice[x] != b->choice[x])
            return 0;
    }
    return 1;
}

int pl_sched_next_batch(pl_sched *s, int group, uint64_t held, int max, long *runs, int *n)
{
    *n = 0;
    int how = pl_sched_next(s, group, held, &runs[0]);
    if (how != PL_SCHED_RUN)
        return how;
    *n = 1;
    const struct pl_rule *rule = s->sw->rule;
    if (s->tpe || max <= 1 || !rule || !rule->epoch_batch)
        return how;
    for (long j = 0; j < s->nruns && *n < max; j++)
        if (s->state[j] == PL_RUN_PENDING && batchable(s, runs[0], j)) {
            s->state[j] = PL_RUN_RUNNING;
            s->pending--;
            s->running++;
            runs[(*n)++] = j;
        }
    return how;
}

void pl_sched_finish(pl_sched *s, long run, double loss)
{
    if (run < 0 || run >= s->nruns || s->state[run] != PL_RUN_RUNNING)
        return;
    s->state[run] = PL_RUN_DONE;
    s->loss[run] = loss;
    s->running--;
    s->sready[s->sidx[run]] = 1;
}

void pl_sched_abandon(pl_sched *s, long run)
{
    if (run < 0 || run >= s->nruns || s->state[run] != PL_RUN_RUNNING)
        return;
    s->state[run] = PL_RUN_PENDING;
    s->running--;
    s->pending++;
    if (!s->sready[s->sidx[run]])
        s->sowner[s->sidx[run]] = -1;
}
