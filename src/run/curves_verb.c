/* `plastic curves -o OUT.png [--metric M] [--title T] [--log] RUN_DIR[=LABEL] ...`:
 * one metric of several runs per epoch in one chart (e.g. rec-LRA against
 * backprop). One process, no MPI. */
#include "plastic/curves.h"

#include "plastic/common.h"
#include "plastic/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define WHY 4096

static const char *const USAGE =
    "usage: plastic curves -o OUT.png [--metric train_error|valid_error|test_error]\n"
    "                      [--title TEXT] [--log] RUN_DIR[=LABEL] ...\n"
    "  one metric (default test_error, in %) of each run's epochs, read from\n"
    "  RUN_DIR/metrics.jsonl, in one chart; LABEL (default: RUN_DIR's name) names\n"
    "  the run in the legend; --log draws the y axis on a log scale; at most 8 runs\n";

static void usage(FILE *out) { fputs(USAGE, out); }

/* One run on the command line. */
struct run {
    char dir[1024];
    char label[128];
    struct pl_curves c;
};

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* RUN_DIR[=LABEL]: an argument that names a directory as a whole is one
 * (a directory may contain '='); else it splits at the last '='. */
static int split_run(const char *arg, struct run *r)
{
    const char *eq = strrchr(arg, '=');
    size_t dlen = eq && !is_dir(arg) ? (size_t)(eq - arg) : strlen(arg);
    if (dlen == 0 || dlen >= sizeof r->dir) {
        pl_error("curves: run directory '%s' is %s", arg, dlen ? "too long" : "empty");
        return 1;
    }
    memcpy(r->dir, arg, dlen);
    r->dir[dlen] = '\0';
    const char *label = dlen < strlen(arg) ? arg + dlen + 1 : "";
    if (!*label) { /* the directory's name */
        size_t end = dlen;
        while (end > 1 && r->dir[end - 1] == '/')
            end--;
        size_t start = end;
        while (start > 0 && r->dir[start - 1] != '/')
            start--;
        snprintf(r->label, sizeof r->label, "%.*s", (int)(end - start), r->dir + start);
    } else {
        snprintf(r->label, sizeof r->label, "%s", label);
    }
    return 0;
}

/* The run's metric as (epoch, value) points with a value; 0 if none. */
static long points(const struct run *r, int m, double *x, double *y)
{
    long k = 0;
    for (long i = 0; i < r->c.n; i++)
        if (isfinite(r->c.value[m][i])) {
            x[k] = r->c.epoch[i];
            y[k++] = r->c.value[m][i];
        }
    return k;
}

/* Reads every run; checks each has the metric. */
static int read_runs(struct run *runs, int nruns, int m)
{
    char why[WHY], path[1100];
    for (int i = 0; i < nruns; i++) {
        snprintf(path, sizeof path, "%s/metrics.jsonl", runs[i].dir);
        if (pl_curves_read(path, &runs[i].c, why, sizeof why)) {
            pl_error("%s", why);
            return PL_EXIT_DATA;
        }
        long has = 0;
        for (long e = 0; e < runs[i].c.n; e++)
            has += isfinite(runs[i].c.value[m][e]) != 0;
        if (!has) {
            const char *hint = m == PL_CURVE_TEST    ? " (train with log.test_every=1 to record it)"
                               : m == PL_CURVE_VALID ? " (data.valid = 0 leaves it null)"
                                                     : "";
            pl_error("%s: no epoch record has a value of %s%s", path, pl_curve_metric[m], hint);
            return PL_EXIT_DATA;
        }
    }
    return 0;
}

static int draw(const struct run *runs, int nruns, int m, const char *out, const char *title,
                int log_y)
{
    struct pl_plot_series series[PL_PLOT_MAX_SERIES];
    long total = 0;
    for (int i = 0; i < nruns; i++)
        total += runs[i].c.n;
    double *x = pl_alloc((size_t)total * sizeof *x), *y = pl_alloc((size_t)total * sizeof *y);
    long used = 0;
    const char *x_label = "epoch";
    for (int i = 0; i < nruns; i++) {
        long k = points(&runs[i], m, x + used, y + used);
        series[i] = (struct pl_plot_series){runs[i].label, x + used, y + used, k, 0};
        used += k;
    }
    /* the runs' phase when they share one (KH's readout), plain "epoch" else */
    char phases[200];
    if (strcmp(runs[0].c.phases, "train") != 0) {
        int same = 1;
        for (int i = 1; i < nruns; i++)
            same &= !strcmp(runs[i].c.phases, runs[0].c.phases);
        if (same) {
            snprintf(phases, sizeof phases, "epoch (%s)", runs[0].c.phases);
            x_label = phases;
        }
    }
    const char *words[PL_CURVE_METRICS] = {"train error", "valid error", "test error"};
    char y_label[64], default_title[64];
    snprintf(y_label, sizeof y_label, "%s (%%)", words[m]);
    snprintf(default_title, sizeof default_title, "%s per epoch", words[m]);
    struct pl_plot p = {.series = series, .nseries = nruns,
                        .title = title ? title : default_title, .x_label = x_label,
                        .y_label = y_label, .log_y = log_y};
    char why[WHY];
    int rc = pl_png_plot(out, &p, why, sizeof why);
    if (rc)
        pl_error("%s", why);
    else
        pl_info("wrote %s: %s of %d run(s)", out, pl_curve_metric[m], nruns);
    pl_free(x);
    pl_free(y);
    return rc ? PL_EXIT_USAGE : 0;
}


int pl_curves_verb(int argc, char **argv)
{
    const char *out = NULL, *title = NULL, *metric = "test_error";
    int log_y = 0, nruns = 0, options = 1;
    struct run *runs = pl_calloc(PL_PLOT_MAX_SERIES, sizeof *runs);
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        int takes = options && (!strcmp(a, "-o") || !strcmp(a, "--output") ||
                                !strcmp(a, "--metric") || !strcmp(a, "--title"));
        if (takes && i + 1 >= argc) {
            rc = pl_usage_error("curves", usage, "%s needs a value", a);
        } else if (takes) {
            const char *v = argv[++i];
            if (!strcmp(a, "--metric"))
                metric = v;
            else if (!strcmp(a, "--title"))
                title = v;
            else
                out = v;
        } else if (options && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            usage(stdout);
            pl_free(runs);
            return 0;
        } else if (options && !strcmp(a, "--log")) {
            log_y = 1;
        } else if (options && !strcmp(a, "--")) {
            options = 0;
        } else if (options && a[0] == '-') {
            rc = pl_usage_error("curves", usage, "unknown option '%s'", a);
        } else if (nruns == PL_PLOT_MAX_SERIES) {
            rc = pl_usage_error("curves", usage, "more than 8 runs (at '%s'): one colour each", a);
        } else {
            rc = split_run(a, &runs[nruns++]) ? PL_EXIT_USAGE : 0;
        }
    }
    int m = pl_curves_metric_index(metric);
    if (rc == 0 && !out)
        rc = pl_usage_error("curves", usage, "no output file (-o OUT.png)");
    else if (rc == 0 && m < 0)
        rc = pl_usage_error("curves", usage,
                            "unknown metric '%s' (train_error, valid_error or test_error)", metric);
    else if (rc == 0 && nruns == 0)
        rc = pl_usage_error("curves", usage, "no run directory given");
    if (rc == 0)
        rc = read_runs(runs, nruns, m);
    if (rc == 0)
        rc = draw(runs, nruns, m, out, title, log_y);
    for (int i = 0; i < nruns; i++)
        pl_curves_free(&runs[i].c);
    pl_free(runs);
    return rc;
}
