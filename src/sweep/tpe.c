/* Tree-structured Parzen estimator over a discrete, ordered search space.
 *
 * The observations are ranked by loss (failed ones last, ties by position)
 * and split into the best n_good ("good") and the rest ("bad"). For each
 * group and each axis a Parzen density over the indices 0..V-1 is formed:
 * a uniform prior with the weight of one observation plus one kernel per
 * observation, a Gaussian centred at its index, integrated over each index's
 * unit cell and renormalised to the axis. The kernel width follows Scott's
 * rule, sigma = 1.06 sd m^(-1/(d+4)), where m is the group size plus the
 * prior, sd the standard deviation of the group's indices pooled with the
 * prior (so that one or two identical observations do not collapse it) and d
 * the number of axes; it is kept within [0.5, V-1], so a kernel always
 * reaches the neighbouring values. The axes are modelled independently, so
 * l(x) = prod_a l_a(x_a) and g(x) = prod_a g_a(x_a); candidates are drawn
 * from l and the one with the largest log l(x) - log g(x) is proposed. Every
 * table entry is at least prior / (V m) > 0, so the logarithms are finite.
 *
 * Points already observed or pending are skipped: each candidate slot gets
 * up to REDRAWS draws. If every draw hits a seen point, the proposal is the
 * best-scoring unseen point of the whole space when it has at most ENUM_MAX
 * points, else of SEARCH_MAX uniform draws; if none is unseen either, the
 * best draw is returned although it repeats a point. */
#include "plastic/tpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/rng.h"

enum {
    DEFAULT_CANDIDATES = 24,
    DEFAULT_STARTUP = 10,
    REDRAWS = 16,        /* draws per wanted candidate before falling back */
    STARTUP_TRIES = 64,  /* uniform draws before the startup fallback */
    ENUM_MAX = 1 << 16,  /* spaces this small are enumerated by the fallback */
    SEARCH_MAX = 1 << 14 /* uniform draws of the fallback in larger spaces */
};

#define DEFAULT_GAMMA 0.25
#define PRIOR_WEIGHT 1.0
#define SIGMA_MIN 0.5

/* ---- the set of observed and pending points ------------------------------ */

typedef struct seen_set {
    int naxes;
    const int **rows; /* the distinct points, as pointers into the history */
    long nrows;
    int *slot;        /* open addressing: -1 or an index into rows */
    size_t mask;      /* capacity - 1, capacity a power of two */
} seen_set;

static uint64_t hash_point(const int *x, int naxes)
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (int a = 0; a < naxes; a++) {
        h ^= (uint32_t)x[a];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return h;
}

static void seen_init(seen_set *s, int naxes, long max_rows)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)max_rows)
        cap *= 2;
    s->naxes = naxes;
    s->rows = pl_alloc((size_t)(max_rows > 0 ? max_rows : 1) * sizeof *s->rows);
    s->nrows = 0;
    s->slot = pl_alloc(cap * sizeof *s->slot);
    for (size_t i = 0; i < cap; i++)
        s->slot[i] = -1;
    s->mask = cap - 1;
}

static void seen_free(seen_set *s)
{
    pl_free(s->rows);
    pl_free(s->slot);
}

/* The slot holding x, or the empty slot where it would go. */
static size_t seen_find(const seen_set *s, const int *x)
{
    size_t i = (size_t)hash_point(x, s->naxes) & s->mask;
    while (s->slot[i] >= 0 &&
           memcmp(s->rows[s->slot[i]], x, (size_t)s->naxes * sizeof *x) != 0)
        i = (i + 1) & s->mask;
    return i;
}

static int seen_has(const seen_set *s, const int *x) { return s->slot[seen_find(s, x)] >= 0; }

static void seen_add(seen_set *s, const int *x)
{
    size_t i = seen_find(s, x);
    if (s->slot[i] < 0) {
        s->rows[s->nrows] = x;
        s->slot[i] = (int)s->nrows++;
    }
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct ctx {
    int naxes;
    const int *nv;     /* values per axis */
    uint64_t total;    /* points in the space, saturated at UINT64_MAX */
    const seen_set *seen;
    pl_rng *rng;
    const double *score; /* per value log l - log g (offset by off), or NULL */
    const int *off;      /* offset of each axis in the per-value tables */
} ctx;

static int in_space(const int *x, int naxes, const int *nv)
{
    for (int a = 0; a < naxes; a++)
        if (x[a] < 0 || x[a] >= nv[a])
            return 0;
    return 1;
}

static void draw_uniform(const ctx *c, int *x)
{
    for (int a = 0; a < c->naxes; a++)
        x[a] = c->nv[a] > 1 ? (int)pl_rng_below(c->rng, (uint32_t)c->nv[a]) : 0;
}

static double score_point(const ctx *c, const int *x)
{
    double s = 0;
    for (int a = 0; a < c->naxes; a++)
        s += c->score[c->off[a] + x[a]];
    return s;
}

/* Point number code of the space, the last axis varying fastest. */
static void decode(const ctx *c, uint64_t code, int *x)
{
    for (int a = c->naxes - 1; a >= 0; a--) {
        x[a] = (int)(code % (uint64_t)c->nv[a]);
        code /= (uint64_t)c->nv[a];
    }
}

/* An unseen point into out: with c->score, the best-scoring one (first in
 * order among equals), else a uniformly random one. Exhaustive for spaces of
 * at most ENUM_MAX points, else among SEARCH_MAX uniform draws. Returns 0
 * if it found none (out untouched). tmp holds naxes ints. */
static int fallback(const ctx *c, int *out, int *tmp)
{
    int found = 0;
    double best = 0;
    if (c->total <= ENUM_MAX) {
        uint64_t nunseen = 0;
        for (uint64_t code = 0; code < c->total; code++) {
            decode(c, code, tmp);
            if (seen_has(c->seen, tmp))
                continue;
            nunseen++;
            if (c->score) {
                double s = score_point(c, tmp);
                if (!found || s > best) {
                    best = s;
                    memcpy(out, tmp, (size_t)c->naxes * sizeof *out);
                }
                found = 1;
            }
        }
        if (!c->score && nunseen > 0) {
            uint64_t k = pl_rng_below(c->rng, (uint32_t)nunseen);
            for (uint64_t code = 0;; code++) {
                decode(c, code, tmp);
                if (!seen_has(c->seen, tmp) && k-- == 0)
                    break;
            }
            memcpy(out, tmp, (size_t)c->naxes * sizeof *out);
            found = 1;
        }
        return found;
    }
    for (int t = 0; t < SEARCH_MAX; t++) {
        draw_uniform(c, tmp);
        if (seen_has(c->seen, tmp))
            continue;
        if (!c->score) {
            memcpy(out, tmp, (size_t)c->naxes * sizeof *out);
            return 1;
        }
        double s = score_point(c, tmp);
        if (!found || s > best) {
            best = s;
            memcpy(out, tmp, (size_t)c->naxes * sizeof *out);
        }
        found = 1;
    }
    return found;
}

/* P(lo < Z < hi) for a standard normal Z, without cancellation in the tails. */
static double gauss_mass(double lo, double hi)
{
    const double r = 0.70710678118654752440; /* 1 / sqrt(2) */
    double m;
    if (lo >= 0)
        m = 0.5 * (erfc(lo * r) - erfc(hi * r));
    else if (hi <= 0)
        m = 0.5 * (erfc(-hi * r) - erfc(-lo * r));
    else
        m = 1.0 - 0.5 * erfc(-lo * r) - 0.5 * erfc(hi * r);
    return m > 0 ? m : 0;
}

/* p[v], v < nv: the Parzen density of a group of n observations of which
 * cnt[v] sit at index v, mixed with a uniform prior of weight PRIOR_WEIGHT.
 * k holds nv doubles of scratch. */
static void parzen(int nv, const int *cnt, int n, int naxes, double *p, double *k)
{
    if (nv == 1) {
        p[0] = 1.0;
        return;
    }
    /* moments of the group pooled with the prior (uniform on 0..nv-1) */
    double m = n + PRIOR_WEIGHT;
    double s1 = PRIOR_WEIGHT * (nv - 1) / 2.0;
    double s2 = PRIOR_WEIGHT * (nv - 1) * (2.0 * nv - 1) / 6.0;
    for (int v = 0; v < nv; v++) {
        s1 += (double)cnt[v] * v;
        s2 += (double)cnt[v] * v * v;
    }
    double mean = s1 / m, var = s2 / m - mean * mean;
    double sigma = 1.06 * sqrt(var > 0 ? var : 0) * pow(m, -1.0 / (naxes + 4));
    if (sigma > nv - 1)
        sigma = nv - 1;
    if (sigma < SIGMA_MIN)
        sigma = SIGMA_MIN;

    for (int v = 0; v < nv; v++)
        p[v] = PRIOR_WEIGHT / nv;
    for (int c = 0; c < nv; c++) {
        if (cnt[c] == 0)
            continue;
        double sum = 0;
        for (int v = 0; v < nv; v++) {
            k[v] = gauss_mass((v - 0.5 - c) / sigma, (v + 0.5 - c) / sigma);
            sum += k[v];
        }
        /* sum >= P(|Z| < 0.5 / sigma) at v = c, well above 0 */
        double w = cnt[c] / sum;
        for (int v = 0; v < nv; v++)
            p[v] += w * k[v];
    }
    for (int v = 0; v < nv; v++)
        p[v] /= m;
}

typedef struct ranked {
    double loss; /* +inf for failed runs */
    int index;
} ranked;

static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->loss < b->loss)
        return -1;
    if (a->loss > b->loss)
        return 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* ---- the two kinds of proposal -------------------------------------------- */

static void propose_random(const ctx *c, int *out, int *tmp)
{
    draw_uniform(c, out);
    if (!seen_has(c->seen, out))
        return;
    for (int t = 1; t < STARTUP_TRIES; t++) {
        draw_uniform(c, tmp);
        if (!seen_has(c->seen, tmp)) {
            memcpy(out, tmp, (size_t)c->naxes * sizeof *out);
            return;
        }
    }
    fallback(c, out, tmp); /* keeps the first draw if the space is used up */
}

/* vobs: the nvalid observations inside the space, as indices into hist. */
static void propose_model(ctx *c, const pl_tpe_history *hist, const int *vobs, int nvalid,
                          double gamma, int candidates, int *out, int *tmp)
{
    const int naxes = c->naxes;
    const int *nv = c->nv;

    ranked *rank = pl_alloc((size_t)nvalid * sizeof *rank);
    int nfinite = 0;
    for (int i = 0; i < nvalid; i++) {
        double l = hist->loss[vobs[i]];
        rank[i].loss = isfinite(l) ? l : INFINITY;
        rank[i].index = vobs[i];
        nfinite += isfinite(l) != 0;
    }
    qsort(rank, (size_t)nvalid, sizeof *rank, cmp_ranked);
    /* the small tolerance keeps e.g. 0.1 * 30 = 3.0000000000000004 at 3 */
    int ngood = (int)ceil(gamma * nvalid - 1e-9);
    if (ngood < 1)
        ngood = 1;
    if (ngood > nvalid)
        ngood = nvalid;
    if (ngood > nfinite) /* a failed run is never good; with none finite, l is the prior */
        ngood = nfinite;

    int *off = pl_alloc((size_t)(naxes + 1) * sizeof *off);
    int maxv = 1;
    off[0] = 0;
    for (int a = 0; a < naxes; a++) {
        off[a + 1] = off[a] + nv[a];
        if (nv[a] > maxv)
            maxv = nv[a];
    }
    int nvals = off[naxes];
    double *lcdf = pl_alloc((size_t)nvals * sizeof *lcdf);
    double *score = pl_alloc((size_t)nvals * sizeof *score);
    double *lp = pl_alloc((size_t)maxv * sizeof *lp);
    double *gp = pl_alloc((size_t)maxv * sizeof *gp);
    double *scratch = pl_alloc((size_t)maxv * sizeof *scratch);
    int *cnt = pl_alloc((size_t)maxv * sizeof *cnt);

    for (int a = 0; a < naxes; a++) {
        memset(cnt, 0, (size_t)nv[a] * sizeof *cnt);
        for (int i = 0; i < ngood; i++)
            cnt[hist->obs[(size_t)rank[i].index * naxes + a]]++;
        parzen(nv[a], cnt, ngood, naxes, lp, scratch);
        memset(cnt, 0, (size_t)nv[a] * sizeof *cnt);
        for (int i = ngood; i < nvalid; i++)
            cnt[hist->obs[(size_t)rank[i].index * naxes + a]]++;
        parzen(nv[a], cnt, nvalid - ngood, naxes, gp, scratch);
        double cum = 0;
        for (int v = 0; v < nv[a]; v++) {
            cum += lp[v];
            lcdf[off[a] + v] = cum;
            score[off[a] + v] = log(lp[v]) - log(gp[v]);
        }
    }
    c->score = score;
    c->off = off;

    /* candidates from l, the best unseen one into out, the best draw of all
     * into best_any */
    int *best_any = pl_alloc((size_t)naxes * sizeof *best_any);
    double best = 0, best_any_score = 0;
    int got = 0;
    long budget = (long)candidates * REDRAWS;
    for (long t = 0; t < budget && got < candidates; t++) {
        for (int a = 0; a < naxes; a++) {
            const double *cdf = lcdf + off[a];
            double u = pl_rng_uniform(c->rng) * cdf[nv[a] - 1];
            int v = 0;
            while (v < nv[a] - 1 && u >= cdf[v])
                v++;
            tmp[a] = v;
        }
        double s = score_point(c, tmp);
        if (t == 0 || s > best_any_score) {
            best_any_score = s;
            memcpy(best_any, tmp, (size_t)naxes * sizeof *tmp);
        }
        if (seen_has(c->seen, tmp))
            continue;
        if (got == 0 || s > best) {
            best = s;
            memcpy(out, tmp, (size_t)naxes * sizeof *tmp);
        }
        got++;
    }
    if (got == 0 && !fallback(c, out, tmp))
        memcpy(out, best_any, (size_t)naxes * sizeof *out);

    pl_free(best_any);
    pl_free(cnt);
    pl_free(scratch);
    pl_free(gp);
    pl_free(lp);
    pl_free(score);
    pl_free(lcdf);
    pl_free(off);
    pl_free(rank);
    c->score = NULL;
    c->off = NULL;
}

int pl_tpe_propose(const pl_tpe_space *space, const pl_tpe_history *hist,
                   const pl_tpe_options *opt, uint64_t seed, uint64_t proposal, int *out)
{
    if (!space || space->naxes < 0 || (space->naxes > 0 && (!space->nvalues || !out)))
        return -1;
    const int naxes = space->naxes;
    const int *nv = space->nvalues;
    uint64_t total = 1;
    for (int a = 0; a < naxes; a++) {
        if (nv[a] < 1)
            return -1;
        total = total > UINT64_MAX / (uint64_t)nv[a] ? UINT64_MAX : total * (uint64_t)nv[a];
    }
    int nobs = hist && hist->nobs > 0 ? hist->nobs : 0;
    int npending = hist && hist->npending > 0 ? hist->npending : 0;
    if ((nobs > 0 && (!hist->obs || !hist->loss)) || (npending > 0 && !hist->pending))
        return -1;
    if (naxes == 0)
        return 0; /* the one point of a space without axes */

    double gamma = opt && opt->gamma > 0 ? opt->gamma : DEFAULT_GAMMA; /* NaN too */
    if (gamma > 1)
        gamma = 1;
    int candidates = opt && opt->candidates > 0 ? opt->candidates : DEFAULT_CANDIDATES;
    int startup = opt && opt->startup > 0 ? opt->startup : DEFAULT_STARTUP;

    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_SWEEP_TPE, proposal);

    /* points outside the space (say, from an older, larger space) are ignored */
    seen_set seen;
    seen_init(&seen, naxes, (long)nobs + npending);
    int *vobs = pl_alloc((size_t)(nobs > 0 ? nobs : 1) * sizeof *vobs);
    int nvalid = 0;
    for (int i = 0; i < nobs; i++) {
        const int *x = hist->obs + (size_t)i * naxes;
        if (in_space(x, naxes, nv)) {
            vobs[nvalid++] = i;
            seen_add(&seen, x);
        }
    }
    for (int i = 0; i < npending; i++) {
        const int *x = hist->pending + (size_t)i * naxes;
        if (in_space(x, naxes, nv))
            seen_add(&seen, x);
    }

    int *tmp = pl_alloc((size_t)naxes * sizeof *tmp);
    ctx c = {.naxes = naxes, .nv = nv, .total = total, .seen = &seen, .rng = &rng};
    if (nvalid < (startup > 2 ? startup : 2))
        propose_random(&c, out, tmp);
    else
        propose_model(&c, hist, vobs, nvalid, gamma, candidates, out, tmp);

    pl_free(tmp);
    pl_free(vobs);
    seen_free(&seen);
    return 0;
}
