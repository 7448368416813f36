/* One run of the linear theory (theory.h): a seed's teacher and initial
 * weights, minibatches of fresh Gaussian inputs, the error recorded every
 * few steps. */
#include "plastic/theory.h"

#include "plastic/common.h"
#include "plastic/rng.h"

#include <math.h>
#include <string.h>

enum { L = PL_THEORY_LAYERS };

/* Online steps (batch 1) at lr 0.005, half the rate at which URFB and
 * FRFB from the random initialisation diverge (0.01; SGD diverges at
 * 0.02): every run of the 3 seeds is below 1e-6 by 3500 steps, in a few
 * tenths of a second (docs/results.md). */
pl_theory_setting pl_theory_default_setting(void)
{
    return (pl_theory_setting){.dim = {40, 100, 100, 10},
                               .iters = 3500,
                               .lr = 0.005,
                               .batch = 1,
                               .every = 10};
}

long pl_theory_points(const pl_theory_setting *s) { return s->iters / s->every + 1; }

int pl_theory_train(const pl_theory_setting *s, const pl_theory_method *m, uint64_t seed,
                    double *err, pl_theory_net *out)
{
    const int *dim = s->dim;
    int B = s->batch;
    double *T = pl_alloc((size_t)dim[L] * dim[0] * sizeof *T);
    double *x = pl_alloc((size_t)B * dim[0] * sizeof *x);
    double *t = pl_alloc((size_t)B * dim[L] * sizeof *t);
    double *G[L];
    for (int l = 0; l < L; l++)
        G[l] = pl_alloc((size_t)dim[l + 1] * dim[l] * sizeof(double));
    pl_theory_net net;
    pl_theory_net_create(&net, dim);
    pl_theory_teacher(dim, seed, T);
    pl_theory_init(&net, seed, m->zero_w);

    /* the same inputs for every method of this seed */
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_THEORY, PL_THEORY_SUB_INPUTS);
    long npoints = pl_theory_points(s);
    err[0] = pl_theory_error(&net, T);
    int diverged = !isfinite(err[0]);
    for (long it = 1; it <= s->iters && !diverged; it++) {
        for (long i = 0; i < (long)B * dim[0]; i++)
            x[i] = pl_rng_normal(&r);
        for (int b = 0; b < B; b++) /* t = T x */
            for (int k = 0; k < dim[L]; k++) {
                const double *trow = T + (long)k * dim[0], *xb = x + (long)b * dim[0];
                double v = 0;
                for (int j = 0; j < dim[0]; j++)
                    v += trow[j] * xb[j];
                t[(long)b * dim[L] + k] = v;
            }
        double loss = pl_theory_increments(&net, m->sgd, x, t, B, G);
        diverged = !isfinite(loss);
        if (!diverged)
            pl_theory_apply(&net, m->sgd, m->eps, s->lr, G);
        if (!diverged && it % s->every == 0) {
            err[it / s->every] = pl_theory_error(&net, T);
            diverged = !isfinite(err[it / s->every]);
        }
        if (diverged) /* this point on is unknown */
            for (long k = (it + s->every - 1) / s->every; k < npoints; k++)
                err[k] = NAN;
    }
    if (out) {
        pl_theory_net_create(out, dim);
        pl_theory_net_copy(out, &net);
    }
    pl_theory_net_free(&net);
    for (int l = 0; l < L; l++)
        pl_free(G[l]);
    pl_free(T);
    pl_free(x);
    pl_free(t);
    return diverged;
}

long pl_theory_first_below(const pl_theory_setting *s, const double *err, double thr)
{
    long n = pl_theory_points(s);
    for (long k = 0; k < n; k++)
        if (err[k] < thr)
            return k * s->every;
    return -1;
}
