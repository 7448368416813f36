/* Learning curves: the error (%) per epoch of a run's supervised stages,
 * read from its metrics.jsonl, drawn as line charts (plot.h). `plastic
 * train` draws curves.png into every run directory; the `curves` verb
 * draws one metric of several runs in one chart.
 *
 * Reading. Every line must be a JSON object (jsonl.h). `epoch` records that
 * hold any of train_error, valid_error or test_error (even as null) are a
 * supervised stage's; the others (KH's unsupervised stage) are left out. Of
 * records with the same phase and epoch (a session that resumed before its
 * last records) the last one counts. Epochs are ordered by phase (in the
 * order phases first appear), then epoch; a later supervised phase's epochs
 * continue the count of the one before. */
#ifndef PLASTIC_CURVES_H
#define PLASTIC_CURVES_H

#include <stddef.h>

enum { PL_CURVE_TRAIN, PL_CURVE_VALID, PL_CURVE_TEST, PL_CURVE_METRICS };

/* "train_error", "valid_error", "test_error": the records' field names. */
extern const char *const pl_curve_metric[PL_CURVE_METRICS];

struct pl_curves {
    char rule[64];      /* of the start or resume record; "" if none */
    char phases[160];   /* the supervised phases in order, joined by ", " */
    int nphases;
    long n;             /* supervised epochs */
    double *epoch;      /* 1, 2, ... within a phase, plus the epochs of earlier ones */
    double *value[PL_CURVE_METRICS]; /* NaN where the record holds none */
    double final_test;  /* the done record's test_error; NaN without one */
};

/* Reads path (a metrics.jsonl). Returns 0, or 1 with the reason in why
 * ("PATH: ..." or "PATH:LINE: ..."); release *c with pl_curves_free
 * either way. */
int pl_curves_read(const char *path, struct pl_curves *c, char *why, size_t n);
void pl_curves_free(struct pl_curves *c);

/* Index of a metric's name, or -1. */
int pl_curves_metric_index(const char *name);

/* curves.png of run_dir's metrics.jsonl into out: train, valid and test
 * error per epoch (each that has a value; the done record's test error as
 * one point at the last epoch when no epoch has one), titled with the run
 * directory's name and the rule. Returns 0; -1, with nothing written, when
 * the run has no supervised epoch; or 1 with the reason in why. */
int pl_curves_run_png(const char *run_dir, const char *out, char *why, size_t n);

/* `plastic curves`: argv[0] is "curves". Returns the exit code. */
int pl_curves_verb(int argc, char **argv);

#endif
