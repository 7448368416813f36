/* `plastic theory`'s files and tables: every recorded error (errors.csv),
 * each run's iterations to the thresholds (summary.csv), the per-layer
 * distance of URFB's weights from SGD's (weights.csv), and the two charts
 * of the paper's Figs. 3 and 4. */
#include "theory_out.h"

#include "plastic/common.h"
#include "plastic/plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { L = PL_THEORY_LAYERS, WHY = 4096 };

const double theory_thresholds[THEORY_NTHR] = {1e-1, 1e-2, 1e-3, 1e-6};
const char *const theory_threshold_names[THEORY_NTHR] = {"1e-1", "1e-2", "1e-3", "1e-6"};

double *theory_err(const theory_results *r, int m, int k)
{
    return r->err + ((long)m * r->nseeds + k) * pl_theory_points(&r->s);
}

static const char *init_name(const theory_results *r, int m)
{
    return m < r->fig3 ? "random_w" : "zero_w";
}

static int save(const char *dir, const char *name, char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = pl_write_text_atomic(path, text);
    if (rc)
        pl_error("theory: cannot write %s: %s", path, strerror(errno));
    free(text);
    return rc ? 1 : 0;
}

static int write_errors(const theory_results *r, const char *dir)
{
    char *text;
    size_t size;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "iteration");
    for (int m = 0; m < r->nmethods; m++)
        for (int k = 0; k < r->nseeds; k++)
            fprintf(f, ",%s %s seed %d", init_name(r, m), r->methods[m].name, k + 1);
    fprintf(f, "\n");
    for (long p = 0; p < pl_theory_points(&r->s); p++) {
        fprintf(f, "%ld", p * r->s.every);
        for (int m = 0; m < r->nmethods; m++)
            for (int k = 0; k < r->nseeds; k++)
                fprintf(f, ",%.17g", theory_err(r, m, k)[p]);
        fprintf(f, "\n");
    }
    fclose(f);
    return save(dir, "errors.csv", text);
}

static int write_summary(const theory_results *r, const char *dir)
{
    char *text;
    size_t size;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "init,method,eps,seed,error_0,error_final");
    for (int i = 0; i < THEORY_NTHR; i++)
        fprintf(f, ",iters_to_%s", theory_threshold_names[i]);
    fprintf(f, "\n");
    long last = pl_theory_points(&r->s) - 1;
    for (int m = 0; m < r->nmethods; m++)
        for (int k = 0; k < r->nseeds; k++) {
            const pl_theory_method *me = &r->methods[m];
            const double *e = theory_err(r, m, k);
            fprintf(f, "%s,%s,", init_name(r, m), me->name);
            if (!me->sgd) /* SGD has no feedback matrices, so no eps */
                fprintf(f, "%g", me->eps);
            fprintf(f, ",%d,%.6g,%.6g", k + 1, e[0], e[last]);
            for (int i = 0; i < THEORY_NTHR; i++) {
                long it = pl_theory_first_below(&r->s, e, theory_thresholds[i]);
                if (it >= 0) /* an empty field: never reached */
                    fprintf(f, ",%ld", it);
                else
                    fprintf(f, ",");
            }
            fprintf(f, "\n");
        }
    fclose(f);
    return save(dir, "summary.csv", text);
}

static double at(const theory_results *r, const double *a, int l, int k)
{
    return a[l * r->nseeds + k];
}

static int write_weights(const theory_results *r, const char *dir)
{
    char *text;
    size_t size;
    FILE *f = pl_text_stream(&text, &size);
    fprintf(f, "layer,shape,seed,rel_diff,sgd_moved\n");
    for (int l = 0; l < L; l++)
        for (int k = 0; k < r->nseeds; k++)
            fprintf(f, "W%d,%dx%d,%d,%.6g,%.6g\n", l + 1, r->s.dim[l + 1], r->s.dim[l], k + 1,
                    at(r, r->rel, l, k), at(r, r->moved, l, k));
    fclose(f);
    return save(dir, "weights.csv", text);
}

/* The geometric mean over seeds of run m's point p: the mean on the log
 * axis the charts use; NaN if a seed has no positive finite value there. */
static double geomean(const theory_results *r, int m, long p)
{
    double s = 0;
    for (int k = 0; k < r->nseeds; k++) {
        double v = theory_err(r, m, k)[p];
        if (!(v > 0) || !isfinite(v))
            return NAN;
        s += log(v);
    }
    return exp(s / r->nseeds);
}

static int chart(const theory_results *r, const char *dir, const char *name, int m0, int m1,
                 const char *what)
{
    long np = pl_theory_points(&r->s);
    int n = m1 - m0;
    double *x = pl_alloc((size_t)np * sizeof *x), *y = pl_alloc((size_t)n * np * sizeof *y);
    struct pl_plot_series series[PL_PLOT_MAX_SERIES];
    for (long p = 0; p < np; p++)
        x[p] = (double)(p * r->s.every);
    for (int i = 0; i < n; i++) {
        for (long p = 0; p < np; p++)
            y[i * np + p] = geomean(r, m0 + i, p);
        series[i] = (struct pl_plot_series){r->methods[m0 + i].name, x, y + i * np, np, 0};
    }
    char title[160], y_label[80], path[2048], why[WHY];
    snprintf(title, sizeof title, "%s, lr %g", what, r->s.lr);
    snprintf(y_label, sizeof y_label, "error (geometric mean of %d seed%s)", r->nseeds,
             r->nseeds > 1 ? "s" : "");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct pl_plot plot = {.series = series, .nseries = n, .title = title,
                           .x_label = "iteration", .y_label = y_label, .log_y = 1};
    int rc = pl_png_plot(path, &plot, why, sizeof why);
    if (rc)
        pl_error("theory: %s", why);
    pl_free(x);
    pl_free(y);
    return rc ? 1 : 0;
}

int theory_write(const theory_results *r, const char *dir)
{
    int rc = write_errors(r, dir);
    rc = rc ? rc : write_summary(r, dir);
    rc = rc ? rc : write_weights(r, dir);
    rc = rc ? rc : chart(r, dir, "fig3.png", 0, r->fig3,
                       "Fig. 3: SGD, URFB, FRFB from one random W");
    rc = rc ? rc : chart(r, dir, "fig4.png", r->fig3, r->nmethods,
                       "Fig. 4: from W = 0, random R");
    return rc;
}

void theory_print(const theory_results *r, FILE *out)
{
    const int *d = r->s.dim;
    fprintf(out, "linear net %d-%d-%d-%d, lr %g, batch %d, %ld steps, %d seed%s\n", d[0], d[1],
            d[2], d[3], r->s.lr, r->s.batch, r->s.iters, r->nseeds, r->nseeds > 1 ? "s" : "");
    fprintf(out, "\niterations to reach the error (mean over seeds; recorded every %ld)\n",
            r->s.every);
    fprintf(out, "%-9s %-9s", "init", "method");
    for (int i = 0; i < THEORY_NTHR; i++)
        fprintf(out, " %12s", theory_threshold_names[i]);
    fprintf(out, " %12s\n", "final error");
    long last = pl_theory_points(&r->s) - 1;
    for (int m = 0; m < r->nmethods; m++) {
        fprintf(out, "%-9s %-9s", init_name(r, m), r->methods[m].name);
        for (int i = 0; i < THEORY_NTHR; i++) {
            double sum = 0;
            int reached = 0;
            for (int k = 0; k < r->nseeds; k++) {
                long it = pl_theory_first_below(&r->s, theory_err(r, m, k), theory_thresholds[i]);
                if (it >= 0) {
                    sum += (double)it;
                    reached++;
                }
            }
            char cell[32];
            if (reached == r->nseeds)
                snprintf(cell, sizeof cell, "%.0f", sum / reached);
            else /* a mean of the seeds that got there would flatter the method */
                snprintf(cell, sizeof cell, "%d/%d reached", reached, r->nseeds);
            fprintf(out, " %12s", cell);
        }
        fprintf(out, " %12.3g\n", geomean(r, m, last));
    }
    fprintf(out, "\n|W_urfb - W_sgd|_F / |W_sgd|_F after %ld steps (same initial W and inputs);\n"
                 "for scale, SGD's own move |W_sgd - W_init|_F / |W_sgd|_F\n",
            r->s.iters);
    fprintf(out, "%-14s %9s %9s %9s %12s\n", "layer", "mean", "min", "max", "SGD moved");
    for (int l = 0; l < L; l++) {
        double sum = 0, lo = INFINITY, hi = -INFINITY, moved = 0;
        for (int k = 0; k < r->nseeds; k++) {
            double v = at(r, r->rel, l, k);
            sum += v;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            moved += at(r, r->moved, l, k);
        }
        char name[32];
        snprintf(name, sizeof name, "W%d (%d->%d)", l + 1, d[l], d[l + 1]);
        fprintf(out, "%-14s %9.4f %9.4f %9.4f %12.4f\n", name, sum / r->nseeds, lo, hi,
                moved / r->nseeds);
    }
}
