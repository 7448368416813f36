/* Competing hidden units, slow form: Euler steps of the hidden dynamics to a
 * steady state, then Eq. 3's update of every unit with g != 0. See
 * kh_slow.h for the equations and why the sums do not depend on the layout. */
#include "rules/kh/kh_slow.h"
#include "plastic/common.h"
#include "plastic/nn/exact.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

void pl_kh_slow_init(pl_kh_slow *s, const pl_kh *kh, const pl_kh_slow_params *prm)
{
    memset(s, 0, sizeof *s);
    s->prm = *prm;
    /* K grid integers below 2^bits each sum below 2^52: exact in double in
     * any order (exact.h's argument with the units as the parts) */
    s->bits = pl_exact_bits(kh->hidden);
    const size_t bmax = (size_t)kh->bmax, rows = (size_t)(kh->nrows ? kh->nrows : 1);
    s->scratch = pl_alloc(bmax * (size_t)kh->tile * sizeof *s->scratch);
    s->cur = pl_alloc(bmax * rows * sizeof *s->cur);
    s->h = pl_alloc(bmax * rows * sizeof *s->h);
    s->inhib = pl_alloc(bmax * sizeof *s->inhib);
    s->red = pl_alloc((bmax + 1) * sizeof *s->red);
    s->scale = pl_alloc(bmax * sizeof *s->scale);
    s->dW = pl_alloc(rows * (size_t)kh->dim * sizeof *s->dW);
    s->coef = pl_alloc(rows * sizeof *s->coef);
}

void pl_kh_slow_free(pl_kh_slow *s)
{
    pl_free(s->scratch);
    pl_free(s->cur);
    pl_free(s->h);
    pl_free(s->inhib);
    pl_free(s->red);
    pl_free(s->scale);
    pl_free(s->dW);
    pl_free(s->coef);
    memset(s, 0, sizeof *s);
}

static double relu(double x) { return x > 0.0 ? x : 0.0; }

/* max(m, x) for a MAX all-reduce of non-negative values: a NaN on either
 * side gives +inf, which then stays, so no NaN is lost in the reduction. */
static double max_flag(double m, double x)
{
    if (x != x || m != m)
        return INFINITY;
    return x > m ? x : m;
}

/* The grid of each example's inhibition sum, from M_b = the largest
 * relu(I_mub) over all units (one MAX all-reduce per minibatch). Euler
 * steps from h = 0 with 0 < a <= 1 and w_inh >= 0 keep h <= M_b:
 * h' = (1 - a) h + a (I - w_inh (inhibition >= 0)) <= (1 - a) M_b + a M_b.
 * So with M_b < 2^e every relu(h) is below 2^e (to rounding) and its grid
 * integer below 2^bits. Returns 0, or -1 if a current is not finite. */
static int agree_grids(pl_kh_slow *s, const pl_comm *comm, long nrows, int B)
{
    for (int b = 0; b < B; b++) {
        const float *cur = s->cur + (size_t)b * nrows;
        double m = 0.0;
        for (long j = 0; j < nrows; j++)
            m = max_flag(m, cur[j] != cur[j] ? cur[j] : relu(cur[j]));
        s->red[b] = m;
    }
    pl_allreduce_max_double(comm, s->red, B);
    for (int b = 0; b < B; b++) {
        if (!isfinite(s->red[b]))
            return -1;
        int e = 0;
        frexp(s->red[b], &e); /* M_b < 2^e */
        s->scale[b] = ldexp(1.0, s->bits - e);
    }
    return 0;
}

/* The Makefile compiles this file with -fopenmp-simd -DPL_OMP_SIMD (no
 * OpenMP runtime): the Euler loop's sums may then be vectorised. Other
 * builds (sanitizers, fuzzing) leave the pragma out; the bits are the same,
 * as the sums are exact. */
#ifdef PL_OMP_SIMD
#define EULER_SIMD _Pragma("omp simd reduction(+ : acc, moving, bad)")
#else
#define EULER_SIMD
#endif

/* x rounded to the nearest integer (ties to even) for 0 <= x < 2^51:
 * adding 1.5 * 2^52 leaves no fraction bits, so the sum rounds x in the
 * current (default) rounding mode; unlike nearbyint() it vectorises. */
static inline double round_grid(double x)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    return (x + magic) - magic;
}

/* One Euler step of every local unit and example, h += a (I - w_inh (S_b -
 * r(h)) - h), and its part of the all-reduce: red[b] = this rank's sum of
 * relu(h_new) on example b's grid (integers, exact in any order), red[B] =
 * how many |dh| are not below tol (+inf if an h is not finite), so the stop
 * test max |dh| < tol is red[B] == 0 after the SUM: exact too. */
static void euler_step(pl_kh_slow *s, long nrows, int B)
{
    const double a = s->prm.dt, w = s->prm.w_inh, tol = s->prm.tol;
    double moving = 0.0, bad = 0.0;
    for (int b = 0; b < B; b++) {
        double *h = s->h + (size_t)b * nrows, acc = 0.0;
        const float *cur = s->cur + (size_t)b * nrows;
        const double S = s->inhib[b], scale = s->scale[b];
        /* acc adds integers below 2^52 and moving counts: exact in any
         * order, so the loop may be vectorised with reordered sums */
        EULER_SIMD
        for (long j = 0; j < nrows; j++) {
            const double d = a * ((double)cur[j] - w * (S - relu(h[j])) - h[j]);
            const double hn = h[j] + d;
            h[j] = hn;
            moving += fabs(d) < tol ? 0.0 : 1.0;
            acc += round_grid(relu(hn) * scale);
            bad += fabs(hn) <= DBL_MAX ? 0.0 : 1.0; /* NaN or inf */
        }
        s->red[b] = acc;
    }
    s->red[B] = bad > 0.0 ? INFINITY : moving;
}

/* Euler steps from h = 0 to the steady state (or the cap): returns the
 * steps, or -1 if h stopped being finite. One SUM all-reduce of B + 1
 * values per step. Collective. */
static int settle(pl_kh_slow *s, const pl_comm *comm, long nrows, int B)
{
    memset(s->h, 0, (size_t)B * (size_t)nrows * sizeof *s->h);
    for (int b = 0; b < B; b++)
        s->inhib[b] = 0.0;
    if (agree_grids(s, comm, nrows, B) != 0)
        return -1;
    for (int step = 1; step <= s->prm.max_steps; step++) {
        euler_step(s, nrows, B);
        pl_allreduce_sum_double(comm, s->red, B + 1);
        if (!isfinite(s->red[B]))
            return -1;
        if (s->red[B] == 0.0)
            return step;
        for (int b = 0; b < B; b++)
            s->inhib[b] = s->red[b] / s->scale[b];
    }
    s->capped++;
    return s->prm.max_steps;
}

/* dW_mu = sum_b g (v_b - I W_mu) for every local unit, summed over the
 * examples in order (the same for any layout); wins for g = 1. Returns this
 * rank's max |dW| (NaN as +inf). */
static double accumulate(pl_kh *kh, pl_kh_slow *s, int B)
{
    const long nrows = kh->nrows;
    const int n = kh->dim;
    double maxd = 0.0;
    for (long j = 0; j < nrows; j++) {
        float *d = s->dW + (size_t)j * n;
        float coef = 0.0f;
        int touched = 0;
        for (int b = 0; b < B; b++) {
            const float g = pl_kh_slow_g(s->h[(size_t)b * nrows + j], s->prm.h_star, kh->delta);
            if (g == 0.0f)
                continue;
            if (!touched)
                memset(d, 0, (size_t)n * sizeof *d);
            touched = 1;
            const float *x = kh->xbuf + (size_t)b * kh->ldp;
            for (int i = 0; i < n; i++)
                d[i] += g * x[i];
            coef += g * s->cur[(size_t)b * nrows + j];
            kh->wins[j] += g == 1.0f;
        }
        s->coef[j] = touched ? coef : NAN; /* NaN: the row does not change */
        if (!touched)
            continue;
        const float *w = kh->W + (size_t)j * n;
        for (int i = 0; i < n; i++) {
            d[i] -= coef * w[i];
            maxd = max_flag(maxd, fabsf(d[i]));
        }
    }
    return maxd;
}

/* W += scale dW on the changed rows, and their Wp. */
static void apply(pl_kh *kh, pl_kh_slow *s, float scale)
{
    const int n = kh->dim;
    for (long j = 0; j < kh->nrows; j++) {
        if (isnan(s->coef[j]))
            continue;
        cblas_saxpy(n, scale, s->dW + (size_t)j * n, 1, kh->W + (size_t)j * n, 1);
        pl_kh_power_row(kh->W + (size_t)j * n, kh->Wp + (size_t)j * kh->ldp, n, kh->p);
    }
}

int pl_kh_slow_step(pl_kh *kh, pl_kh_slow *s, const float *data, const int *rows, int B,
                    float eps)
{
    /* one BLAS thread per tile call (gemm.h) */
    const int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1)
        openblas_set_num_threads(1);
    pl_kh_load_minibatch(kh, data, rows, B);
    pl_kh_currents(kh, B, s->scratch, s->cur);
    if (blas_threads != 1)
        openblas_set_num_threads(blas_threads);

    const int steps = settle(s, kh->comm, kh->nrows, B);
    s->minibatches++;
    if (steps < 0)
        return PL_EXIT_DIVERGED;
    s->last_steps = steps;
    s->steps += steps;
    double nc = accumulate(kh, s, B);
    pl_allreduce_max_double(kh->comm, &nc, 1);
    if (!isfinite(nc))
        return PL_EXIT_DIVERGED;
    float scale = eps;
    if (s->prm.normalize)
        scale = (float)(eps / (nc > 1e-30 ? nc : 1e-30));
    apply(kh, s, scale);
    return 0;
}
