/* Fuzz harness: sweep files (pl_sweep_load), their command-line
 * overrides, the expansion into runs, and --slice i/N.
 *
 * Input: the sweep file, then optionally a NUL byte and one command-line
 * argument per line (at most 16): "--slice X" goes to
 * pl_sweep_parse_slice, anything else is an override for pl_sweep_load.
 * The file is written to the harness's temporary directory.
 * Properties, for a sweep that loads:
 *   - its settings are in range, every axis has distinct values, and it
 *     has at most PL_SWEEP_MAX_RUNS runs;
 *   - the base configuration round-trips through pl_config_text;
 *   - when the search stage has at most MAX_RUNS runs it is expanded:
 *     the count is what the strategy promises, every run's configuration
 *     builds and finalizes, run ids are distinct, runs sharing a shared
 *     stage are adjacent and counted once by pl_sweep_count_shared, and
 *     slices partition the list;
 *   - a parsed --slice i/N has 0 <= i < N. */
#include "support.h"

#include "plastic/sweep.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_ARGS = 16, MAX_RUNS = 48 };

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void check_expansion(const pl_sweep *sw, double points)
{
    pl_sweep_run *runs;
    long n = pl_sweep_expand(sw, &runs);
    long want = sw->strategy == PL_STRATEGY_TPE ? 0 : (long)points * sw->repeats;
    FUZZ_CHECK(n == want, "expanded to %ld runs, expected %ld", n, want);

    uint64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    uint64_t *shared = malloc((size_t)(n ? n : 1) * sizeof *shared);
    for (long i = 0; i < n; i++) {
        pl_config cfg;
        FUZZ_CHECK(pl_sweep_config(sw, &runs[i], &cfg) == 0, "run %ld has no configuration", i);
        FUZZ_CHECK(pl_config_finalize(&cfg) == 0, "run %ld does not finalize", i);
        if (i < 4)
            fuzz_check_config_roundtrip(&cfg, "sweep run");
        ids[i] = pl_sweep_run_id(&cfg);
        shared[i] = pl_sweep_shared_key(&cfg);
    }
    /* runs sharing a shared stage are adjacent: a key seen before reappears
     * only right after itself */
    long distinct = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && shared[i] == shared[i - 1])
            continue;
        for (long j = 0; j < i; j++)
            FUZZ_CHECK(shared[j] != shared[i], "runs %ld and %ld share a shared stage but are "
                       "not adjacent", j, i);
        distinct++;
    }
    FUZZ_CHECK(pl_sweep_count_shared(sw, runs, n) == distinct,
               "pl_sweep_count_shared disagrees (%ld distinct)", distinct);
    qsort(ids, (size_t)n, sizeof *ids, by_u64);
    for (long i = 1; i < n; i++)
        FUZZ_CHECK(ids[i] != ids[i - 1], "two runs have the same id");

    for (int nslices = 1; nslices <= 5; nslices++) {
        long expect = 0;
        for (int s = 0; s < nslices; s++) {
            long lo, hi;
            pl_sweep_slice(n, s, nslices, &lo, &hi);
            FUZZ_CHECK(lo == expect && lo <= hi && hi <= n, "slice %d/%d is [%ld, %ld)", s,
                       nslices, lo, hi);
            expect = hi;
        }
        FUZZ_CHECK(expect == n, "slices of %d end at %ld, not %ld", nslices, expect, n);
    }
    free(shared);
    free(ids);
    free(runs);
}

static void check_sweep(const pl_sweep *sw)
{
    FUZZ_CHECK(sw->naxes >= 1 && sw->naxes <= PL_SWEEP_MAX_AXES, "naxes = %d", sw->naxes);
    FUZZ_CHECK(sw->repeats >= 1 && sw->final_repeats >= 0 && sw->group_size >= 1 &&
                   sw->tpe_startup >= 1 && sw->converge_tol > 0,
               "a setting is out of range");
    FUZZ_CHECK(sw->strategy >= PL_STRATEGY_GRID && sw->strategy <= PL_STRATEGY_TPE,
               "strategy %d", sw->strategy);
    FUZZ_CHECK(sw->strategy == PL_STRATEGY_GRID || sw->trials >= 1, "a search without trials");
    FUZZ_CHECK(sw->dir[0] != '\0', "sweep.dir is empty");
    double grid = 1;
    for (int a = 0; a < sw->naxes; a++) {
        const pl_sweep_axis *ax = &sw->axes[a];
        FUZZ_CHECK(ax->nvalues >= 1 && ax->nvalues <= PL_SWEEP_MAX_VALUES, "%s has %d values",
                   ax->key, ax->nvalues);
        for (int b = 0; b < a; b++)
            FUZZ_CHECK(strcmp(sw->axes[b].key, ax->key) != 0, "axis %s twice", ax->key);
        for (int v = 0; v < ax->nvalues; v++)
            for (int w = 0; w < v; w++)
                FUZZ_CHECK(strcmp(ax->values[v], ax->values[w]) != 0, "%s lists %s twice",
                           ax->key, ax->values[v]);
        grid *= ax->nvalues;
    }
    int most = sw->repeats > sw->final_repeats ? sw->repeats : sw->final_repeats;
    double all = sw->strategy == PL_STRATEGY_GRID ? grid : sw->trials;
    FUZZ_CHECK(all * most <= PL_SWEEP_MAX_RUNS, "%.0f points x %d repeats loaded", all, most);
    fuzz_check_config_roundtrip(&sw->base, "sweep base");
    double points = sw->strategy == PL_STRATEGY_RANDOM && sw->trials < grid ? sw->trials : grid;
    if (points * sw->repeats <= MAX_RUNS)
        check_expansion(sw, points);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const uint8_t *rest;
    size_t rest_size;
    char *file = fuzz_text_until_nul(data, size, &rest, &rest_size);
    char *args = rest ? fuzz_text(rest, rest_size) : NULL;

    char *overrides[MAX_ARGS];
    int noverrides = 0, nargs = 0;
    for (char *save = NULL, *line = args ? strtok_r(args, "\n", &save) : NULL;
         line && nargs < MAX_ARGS; line = strtok_r(NULL, "\n", &save), nargs++) {
        if (strncmp(line, "--slice ", 8) == 0) {
            int slice = -1, nslices = -1;
            if (pl_sweep_parse_slice(line + 8, &slice, &nslices) == 0)
                FUZZ_CHECK(nslices >= 1 && slice >= 0 && slice < nslices, "--slice %s gave %d/%d",
                           line + 8, slice, nslices);
        } else {
            overrides[noverrides++] = line;
        }
    }

    const char *path = fuzz_write("sweep.ini", file, strlen(file));
    pl_sweep sw;
    if (pl_sweep_load(&sw, path, overrides, noverrides) == 0)
        check_sweep(&sw);
    pl_sweep_free(&sw);
    fuzz_remove("sweep.ini");
    free(args);
    free(file);
    return 0;
}
