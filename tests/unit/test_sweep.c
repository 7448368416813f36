/* Sweep files, grid expansion, run ids, schedule order, slices, and the
 * shared results table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/common.h"
#include "plastic/sweep.h"
#include "plastic/table.h"

#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *sweep_file(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    write_text(path, text);
    return path;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted run ids of every run of a sweep. */
static uint64_t *run_ids(const pl_sweep *sw, const pl_sweep_run *runs, long n)
{
    uint64_t *ids = pl_alloc((size_t)n * sizeof *ids);
    for (long i = 0; i < n; i++) {
        pl_config cfg;
        assert_int_equal(pl_sweep_config(sw, &runs[i], &cfg), 0);
        ids[i] = pl_sweep_run_id(&cfg);
    }
    qsort(ids, (size_t)n, sizeof *ids, by_u64);
    return ids;
}

static void test_paper_grid(void **state)
{
    (void)state;
    pl_sweep sw;
    assert_int_equal(pl_sweep_load(&sw, "configs/sweep-pk.ini", NULL, 0), 0);
    assert_int_equal(sw.naxes, 5);
    assert_int_equal(sw.axes[1].nvalues, 7); /* k = 2..8 */
    assert_string_equal(sw.axes[2].values[1], "3.5");
    assert_int_equal(sw.repeats, 3);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    assert_int_equal(n, 12600);
    assert_int_equal(pl_sweep_count_shared(&sw, runs, n), 105);
    uint64_t *ids = run_ids(&sw, runs, n);
    for (long i = 1; i < n; i++)
        assert_true(ids[i] != ids[i - 1]); /* distinct */
    pl_free(ids);
    assert_string_equal(sw.dir, "sweeps/sweep-pk");
    pl_free(runs);
    pl_sweep_free(&sw);
}

/* The same runs written another way (axis order, value spelling, value
 * order) have the same ids; another value changes them. */
static void test_ids_are_stable(void **state)
{
    (void)state;
    const char *a = sweep_file("a.ini", "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\n"
                                        "readout.m = 4, 6\nrepeats = 2\n");
    const char *b = sweep_file("b.ini", "[kh]\nhidden = 10 ; K\n\n[sweep]\nreadout.m = 6.0,4\n"
                                        "kh.p = 3.0 , 2\nrepeats = 2\n");
    const char *c = sweep_file("c.ini", "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\n"
                                        "readout.m = 4, 8\nrepeats = 2\n");
    pl_sweep sa, sb, sc;
    assert_int_equal(pl_sweep_load(&sa, a, NULL, 0), 0);
    assert_int_equal(pl_sweep_load(&sb, b, NULL, 0), 0);
    assert_int_equal(pl_sweep_load(&sc, c, NULL, 0), 0);
    pl_sweep_run *ra, *rb, *rc;
    long na = pl_sweep_expand(&sa, &ra), nb = pl_sweep_expand(&sb, &rb),
         nc = pl_sweep_expand(&sc, &rc);
    assert_int_equal(na, 8);
    assert_int_equal(nb, 8);
    uint64_t *ia = run_ids(&sa, ra, na), *ib = run_ids(&sb, rb, nb), *ic = run_ids(&sc, rc, nc);
    assert_memory_equal(ia, ib, 8 * sizeof *ia);
    int shared = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            shared += ia[i] == ic[j];
    assert_int_equal(shared, 4); /* the m = 4 runs */
    /* an override of the base changes every id */
    pl_sweep sd;
    char *over[] = {"kh.eps0=0.02"};
    assert_int_equal(pl_sweep_load(&sd, a, over, 1), 0);
    pl_sweep_run *rd;
    long nd = pl_sweep_expand(&sd, &rd);
    uint64_t *id = run_ids(&sd, rd, nd);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            assert_true(ia[i] != id[j]);
    pl_free(ia), pl_free(ib), pl_free(ic), pl_free(id);
    pl_free(ra), pl_free(rb), pl_free(rc), pl_free(rd);
    pl_sweep_free(&sa), pl_sweep_free(&sb), pl_sweep_free(&sc), pl_sweep_free(&sd);
}

/* Runs sharing a hidden layer are adjacent, and within them readout.n
 * does not decrease: each W is trained once and each feature set made once
 * per block. */
static void test_schedule_groups_hidden_layers(void **state)
{
    (void)state;
    const char *path = sweep_file("s.ini", "[kh]\nhidden = 10\n[sweep]\nreadout.n = 5,3\n"
                                           "kh.p = 2,3,4\nreadout.beta = 0.1,1\nkh.k = 2..3\n"
                                           "repeats = 2\n");
    pl_sweep sw;
    assert_int_equal(pl_sweep_load(&sw, path, NULL, 0), 0);
    pl_sweep_run *runs;
    long n = pl_sweep_expand(&sw, &runs);
    assert_int_equal(n, 2 * 3 * 2 * 2 * 2);
    assert_int_equal(pl_sweep_count_shared(&sw, runs, n), 3 * 2 * 2);
    uint64_t *keys = pl_alloc((size_t)n * sizeof *keys);
    double *ns = pl_alloc((size_t)n * sizeof *ns);
    for (long i = 0; i < n; i++) {
        pl_config cfg;
        assert_int_equal(pl_sweep_config(&sw, &runs[i], &cfg), 0);
        keys[i] = pl_sweep_shared_key(&cfg);
        ns[i] = cfg.readout.n;
        assert_int_equal(cfg.run.seed, 1 + runs[i].repeat);
        char hex[17];
        pl_sweep_hex(keys[i], hex);
        assert_non_null(strstr(cfg.run.dir, hex));
    }
    long blocks = 1;
    for (long i = 1; i < n; i++) {
        if (keys[i] != keys[i - 1]) {
            blocks++;
            for (long j = 0; j < i - 1; j++)
                assert_true(keys[j] != keys[i]); /* never seen before */
        } else {
            assert_true(ns[i] >= ns[i - 1]);
        }
    }
    assert_int_equal(blocks, 12);
    pl_free(keys);
    pl_free(ns);
    pl_free(runs);
    pl_sweep_free(&sw);
}

static void test_slices_partition(void **state)
{
    (void)state;
    const long sizes[] = {0, 1, 7, 100, 12600};
    const int counts[] = {1, 2, 3, 7, 64, 12600, 20000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
            long next = 0, smallest = sizes[s], largest = 0;
            for (int i = 0; i < counts[c]; i++) {
                long lo, hi;
                pl_sweep_slice(sizes[s], i, counts[c], &lo, &hi);
                assert_int_equal(lo, next); /* contiguous, disjoint */
                assert_true(hi >= lo);
                next = hi;
                smallest = hi - lo < smallest ? hi - lo : smallest;
                largest = hi - lo > largest ? hi - lo : largest;
            }
            assert_int_equal(next, sizes[s]); /* covering */
            assert_true(largest - smallest <= 1); /* balanced */
        }
    int i, n;
    assert_int_equal(pl_sweep_parse_slice("3/10", &i, &n), 0);
    assert_int_equal(i, 3);
    assert_int_equal(n, 10);
    assert_int_equal(pl_sweep_parse_slice("10/10", &i, &n), -1);
    assert_int_equal(pl_sweep_parse_slice("-1/10", &i, &n), -1);
    assert_int_equal(pl_sweep_parse_slice("1/0", &i, &n), -1);
    assert_int_equal(pl_sweep_parse_slice("1/2x", &i, &n), -1);
    assert_int_equal(pl_sweep_parse_slice("1", &i, &n), -1);
}

static void test_random_strategy(void **state)
{
    (void)state;
    const char *path = sweep_file("r.ini", "[kh]\nhidden = 10\n[sweep]\nkh.p = 2..6\n"
                                           "kh.k = 2..8\nreadout.m = 4,6,8\n"
                                           "strategy = random\ntrials = 20\nrepeats = 2\n");
    pl_sweep sw;
    assert_int_equal(pl_sweep_load(&sw, path, NULL, 0), 0);
    pl_sweep_run *a, *b;
    long na = pl_sweep_expand(&sw, &a), nb = pl_sweep_expand(&sw, &b);
    assert_int_equal(na, 40);
    assert_int_equal(nb, 40);
    assert_memory_equal(a, b, (size_t)na * sizeof *a); /* deterministic */
    uint64_t *ids = run_ids(&sw, a, na);
    for (long i = 1; i < na; i++)
        assert_true(ids[i] != ids[i - 1]); /* no point drawn twice */
    pl_free(ids);
    pl_free(a);
    pl_free(b);
    pl_sweep_free(&sw);
    /* more trials than points: the whole grid */
    path = sweep_file("r2.ini", "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\nstrategy = random\n"
                                "trials = 50\n");
    assert_int_equal(pl_sweep_load(&sw, path, NULL, 0), 0);
    assert_int_equal(pl_sweep_expand(&sw, &a), 2);
    pl_free(a);
    pl_sweep_free(&sw);
}

/* Loads text as a sweep file; expects failure with `want` in the message. */
static void expect_error(const char *text, const char *want)
{
    const char *path = sweep_file("bad.ini", text);
    pl_sweep sw;
    int rc = CAPTURE_STDERR(pl_sweep_load(&sw, path, NULL, 0));
    assert_int_equal(rc, PL_EXIT_USAGE);
    assert_contains(stderr_text(), want);
    pl_sweep_free(&sw);
}

static void test_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\nrepeat = 3\n",
                 "bad.ini:5: unknown sweep setting 'repeat'");
    expect_error("[sweep]\nkh.p = 2, x\n", "bad.ini:2: kh.p value 'x'");
    expect_error("[sweep]\nkh.q = 2\n", "bad.ini:2: axis kh.q: unknown key 'q'");
    expect_error("[sweep]\nrun.dir = a,b\n", "bad.ini:2: run.dir says where or how");
    expect_error("[sweep]\nrun.seed = 1,2\n", "use repeats");
    expect_error("[sweep]\nkh.p = 2,2.0\n", "bad.ini:2: kh.p lists the value 2 twice");
    expect_error("[sweep]\nkh.k = 8..2\n", "bad.ini:2: kh.k: bad range '8..2'");
    /* ranges past a long overflowed hi - lo and v++ (UBSan), and a long
     * lower bound was cut to 63 characters; found by review for fuzz_sweep */
    expect_error("[sweep]\nkh.p = 9223372036854775807..9223372036854775807\n",
                 "bad.ini:2: kh.p: bad range");
    expect_error("[sweep]\nkh.p = -99999999999999999999..99999999999999999999\n",
                 "bad.ini:2: kh.p: bad range");
    expect_error("[sweep]\nkh.p = 2147483648..2147483649\n", "bad.ini:2: kh.p: bad range");
    expect_error("[sweep]\nkh.p = 0000000000000000000000000000000000000000000000000000000000000000"
                 "3..4\n",
                 "bad.ini:2: kh.p: bad range");
    expect_error("[sweep]\nkh.p = 2\nkh.p = 3\n", "bad.ini:3: axis kh.p is given twice");
    expect_error("[sweep]\nkh.p = 2\nrepeats = 0\n", "bad.ini:3: sweep.repeats = '0'");
    expect_error("[sweep]\nkh.p = 2\nstrategy = tpe\n", "needs sweep.trials >= 1");
    expect_error("[sweep]\nrepeats = 2\n", "lists no axis");
    /* the runs' run.dir is sweep.dir/runs/<key>, which config.ini must
     * hold; found by tests/fuzz/fuzz_sweep.c (a tab in sweep.dir) */
    expect_error("[sweep]\nkh.p = 2\ndir = a\tb\n", "bad.ini:3: sweep.dir = 'a\tb' cannot hold");
    char long_dir[300];
    snprintf(long_dir, sizeof long_dir, "[sweep]\nkh.p = 2\ndir = %0200d\n", 0);
    expect_error(long_dir, "run.dir: value is 222 characters long, the limit is 192");
    /* a bounded run count: 7 axes of 1000 values overflowed a long in
     * pl_sweep_expand; 4 asked it for 72 TB */
    expect_error("[kh]\nhidden = 2000\n[sweep]\nkh.k = 2..1001\nkh.batch = 1..1001\n",
                 "bad.ini: 1001000 points x 1 repeats is more than the 1000000 runs");
    expect_error("[sweep]\nkh.p = 2,3\nstrategy = random\ntrials = 500001\nrepeats = 1\n"
                 "final_repeats = 2\n",
                 "500001 points x 2 repeats");
    /* the configuration part keeps its own line numbers */
    expect_error("[sweep]\nkh.p = 2\n\n[kh]\nhiden = 3\n", "bad.ini:5: unknown key 'hiden'");
    expect_error("[kh]\nhidden = 5\n[sweep]\nkh.k = 4..6\n",
                 "some runs would fail: kh.k = 6 must be <= kh.hidden = 5 (k ranks the hidden "
                 "units) (at kh.k=6)");
    expect_error("[sweep]\nmodel.rule = kh\n", "model.rule cannot be an axis");
    /* every run would be the same run, with the same id (found by fuzz_sweep) */
    expect_error("[sweep]\nnet.init = he, xavier\n",
                 "axis net.init: model.rule = kh does not read [net]");
    expect_error("[model]\nrule = bp\n[sweep]\nkh.p = 2, 3\n",
                 "axis kh.p: model.rule = bp does not read [kh]");
}

/* A NUL byte ended the sweep file's text: the lines after it were ignored. */
static void test_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "[sweep]\nkh.p = 2,3\n\0[kh]\nhidden = 1\n";
    const char *path = tmp_path("nul.ini");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    assert_int_equal(fclose(f), 0);
    pl_sweep sw;
    assert_int_equal(CAPTURE_STDERR(pl_sweep_load(&sw, path, NULL, 0)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "holds a NUL byte");
    pl_sweep_free(&sw);
}

/* sweep.setting=value overrides after the file; found by tests/fuzz/fuzz_sweep.c:
 * an override without '=' used to dereference a null pointer. */
static void test_sweep_overrides(void **state)
{
    (void)state;
    const char *path = sweep_file("o.ini", "[kh]\nhidden = 10\n[sweep]\nkh.p = 2,3\n");
    pl_sweep sw;
    char *good[] = {"sweep.repeats=3", "kh.epochs=2"};
    assert_int_equal(pl_sweep_load(&sw, path, good, 2), 0);
    assert_int_equal(sw.repeats, 3);
    assert_int_equal(sw.base.kh.epochs, 2);
    pl_sweep_free(&sw);
    static const char *const bad[] = {"sweep.repeats", "sweep.a.b", "sweep.kh.p=2"};
    for (int i = 0; i < 3; i++) {
        char *arg = (char *)bad[i];
        assert_int_equal(CAPTURE_STDERR(pl_sweep_load(&sw, path, &arg, 1)), PL_EXIT_USAGE);
        assert_contains(stderr_text(), "expected sweep.setting=value");
        pl_sweep_free(&sw);
    }
}

/* ---- the results table ---- */

static const char *HEADER = "id,stage,value";

static void test_table_append_and_reopen(void **state)
{
    (void)state;
    const char *path = tmp_path("results.csv");
    pl_table t;
    assert_int_equal(pl_table_open(&t, path, HEADER), 0);
    assert_int_equal(t.nrows, 0);
    assert_int_equal(pl_table_append(&t, "aa,search,1.5"), 0);
    assert_int_equal(pl_table_append(&t, "bb,search,2.5"), 0);
    assert_int_equal(pl_table_append(&t, "aa,search,9"), 1); /* already there */
    assert_int_equal(t.nrows, 2);
    /* another writer appends meanwhile: seen on refresh, and deduplicated */
    pl_table u;
    assert_int_equal(pl_table_open(&u, path, HEADER), 0);
    assert_int_equal(u.nrows, 2);
    assert_int_equal(pl_table_append(&u, "cc,final,3"), 0);
    assert_int_equal(pl_table_append(&t, "cc,final,4"), 1);
    assert_int_equal(t.nrows, 3);
    assert_int_equal(pl_table_find(&t, "cc"), 2);
    assert_string_equal(t.rows[2][2], "3");
    assert_int_equal(pl_table_column(&t, "value"), 2);
    assert_int_equal(pl_table_column(&t, "nope"), -1);
    pl_table_close(&u);
    pl_table_close(&t);
    /* the file is plain CSV: header with a crc column, one line per row */
    FILE *f = fopen(path, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "id,stage,value,crc\n");
    int lines = 1;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 4);
}

static void test_table_damage(void **state)
{
    (void)state;
    const char *path = tmp_path("damaged.csv");
    pl_table t;
    assert_int_equal(pl_table_open(&t, path, HEADER), 0);
    assert_int_equal(pl_table_append(&t, "aa,search,1"), 0);
    assert_int_equal(pl_table_append(&t, "bb,search,2"), 0);
    pl_table_close(&t);
    /* flip a digit of bb's row, then add a torn line with no newline */
    FILE *f = fopen(path, "r+");
    char all[1024];
    size_t len = fread(all, 1, sizeof all - 1, f);
    all[len] = '\0';
    char *bb = strstr(all, "bb,search,2");
    bb[10] = '3';
    rewind(f);
    fwrite(all, 1, len, f);
    fputs("cc,sea", f);
    fclose(f);
    int rc = CAPTURE_STDERR(pl_table_open(&t, path, HEADER));
    assert_int_equal(rc, 0);
    assert_contains(stderr_text(), "damaged.csv:3: skipping a damaged row");
    assert_int_equal(t.nrows, 1); /* bb is not trusted, the torn line not complete */
    /* the next append cuts the torn line and records bb again */
    rc = CAPTURE_STDERR(pl_table_append(&t, "bb,search,2"));
    assert_int_equal(rc, 0);
    assert_contains(stderr_text(), "cutting a torn last row");
    assert_int_equal(t.nrows, 2);
    pl_table_close(&t);
    f = fopen(path, "r");
    len = fread(all, 1, sizeof all - 1, f);
    all[len] = '\0';
    fclose(f);
    assert_null(strstr(all, "cc,sea"));
    assert_int_equal(all[len - 1], '\n');
    /* a different header is refused and the file left alone */
    rc = CAPTURE_STDERR(pl_table_open(&t, path, "id,other"));
    assert_int_equal(rc, PL_EXIT_DATA);
    assert_contains(stderr_text(), "holds another table");
    pl_table_close(&t);
    f = fopen(path, "r");
    char again[1024];
    size_t len2 = fread(again, 1, sizeof again - 1, f);
    fclose(f);
    assert_int_equal(len2, len);
    assert_memory_equal(again, all, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_grid),
        cmocka_unit_test(test_ids_are_stable),
        cmocka_unit_test(test_schedule_groups_hidden_layers),
        cmocka_unit_test(test_slices_partition),
        cmocka_unit_test(test_random_strategy),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_sweep_overrides),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_table_append_and_reopen),
        cmocka_unit_test(test_table_damage),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
