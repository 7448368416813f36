/* Exact, order-independent sums of float tensors (the argument is in
 * exact.h). The add loop is the hot one: it runs over every parameter of
 * every part. It takes several parts at once, in blocks that stay in L1,
 * so the accumulator, twice the size of the floats, is streamed once per
 * call rather than once per part; and it is plain arithmetic so it
 * vectorises. */
#include "plastic/nn/exact.h"

#include <math.h>
#include <string.h>

#include "plastic/common.h"

void pl_exact_init(pl_exact *s, int ntensors, const long *counts, int nside)
{
    memset(s, 0, sizeof *s);
    s->ntensors = ntensors;
    s->offset = pl_alloc((size_t)(ntensors + 1) * sizeof *s->offset);
    s->offset[0] = 0;
    for (int t = 0; t < ntensors; t++)
        s->offset[t + 1] = s->offset[t] + counts[t];
    s->n = s->offset[ntensors];
    s->nside = nside;
    s->acc = pl_calloc((size_t)(s->n + nside), sizeof *s->acc);
    s->bound = pl_calloc((size_t)(ntensors > 0 ? ntensors : 1), sizeof *s->bound);
    s->scale = pl_calloc((size_t)(ntensors > 0 ? ntensors : 1), sizeof *s->scale);
    s->touched = pl_calloc((size_t)(ntensors > 0 ? ntensors : 1), 1);
}

void pl_exact_free(pl_exact *s)
{
    pl_free(s->offset);
    pl_free(s->acc);
    pl_free(s->bound);
    pl_free(s->scale);
    pl_free(s->touched);
    memset(s, 0, sizeof *s);
}

int pl_exact_bits(long parts)
{
    int log2_parts = 0;
    while ((1L << log2_parts) < parts)
        log2_parts++;
    return 52 - log2_parts < 50 ? 52 - log2_parts : 50;
}

void pl_exact_begin(pl_exact *s, long parts)
{
    s->bits = pl_exact_bits(parts);
    memset(s->acc + s->n, 0, (size_t)s->nside * sizeof *s->acc);
    for (int t = 0; t < s->ntensors; t++) {
        s->bound[t] = 0.0;
        s->touched[t] = 0;
    }
}

void pl_exact_bound(pl_exact *s, int t, double bound)
{
    if (!isfinite(bound))
        s->bound[t] = INFINITY; /* MAX keeps it; NaN would not compare */
    else if (bound > s->bound[t])
        s->bound[t] = bound;
}

void pl_exact_agree(pl_exact *s, const pl_comm *c)
{
    if (s->ntensors > 0)
        pl_allreduce_max_double(c, s->bound, s->ntensors);
    for (int t = 0; t < s->ntensors; t++) {
        int e = 0;
        if (isfinite(s->bound[t]) && s->bound[t] > 0.0)
            frexp(s->bound[t], &e); /* bound < 2^e */
        if (e < -900)           /* keep 2^(bits - e) a finite double */
            e = -900;
        s->scale[t] = isfinite(s->bound[t]) ? ldexp(1.0, s->bits - e) : 0.0;
    }
}

/* Round to the nearest integer (ties to even) for |y| <= 2^51: adding and
 * subtracting 1.5 2^52 pushes the fraction bits out. Needs IEEE double
 * arithmetic (no -ffast-math). */
static inline double round_int(double y)
{
    const double magic = 6755399441055744.0;
    return (y + magic) - magic;
}

enum { BLOCK = 512 }; /* doubles of one block: 4 KiB */

void pl_exact_add(pl_exact *s, int t, const float *x, int nparts, long stride)
{
    double *restrict acc = s->acc + s->offset[t];
    const long n = s->offset[t + 1] - s->offset[t];
    const int first = !s->touched[t];
    s->touched[t] = 1;
    if (s->scale[t] == 0.0) { /* non-finite bound: the result will be NaN */
        memset(acc, 0, (size_t)n * sizeof *acc);
        return;
    }
    const double scale = s->scale[t];
    for (long i0 = 0; i0 < n; i0 += BLOCK) {
        const long m = n - i0 < BLOCK ? n - i0 : BLOCK;
        double sum[BLOCK];
        for (long i = 0; i < m; i++)
            sum[i] = first ? 0.0 : acc[i0 + i];
        for (int p = 0; p < nparts; p++) {
            const float *restrict xp = x + p * stride + i0;
            for (long i = 0; i < m; i++)
                sum[i] += round_int((double)xp[i] * scale);
        }
        memcpy(acc + i0, sum, (size_t)m * sizeof *acc);
    }
}

/* Accumulators of tensors no part was added to on this rank: 0. */
static void zero_untouched(pl_exact *s)
{
    for (int t = 0; t < s->ntensors; t++)
        if (!s->touched[t])
            memset(s->acc + s->offset[t], 0,
                   (size_t)(s->offset[t + 1] - s->offset[t]) * sizeof *s->acc);
}

static void allreduce_sum(const pl_comm *c, double *buf, long n)
{
    for (long done = 0; done < n;) { /* MPI counts are int */
        int piece = n - done > (1L << 30) ? (1 << 30) : (int)(n - done);
        pl_allreduce_sum_double(c, buf + done, piece);
        done += piece;
    }
}

/* The summed integers of values [lo, hi), back on their tensors' scales. */
static void convert(const pl_exact *s, long lo, long hi, float *out)
{
    for (int t = 0; t < s->ntensors; t++) {
        const long from = s->offset[t] > lo ? s->offset[t] : lo;
        const long to = s->offset[t + 1] < hi ? s->offset[t + 1] : hi;
        float *o = out + from;
        const double *a = s->acc + from;
        const long n = to - from;
        if (n <= 0)
            continue;
        if (s->scale[t] == 0.0) {
            for (long i = 0; i < n; i++)
                o[i] = NAN;
            continue;
        }
        const double unscale = 1.0 / s->scale[t]; /* a power of two: exact */
        for (long i = 0; i < n; i++)
            o[i] = (float)(a[i] * unscale);
    }
}

void pl_exact_finish(pl_exact *s, const pl_comm *c, float *out)
{
    zero_untouched(s);
    allreduce_sum(c, s->acc, s->n + s->nside);
    convert(s, 0, s->n, out);
}

void pl_exact_finish_block(pl_exact *s, const pl_comm *c, float *out)
{
    long lo, hi;
    zero_untouched(s);
    pl_block_range(s->n, pl_comm_size(c), pl_comm_rank(c), &lo, &hi);
    pl_reduce_scatter_sum_double(c, s->acc, s->n); /* integers: exact in any order */
    allreduce_sum(c, s->acc + s->n, s->nside);
    convert(s, lo, hi, out);
}
