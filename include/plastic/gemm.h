/* C = A B^T in float, with results that do not depend on how many rows B
 * has. The currents and hidden features are computed per rank on that
 * rank's block of units; for results independent of the rank count, every
 * element must be summed the same way whatever the block size. */
#ifndef PLASTIC_GEMM_H
#define PLASTIC_GEMM_H

typedef struct pl_gemm_scratch {
    float *a, *c;
    long a_cap, c_cap; /* floats */
} pl_gemm_scratch;

/* C (m x n, leading dimension ldc) = A (m x k) * B^T, B being n x k.
 * Row-major. scratch may be reused across calls; free with
 * pl_gemm_scratch_free. */
void pl_sgemm_abt(int m, int n, int k, const float *A, const float *B, float *C, int ldc,
                  pl_gemm_scratch *scratch);
void pl_gemm_scratch_free(pl_gemm_scratch *scratch);

/* Products at or below this many multiply-adds are padded up past it. */
#define PL_GEMM_SMALL_LIMIT 1000000.0

#endif
