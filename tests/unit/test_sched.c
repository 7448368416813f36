/* The sweep scheduler: every run handed out exactly once, no shared stage
 * started by two groups at once, groups kept on the layer they hold, runs
 * already in the table skipped, and TPE proposing `trials` points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/sched.h"

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void load(pl_sweep *sw, const char *text)
{
    const char *path = tmp_path("s.ini");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(pl_sweep_load(sw, path, NULL, 0), 0);
}

static const char *GRID = "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3,4\nkh.k = 2..3\n"
                          "readout.n = 3,4\nreadout.beta = 0.1,1\nrepeats = 2\n";

/* Groups ask in a seeded random order and finish their runs later; checks
 * the invariants at every step. */
static void simulate(pl_sched *s, int ngroups, uint64_t seed, long *handed)
{
    long running[8];
    uint64_t held[8] = {0};
    int done_groups = 0, finished_flag[8] = {0};
    for (int g = 0; g < ngroups; g++)
        running[g] = -1;
    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_TEST, 0);
    for (int step = 0; done_groups < ngroups && step < 100000; step++) {
        int g = (int)pl_rng_below(&rng, (uint32_t)ngroups);
        if (finished_flag[g])
            continue;
        if (running[g] >= 0) { /* finish what it runs, with a made-up loss */
            pl_sched_finish(s, running[g], (double)(running[g] % 7));
            running[g] = -1;
        }
        long run;
        int how = pl_sched_next(s, g, held[g], &run);
        if (how == PL_SCHED_DONE) {
            finished_flag[g] = 1;
            done_groups++;
            continue;
        }
        if (how == PL_SCHED_WAIT)
            continue;
        handed[run]++;
        /* nobody else may be running a run of this shared stage unless the
         * layer is ready (made by a finished run) */
        for (int o = 0; o < ngroups; o++)
            if (o != g && running[o] >= 0 && s->shared[running[o]] == s->shared[run]) {
                long h = 0;
                while (s->skey[h] != s->shared[run])
                    h++;
                assert_true(s->sready[h]);
            }
        running[g] = run;
        held[g] = s->shared[run];
    }
    assert_int_equal(done_groups, ngroups);
}

static void test_every_run_once(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, GRID);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    assert_int_equal(n, 48);
    for (int groups = 1; groups <= 5; groups++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            pl_sched s;
            assert_int_equal(pl_sched_init(&s, &sw, runs, n, NULL), 0);
            long handed[48] = {0};
            simulate(&s, groups, seed * 10 + (uint64_t)groups, handed);
            for (long i = 0; i < n; i++)
                assert_int_equal(handed[i], 1);
            assert_int_equal(s.pending, 0);
            assert_int_equal(s.running, 0);
            pl_sched_free(&s);
        }
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* One group takes runs in schedule order: all of a shared stage's runs
 * before the next layer, so each layer is made once. */
static void test_one_group_keeps_its_layer(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, GRID);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    pl_sched s;
    assert_int_equal(pl_sched_init(&s, &sw, runs, n, NULL), 0);
    uint64_t held = 0;
    int switches = 0;
    long run;
    while (pl_sched_next(&s, 0, held, &run) == PL_SCHED_RUN) {
        switches += s.shared[run] != held;
        held = s.shared[run];
        pl_sched_finish(&s, run, 1.0);
    }
    assert_int_equal(switches, 12); /* 3 p x 2 k x 2 repeats */
    pl_sched_free(&s);
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* A group that stops gives its run back: another group gets it. */
static void test_abandon(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, GRID);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    pl_sched s;
    assert_int_equal(pl_sched_init(&s, &sw, runs, n, NULL), 0);
    long a, b;
    assert_int_equal(pl_sched_next(&s, 0, 0, &a), PL_SCHED_RUN);
    pl_sched_abandon(&s, a);
    assert_int_equal(pl_sched_next(&s, 1, 0, &b), PL_SCHED_RUN);
    assert_int_equal(a, b);
    pl_sched_free(&s);
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* Runs with a row in the table start finished. */
static void test_skips_finished(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, GRID);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    pl_table t;
    assert_int_equal(pl_table_open(&t, tmp_path("r.csv"), "id,stage,valid_error"), 0);
    for (long i = 0; i < n; i += 3) {
        pl_config cfg;
        char id[17], row[64];
        pl_sweep_config(&sw, &runs[i], &cfg);
        pl_sweep_hex(pl_sweep_run_id(&cfg), id);
        snprintf(row, sizeof row, "%s,search,1.5", id);
        assert_int_equal(pl_table_append(&t, row), 0);
    }
    pl_sched s;
    assert_int_equal(pl_sched_init(&s, &sw, runs, n, &t), 0);
    assert_int_equal(s.skipped, 16);
    assert_int_equal(s.pending, 32);
    long run, got = 0;
    while (pl_sched_next(&s, 0, 0, &run) == PL_SCHED_RUN) {
        assert_true(run % 3 != 0);
        pl_sched_finish(&s, run, 1.0);
        got++;
    }
    assert_int_equal(got, 32);
    pl_sched_free(&s);
    pl_table_close(&t);
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* TPE proposes `trials` distinct points, each with its repeats, while
 * results arrive. */
static void test_tpe_proposes_trials(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, "[kh]\nhidden = 10\n[sweep]\nkh.p = 2..6\nkh.k = 2..8\nreadout.m = 4,6,8\n"
              "strategy = tpe\ntrials = 12\ntpe_startup = 4\nrepeats = 2\n");
    pl_sweep_run *runs;
    assert_int_equal(pl_sweep_expand(&sw, &runs), 0);
    pl_sched s;
    assert_int_equal(pl_sched_init(&s, &sw, runs, 0, NULL), 0);
    long run, count = 0;
    while (pl_sched_next(&s, 0, 0, &run) == PL_SCHED_RUN) {
        const int *c = s.runs[run].choice;
        /* loss: distance from p = 5, k = 3 */
        pl_sched_finish(&s, run, fabs(c[0] - 3.0) + fabs(c[1] - 1.0));
        count++;
    }
    assert_int_equal(count, 24);
    assert_int_equal(s.proposals, 12);
    for (long i = 0; i < s.nruns; i += 2)
        for (long j = i + 2; j < s.nruns; j += 2)
            assert_memory_not_equal(s.runs[i].choice, s.runs[j].choice, 3 * sizeof(int));
    pl_sched_free(&s);
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* pl_sched_next_batch: runs that share the hidden layer, stage and repeat
 * and differ only in readout.m and readout.beta (the KH rule's batch keys)
 * come together, at most max of them; every run once; max 1 gives runs
 * alone; a batch given back is handed out whole again. */
static void test_batches(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\nreadout.n = 3,4\nreadout.m = 4,6,8\n"
              "readout.beta = 0.1,1\nrepeats = 2\n");
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    assert_int_equal(n, 48);
    const int maxes[] = {1, 4, 6, 16};
    for (size_t t = 0; t < sizeof maxes / sizeof *maxes; t++) {
        const int max = maxes[t];
        pl_sched s;
        assert_int_equal(pl_sched_init(&s, &sw, runs, n, NULL), 0);
        long handed[48] = {0}, batch[PL_SWEEP_MAX_BATCH];
        int got, batches = 0;
        uint64_t held = 0;
        while (pl_sched_next_batch(&s, 0, held, max, batch, &got) == PL_SCHED_RUN) {
            assert_true(got >= 1 && got <= max && got <= 6);
            for (int i = 0; i < got; i++) {
                const pl_sweep_run *a = &s.runs[batch[0]], *b = &s.runs[batch[i]];
                handed[batch[i]]++;
                assert_true(s.shared[batch[i]] == s.shared[batch[0]]);
                assert_int_equal(a->repeat, b->repeat);
                assert_int_equal(a->stage, b->stage);
                assert_int_equal(a->choice[0], b->choice[0]); /* kh.p */
                assert_int_equal(a->choice[1], b->choice[1]); /* readout.n */
            }
            if (max == 4 && batches == 0) { /* given back: the same runs again */
                for (int i = 0; i < got; i++) {
                    pl_sched_abandon(&s, batch[i]);
                    handed[batch[i]]--;
                }
                long again[PL_SWEEP_MAX_BATCH];
                int n2;
                assert_int_equal(pl_sched_next_batch(&s, 0, held, max, again, &n2), PL_SCHED_RUN);
                assert_int_equal(n2, got);
                assert_memory_equal(again, batch, (size_t)got * sizeof *batch);
                for (int i = 0; i < got; i++)
                    handed[batch[i]]++;
            }
            held = s.shared[batch[0]];
            for (int i = 0; i < got; i++)
                pl_sched_finish(&s, batch[i], 1.0);
            batches++;
        }
        for (long i = 0; i < n; i++)
            assert_int_equal(handed[i], 1);
        /* 8 sets of 6 (p x n x repeat): in 48, 16 (4 + 2), 8 and 8 batches */
        const int expect[] = {48, 16, 8, 8};
        assert_int_equal(batches, expect[t]);
        pl_sched_free(&s);
    }
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* TPE proposes one point at a time: its runs stay alone. */
static void test_tpe_not_batched(void **state)
{
    (void)state;
    pl_sweep sw;
    load(&sw, "[kh]\nhidden = 10\n[sweep]\nreadout.m = 4,6,8\nreadout.beta = 0.1,1\n"
              "strategy = tpe\ntrials = 4\ntpe_startup = 2\n");
    pl_sched s;
    assert_int_equal(pl_sched_init(&s, &sw, NULL, 0, NULL), 0);
    long batch[PL_SWEEP_MAX_BATCH];
    int got, count = 0;
    while (pl_sched_next_batch(&s, 0, 0, 16, batch, &got) == PL_SCHED_RUN) {
        assert_int_equal(got, 1);
        pl_sched_finish(&s, batch[0], 1.0);
        count++;
    }
    assert_int_equal(count, 4);
    pl_sched_free(&s);
    pl_sweep_free(&sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_run_once),
        cmocka_unit_test(test_one_group_keeps_its_layer),
        cmocka_unit_test(test_abandon),
        cmocka_unit_test(test_skips_finished),
        cmocka_unit_test(test_tpe_proposes_trials),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_tpe_not_batched),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
