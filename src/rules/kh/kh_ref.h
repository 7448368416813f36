/* Pieces the literal references share: kh_ref.c, kh_slow_ref.c and
 * khconv/layer_ref.c. Written as the equations read, in double, and calling
 * nothing of the fast paths they are the yardsticks of. */
#ifndef PLASTIC_KH_REF_H
#define PLASTIC_KH_REF_H

#include <stddef.h>

/* A unit's current and index, for ranking by qsort with pl_kh_by_rank. */
typedef struct {
    double value;
    long index;
} pl_kh_ranked;

/* qsort order of pl_kh_ranked: the larger current first, ties to the
 * smaller index. */
int pl_kh_by_rank(const void *pa, const void *pb);

/* I_mu,b = sum_i sign(W_mu,i) |W_mu,i|^(p-1) x_b,i for W (K x N) and X
 * (B x N): pow() and a sum in double, then rounded to float as the fast
 * paths' currents are. I is K x B, unit-major. */
void pl_kh_reference_currents(const float *W, size_t K, size_t N, double p, const float *X,
                              int B, double *I);

/* W += eps dW / nc with nc = max |dW| (at least 1e-30), over n entries.
 * Returns 0, or PL_EXIT_DIVERGED with W unchanged if a dW is not finite. */
int pl_kh_reference_apply(float *W, const double *dW, size_t n, float eps);

#endif
