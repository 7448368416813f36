/* `plastic theory -o DIR [--iters N] [--lr X] [--seeds N] [--batch B]
 * [--every K]`: the linear theory of updated random feedback (Amit,
 * Section 3; theory.h, algorithms.md §8.1). Each seed trains SGD, URFB and
 * FRFB from one random initialisation (their Fig. 3) and the feedback rule
 * with eps = 0, 0.25, 0.5, 1 from zero forward weights (their Fig. 4), then
 * the files and tables of theory_out.c. One process, no MPI. */
#include "plastic/theory.h"

#include "plastic/common.h"
#include "theory_out.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { L = PL_THEORY_LAYERS, MAX_SEEDS = 1000 };
static const long MAX_POINTS = 1000000; /* recorded errors per run */

/* Fig. 3's methods first (fig3 of them), then Fig. 4's. */
static const pl_theory_method METHODS[] = {
    {"SGD", 1, 0, 0},     {"URFB", 0, 1, 0},     {"FRFB", 0, 0, 0},  {"eps 0", 0, 0, 1},
    {"eps 0.25", 0, 0.25, 1}, {"eps 0.5", 0, 0.5, 1}, {"eps 1", 0, 1, 1},
};
enum { NMETHODS = sizeof METHODS / sizeof METHODS[0], FIG3 = 3 };

static void usage(FILE *out)
{
    pl_theory_setting s = pl_theory_default_setting();
    fprintf(out,
            "usage: plastic theory -o DIR [--iters N] [--lr X] [--seeds N] [--batch B] [--every K]\n"
            "  the linear theory of updated random feedback (Amit, Section 3): a %d-%d-%d-%d\n"
            "  linear net fitted to a linear teacher with Gaussian inputs, trained by SGD,\n"
            "  URFB and FRFB from one random initialisation (DIR/fig3.png) and with\n"
            "  eps = 0, 0.25, 0.5, 1 from zero forward weights (DIR/fig4.png); each seed\n"
            "  its own teacher, weights and inputs. Also DIR/errors.csv (every recorded\n"
            "  error), summary.csv (iterations to each threshold), weights.csv (URFB's\n"
            "  weights against SGD's per layer); the tables go to stdout.\n"
            "  defaults: --iters %ld --lr %g --seeds 3 --batch %d --every %ld (the error is\n"
            "  recorded every K steps; K must divide N)\n",
            s.dim[0], s.dim[1], s.dim[2], s.dim[3], s.iters, s.lr, s.batch, s.every);
}


/* A whole number in [lo, hi] for flag; 0, or the usage error. */
static int parse_long(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return pl_usage_error("theory", usage, "%s: '%s' is not a whole number in [%ld, %ld]",
                              flag, v, lo, hi);
    *out = x;
    return 0;
}

static int parse_lr(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || !(x > 0))
        return pl_usage_error("theory", usage, "--lr: '%s' is not a positive number", v);
    *out = x;
    return 0;
}

/* Reads the flags into s, *nseeds and *dir. Returns 0, -1 after --help, or
 * the usage error's exit code. */
static int parse(int argc, char **argv, pl_theory_setting *s, int *nseeds, const char **dir)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        }
        int known = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--iters") ||
                    !strcmp(a, "--lr") || !strcmp(a, "--seeds") || !strcmp(a, "--batch") ||
                    !strcmp(a, "--every");
        if (!known)
            return a[0] == '-' ? pl_usage_error("theory", usage, "unknown option '%s'", a)
                               : pl_usage_error("theory", usage, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return pl_usage_error("theory", usage, "%s needs a value", a);
        const char *v = argv[++i];
        long x = 0;
        int rc = 0;
        if (!strcmp(a, "--iters")) {
            rc = parse_long(a, v, 1, 100000000, &s->iters);
        } else if (!strcmp(a, "--every")) {
            rc = parse_long(a, v, 1, 100000000, &s->every);
        } else if (!strcmp(a, "--seeds")) {
            rc = parse_long(a, v, 1, MAX_SEEDS, &x);
            *nseeds = (int)x;
        } else if (!strcmp(a, "--batch")) {
            rc = parse_long(a, v, 1, 100000, &x);
            s->batch = (int)x;
        } else if (!strcmp(a, "--lr")) {
            rc = parse_lr(v, &s->lr);
        } else {
            *dir = v;
        }
        if (rc)
            return rc;
    }
    if (!*dir)
        return pl_usage_error("theory", usage, "no output directory (-o DIR)");
    if (s->iters % s->every)
        return pl_usage_error("theory", usage, "--every: %ld does not divide --iters %ld",
                              s->every, s->iters);
    if (pl_theory_points(s) > MAX_POINTS)
        return pl_usage_error("theory", usage,
                              "--every: %ld records %ld errors per run (at most %ld)", s->every,
                              pl_theory_points(s), MAX_POINTS);
    return 0;
}

/* Every method on every seed; the relative differences of URFB's final
 * weights from SGD's. Returns the number of runs that diverged. */
static int run_all(theory_results *r)
{
    int diverged = 0;
    for (int k = 0; k < r->nseeds; k++) {
        pl_theory_net last[2]; /* SGD's and URFB's final weights */
        for (int m = 0; m < r->nmethods; m++) {
            int keep = m < 2;
            if (pl_theory_train(&r->s, &r->methods[m], (uint64_t)k + 1, theory_err(r, m, k),
                                keep ? &last[m] : NULL)) {
                pl_error("theory: %s (%s) with seed %d diverged at lr %g", r->methods[m].name,
                         m < r->fig3 ? "random W" : "W = 0", k + 1, r->s.lr);
                diverged++;
            }
        }
        pl_theory_net init;
        pl_theory_net_create(&init, r->s.dim);
        pl_theory_init(&init, (uint64_t)k + 1, 0);
        for (int l = 0; l < L; l++) {
            long n = (long)r->s.dim[l + 1] * r->s.dim[l];
            r->rel[l * r->nseeds + k] = pl_theory_rel_diff(last[1].W[l], last[0].W[l], n);
            r->moved[l * r->nseeds + k] = pl_theory_rel_diff(init.W[l], last[0].W[l], n);
        }
        pl_theory_net_free(&init);
        pl_theory_net_free(&last[0]);
        pl_theory_net_free(&last[1]);
    }
    return diverged;
}

int pl_theory_verb(int argc, char **argv)
{
    pl_theory_setting s = pl_theory_default_setting();
    int nseeds = 3;
    const char *dir = NULL;
    int rc = parse(argc, argv, &s, &nseeds, &dir);
    if (rc)
        return rc < 0 ? PL_EXIT_OK : rc;
    if (pl_mkdir_p(dir)) {
        pl_error("theory: cannot create %s: %s", dir, strerror(errno));
        return PL_EXIT_USAGE;
    }
    theory_results r = {.s = s, .methods = METHODS, .nmethods = NMETHODS, .fig3 = FIG3,
                        .nseeds = nseeds};
    r.err = pl_alloc((size_t)NMETHODS * nseeds * pl_theory_points(&s) * sizeof *r.err);
    r.rel = pl_alloc((size_t)L * nseeds * sizeof *r.rel);
    r.moved = pl_alloc((size_t)L * nseeds * sizeof *r.moved);
    int diverged = run_all(&r);
    rc = theory_write(&r, dir) ? PL_EXIT_USAGE : 0;
    if (rc == 0) {
        theory_print(&r, stdout);
        pl_info("wrote %s/fig3.png, fig4.png, errors.csv, summary.csv, weights.csv", dir);
    }
    pl_free(r.err);
    pl_free(r.rel);
    pl_free(r.moved);
    return rc ? rc : diverged ? PL_EXIT_DIVERGED : PL_EXIT_OK;
}
