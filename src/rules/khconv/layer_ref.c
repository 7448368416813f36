/* The literal reference of one convolutional KH step (layer.h): every
 * quantity formed as the equations read, densely, sums in double, patches
 * cut from the maps by their index arithmetic rather than through im2col.
 * The yardstick of the fast step in tests/unit/test_khconv.c. */
#include "rules/khconv/layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "rules/kh/kh_ref.h"

int khconv_reference_step(float *W, const khconv_layer_spec *s, const float *maps, int B,
                          float eps, int32_t *winners)
{
    const int F = s->filters, N = s->in_c * s->k_h * s->k_w;
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    double *x = pl_alloc((size_t)N * sizeof *x);
    double *dW = pl_calloc((size_t)F * (size_t)N, sizeof *dW);
    pl_kh_ranked *order = pl_alloc((size_t)F * sizeof *order);
    long patch = 0;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < s->out_h; oy++)
            for (int ox = 0; ox < s->out_w; ox++, patch++) {
                /* x_i for i = (c, i, j), then scaled to unit length */
                double ss = 0.0;
                for (int c = 0; c < s->in_c; c++)
                    for (int i = 0; i < s->k_h; i++)
                        for (int j = 0; j < s->k_w; j++) {
                            double v = maps[b * in_size + ((long)c * s->in_h + oy * s->stride + i)
                                                              * s->in_w + ox * s->stride + j];
                            x[(c * s->k_h + i) * s->k_w + j] = v;
                            ss += v * v;
                        }
                if (winners)
                    winners[2 * patch] = winners[2 * patch + 1] = -1;
                if (ss == 0.0)
                    continue; /* x - I W = 0 */
                for (int i = 0; i < N; i++)
                    x[i] = (double)(float)(x[i] / sqrt(ss)); /* the fast step's float patch */
                /* I_mu = sum_i sign(W_mu,i) |W_mu,i|^(p-1) x_i */
                for (int mu = 0; mu < F; mu++) {
                    double sum = 0.0;
                    for (int i = 0; i < N; i++) {
                        double w = W[(size_t)mu * N + i];
                        sum += ((w > 0) - (w < 0)) * pow(fabs(w), s->p - 1.0) * x[i];
                    }
                    order[mu] = (pl_kh_ranked){(float)sum, mu};
                }
                qsort(order, (size_t)F, sizeof *order, pl_kh_by_rank);
                /* g = 1 for the first, -delta for the k-th: dW += g (x - I W) */
                const pl_kh_ranked pick[2] = {order[0], order[s->k - 1]};
                const double g[2] = {1.0, -(double)(float)s->delta};
                for (int t = 0; t < 2; t++) {
                    double *d = dW + (size_t)pick[t].index * N;
                    const float *w = W + (size_t)pick[t].index * N;
                    for (int i = 0; i < N; i++)
                        d[i] += g[t] * (x[i] - pick[t].value * w[i]);
                }
                if (winners) {
                    winners[2 * patch] = (int32_t)order[0].index;
                    winners[2 * patch + 1] = (int32_t)order[s->k - 1].index;
                }
            }
    const int status = pl_kh_reference_apply(W, dW, (size_t)F * N, eps);
    pl_free(x);
    pl_free(dW);
    pl_free(order);
    return status;
}
