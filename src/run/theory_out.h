/* What `plastic theory` writes and prints from its runs (theory_out.c). */
#ifndef PLASTIC_RUN_THEORY_OUT_H
#define PLASTIC_RUN_THEORY_OUT_H

#include "plastic/theory.h"

#include <stdio.h>

/* The thresholds whose first crossing is reported. */
enum { THEORY_NTHR = 4 };
extern const double theory_thresholds[THEORY_NTHR];
extern const char *const theory_threshold_names[THEORY_NTHR]; /* "1e-1", ... */

typedef struct theory_results {
    pl_theory_setting s;
    const pl_theory_method *methods; /* nmethods; [0] SGD and [1] URFB, from the random W */
    int nmethods;
    int fig3;   /* methods [0, fig3) are Fig. 3's, the rest (from W = 0) Fig. 4's */
    int nseeds; /* seeds 1 .. nseeds */
    double *err; /* method-major, then seed: pl_theory_points values per run */
    double *rel;   /* |W_urfb - W_sgd|_F / |W_sgd|_F: layer-major, then seed */
    double *moved; /* |W_sgd - W_init|_F / |W_sgd|_F, the scale of rel: the same layout */
} theory_results;

/* Run (m, seed index k)'s recorded errors. */
double *theory_err(const theory_results *r, int m, int k);

/* errors.csv, summary.csv, weights.csv, fig3.png and fig4.png into dir
 * (which exists). Returns 0, or 1 after an error naming the file. */
int theory_write(const theory_results *r, const char *dir);

/* The iterations to each threshold (mean over seeds) and the relative
 * weight differences, as text tables. */
void theory_print(const theory_results *r, FILE *out);

#endif
