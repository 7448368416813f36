/* `plastic sweep SWEEP.ini [--plan] [--slice i/N] [--report] [--cores N]
 *                          [section.key=value ...]`
 *
 * Runs the sweep's search stage (or, with --report, the final stage and the
 * report) on the world: split into groups of sweep.group_size ranks that
 * take runs from a dispatcher (farm.h), or, with --slice, only the runs of
 * one deterministic slice. Every finished run is one row of
 * <sweep.dir>/results.csv; runs already there are skipped, so a killed
 * sweep is continued by running the same command again. */
#include "plastic/common.h"
#include "plastic/farm.h"
#include "plastic/par.h"
#include "plastic/report.h"
#include "plastic/rule.h"
#include "plastic/sched.h"
#include "plastic/signals.h"
#include "plastic/sweep.h"
#include "plastic/table.h"
#include "plastic/worker.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct options {
    const char *path;
    int plan, report, slice, nslices, cores;
    const char *show;
    char **overrides;
    int noverrides;
} options;

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->nslices = 1;
    o->overrides = pl_calloc((size_t)argc + 1, sizeof *o->overrides);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--plan")) {
            o->plan = 1;
        } else if (!strcmp(a, "--report")) {
            o->report = 1;
        } else if (!strcmp(a, "--show")) {
            if (i + 1 == argc) {
                pl_error("--show needs a run id");
                return PL_EXIT_USAGE;
            }
            o->show = argv[++i];
        } else if (!strcmp(a, "--slice") || !strcmp(a, "--cores")) {
            if (i + 1 == argc) {
                pl_error("%s needs a value", a);
                return PL_EXIT_USAGE;
            }
            const char *v = argv[++i];
            char *end;
            if (!strcmp(a, "--slice") && pl_sweep_parse_slice(v, &o->slice, &o->nslices)) {
                pl_error("--slice %s: expected i/N with 0 <= i < N", v);
                return PL_EXIT_USAGE;
            }
            if (!strcmp(a, "--cores") && ((o->cores = (int)strtol(v, &end, 10)) < 1 || *end)) {
                pl_error("--cores %s: expected a positive integer", v);
                return PL_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] == '-') {
            pl_error("unknown option '%s' (sweep takes --plan, --slice i/N, --report, --cores N, "
                     "--show ID)",
                     a);
            return PL_EXIT_USAGE;
        } else if (!o->path) {
            o->path = a;
        } else {
            o->overrides[o->noverrides++] = argv[i];
        }
    }
    if (!o->path) {
        pl_error("sweep needs a SWEEP.ini (try plastic --help)");
        return PL_EXIT_USAGE;
    }
    return 0;
}

/* ---- the plan ---- */

/* Mean of a column over rows with stage and (if col2) col2 == 1. */
static double mean_of(const pl_table *t, const char *col, const char *flag, double *count)
{
    int c = pl_table_column(t, col), fc = flag ? pl_table_column(t, flag) : -1;
    double sum = 0;
    *count = 0;
    for (long r = 0; r < t->nrows && c >= 0; r++) {
        if (flag && (fc < 0 || atoi(t->rows[r][fc]) != 1))
            continue;
        sum += strtod(t->rows[r][c], NULL);
        ++*count;
    }
    return *count ? sum / *count : NAN;
}

static void print_plan(const pl_sweep *sw, const options *o, const pl_sweep_run *runs, long n,
                       int world)
{
    static const char *const names[] = {"grid", "random", "tpe"};
    printf("sweep %s: strategy %s, %d axes, %d repeat(s), group_size %d, batch %d, dir %s\n",
           sw->path, names[sw->strategy], sw->naxes, sw->repeats, sw->group_size, sw->batch,
           sw->dir);
    for (int a = 0; a < sw->naxes; a++) {
        printf("  %-16s %3d value(s):", sw->axes[a].key, sw->axes[a].nvalues);
        for (int v = 0; v < sw->axes[a].nvalues; v++)
            printf(" %s", sw->axes[a].values[v]);
        printf("%s\n", sw->axes[a].tuned ? "   (tuned: chosen per cell)" : "");
    }
    long shared = pl_sweep_count_shared(sw, runs, n);
    if (sw->strategy == PL_STRATEGY_TPE)
        printf("runs: %d trials x %d repeat(s) = %d, proposed as results come in; shared "
               "trainings: at most %d\n", sw->trials, sw->repeats, sw->trials * sw->repeats,
               sw->trials * sw->repeats);
    else
        printf("runs: %ld; distinct shared trainings: %ld (each shared by %.0f runs)\n", n,
               shared, shared ? (double)n / shared : 0.0);
    if (o->nslices > 1) {
        long lo, hi;
        pl_sweep_slice(n, o->slice, o->nslices, &lo, &hi);
        printf("slice %d/%d: runs %ld..%ld (%ld runs, %ld shared trainings)\n", o->slice,
               o->nslices, lo, hi - 1, hi - lo, pl_sweep_count_shared(sw, runs + lo, hi - lo));
    }
    printf("final stage (--report): the best tuned point (%s) of each cell x %d repeat(s) on "
           "the full training set\n", sw->tune[0] ? sw->tune : "none", sw->final_repeats);

    /* with results already in the table: what is left and what it costs */
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/results.csv", sw->dir);
    FILE *probe = fopen(path, "r");
    if (!probe)
        return;
    fclose(probe);
    pl_table t;
    char *header = pl_sweep_header(sw);
    int rc = pl_table_open(&t, path, header);
    free(header);
    if (rc)
        return;
    long done = pl_sweep_count_done(sw, &t, runs, n);
    double nh, nr;
    double shared_s = mean_of(&t, "shared_seconds", "trained_shared", &nh);
    double train_s = mean_of(&t, "train_seconds", NULL, &nr);
    double load_s = mean_of(&t, "load_seconds", NULL, &nr);
    double ranks = mean_of(&t, "ranks", NULL, &nr);
    printf("results.csv: %ld of these %ld runs done (%ld rows in all)\n", done, n, t.nrows);
    if (nr > 0 && nh > 0) {
        int cores = o->cores ? o->cores : world;
        double core_s = ranks * (shared * shared_s + n * (train_s + load_s));
        printf("measured per run: shared training %.1f s (mean of %.0f), the run's own stages "
               "%.2f s, loading %.2f s, on %.0f rank(s)\n", shared_s, nh, train_s, load_s, ranks);
        printf("projected: %.1f core-hours for the whole stage; %.2f h wall on %d cores "
               "(perfect packing)\n", core_s / 3600.0, core_s / 3600.0 / cores, cores);
    }
    pl_table_close(&t);
}

/* ---- running ---- */

/* A group's request: the runs it just finished (or gives back, with quit)
 * and what it holds; the answer: the next batch of runs (sweep.batch). */
typedef struct ask {
    int32_t nfinished;
    int32_t quit;      /* the group stops early (signal or error) */
    uint64_t held;     /* shared key the group holds */
    int64_t finished[PL_SWEEP_MAX_BATCH];
    double loss[PL_SWEEP_MAX_BATCH];
} ask;

typedef struct answer {
    int32_t how;       /* PL_SCHED_RUN or PL_SCHED_DONE */
    int32_t was_held;  /* the dispatcher held the request back (no work yet) */
    int32_t n;         /* runs in the batch */
    int32_t pad;
    int64_t run[PL_SWEEP_MAX_BATCH];
    pl_sweep_run desc[PL_SWEEP_MAX_BATCH];
} answer;

typedef struct dispatcher {
    pl_sched *sched;
    char *held;        /* per group: its request is being held back */
} dispatcher;

/* The dispatcher's side (rank 0): farm.h's serve function. */
static int serve(void *ctx, int group, const void *request, void *reply)
{
    dispatcher *d = ctx;
    pl_sched *s = d->sched;
    const ask *q = request;
    answer *a = reply;
    memset(a, 0, sizeof *a);
    a->was_held = d->held[group];
    d->held[group] = 0;
    for (int i = 0; i < q->nfinished; i++) {
        if (q->quit)
            pl_sched_abandon(s, q->finished[i]);
        else
            pl_sched_finish(s, q->finished[i], q->loss[i]);
    }
    if (q->quit) {
        a->how = PL_SCHED_DONE;
        return 2;
    }
    long runs[PL_SWEEP_MAX_BATCH];
    int n;
    int how = pl_sched_next_batch(s, group, q->held, s->sw->batch, runs, &n);
    if (how == PL_SCHED_WAIT) {
        d->held[group] = 1;
        return 1;
    }
    a->how = how;
    a->n = how == PL_SCHED_RUN ? n : 0;
    for (int i = 0; i < a->n; i++) {
        a->run[i] = runs[i];
        a->desc[i] = s->runs[runs[i]];
    }
    return how == PL_SCHED_DONE ? 2 : 0;
}

typedef struct stats {
    long runs, diverged;
    double run_seconds;
    double wait_seconds;  /* asking for work and getting it at once: dispatch */
    double idle_seconds;  /* held back until a shared stage being trained was ready */
} stats;

/* One group's loop: ask, run, record. Returns an exit code. */
static int work(const pl_sweep *sw, pl_farm *farm, dispatcher *local, pl_table *table,
                pl_worker *w, stats *st)
{
    const pl_comm *group = pl_farm_group(farm);
    const int leader = pl_comm_rank(group) == 0, gi = pl_farm_group_index(farm);
    ask q = {.nfinished = 0};
    pl_run_result *res = pl_alloc(PL_SWEEP_MAX_BATCH * sizeof *res);
    answer *a = pl_alloc(sizeof *a);
    int rc = 0;
    for (;;) {
        q.held = w->held;
        double waited;
        if (pl_farm_dynamic(farm)) {
            waited = pl_farm_ask(farm, &q, a);
        } else {
            double t0 = pl_now();
            serve(local, gi, &q, a);
            waited = pl_now() - t0;
        }
        *(a->was_held ? &st->idle_seconds : &st->wait_seconds) += waited;
        if (a->how != PL_SCHED_RUN)
            break;
        rc = pl_worker_run_batch(w, a->desc, a->n, res);
        /* one row per run, appended when the whole batch is done: a batch
         * stopped by a signal or a kill leaves no row and reruns whole */
        for (int i = 0; i < a->n && rc == 0 && leader; i++) {
            char *row = pl_sweep_row(sw, &a->desc[i], &res[i], pl_comm_size(group));
            int put = pl_table_append(table, row);
            free(row);
            if (put == PL_EXIT_DATA)
                rc = PL_EXIT_DATA;
        }
        long bad = rc != 0;
        pl_allreduce_sum_long(group, &bad, 1);
        if (bad && rc == 0)
            rc = PL_EXIT_DATA; /* the leader could not record it */
        q.nfinished = a->n;
        for (int i = 0; i < a->n; i++)
            q.finished[i] = a->run[i];
        if (rc) {
            q.quit = 1; /* give the runs back and stop */
            if (pl_farm_dynamic(farm))
                pl_farm_ask(farm, &q, a);
            else
                serve(local, gi, &q, a);
            break;
        }
        for (int i = 0; i < a->n; i++) {
            const pl_run_result *r = &res[i];
            q.loss[i] = r->status == PL_EXIT_OK ? r->valid_error : NAN;
            st->runs++;
            st->diverged += r->status != PL_EXIT_OK;
            st->run_seconds += r->seconds;
            char id[17];
            pl_sweep_run_hex(sw, &a->desc[i], id);
            pl_info("[group %d] run %s %s: valid %.2f%% test %.2f%% in %.1f s%s%s%s", gi, id,
                    a->desc[i].stage == PL_STAGE_FINAL ? "(final)" : "", r->valid_error,
                    r->test_error, r->seconds, r->trained_shared ? " (trained its shared stages)" : "",
                    a->n > 1 ? " (batched)" : "", r->status != PL_EXIT_OK ? " DIVERGED" : "");
        }
    }
    pl_free(res);
    pl_free(a);
    return rc;
}

/* The runs of this stage: the search expansion, or the final runs chosen
 * from a complete search. Every rank computes the same list. */
static int stage_runs(const pl_sweep *sw, const options *o, const pl_table *t,
                      pl_sweep_run **runs, long *n)
{
    if (!o->report) {
        *n = pl_sweep_expand(sw, runs);
        return 0;
    }
    long missing = pl_sweep_missing(sw, t);
    if (missing) {
        pl_error("%s: %ld search run(s) are not in %s/results.csv yet: finish the search "
                 "(the same command without --report) first", sw->path, missing, sw->dir);
        return PL_EXIT_USAGE;
    }
    *n = pl_sweep_final_runs(sw, t, runs);
    return 0;
}

static int run_stage(const pl_sweep *sw, const options *o, const pl_comm *world)
{
    const int rank = pl_comm_rank(world);
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/results.csv", sw->dir);
    int failed = 0;
    if (rank == 0) {
        /* the directory, and the sweep file as it was run, for the record */
        char copy[PL_PATH_MAX + 32];
        snprintf(copy, sizeof copy, "%s/sweep.ini", sw->dir);
        failed = pl_mkdir_p(sw->dir) != 0;
        if (failed)
            pl_error("cannot create directory %s: %s", sw->dir, strerror(errno));
        else if (pl_write_text_atomic(copy, sw->text) != 0)
            pl_error_all("cannot write %s: %s", copy, strerror(errno));
    }
    if (pl_allreduce_or(world, failed))
        return PL_EXIT_DATA;
    /* every rank reads the table: the stage's runs depend on it */
    pl_table table;
    char *header = pl_sweep_header(sw);
    int rc = pl_table_open(&table, path, header);
    free(header);
    long bad = rc != 0;
    pl_allreduce_sum_long(world, &bad, 1);
    if (bad) {
        pl_table_close(&table);
        return PL_EXIT_DATA;
    }
    pl_sweep_run *runs = NULL;
    long n = 0;
    rc = stage_runs(sw, o, &table, &runs, &n);
    if (rc) {
        pl_table_close(&table);
        return rc;
    }
    long lo = 0, hi = n;
    if (sw->strategy == PL_STRATEGY_TPE && o->nslices > 1 && !o->report) {
        pl_error("sweep.strategy = tpe proposes points from earlier results: run it as one "
                 "job (mpirun -np N), not in --slice parts");
        pl_free(runs);
        pl_table_close(&table);
        return PL_EXIT_USAGE;
    }
    pl_sweep_slice(n, o->slice, o->nslices, &lo, &hi);

    pl_farm *farm = pl_farm_create(world, sw->group_size, sizeof(ask), sizeof(answer));
    if (!farm) {
        pl_free(runs);
        pl_table_close(&table);
        return PL_EXIT_USAGE;
    }
    const pl_comm *group = pl_farm_group(farm);
    const int ngroups = pl_farm_groups(farm), gi = pl_farm_group_index(farm);
    /* errors and progress: one voice per group */
    pl_log_set_rank(pl_comm_rank(group));

    /* Dynamic: rank 0's dispatcher schedules the slice for every group.
     * Static: each group schedules its own block of the slice. */
    pl_sched sched;
    long my_lo = lo, my_hi = hi;
    if (!pl_farm_dynamic(farm)) {
        pl_sweep_slice(hi - lo, gi, ngroups, &my_lo, &my_hi);
        my_lo += lo, my_hi += lo;
    }
    /* with a dispatcher only rank 0 schedules; the others need no copy */
    if (pl_farm_dynamic(farm) && rank != 0)
        memset(&sched, 0, sizeof sched);
    else
        rc = pl_sched_init(&sched, sw, runs + my_lo, my_hi - my_lo, &table);
    dispatcher disp = {&sched, pl_calloc((size_t)ngroups, 1)};
    if (rc == 0 && rank == 0)
        printf("sweep: %s stage, %ld run(s)%s, %ld already in results.csv; %d group(s) of %d "
               "rank(s), %s dispatch\n", o->report ? "final" : "search",
               sched.tpe ? (long)sw->trials * sw->repeats : hi - lo,
               o->nslices > 1 ? " in this slice" : "", sched.skipped, ngroups, sw->group_size,
               pl_farm_dynamic(farm) ? "dynamic" : "static");
    fflush(stdout);
    pl_farm_start(farm, serve, &disp);

    pl_worker w;
    pl_worker_init(&w, sw, group);
    stats st = {0};
    double t0 = pl_now();
    if (rc == 0)
        rc = work(sw, farm, &disp, &table, &w, &st);
    double wall = pl_now() - t0;
    const int leader = pl_comm_rank(group) == 0;
    pl_farm_finish(farm);
    pl_log_set_rank(rank);

    /* one line for the whole world: what ran, how fast, what dispatch cost */
    double sums[6] = {leader ? (double)st.runs : 0, leader ? st.run_seconds : 0,
                      leader ? st.wait_seconds : 0, leader ? (double)w.trainings : 0,
                      leader ? (double)w.loads : 0, leader ? st.idle_seconds : 0};
    pl_allreduce_sum_double(world, sums, 6);
    double worst = (double)rc;
    pl_allreduce_max_double(world, &worst, 1);
    rc = (int)worst;
    pl_info("sweep: %.0f run(s) this session, %.0f shared training(s), %.0f load(s); wall "
            "%.1f s, %.0f runs/hour; dispatch %.3f s = %.2f%% of run time; groups idle waiting "
            "for a shared stage %.1f s",
            sums[0], sums[3], sums[4], wall, wall > 0 ? sums[0] * 3600.0 / wall : 0.0, sums[2],
            sums[1] > 0 ? 100.0 * sums[2] / sums[1] : 0.0, sums[5]);

    if (rc == 0 && o->report && rank == 0) {
        pl_table_refresh(&table);
        long finals = pl_sweep_count_done(sw, &table, runs, n);
        if (finals == n) {
            rc = pl_sweep_write_report(sw, &table);
            if (rc == 0)
                pl_info("report: %s/report.md (and heatmap.png for two cell axes, "
                        "error-vs-<axis>.png for one)", sw->dir);
        } else {
            pl_info("report: %ld of %ld final runs done; the last slice to finish writes it",
                    finals, n);
        }
    }
    pl_worker_free(&w);
    pl_sched_free(&sched);
    pl_free(disp.held);
    pl_free(runs);
    pl_table_close(&table);
    double code = rc; /* rank 0's report result reaches everyone */
    pl_allreduce_max_double(world, &code, 1);
    return (int)code;
}

/* --show ID: the resolved configuration of a search run, as `plastic train`
 * takes it (run.dir runs/<id>), to reproduce or inspect one run alone. */
static int show_run(const pl_sweep *sw, const char *want)
{
    pl_sweep_run *runs;
    long n = pl_sweep_expand(sw, &runs);
    int rc = PL_EXIT_USAGE;
    for (long i = 0; i < n; i++) {
        pl_config cfg;
        char id[17];
        pl_sweep_run_hex(sw, &runs[i], id);
        if (strcmp(id, want) != 0)
            continue;
        pl_sweep_config(sw, &runs[i], &cfg);
        snprintf(cfg.run.name, sizeof cfg.run.name, "%s", id);
        snprintf(cfg.run.dir, sizeof cfg.run.dir, "runs/%s", id);
        cfg.run.resume[0] = '\0';
        pl_config_write(&cfg, pl_rule_foreign_sections(sw->rule), stdout);
        rc = 0;
        break;
    }
    if (rc)
        pl_error("%s: no search run has id %s", sw->path, want);
    pl_free(runs);
    return rc;
}

int pl_sweep_verb(int argc, char **argv, const pl_comm *world)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    pl_sweep sw;
    memset(&sw, 0, sizeof sw);
    if (rc == 0)
        rc = pl_sweep_load(&sw, o.path, o.overrides, o.noverrides);
    if (rc == 0 && o.show) {
        if (pl_comm_rank(world) == 0)
            rc = show_run(&sw, o.show);
    } else if (rc == 0 && o.plan) {
        if (pl_comm_rank(world) == 0) {
            pl_sweep_run *runs;
            long n = pl_sweep_expand(&sw, &runs);
            print_plan(&sw, &o, runs, n, pl_comm_size(world));
            pl_free(runs);
        }
    } else if (rc == 0) {
        pl_signals_install();
        rc = run_stage(&sw, &o, world);
    }
    pl_sweep_free(&sw);
    pl_free(o.overrides);
    return rc;
}
