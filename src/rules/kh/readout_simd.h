/* The readout bank's two hot products with wide vectors (AVX-512 when the
 * CPU has it, chosen at run time), and the portable versions they must
 * equal bitwise. Private to src/rules/kh.
 *
 * Why they may differ from the portable code in order and still give the
 * same bits: the exact forward's sums are of integers below 2^53 (every
 * order and grouping is exact), and the gradient's sums keep the b order per
 * element; in both, every product (of two sliced integers, or of two floats)
 * is exact in double, so a fused multiply-add rounds exactly like a multiply
 * then an add. */
#ifndef PLASTIC_READOUT_SIMD_H
#define PLASTIC_READOUT_SIMD_H

#include <stddef.h>

/* P1[b ldp + c] = sum_{j<n} H2[b][j] S2[c][n + j],
 * P2[b ldp + c] = sum_{j<2n} H2[b][j] S2[c][j], for b < rows, c < cols;
 * H2 and S2 rows are 2n long ([hi | lo] and [lo | hi] slices). */
void pl_exact_products(const double *H2, int rows, long n, const double *S2, int cols,
                       double *P1, double *P2, int ldp);
/* The same by two DGEMMs (the single readout's way). */
void pl_exact_products_ref(const double *H2, int rows, long n, const double *S2, int cols,
                           double *P1, double *P2, int ldp);

/* The wide kernels' layout of S's slices, which the bank writes directly:
 * columns (class rows of the stack) in blocks of 16; block b holds, per unit
 * j, the 16 columns' hi slices then their lo slices, at
 * T[(b 2n + 2 j) 16 + u] (hi) and [... + 16 + u] (lo); columns past cols
 * are 0. pl_exact_t_size: its doubles. pl_exact_wide: 1 if the wide
 * kernels are in use (then pl_exact_products_t may be called). */
size_t pl_exact_t_size(int cols, long n);
int pl_exact_wide(void);
void pl_exact_products_t(const double *H2, int rows, long n, const double *T, int cols,
                         double *P1, double *P2, int ldp);

/* The vector width used: 512 (AVX-512), or 0 (portable: DGEMM and the
 * register-tiled C kernel). pl_readout_simd_limit(0) forces the portable
 * code (tests compare both); pl_readout_simd_limit(512) allows AVX-512 if the
 * CPU has it. Returns the width now in use. */
int pl_readout_simd_limit(int bits);

/* The AVX-512 gradient sums of pl_readout_grad_sum (readout_bank.h) over
 * units [0, nj) of rows n long, any rows, nj a multiple of 8; returns 1, or
 * 0 (nothing done) without AVX-512 or for other nj. */
int pl_readout_grad_sum_wide(const double *dT, long ldd, int rows, const double *h, int B,
                             long n, long nj, double *acc, long ldacc);

#endif
