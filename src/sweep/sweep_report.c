/* Selection of the best tuned point per cell (KH: the readout), the final
 * stage's runs, and the Fig. 6-style report (report.h). */
#include "plastic/report.h"
#include "plastic/common.h"
#include "plastic/image.h"
#include "plastic/plot.h"
#include "plastic/rule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One point (a value per axis) with what the table says about it. */
typedef struct point {
    int choice[PL_SWEEP_MAX_AXES];
    int runs, failed;           /* rows, and rows not "done" */
    double valid_sum;           /* over done rows */
    double test_sum, test_sq;   /* final rows: test error sums */
    double converge_max;        /* largest value of the rule's converge_field over its rows */
} point;

typedef struct points {
    long n, cap;
    point *p;
} points;

static point *find_point(points *ps, const int *choice, int naxes)
{
    for (long i = 0; i < ps->n; i++)
        if (!memcmp(ps->p[i].choice, choice, (size_t)naxes * sizeof *choice))
            return &ps->p[i];
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        point *bigger = pl_calloc((size_t)ps->cap, sizeof *bigger);
        if (ps->n)
            memcpy(bigger, ps->p, (size_t)ps->n * sizeof *bigger);
        pl_free(ps->p);
        ps->p = bigger;
    }
    point *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    memcpy(p->choice, choice, (size_t)naxes * sizeof *choice);
    return p;
}

/* Value indices of a row; 0 if a value is not on the sweep's axes (a row of
 * an earlier version of the sweep file). */
static int row_choice(const pl_sweep *sw, const pl_table *t, long r, int *choice)
{
    for (int a = 0; a < sw->naxes; a++) {
        int col = pl_table_column(t, sw->axes[a].key), found = 0;
        for (int v = 0; v < sw->axes[a].nvalues && col >= 0 && !found; v++)
            if (!strcmp(sw->axes[a].values[v], t->rows[r][col])) {
                choice[a] = v;
                found = 1;
            }
        if (!found)
            return 0;
    }
    return 1;
}

static double field(const pl_table *t, long r, const char *name)
{
    int col = pl_table_column(t, name);
    return col >= 0 ? strtod(t->rows[r][col], NULL) : NAN;
}

/* The points of one stage's rows. */
static points collect(const pl_sweep *sw, const pl_table *t, const char *stage)
{
    points ps = {0};
    int scol = pl_table_column(t, "stage"), stcol = pl_table_column(t, "status");
    for (long r = 0; r < t->nrows; r++) {
        int choice[PL_SWEEP_MAX_AXES] = {0};
        if (strcmp(t->rows[r][scol], stage) != 0 || !row_choice(sw, t, r, choice))
            continue;
        point *p = find_point(&ps, choice, sw->naxes);
        p->runs++;
        const char *conv = sw->rule->converge_field;
        double c = conv ? field(t, r, conv) : 0.0;
        if (!(c <= p->converge_max))
            p->converge_max = c; /* keeps NaN */
        if (strcmp(t->rows[r][stcol], "done") != 0) {
            p->failed++;
            continue;
        }
        p->valid_sum += field(t, r, "valid_error");
        double test = field(t, r, "test_error");
        p->test_sum += test;
        p->test_sq += test * test;
    }
    return ps;
}

long pl_sweep_count_done(const pl_sweep *sw, const pl_table *t, const pl_sweep_run *runs,
                         long n)
{
    long done = 0;
    for (long i = 0; i < n; i++) {
        char id[17];
        pl_sweep_run_hex(sw, &runs[i], id);
        done += pl_table_find(t, id) >= 0;
    }
    return done;
}

long pl_sweep_missing(const pl_sweep *sw, const pl_table *t)
{
    if (sw->strategy == PL_STRATEGY_TPE) {
        points ps = collect(sw, t, "search");
        long complete = 0;
        for (long i = 0; i < ps.n; i++)
            complete += ps.p[i].runs >= sw->repeats;
        pl_free(ps.p);
        return complete >= sw->trials ? 0 : (sw->trials - complete) * sw->repeats;
    }
    pl_sweep_run *runs;
    long n = pl_sweep_expand(sw, &runs);
    long missing = n - pl_sweep_count_done(sw, t, runs, n);
    pl_free(runs);
    return missing;
}

/* 1 if a and b agree on every axis that is not tuned. */
static int same_cell(const pl_sweep *sw, const int *a, const int *b)
{
    for (int i = 0; i < sw->naxes; i++)
        if (!sw->axes[i].tuned && a[i] != b[i])
            return 0;
    return 1;
}

/* Index in ps of the best point of every cell (first appearance order):
 * complete (all repeats done), lowest mean validation error. */
static long best_points(const pl_sweep *sw, const points *ps, long *best)
{
    long ncells = 0;
    for (long i = 0; i < ps->n; i++) {
        const point *p = &ps->p[i];
        long c = 0;
        while (c < ncells && !same_cell(sw, ps->p[best[c] < 0 ? -best[c] - 2 : best[c]].choice,
                                        p->choice))
            c++;
        if (c == ncells)
            best[ncells++] = -(i + 2); /* a cell with no usable point yet */
        int usable = p->runs >= sw->repeats && p->failed == 0;
        if (!usable)
            continue;
        double mean = p->valid_sum / p->runs;
        if (best[c] < 0 || mean < ps->p[best[c]].valid_sum / ps->p[best[c]].runs)
            best[c] = i;
    }
    return ncells;
}

long pl_sweep_final_runs(const pl_sweep *sw, const pl_table *t, pl_sweep_run **runs)
{
    points ps = collect(sw, t, "search");
    long *best = pl_alloc((size_t)(ps.n ? ps.n : 1) * sizeof *best);
    long ncells = best_points(sw, &ps, best), n = 0;
    *runs = pl_calloc((size_t)(ncells * sw->final_repeats + 1), sizeof **runs);
    for (long c = 0; c < ncells; c++) {
        if (best[c] < 0)
            continue;
        for (int rep = 0; rep < sw->final_repeats; rep++) {
            pl_sweep_run *r = &(*runs)[n++];
            r->stage = PL_STAGE_FINAL;
            r->repeat = rep;
            memcpy(r->choice, ps.p[best[c]].choice, sizeof r->choice);
        }
    }
    pl_free(best);
    pl_free(ps.p);
    pl_sweep_schedule(sw, *runs, n);
    return n;
}

/* ---- report.md and heatmap.png ---- */

typedef struct cell {
    int choice[PL_SWEEP_MAX_AXES];
    const point *search;  /* best search point, or NULL */
    const point *final;   /* its final point, or NULL */
    int failed;           /* some run diverged, or the shared stage did not converge */
} cell;

static void cell_name(const pl_sweep *sw, const int *choice, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int a = 0, first = 1; a < sw->naxes; a++) {
        if (sw->axes[a].tuned)
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s%s=%s", first ? "" : ", ", sw->axes[a].key,
                 sw->axes[a].values[choice[a]]);
        first = 0;
    }
}

static void mean_sd(const point *p, double *mean, double *sd)
{
    int n = p->runs - p->failed;
    *mean = n ? p->test_sum / n : NAN;
    double var = n > 1 ? (p->test_sq - n * *mean * *mean) / (n - 1) : 0.0;
    *sd = var > 0 ? sqrt(var) : 0.0;
}

static void entry(const cell *c, char *buf, size_t size)
{
    double mean, sd;
    if (!c || !c->final) {
        snprintf(buf, size, "%s", c && c->failed ? "n.c." : "-");
        return;
    }
    mean_sd(c->final, &mean, &sd);
    snprintf(buf, size, "%.2f ± %.2f%s", mean, sd, c->failed ? " (n.c.)" : "");
}

/* The cell axes (not tuned), in file order. */
static int cell_axes(const pl_sweep *sw, int *axes)
{
    int n = 0;
    for (int a = 0; a < sw->naxes; a++)
        if (!sw->axes[a].tuned)
            axes[n++] = a;
    return n;
}

static const cell *cell_at(const cell *cells, long ncells, int ra, int rv, int ca, int cv)
{
    for (long i = 0; i < ncells; i++)
        if (cells[i].choice[ra] == rv && cells[i].choice[ca] == cv)
            return &cells[i];
    return NULL;
}

static void write_grid(FILE *f, const pl_sweep *sw, const cell *cells, long ncells, int ra,
                       int ca)
{
    const pl_sweep_axis *R = &sw->axes[ra], *C = &sw->axes[ca];
    fprintf(f, "| %s \\ %s |", R->key, C->key);
    for (int v = 0; v < C->nvalues; v++)
        fprintf(f, " %s |", C->values[v]);
    fprintf(f, "\n|---|");
    for (int v = 0; v < C->nvalues; v++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (int r = 0; r < R->nvalues; r++) {
        fprintf(f, "| **%s** |", R->values[r]);
        for (int v = 0; v < C->nvalues; v++) {
            char e[64];
            entry(cell_at(cells, ncells, ra, r, ca, v), e, sizeof e);
            fprintf(f, " %s |", e);
        }
        fprintf(f, "\n");
    }
}

static int write_heatmap(const pl_sweep *sw, const cell *cells, long ncells, int ra, int ca)
{
    const pl_sweep_axis *R = &sw->axes[ra], *C = &sw->axes[ca];
    int rows = R->nvalues, cols = C->nvalues;
    double *values = pl_alloc((size_t)rows * cols * sizeof *values);
    unsigned char *mark = pl_calloc((size_t)rows * cols, 1);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < cols; v++) {
            const cell *c = cell_at(cells, ncells, ra, r, ca, v);
            double mean = NAN, sd;
            if (c && c->final)
                mean_sd(c->final, &mean, &sd);
            values[r * cols + v] = mean;
            mark[r * cols + v] = c && c->failed;
        }
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/heatmap.png", sw->dir);
    struct pl_heatmap h = {.rows = rows, .cols = cols, .values = values, .mark = mark,
                           .row_labels = (const char *const *)R->values,
                           .col_labels = (const char *const *)C->values,
                           .row_title = R->key, .col_title = C->key,
                           .title = "mean test error (%), final runs", .format = "%.2f"};
    int rc = pl_png_heatmap(path, &h);
    pl_free(values);
    pl_free(mark);
    return rc ? PL_EXIT_DATA : 0;
}

/* One numeric cell axis (e.g. readout.n on a fixed hidden layer, Krotov &
 * Hopfield's Fig. 4): against the axis, the final runs' mean test error
 * (with mean - SD and mean + SD when some cell has repeats) and the chosen
 * point's validation error in the search, as <dir>/error-vs-<key>.png. A
 * failed cell (n.c.) is left out, breaking the lines there. */
static int write_line(const pl_sweep *sw, const cell *cells, long ncells, int a)
{
    const pl_sweep_axis *A = &sw->axes[a];
    int n = A->nvalues, repeats = 0;
    for (int v = 0; v < n; v++) {
        char *end;
        strtod(A->values[v], &end);
        if (end == A->values[v] || *end)
            return 0; /* not numeric: the table says it all */
    }
    double *x = pl_alloc((size_t)n * sizeof *x), *y = pl_alloc(4 * (size_t)n * sizeof *y);
    for (int v = 0; v < n; v++) {
        x[v] = strtod(A->values[v], NULL);
        double mean = NAN, sd = NAN, valid = NAN;
        for (long c = 0; c < ncells; c++) {
            if (cells[c].choice[a] != v || cells[c].failed)
                continue;
            if (cells[c].final) {
                mean_sd(cells[c].final, &mean, &sd);
                repeats |= cells[c].final->runs > 1;
            }
            if (cells[c].search)
                valid = cells[c].search->valid_sum / cells[c].search->runs;
        }
        y[v] = mean;
        y[n + v] = valid;
        y[2 * n + v] = mean - sd;
        y[3 * n + v] = mean + sd;
    }
    char path[PL_PATH_MAX + 64], why[512], title[128];
    snprintf(path, sizeof path, "%s/error-vs-%s.png", sw->dir, A->key);
    snprintf(title, sizeof title, "error against %s", A->key);
    struct pl_plot_series series[4] = {{"test, final runs", x, y, n, 1},
                                       {"valid, search", x, y + n, n, 2},
                                       {"test - SD", x, y + 2 * n, n, 3},
                                       {"test + SD", x, y + 3 * n, n, 3}};
    struct pl_plot plot = {.series = series, .nseries = repeats ? 4 : 2, .title = title,
                           .x_label = A->key, .y_label = "error (%)"};
    int rc = pl_png_plot(path, &plot, why, sizeof why);
    if (rc)
        pl_error_all("%s", why);
    pl_free(x);
    pl_free(y);
    return rc ? PL_EXIT_DATA : 0;
}

/* The shared stage's convergence measure is known and within tolerance;
 * sweep.converge_tol = inf turns the check off (a hidden layer given by
 * kh.init with kh.epochs = 0 records no epoch, so no measure). */
static int converged(const pl_sweep *sw, const point *p)
{
    return isinf(sw->converge_tol) || p->converge_max <= sw->converge_tol;
}

int pl_sweep_write_report(const pl_sweep *sw, const pl_table *t)
{
    points search = collect(sw, t, "search"), final = collect(sw, t, "final");
    long *best = pl_alloc((size_t)(search.n ? search.n : 1) * sizeof *best);
    long ncells = best_points(sw, &search, best);
    cell *cells = pl_calloc((size_t)(ncells ? ncells : 1), sizeof *cells);
    for (long c = 0; c < ncells; c++) {
        long i = best[c] < 0 ? -best[c] - 2 : best[c];
        memcpy(cells[c].choice, search.p[i].choice, sizeof cells[c].choice);
        cells[c].search = best[c] < 0 ? NULL : &search.p[i];
        for (long j = 0; j < final.n && cells[c].search; j++)
            if (!memcmp(final.p[j].choice, search.p[i].choice, sizeof final.p[j].choice))
                cells[c].final = &final.p[j];
        /* did not converge: no usable point, a diverged run, or a shared
         * stage whose convergence measure (KH: the rows' distance from the
         * unit p-sphere) stayed above the tolerance */
        for (long j = 0; j < search.n; j++)
            if (same_cell(sw, search.p[j].choice, cells[c].choice) &&
                (search.p[j].failed || !converged(sw, &search.p[j])))
                cells[c].failed = 1;
        if (!cells[c].search ||
            (cells[c].final && (cells[c].final->failed ||
                                !converged(sw, cells[c].final))))
            cells[c].failed = 1;
    }

    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/report.md", sw->dir);
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "# Sweep report: %s\n\n", sw->path);
    const char *conv = sw->rule->converge_field;
    fprintf(f, "Search: %ld points in %ld rows; final: %ld points. For every cell the point of "
               "the tuned sections (%s) with the lowest mean validation error over %d repeat(s) "
               "was retrained %d time(s) on the full training set (data.valid = 0). Entries: "
               "mean ± SD test error (%%) of those final runs. n.c. = did not converge (a run "
               "diverged",
            search.n, t->nrows, final.n, sw->tune[0] ? sw->tune : "none", sw->repeats,
            sw->final_repeats);
    if (conv && isinf(sw->converge_tol))
        fprintf(f, "; the shared stage's %s is not checked: sweep.converge_tol = inf", conv);
    else if (conv)
        fprintf(f, ", or the shared stage's %s stayed above %g", conv, sw->converge_tol);
    fprintf(f, ").\n\n");
    int axes[PL_SWEEP_MAX_AXES], naxes = cell_axes(sw, axes);
    if (naxes == 2)
        write_grid(f, sw, cells, ncells, axes[0], axes[1]);
    fprintf(f, "\n## Chosen points\n\n| cell | tuned | valid (search) | test (final) | "
               "final runs |\n|---|---|---|---|---|\n");
    for (long c = 0; c < ncells; c++) {
        char name[512], tuned[512] = "", e[64];
        cell_name(sw, cells[c].choice, name, sizeof name);
        for (int a = 0; a < sw->naxes && cells[c].search; a++)
            if (sw->axes[a].tuned) {
                size_t used = strlen(tuned);
                snprintf(tuned + used, sizeof tuned - used, "%s%s=%s", used ? ", " : "",
                         sw->axes[a].key, sw->axes[a].values[cells[c].choice[a]]);
            }
        entry(&cells[c], e, sizeof e);
        double valid = cells[c].search ? cells[c].search->valid_sum / cells[c].search->runs : NAN;
        fprintf(f, "| %s | %s | %.2f | %s | %d |\n", name, tuned[0] ? tuned : "-", valid, e,
                cells[c].final ? cells[c].final->runs : 0);
    }
    fclose(f);
    int rc = pl_write_text_atomic(path, text) == 0 ? 0 : PL_EXIT_DATA;
    if (rc)
        pl_error_all("cannot write %s", path);
    free(text);
    if (rc == 0 && naxes == 2)
        rc = write_heatmap(sw, cells, ncells, axes[0], axes[1]);
    if (rc == 0 && naxes == 1)
        rc = write_line(sw, cells, ncells, axes[0]);
    pl_free(cells);
    pl_free(best);
    pl_free(search.p);
    pl_free(final.p);
    return rc;
}
