/* Competing hidden units, fast form: one sgemm for the currents, local top-k,
 * a global merge, and sparse row updates. See kh.h for the equations. */
#include "plastic/kh.h"
#include "plastic/common.h"
#include "plastic/rng.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* p as a small integer exponent, or 0 when pow() is needed. */
static int integer_power(double p)
{
    return (p == floor(p) && p >= 1.0 && p <= 32.0) ? (int)p : 0;
}

void pl_kh_power_row(const float *w, float *out, int n, double p)
{
    int ip = integer_power(p);
    switch (ip) {
    case 1: /* |w|^0 = 1: only the sign survives (sign(0) = 0) */
        for (int i = 0; i < n; i++)
            out[i] = (float)((w[i] > 0.0f) - (w[i] < 0.0f));
        return;
    case 2:
        memmove(out, w, (size_t)n * sizeof *w);
        return;
    case 3:
        for (int i = 0; i < n; i++)
            out[i] = w[i] * fabsf(w[i]);
        return;
    case 0: {
        float e = (float)(p - 1.0);
        for (int i = 0; i < n; i++)
            out[i] = copysignf(powf(fabsf(w[i]), e), w[i]);
        return;
    }
    default:
        for (int i = 0; i < n; i++) {
            float a = fabsf(w[i]), r = w[i];
            for (int e = 1; e < ip - 1; e++)
                r *= a;
            out[i] = r;
        }
        return;
    }
}

int pl_kh_init(pl_kh *kh, const pl_comm *comm, long hidden, int dim, double p, int k,
               float delta, int bmax, uint64_t seed)
{
    memset(kh, 0, sizeof *kh);
    kh->comm = comm;
    kh->hidden = hidden;
    kh->dim = dim;
    kh->p = p;
    kh->k = k;
    kh->delta = delta;
    kh->bmax = bmax;
    long end;
    pl_block_range(hidden, pl_comm_size(comm), pl_comm_rank(comm), &kh->row0, &end);
    kh->nrows = end - kh->row0;

    size_t rows = (size_t)kh->nrows, n = (size_t)dim;
    kh->W = pl_alloc(rows * n * sizeof(float));
    kh->Wp = pl_alloc(rows * n * sizeof(float));
    kh->currents = pl_alloc((size_t)bmax * rows * sizeof(float));
    kh->top = pl_alloc((size_t)bmax * (size_t)k * sizeof(pl_rank_entry));
    kh->dW = pl_alloc(2 * (size_t)bmax * n * sizeof(float));
    kh->coef = pl_alloc(2 * (size_t)bmax * sizeof(float));
    kh->changed = pl_alloc(2 * (size_t)bmax * sizeof(int32_t));
    kh->slot = pl_alloc(rows * sizeof(int32_t));
    kh->wins = pl_calloc(rows, sizeof(long));
    for (long j = 0; j < kh->nrows; j++)
        kh->slot[j] = -1;

    for (long j = 0; j < kh->nrows; j++) {
        pl_rng rng;
        pl_rng_init(&rng, seed, PL_STREAM_KH_INIT, (uint64_t)(kh->row0 + j));
        float *row = kh->W + (size_t)j * n;
        for (int i = 0; i < dim; i++)
            row[i] = (float)pl_rng_normal(&rng);
    }
    pl_kh_refresh(kh);
    return 0;
}

void pl_kh_free(pl_kh *kh)
{
    pl_free(kh->W);
    pl_free(kh->Wp);
    pl_free(kh->currents);
    pl_free(kh->top);
    pl_free(kh->dW);
    pl_free(kh->coef);
    pl_free(kh->changed);
    pl_free(kh->slot);
    pl_free(kh->wins);
    pl_gemm_scratch_free(&kh->gemm);
    memset(kh, 0, sizeof *kh);
}

void pl_kh_refresh(pl_kh *kh)
{
    for (long j = 0; j < kh->nrows; j++)
        pl_kh_power_row(kh->W + (size_t)j * kh->dim, kh->Wp + (size_t)j * kh->dim, kh->dim,
                        kh->p);
}

/* Best-first top-k of one example's local currents. Entries past the local
 * unit count stay as sentinels that lose to every real current. One float
 * comparison against the k-th value rejects almost every unit. */
static void rank_local(const float *cur, long nrows, long row0, int k, pl_rank_entry *list)
{
    for (int i = 0; i < k; i++)
        list[i] = (pl_rank_entry){-INFINITY, INT32_MAX};
    float kth = -INFINITY;
    for (long j = 0; j < nrows; j++) {
        if (cur[j] < kth)
            continue; /* ties, NaN and -inf take the exact comparison below */
        pl_rank_entry e = {cur[j], (int32_t)(row0 + j)};
        if (!pl_rank_better(e, list[k - 1]))
            continue;
        int pos = k - 1;
        while (pos > 0 && pl_rank_better(e, list[pos - 1])) {
            list[pos] = list[pos - 1];
            pos--;
        }
        list[pos] = e;
        kth = list[k - 1].value;
    }
}

/* Adds g * (x - I W_row) for one example to the pending update of a row. */
static void accumulate(pl_kh *kh, long local, float g, float current, const float *x)
{
    int s = kh->slot[local];
    if (s < 0) {
        s = kh->nchanged++;
        kh->slot[local] = s;
        kh->changed[s] = (int32_t)local;
        kh->coef[s] = 0.0f;
        memset(kh->dW + (size_t)s * kh->dim, 0, (size_t)kh->dim * sizeof(float));
    }
    float *d = kh->dW + (size_t)s * kh->dim;
    for (int i = 0; i < kh->dim; i++)
        d[i] += g * x[i];
    kh->coef[s] += g * current;
}

#define INFINITY_BITS 0x7f800000u

/* max |d_i| as the bits of a float. For non-negative floats the bit patterns
 * order like the values, and every NaN lies above +inf, so an integer max
 * (which vectorises) finds the largest value and flags NaN and inf alike. */
static uint32_t abs_max_bits(const float *d, int n)
{
    uint32_t m = 0;
    for (int i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, d + i, sizeof b);
        b &= 0x7fffffffu;
        m = b > m ? b : m;
    }
    return m;
}

static float bits_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

int pl_kh_step(pl_kh *kh, const float *X, int B, float eps)
{
    const int n = kh->dim, k = kh->k;
    const long nrows = kh->nrows;

    pl_sgemm_abt(B, (int)nrows, n, X, kh->Wp, kh->currents, (int)nrows, &kh->gemm);
    for (int b = 0; b < B; b++)
        rank_local(kh->currents + (size_t)b * nrows, nrows, kh->row0, k, kh->top + (size_t)b * k);
    pl_topk_allreduce(kh->comm, kh->top, B, k);

    /* Hebbian (first) and anti-Hebbian (k-th) terms, in example order so
     * every rank count sums in the same order. */
    kh->nchanged = 0;
    for (int b = 0; b < B; b++) {
        const pl_rank_entry *list = kh->top + (size_t)b * k;
        const float *x = X + (size_t)b * n;
        long first = list[0].index - kh->row0, kth = list[k - 1].index - kh->row0;
        if (first >= 0 && first < nrows) {
            accumulate(kh, first, 1.0f, list[0].value, x);
            kh->wins[first]++;
        }
        if (kth >= 0 && kth < nrows)
            accumulate(kh, kth, -kh->delta, list[k - 1].value, x);
    }

    /* A sentinel left in a merged list means some example had fewer than k
     * comparable currents: NaN inputs or weights. */
    uint32_t max_bits = 0;
    for (int b = 0; b < B; b++)
        if (kh->top[(size_t)b * k + k - 1].index == INT32_MAX)
            max_bits = INFINITY_BITS;
    for (int s = 0; s < kh->nchanged; s++) {
        float *d = kh->dW + (size_t)s * n;
        const float *w = kh->W + (size_t)kh->changed[s] * n;
        const float c = kh->coef[s];
        for (int i = 0; i < n; i++)
            d[i] -= c * w[i];
        uint32_t m = abs_max_bits(d, n);
        max_bits = m > max_bits ? m : max_bits;
    }
    float local_max = max_bits >= INFINITY_BITS ? INFINITY : bits_float(max_bits);
    /* A non-finite update anywhere becomes an infinite global max: every
     * rank sees it from the one reduction it needs anyway. */
    float nc = local_max;
    pl_allreduce_max_float(kh->comm, &nc, 1);
    for (int s = 0; s < kh->nchanged; s++)
        kh->slot[kh->changed[s]] = -1;
    if (!isfinite(nc))
        return PL_EXIT_DIVERGED;
    if (nc < 1e-30f)
        nc = 1e-30f;

    const float scale = eps / nc;
    for (int s = 0; s < kh->nchanged; s++) {
        size_t off = (size_t)kh->changed[s] * n;
        cblas_saxpy(n, scale, kh->dW + (size_t)s * n, 1, kh->W + off, 1);
        pl_kh_power_row(kh->W + off, kh->Wp + off, n, kh->p);
    }
    return 0;
}

void pl_kh_sphere(const pl_kh *kh, double *mean_dev, double *max_dev)
{
    /* |W|^p = W * Wp elementwise, so no pow() is needed here either. */
    double sum_dev = 0.0, worst = 0.0;
    for (long j = 0; j < kh->nrows; j++) {
        const float *w = kh->W + (size_t)j * kh->dim, *wp = kh->Wp + (size_t)j * kh->dim;
        double norm = 0.0;
        for (int i = 0; i < kh->dim; i++)
            norm += (double)w[i] * (double)wp[i];
        double dev = fabs(norm - 1.0);
        sum_dev += dev;
        if (!(dev <= worst))
            worst = dev; /* keeps NaN visible */
    }
    pl_allreduce_sum_double(kh->comm, &sum_dev, 1);
    pl_allreduce_max_double(kh->comm, &worst, 1);
    *mean_dev = sum_dev / (double)kh->hidden;
    *max_dev = worst;
}

long pl_kh_take_never_won(pl_kh *kh)
{
    long never = 0;
    for (long j = 0; j < kh->nrows; j++) {
        never += kh->wins[j] == 0;
        kh->wins[j] = 0;
    }
    pl_allreduce_sum_long(kh->comm, &never, 1);
    return never;
}
