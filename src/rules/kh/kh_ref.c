/* Competing hidden units, literal reference: every quantity of the equations
 * is formed densely, as written, with sums in double. It is the yardstick the
 * fast path (kh.c) is tested against, and `kh.impl = naive` runs it. */
#include "rules/kh/kh.h"
#include "rules/kh/kh_ref.h"
#include "plastic/common.h"

#include <math.h>
#include <stdlib.h>

int pl_kh_by_rank(const void *pa, const void *pb)
{
    const pl_kh_ranked *a = pa, *b = pb;
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

void pl_kh_reference_currents(const float *W, size_t K, size_t N, double p, const float *X,
                              int B, double *I)
{
    for (size_t mu = 0; mu < K; mu++)
        for (int b = 0; b < B; b++) {
            double sum = 0.0;
            for (size_t i = 0; i < N; i++) {
                double w = W[mu * N + i];
                double sgn = (w > 0) - (w < 0);
                sum += sgn * pow(fabs(w), p - 1.0) * X[(size_t)b * N + i];
            }
            I[mu * B + b] = (float)sum; /* the fast paths' currents are floats */
        }
}

int pl_kh_reference_apply(float *W, const double *dW, size_t n, float eps)
{
    double nc = 0.0;
    for (size_t j = 0; j < n; j++) {
        if (!isfinite(dW[j]))
            return PL_EXIT_DIVERGED;
        if (fabs(dW[j]) > nc)
            nc = fabs(dW[j]);
    }
    if (nc < 1e-30)
        nc = 1e-30;
    for (size_t j = 0; j < n; j++)
        W[j] = (float)(W[j] + eps * dW[j] / nc);
    return 0;
}

int pl_kh_reference_step(float *W, long hidden, int dim, double p, int k, float delta,
                         const float *X, int B, float eps, int32_t *winners)
{
    size_t K = (size_t)hidden, N = (size_t)dim;
    double *I = pl_alloc(K * (size_t)B * sizeof *I);   /* K x B currents */
    double *g = pl_calloc(K * (size_t)B, sizeof *g);   /* K x B activations */
    double *dW = pl_alloc(K * N * sizeof *dW);
    pl_kh_ranked *order = pl_alloc(K * sizeof *order);

    /* I_mu,b = sum_i sign(W_mu,i) |W_mu,i|^(p-1) x_b,i (the fast path ranks float currents) */
    pl_kh_reference_currents(W, K, N, p, X, B, I);

    /* g = 1 for the largest current, -delta for the k-th largest */
    for (int b = 0; b < B; b++) {
        for (size_t mu = 0; mu < K; mu++)
            order[mu] = (pl_kh_ranked){I[mu * B + b], (long)mu};
        qsort(order, K, sizeof *order, pl_kh_by_rank);
        g[(size_t)order[0].index * B + b] = 1.0;
        g[(size_t)order[k - 1].index * B + b] = -delta;
        if (winners) {
            winners[2 * b] = (int32_t)order[0].index;
            winners[2 * b + 1] = (int32_t)order[k - 1].index;
        }
    }

    /* dW = g X - (sum_b g .* I) .* W; W += eps dW / max |dW| */
    for (size_t mu = 0; mu < K; mu++) {
        double gi = 0.0;
        for (int b = 0; b < B; b++)
            gi += g[mu * B + b] * I[mu * B + b];
        for (size_t i = 0; i < N; i++) {
            double hebb = 0.0;
            for (int b = 0; b < B; b++)
                hebb += g[mu * B + b] * X[(size_t)b * N + i];
            dW[mu * N + i] = hebb - gi * W[mu * N + i];
        }
    }
    int status = pl_kh_reference_apply(W, dW, K * N, eps);
    pl_free(I);
    pl_free(g);
    pl_free(dW);
    pl_free(order);
    return status;
}
