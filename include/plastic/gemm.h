/* C = A B^T in float for the products whose bits must not depend on how the
 * hidden units are split over ranks and threads: the KH currents and the
 * readout's features.
 *
 * The rule. Such a product is computed in fixed tiles of `tile` global rows
 * of B (the hidden units; the last tile of K may be shorter), one
 * pl_sgemm_tile call per tile, and every argument of that call follows from
 * the global tile alone: the same m, rows and k, row strides pl_gemm_ld(k)
 * for A and B and rows for C, and 64-byte aligned pointers. Rank blocks
 * and thread shards hold whole tiles (pl_tile_range, par.h). A BLAS on one
 * thread is deterministic for given arguments, so every element gets the
 * same bits in every layout, whatever order its kernel sums in: nothing
 * rests on a property of one OpenBLAS kernel. (Kernels do sum differently
 * for different shapes: Haswell, Zen and Prescott give a row of B other
 * bits in a block of another size; SkylakeX does, too, below its
 * small-matrix limit.) */
#ifndef PLASTIC_GEMM_H
#define PLASTIC_GEMM_H

/* Row stride, in floats, of an operand with k columns: k rounded up to 16
 * floats (64 bytes), so every row of a 64-byte aligned matrix is aligned. */
static inline int pl_gemm_ld(int k) { return (k + 15) & ~15; }

/* C (m x rows, contiguous) = A (m x k) * B^T, B being rows x k; A and B
 * have row stride pl_gemm_ld(k). A, B and C must be 64-byte aligned and
 * OpenBLAS must be on one thread (openblas_set_num_threads(1)); the call
 * aborts otherwise, as either would break the rule above. */
void pl_sgemm_tile(int m, int rows, int k, const float *A, const float *B, float *C);

/* OpenBLAS picks its kernel from the CPU model at start-up, and a CPU newer
 * than the library knows (0.3.21 does not know Sapphire Rapids) gets its
 * generic SSE3 kernel, Prescott: 3-4x slower GEMMs than SkylakeX on an
 * AVX-512 CPU. Unless OPENBLAS_CORETYPE is set, says so on stderr (rank 0,
 * once), naming the kernel the CPU could run. */
void pl_blas_check_kernel(void);

/* The naive reference: C (m x n, stride ldc) = A (m x k, stride lda) *
 * B^T (B n x k, stride ldb), each element summed in double in index order,
 * then rounded to float. For tests. */
void pl_sgemm_abt_ref(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc);

#endif
