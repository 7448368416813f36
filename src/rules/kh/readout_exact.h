/* The exact integer-sliced arithmetic of the readout's forward pass
 * (readout.c explains why), shared by one readout (readout.c) and a bank of
 * readouts stacked into one GEMM (readout_bank.c), so both compute every
 * activation with the same operations. Private to src/rules/kh. */
#ifndef PLASTIC_READOUT_EXACT_H
#define PLASTIC_READOUT_EXACT_H

#include <math.h>

/* ---- powers --------------------------------------------------------------- */

/* Exponent classes: small non-negative integers and half-integers avoid the
 * general pow. */
enum pow_kind { POW_INT, POW_HALF, POW_GENERAL };

static inline enum pow_kind pow_classify(double n, int *k)
{
    if (n >= 0.0 && n <= 64.0) {
        if (n == floor(n)) {
            *k = (int)n;
            return POW_INT;
        }
        if (n - 0.5 == floor(n - 0.5)) {
            *k = (int)(n - 0.5);
            return POW_HALF;
        }
    }
    *k = 0;
    return POW_GENERAL;
}

static inline float ipowf(float x, int k)
{
    float y = 1.0f;
    while (k) {
        if (k & 1)
            y *= x;
        x *= x;
        k >>= 1;
    }
    return y;
}

static inline double ipow(double x, int k)
{
    double y = 1.0;
    while (k) {
        if (k & 1)
            y *= x;
        x *= x;
        k >>= 1;
    }
    return y;
}

/* x^p for x >= 0 (or NaN, which propagates). */
static inline double powd(double x, double p, enum pow_kind kind, int k)
{
    switch (kind) {
    case POW_INT: return ipow(x, k);
    case POW_HALF: return ipow(x, k) * sqrt(x);
    default: return pow(x, p);
    }
}

/* ---- exact slicing -------------------------------------------------------- */

/* Bits per slice: products of two slices summed over 2K terms must stay below
 * 2^53. With L = ceil(log2 K), |hi| <= 2^b and |lo| <= 2^(b-1) give
 * sum |hi hi| <= K 2^(2b) and sum |hi lo| + |lo hi| <= K 2^(2b), so 2b + L
 * <= 53 suffices. */
static inline int slice_bits(long hidden)
{
    int L = 0;
    while (L < 62 && (1L << L) < hidden)
        L++;
    int b = (53 - L) / 2;
    return b > 26 ? 26 : b;
}

/* Round to the nearest integer (ties to even) for |y| <= 2^51: adding and
 * subtracting 1.5 * 2^52 pushes the fraction bits out. Plain C arithmetic,
 * so it vectorises, and inf/NaN pass through. Relies on IEEE double
 * evaluation (no -ffast-math, no x87 excess precision). */
static inline double round_int(double y)
{
    const double magic = 6755399441055744.0;
    return (y + magic) - magic;
}

/* Binary exponent e with max < 2^e (0 for an empty, zero or non-finite max,
 * where the slices carry the inf/NaN themselves). */
static inline int scale_exponent(double max)
{
    if (!(max > 0.0) || !isfinite(max))
        return 0;
    int e;
    frexp(max, &e);
    return e;
}

/* The hot loops below are written in blocks of LANES with a scalar tail:
 * GCC's -O2 vectorises such fixed-length blocks (SLP) but not loops that need
 * an epilogue. Every element gets the same operations in the block and in the
 * tail, so results do not depend on where an element falls. */
#define LANES 8

/* x scaled by 2^(bits - e) is below 2^bits; hi = round(y),
 * lo = round((y - hi) 2^bits), so x = 2^(e - bits) (hi + lo 2^-bits) up to
 * 2^(e - 2 bits - 1). The scaling by a power of two and y - hi (the float's
 * bits below the integer part) are exact; lo's rounding is the only loss. */
static inline void slice_one(float x, double scale, double up, double *restrict hi,
                             double *restrict lo)
{
    double y = (double)x * scale;
    double h = round_int(y);
    *hi = h;
    *lo = round_int((y - h) * up);
}

static inline void slice_row(const float *restrict x, long n, int e, int bits, double *restrict hi,
                      double *restrict lo)
{
    double scale = ldexp(1.0, bits - e), up = ldexp(1.0, bits);
    long j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int u = 0; u < LANES; u++)
            slice_one(x[j + u], scale, up, hi + j + u, lo + j + u);
    for (; j < n; j++)
        slice_one(x[j], scale, up, hi + j, lo + j);
}

/* max |x_j| (0 for n = 0). NaN entries are skipped: they reach the slices
 * as NaN and propagate from there; an infinite entry makes the maximum
 * infinite, scale_exponent gives up on the row and the slices carry
 * inf - inf = NaN. */
static inline double absmax(const float *x, long n)
{
    float m8[LANES] = {0};
    long j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int u = 0; u < LANES; u++) {
            float a = fabsf(x[j + u]);
            m8[u] = a > m8[u] ? a : m8[u];
        }
    float m = 0.0f;
    for (int u = 0; u < LANES; u++)
        m = m8[u] > m ? m8[u] : m;
    for (; j < n; j++) {
        float a = fabsf(x[j]);
        m = a > m ? a : m;
    }
    return (double)m;
}

#endif
