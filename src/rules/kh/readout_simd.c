/* AVX-512 kernels of the readout bank (readout_simd.h says why they equal
 * the portable code bitwise). Compiled for the baseline x86-64; only the
 * functions marked with target attributes use AVX-512, and only when the
 * CPU reports it. OpenBLAS's own choice of kernel does not matter here. */
#include "rules/kh/readout_simd.h"

#include <cblas.h>
#include <string.h>

#include "plastic/common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_WIDE 1
#else
#define HAVE_WIDE 0
#endif

static int limit = -1; /* the width in use; -1: not chosen yet */

static int cpu_width(void)
{
#if HAVE_WIDE
    return __builtin_cpu_supports("avx512f") ? 512 : 0;
#else
    return 0;
#endif
}

static int width(void)
{
    if (limit < 0)
        limit = cpu_width();
    return limit;
}

int pl_readout_simd_limit(int bits)
{
    limit = bits >= 512 ? cpu_width() : 0;
    return limit;
}

void pl_exact_products_ref(const double *H2, int rows, long n, const double *S2, int cols,
                           double *P1, double *P2, int ldp)
{
    const int n2 = (int)(2 * n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, (int)n, 1.0, H2, n2, S2 + n,
                n2, 0.0, P1, ldp);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, n2, 1.0, H2, n2, S2, n2, 0.0,
                P2, ldp);
}

#if HAVE_WIDE

/* Scratch grown as needed (the bank runs on one thread per process). */
static double *scratch(double **p, size_t *have, size_t need)
{
    if (need > *have) {
        pl_free(*p);
        *p = pl_calloc(need, sizeof **p);
        *have = need;
    }
    return *p;
}

enum { CB = 16, RB = 4 }; /* columns (2 vectors) and rows per register tile */

/* Rows b0..b0+3 (h[r]) against a block of 16 columns whose slices are T
 * (per unit j: 16 hi, then 16 lo). */
__attribute__((target("avx512f"))) static void products_tile(const double *const *h, long n,
                                                              const double *T, double *q1,
                                                              double *q2, int ldq)
{
    __m512d p1[RB][2], p2[RB][2];
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < 2; v++)
            p1[r][v] = p2[r][v] = _mm512_setzero_pd();
    for (long j = 0; j < n; j++) {
        const double *t = T + (size_t)j * 2 * CB;
        __m512d sh0 = _mm512_loadu_pd(t), sh1 = _mm512_loadu_pd(t + 8);
        __m512d sl0 = _mm512_loadu_pd(t + 16), sl1 = _mm512_loadu_pd(t + 24);
        for (int r = 0; r < RB; r++) {
            __m512d ah = _mm512_set1_pd(h[r][j]), al = _mm512_set1_pd(h[r][n + j]);
            p1[r][0] = _mm512_fmadd_pd(ah, sh0, p1[r][0]);
            p1[r][1] = _mm512_fmadd_pd(ah, sh1, p1[r][1]);
            p2[r][0] = _mm512_fmadd_pd(al, sh0, _mm512_fmadd_pd(ah, sl0, p2[r][0]));
            p2[r][1] = _mm512_fmadd_pd(al, sh1, _mm512_fmadd_pd(ah, sl1, p2[r][1]));
        }
    }
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < 2; v++) {
            _mm512_storeu_pd(q1 + (size_t)r * ldq + 8 * v, p1[r][v]);
            _mm512_storeu_pd(q2 + (size_t)r * ldq + 8 * v, p2[r][v]);
        }
}

/* The products from S's slices already in T's layout (readout_simd.h). */
static void products_from_t(const double *H2, int rows, long n, const double *T, int cols,
                            double *P1, double *P2, int ldp)
{
    static double *Q, *zero;
    static size_t qsize, zsize;
    const int blocks = (cols + CB - 1) / CB, cpad = blocks * CB, rpad = (rows + RB - 1) / RB * RB;
    const size_t n2 = 2 * (size_t)n;
    scratch(&Q, &qsize, 2 * (size_t)rpad * (size_t)cpad);
    scratch(&zero, &zsize, n2);
    double *Q1 = Q, *Q2 = Q + (size_t)rpad * (size_t)cpad;
    for (int blk = 0; blk < blocks; blk++)
        for (int b0 = 0; b0 < rpad; b0 += RB) {
            const double *h[RB];
            for (int r = 0; r < RB; r++)
                h[r] = b0 + r < rows ? H2 + (size_t)(b0 + r) * n2 : zero;
            products_tile(h, n, T + (size_t)blk * n2 * CB, Q1 + (size_t)b0 * cpad + blk * CB,
                          Q2 + (size_t)b0 * cpad + blk * CB, cpad);
        }
    for (int b = 0; b < rows; b++) {
        memcpy(P1 + (size_t)b * ldp, Q1 + (size_t)b * cpad, (size_t)cols * sizeof *P1);
        memcpy(P2 + (size_t)b * ldp, Q2 + (size_t)b * cpad, (size_t)cols * sizeof *P2);
    }
}

static void products_wide(const double *H2, int rows, long n, const double *S2, int cols,
                          double *P1, double *P2, int ldp)
{
    static double *T;
    static size_t tsize;
    const int blocks = (cols + CB - 1) / CB;
    const size_t n2 = 2 * (size_t)n;
    scratch(&T, &tsize, pl_exact_t_size(cols, n));
    for (int blk = 0; blk < blocks; blk++) {
        const double *s[CB];
        for (int u = 0; u < CB; u++)
            s[u] = blk * CB + u < cols ? S2 + (size_t)(blk * CB + u) * n2 : NULL;
        double *t = T + (size_t)blk * n2 * CB;
        for (long j = 0; j < n; j++, t += 2 * CB) /* written in order, read 16 rows at once */
            for (int u = 0; u < CB; u++) {
                t[u] = s[u] ? s[u][n + j] : 0.0;
                t[CB + u] = s[u] ? s[u][j] : 0.0;
            }
    }
    products_from_t(H2, rows, n, T, cols, P1, P2, ldp);
}

enum { GR = 4, GV = 4 }; /* gradient tile: up to GR rows, GV vectors of 8 units */

/* A tile of nr <= GR rows and nv <= GV vectors; inlined with constant nr and
 * nv, so the sums stay in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
grad_tile(const double *dT, long ldd, const double *h, int B, long n, double *acc, long ldacc,
          const int nr, const int nv)
{
    __m512d s[GR][GV];
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++)
            s[r][v] = _mm512_setzero_pd();
    for (int b = 0; b < B; b++) {
        const double *hb = h + (size_t)b * n;
        __m512d x[GV];
        for (int v = 0; v < nv; v++)
            x[v] = _mm512_loadu_pd(hb + 8 * v);
        for (int r = 0; r < nr; r++) {
            __m512d d = _mm512_set1_pd(dT[(size_t)r * ldd + b]);
            for (int v = 0; v < nv; v++)
                s[r][v] = _mm512_fmadd_pd(d, x[v], s[r][v]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < nv; v++)
            _mm512_storeu_pd(acc + (size_t)r * ldacc + 8 * v, s[r][v]);
}

/* Rows [0, rows) x units [j0, j1) in tiles of nv vectors. */
__attribute__((target("avx512f"), always_inline)) static inline void
grad_columns(const double *dT, long ldd, int rows, const double *h, int B, long n, long j0,
             long j1, double *acc, long ldacc, const int nv)
{
    for (long j = j0; j < j1; j += 8 * nv) {
        int r = 0;
        for (; r + GR <= rows; r += GR)
            grad_tile(dT + (size_t)r * ldd, ldd, h + j, B, n, acc + (size_t)r * ldacc + j, ldacc,
                      GR, nv);
        switch (rows - r) { /* the last rows, in one tile */
        case 3:
            grad_tile(dT + (size_t)r * ldd, ldd, h + j, B, n, acc + (size_t)r * ldacc + j, ldacc,
                      3, nv);
            break;
        case 2:
            grad_tile(dT + (size_t)r * ldd, ldd, h + j, B, n, acc + (size_t)r * ldacc + j, ldacc,
                      2, nv);
            break;
        case 1:
            grad_tile(dT + (size_t)r * ldd, ldd, h + j, B, n, acc + (size_t)r * ldacc + j, ldacc,
                      1, nv);
            break;
        default: break;
        }
    }
}

__attribute__((target("avx512f"))) static void grad_wide(const double *dT, long ldd, int rows,
                                                          const double *h, int B, long n, long nj,
                                                          double *acc, long ldacc)
{
    const long j32 = nj - nj % (8 * GV);
    grad_columns(dT, ldd, rows, h, B, n, 0, j32, acc, ldacc, GV);
    grad_columns(dT, ldd, rows, h, B, n, j32, nj, acc, ldacc, 1);
}

#endif

void pl_exact_products(const double *H2, int rows, long n, const double *S2, int cols,
                       double *P1, double *P2, int ldp)
{
#if HAVE_WIDE
    if (width() >= 512 && rows > 0 && cols > 0 && n > 0) {
        products_wide(H2, rows, n, S2, cols, P1, P2, ldp);
        return;
    }
#endif
    pl_exact_products_ref(H2, rows, n, S2, cols, P1, P2, ldp);
}

size_t pl_exact_t_size(int cols, long n)
{
    return (size_t)((cols + CB - 1) / CB) * CB * 2 * (size_t)(n ? n : 1);
}

int pl_exact_wide(void) { return width() >= 512; }

void pl_exact_products_t(const double *H2, int rows, long n, const double *T, int cols,
                         double *P1, double *P2, int ldp)
{
#if HAVE_WIDE
    if (rows > 0 && cols > 0 && n > 0)
        products_from_t(H2, rows, n, T, cols, P1, P2, ldp);
#else
    (void)H2, (void)rows, (void)n, (void)T, (void)cols, (void)P1, (void)P2, (void)ldp;
#endif
}

int pl_readout_grad_sum_wide(const double *dT, long ldd, int rows, const double *h, int B,
                             long n, long nj, double *acc, long ldacc)
{
#if HAVE_WIDE
    if (width() < 512 || nj % 8)
        return 0;
    grad_wide(dT, ldd, rows, h, B, n, nj, acc, ldacc);
    return 1;
#else
    (void)dT, (void)ldd, (void)rows, (void)h, (void)B, (void)n, (void)nj, (void)acc, (void)ldacc;
    return 0;
#endif
}
