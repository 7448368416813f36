/* OpenBLAS (0.3.21 here, SkylakeX kernels; other targets have the same
 * option) computes an SGEMM with M*N*K <= 100^3 with a separate small-matrix
 * kernel that sums in a different order from the blocked kernel. A rank's
 * block of the currents can land on either side of that line depending on
 * the rank count, which would make the ranking rank-count dependent. So a
 * product at or below the line gets zero rows appended to A until it is
 * above it: every element is then summed by the blocked kernel, whose
 * per-element order does not depend on the matrix sizes (checked in
 * tests/unit/test_gemm.c). The padding costs at most 10^6 multiply-adds, and
 * only on products that small. */
#include "plastic/gemm.h"
#include "plastic/common.h"

#include <cblas.h>
#include <string.h>

static float *grow(float *buf, long *cap, long need)
{
    if (need <= *cap)
        return buf;
    pl_free(buf);
    *cap = need;
    return pl_alloc((size_t)need * sizeof(float));
}

void pl_sgemm_abt(int m, int n, int k, const float *A, const float *B, float *C, int ldc,
                  pl_gemm_scratch *s)
{
    if (m <= 0 || n <= 0)
        return;
    if ((double)m * n * k > PL_GEMM_SMALL_LIMIT) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, B, k, 0.0f, C,
                    ldc);
        return;
    }
    long mp = (long)(PL_GEMM_SMALL_LIMIT / ((double)n * k)) + 1;
    s->a = grow(s->a, &s->a_cap, mp * k);
    s->c = grow(s->c, &s->c_cap, mp * n);
    memcpy(s->a, A, (size_t)m * k * sizeof(float));
    memset(s->a + (size_t)m * k, 0, (size_t)(mp - m) * k * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mp, n, k, 1.0f, s->a, k, B, k, 0.0f,
                s->c, n);
    for (int i = 0; i < m; i++)
        memcpy(C + (size_t)i * ldc, s->c + (size_t)i * n, (size_t)n * sizeof(float));
}

void pl_gemm_scratch_free(pl_gemm_scratch *s)
{
    pl_free(s->a);
    pl_free(s->c);
    memset(s, 0, sizeof *s);
}
