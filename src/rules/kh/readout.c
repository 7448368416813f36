/* Supervised readout on frozen hidden features (Krotov & Hopfield, PNAS 2019).
 *
 * Rank-count independence. Each rank holds the columns of S for its own
 * hidden units, and the class activations a = S h are a sum over ranks. To
 * make a bitwise the same for every partition of the units, the sum is
 * computed exactly: per class row of S and per example row of H, the values
 * are written as integers on a grid tied to the row's global maximum (two
 * slices, hi and lo, of `bits` bits each), so every product and every partial
 * sum is an integer below 2^53 and double arithmetic adds them without
 * rounding, in whatever order BLAS, threads or MPI choose. The
 * representation keeps 2*bits (>= 42 for K <= 2048) bits below each row's
 * maximum, far finer than the float data. Plain double sums would not do:
 * their rounding depends on how the units are grouped.
 *
 * The features come from one SGEMM per tile of global units and chunk of
 * examples, with the same arguments in every layout (gemm.h), so they do not
 * depend on the rank's units or thread count.
 *
 * The gradient dS = delta^T H involves only this rank's columns and is summed
 * over the minibatch in a fixed order, so it does not depend on the
 * partition either. Everything derived from a (c, loss, delta, argmax) is
 * computed the same way on every rank from the reduced a. */
#include "rules/kh/readout.h"
#include "rules/kh/readout_exact.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/gemm.h"
#include "plastic/rng.h"
#include "plastic/team.h"

enum {
    FEATURE_CHUNK = 1024, /* examples per SGEMM in pl_readout_features, from example 0 */
    SLICE_ROWS = 128,     /* examples sliced at once in the forward pass */
    ERROR_CHUNK = 1000    /* examples per forward pass in pl_readout_errors */
};

/* ---- features ------------------------------------------------------------- */

/* out = relu(in)^n. `u <= 0` rather than `!(u > 0)` so that NaN passes
 * through to the power and is not hidden as 0. */
static void relu_power(const float *in, float *out, size_t count, double n)
{
    int k;
    enum pow_kind kind = pow_classify(n, &k);
    float nf = (float)n;
    switch (kind) {
    case POW_INT:
        for (size_t i = 0; i < count; i++) {
            float u = in[i];
            out[i] = u <= 0.0f ? 0.0f : ipowf(u, k);
        }
        break;
    case POW_HALF:
        for (size_t i = 0; i < count; i++) {
            float u = in[i];
            out[i] = u <= 0.0f ? 0.0f : ipowf(u, k) * sqrtf(u);
        }
        break;
    default:
        for (size_t i = 0; i < count; i++) {
            float u = in[i];
            out[i] = u <= 0.0f ? 0.0f : powf(u, nf);
        }
        break;
    }
}

/* What the members of the features' team share. */
typedef struct features_ctx {
    const float *W, *x;
    long nunits, nexamples;
    int dim, ld, tile, threads;
    double n;
    float *wpad;          /* nunits x ld: W's rows at the aligned stride */
    float *xhat;          /* FEATURE_CHUNK x ld: a chunk of examples, unit length */
    float *ctile;         /* threads x FEATURE_CHUNK x span: each member's products */
    long span;            /* min(tile, nunits) */
    float *H;
    pl_team *team;
} features_ctx;

/* Rows [lo, hi) of x as unit vectors into xhat (from its row 0). */
static void normalise_rows(const features_ctx *c, long lo, long hi)
{
    for (long i = lo; i < hi; i++) {
        const float *v = c->x + (size_t)i * (size_t)c->dim;
        float *out = c->xhat + (size_t)(i % FEATURE_CHUNK) * (size_t)c->ld;
        double ss = 0.0;
        for (int d = 0; d < c->dim; d++)
            ss += (double)v[d] * (double)v[d];
        double inv = ss == 0.0 ? 0.0 : 1.0 / sqrt(ss);
        for (int d = 0; d < c->dim; d++)
            out[d] = (float)((double)v[d] * inv);
    }
}

/* One member's share: its tiles of units (like the KH step's shards) for
 * every chunk of examples; the chunk's normalisation is shared out too. */
static void features_member(void *p, int id)
{
    const features_ctx *c = p;
    const int T = c->tile;
    long lo, hi;
    pl_tile_range(c->nunits, T, c->threads, id, &lo, &hi);
    for (long j = lo; j < hi; j++)
        memcpy(c->wpad + (size_t)j * c->ld, c->W + (size_t)j * c->dim,
               (size_t)c->dim * sizeof(float));
    float *ctile = c->ctile + (size_t)id * FEATURE_CHUNK * (size_t)c->span;
    for (long i0 = 0; i0 < c->nexamples; i0 += FEATURE_CHUNK) {
        const long rows = c->nexamples - i0 < FEATURE_CHUNK ? c->nexamples - i0 : FEATURE_CHUNK;
        long a, b;
        pl_block_range(rows, c->threads, id, &a, &b);
        normalise_rows(c, i0 + a, i0 + b);
        pl_team_barrier(c->team);
        for (long t0 = lo; t0 < hi; t0 += T) {
            const int units = (int)(hi - t0 < T ? hi - t0 : T);
            pl_sgemm_tile((int)rows, units, c->dim, c->xhat, c->wpad + (size_t)t0 * c->ld, ctile);
            for (long i = 0; i < rows; i++)
                relu_power(ctile + (size_t)i * (size_t)units,
                           c->H + (size_t)(i0 + i) * (size_t)c->nunits + (size_t)t0,
                           (size_t)units, c->n);
        }
        pl_team_barrier(c->team); /* xhat is rewritten next */
    }
}

/* The dot products <W_j, v_i/|v_i|>, one SGEMM per chunk of examples and
 * tile of units with the same arguments in every layout (gemm.h), so H is
 * the same for every rank and thread count without any communication. */
void pl_readout_features(const float *W_local, long nunits, int dim, const float *x,
                         long nexamples, double n, int tile, int threads, float *H)
{
    if (nexamples <= 0 || nunits <= 0)
        return;
    if (tile < 1)
        tile = 1;
    const long tiles = (nunits + tile - 1) / tile;
    threads = threads < 1 ? 1 : (threads > tiles ? (int)tiles : threads);
    features_ctx c = {.W = W_local, .x = x, .nunits = nunits, .nexamples = nexamples, .dim = dim,
                      .ld = pl_gemm_ld(dim), .tile = tile, .threads = threads, .n = n, .H = H};
    c.span = tile < nunits ? tile : nunits;
    c.wpad = pl_calloc((size_t)nunits * (size_t)c.ld, sizeof(float));
    c.xhat = pl_calloc((size_t)FEATURE_CHUNK * (size_t)c.ld, sizeof(float));
    c.ctile = pl_alloc((size_t)threads * FEATURE_CHUNK * (size_t)c.span * sizeof(float));
    c.team = pl_team_create(threads);
    /* one BLAS thread per call: OpenBLAS's own threads sum in another order */
    const int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1)
        openblas_set_num_threads(1);
    pl_team_run(c.team, features_member, &c);
    if (blas_threads != 1)
        openblas_set_num_threads(blas_threads);
    pl_team_destroy(c.team);
    pl_free(c.wpad);
    pl_free(c.xhat);
    pl_free(c.ctile);
}

/* ---- setup ---------------------------------------------------------------- */

void pl_readout_init(pl_readout *r, const pl_comm *comm, int nclass, long hidden,
                     long unit0, long nunits, double n, double m, double beta,
                     uint64_t seed, float init_std)
{
    memset(r, 0, sizeof *r);
    r->comm = comm;
    r->nclass = nclass;
    r->hidden = hidden;
    r->unit0 = unit0;
    r->nunits = nunits;
    r->n = n;
    r->m = m;
    r->beta = beta;
    size_t count = (size_t)nclass * (size_t)nunits;
    r->S = pl_alloc(count * sizeof *r->S);
    r->grad = pl_calloc(count, sizeof *r->grad);
    for (long j = 0; j < nunits; j++) {
        pl_rng rng;
        pl_rng_init(&rng, seed, PL_STREAM_READOUT_INIT, (uint64_t)(unit0 + j));
        for (int c = 0; c < nclass; c++)
            r->S[(size_t)c * (size_t)nunits + (size_t)j] =
                (float)((double)init_std * pl_rng_normal(&rng));
    }
    pl_adam_init(&r->adam, (long)count, 0.9f, 0.999f, 1e-8f);
    r->cap = 0;
    r->act = NULL;
    r->delta = NULL;
}

void pl_readout_free(pl_readout *r)
{
    pl_free(r->S);
    pl_free(r->grad);
    pl_adam_free(&r->adam);
    pl_free(r->act);
    pl_free(r->delta);
    memset(r, 0, sizeof *r);
}

/* ---- work space ----------------------------------------------------------- */

/* r->act is the head of one allocation whose tail holds the forward pass's
 * work space (sizes fixed by cap, nclass and nunits):
 *   act   cap x C            the result
 *   part  2 x cap x C        hi*hi and cross partial sums, reduced over ranks
 *   scale C + cap            row maxima, then their binary exponents
 *   S2    C x 2 nunits       per class [lo | hi] slices of S; the gradient's
 *                            double accumulator afterwards
 *   H2    SLICE_ROWS x 2 nunits   per example [hi | lo] slices of H */
typedef struct work {
    double *act, *part, *scale, *S2, *H2;
} work;

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t layout(const pl_readout *r, int cap, work *w)
{
    size_t C = (size_t)r->nclass, n2 = 2 * (size_t)r->nunits;
    size_t hrows = cap < SLICE_ROWS ? (size_t)cap : SLICE_ROWS;
    size_t off_part = round8((size_t)cap * C);
    size_t off_scale = off_part + round8(2 * (size_t)cap * C);
    size_t off_S2 = off_scale + round8(C + (size_t)cap);
    size_t off_H2 = off_S2 + round8(C * n2);
    size_t total = off_H2 + round8(hrows * n2);
    if (w) {
        double *base = r->act;
        w->act = base;
        w->part = base + off_part;
        w->scale = base + off_scale;
        w->S2 = base + off_S2;
        w->H2 = base + off_H2;
    }
    return total;
}

static void reserve(pl_readout *r, int B)
{
    if (B <= r->cap)
        return;
    pl_free(r->act);
    pl_free(r->delta);
    r->act = pl_alloc(layout(r, B, NULL) * sizeof(double));
    r->delta = pl_alloc((size_t)B * (size_t)r->nclass * sizeof *r->delta);
    r->cap = B;
}

/* ---- forward -------------------------------------------------------------- */

void pl_readout_forward(pl_readout *r, const float *H, int B, float *c)
{
    if (B <= 0)
        return;
    reserve(r, B);
    work w;
    layout(r, r->cap, &w);
    const int C = r->nclass;
    const long n = r->nunits;
    const size_t n2 = 2 * (size_t)n;
    const int bits = slice_bits(r->hidden);

    /* Global row maxima of S (per class) and H (per example). */
    for (int k = 0; k < C; k++)
        w.scale[k] = absmax(r->S + (size_t)k * (size_t)n, n);
    for (int b = 0; b < B; b++)
        w.scale[C + b] = absmax(H + (size_t)b * (size_t)n, n);
    pl_allreduce_max_double(r->comm, w.scale, C + B);
    for (int i = 0; i < C + B; i++)
        w.scale[i] = (double)scale_exponent(w.scale[i]);

    /* S2 row k = [lo | hi]. */
    for (int k = 0; k < C; k++) {
        double *row = w.S2 + (size_t)k * n2;
        slice_row(r->S + (size_t)k * (size_t)n, n, (int)w.scale[k], bits, row + n, row);
    }

    /* Partial sums: P1 = Hhi Shi^T, P2 = Hhi Slo^T + Hlo Shi^T, both exact. */
    double *P1 = w.part, *P2 = w.part + (size_t)B * (size_t)C;
    if (n == 0) {
        memset(w.part, 0, 2 * (size_t)B * (size_t)C * sizeof(double));
    } else {
        for (int b0 = 0; b0 < B; b0 += SLICE_ROWS) {
            int rows = B - b0 < SLICE_ROWS ? B - b0 : SLICE_ROWS;
            for (int i = 0; i < rows; i++) {
                double *row = w.H2 + (size_t)i * n2;
                slice_row(H + (size_t)(b0 + i) * (size_t)n, n, (int)w.scale[C + b0 + i], bits,
                          row, row + n);
            }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, C, (int)n, 1.0, w.H2,
                        (int)n2, w.S2 + n, (int)n2, 0.0, P1 + (size_t)b0 * C, C);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, C, (int)n2, 1.0, w.H2,
                        (int)n2, w.S2, (int)n2, 0.0, P2 + (size_t)b0 * C, C);
        }
    }
    pl_allreduce_sum_double(r->comm, w.part, 2 * B * C);

    /* a = (P1 + P2 2^-bits) 2^(eS + eH - 2 bits): same inputs, same
     * operations on every rank. */
    double down = ldexp(1.0, -bits);
    for (int b = 0; b < B; b++) {
        int eh = (int)w.scale[C + b];
        for (int k = 0; k < C; k++) {
            size_t i = (size_t)b * C + (size_t)k;
            w.act[i] = ldexp(P1[i] + P2[i] * down, eh + (int)w.scale[k] - 2 * bits);
        }
    }
    if (c) {
        for (size_t i = 0; i < (size_t)B * (size_t)C; i++)
            c[i] = (float)tanh(r->beta * w.act[i]);
    }
}

double pl_readout_block_loss(const pl_readout *r, const uint8_t *y, int B, float *delta)
{
    const int C = r->nclass;
    const double beta = r->beta, m = r->m;
    int km, km1;
    enum pow_kind kind = pow_classify(m, &km);
    enum pow_kind kind1 = pow_classify(m - 1.0, &km1);
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < C; k++) {
            size_t i = (size_t)b * C + (size_t)k;
            double cc = tanh(beta * r->act[i]);
            double t = (int)y[b] == k ? 1.0 : -1.0;
            double d = cc - t, ad = fabs(d);
            loss += powd(ad, m, kind, km);
            if (delta) {
                double g = d == 0.0 ? 0.0 : copysign(powd(ad, m - 1.0, kind1, km1), d);
                delta[i] = (float)(m * g * beta * (1.0 - cc * cc));
            }
        }
    }
    return loss;
}

double pl_readout_loss_grad(pl_readout *r, const float *H, const uint8_t *y, int B)
{
    const int C = r->nclass;
    const long n = r->nunits;
    if (B <= 0) {
        memset(r->grad, 0, (size_t)C * (size_t)n * sizeof *r->grad);
        return 0.0;
    }
    pl_readout_forward(r, H, B, NULL);
    double loss = pl_readout_block_loss(r, y, B, r->delta);

    /* grad[k][j] = sum_b delta[b][k] H[b][j], products exact in double and
     * summed over b in order: independent of which units share the rank. The
     * S slices are no longer needed, so their space holds the sums. */
    work w;
    layout(r, r->cap, &w);
    double *acc = w.S2;
    memset(acc, 0, (size_t)C * (size_t)n * sizeof *acc);
    for (int b = 0; b < B; b++) {
        const float *h = H + (size_t)b * (size_t)n;
        for (int k = 0; k < C; k++) {
            double d = (double)r->delta[(size_t)b * C + (size_t)k];
            double *a = acc + (size_t)k * (size_t)n;
            long j = 0;
            for (; j + LANES <= n; j += LANES)
                for (int u = 0; u < LANES; u++)
                    a[j + u] += d * (double)h[j + u];
            for (; j < n; j++)
                a[j] += d * (double)h[j];
        }
    }
    for (size_t i = 0; i < (size_t)C * (size_t)n; i++)
        r->grad[i] = (float)acc[i]; /* the one rounding */
    return loss;
}

double pl_readout_step(pl_readout *r, const float *H, const uint8_t *y, int B, float lr)
{
    double loss = pl_readout_loss_grad(r, H, y, B);
    pl_adam_step(&r->adam, r->S, r->grad, lr);
    return loss;
}

long pl_readout_errors(pl_readout *r, const float *H, const uint8_t *y, long nexamples,
                       double *loss)
{
    const int C = r->nclass;
    const long n = r->nunits;
    long errors = 0;
    double total = 0.0;
    for (long i0 = 0; i0 < nexamples; i0 += ERROR_CHUNK) {
        int B = (int)(nexamples - i0 < ERROR_CHUNK ? nexamples - i0 : ERROR_CHUNK);
        pl_readout_forward(r, H + (size_t)i0 * (size_t)n, B, NULL);
        for (int b = 0; b < B; b++) {
            const double *a = r->act + (size_t)b * C;
            int best = 0;
            for (int k = 1; k < C; k++)
                if (a[k] > a[best])
                    best = k;
            if (best != (int)y[i0 + b])
                errors++;
        }
        if (loss)
            total += pl_readout_block_loss(r, y + i0, B, NULL);
    }
    if (loss)
        *loss = total;
    return errors;
}

/* Phases at 1/3, 1/2, 2/3 and 5/6 of the run (epochs 100, 150, 200, 250 of
 * 300), with 1e-3, 5e-4, 1e-4, 5e-5, 1e-5 relative to 1e-3. Integer
 * comparisons, so the boundaries are exact. */
double pl_readout_lr(double lr0, int epoch, int epochs)
{
    long e = epoch, E = epochs;
    if (3 * e < E)
        return lr0;
    if (2 * e < E)
        return lr0 * 0.5;
    if (3 * e < 2 * E)
        return lr0 * 0.1;
    if (6 * e < 5 * E)
        return lr0 * 0.05;
    return lr0 * 0.01;
}
