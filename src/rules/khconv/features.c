/* Pooled responses of convolutional KH layers (features.h): patches by the
 * shared im2col, currents one pl_sgemm_tile per example and tile of
 * filters, rectified, max-pooled, raised to a power. Pooling before the
 * power is the same as after it (relu(.)^n is monotone), and cheaper. */
#include "rules/khconv/features.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/gemm.h"

void khconv_scratch_init(khconv_scratch *w, const khconv_layer *layers, int nlayers, int tile)
{
    size_t col = 0, rows = 0, cur = 0;
    for (int l = 0; l < nlayers; l++) {
        const khconv_layer *L = &layers[l];
        size_t span = (size_t)(tile < L->s.filters ? tile : L->s.filters);
        col = (size_t)L->N * L->P > col ? (size_t)L->N * L->P : col;
        rows = (size_t)L->P * L->ld > rows ? (size_t)L->P * L->ld : rows;
        cur = (size_t)L->P * span > cur ? (size_t)L->P * span : cur;
    }
    const khconv_layer *last = &layers[nlayers - 1];
    w->col = pl_alloc(col * sizeof(float));
    w->rows = pl_calloc(rows, sizeof(float)); /* the padding past N stays 0 */
    w->cur = pl_alloc(cur * sizeof(float));
    w->maps = pl_alloc((size_t)pl_conv_in_size(&last->g) * sizeof(float));
}

void khconv_scratch_free(khconv_scratch *w)
{
    pl_free(w->col);
    pl_free(w->rows);
    pl_free(w->cur);
    pl_free(w->maps);
    memset(w, 0, sizeof *w);
}

static float power_of(float v, double power)
{
    if (!(v > 0.0f))
        return v != v ? v : 0.0f; /* relu; NaN stays visible */
    return power == 1.0 ? v : (float)pow((double)v, power);
}

void khconv_pooled(const khconv_layer *L, const float *x, const float *Wp, long nf, int tile,
                   double power, khconv_scratch *w, float *out)
{
    const khconv_layer_spec *s = &L->s;
    khconv_patches(L, x, w->col, w->rows, L->ld, 0);
    for (long t0 = 0; t0 < nf; t0 += tile) {
        const int rows = (int)(nf - t0 < tile ? nf - t0 : tile);
        /* cur (P x rows) = patches Wp_tile^T */
        pl_sgemm_tile(L->P, rows, L->N, w->rows, Wp + (size_t)t0 * L->ld, w->cur);
        for (int j = 0; j < rows; j++) {
            float *o = out + (size_t)(t0 + j) * L->Q;
            for (int qy = 0; qy < s->q_h; qy++)
                for (int qx = 0; qx < s->q_w; qx++) {
                    float m = -INFINITY;
                    for (int a = 0; a < s->pool_h; a++)
                        for (int b = 0; b < s->pool_w; b++) {
                            int pos = (qy * s->pool_h + a) * s->out_w + qx * s->pool_w + b;
                            float v = w->cur[(size_t)pos * rows + j];
                            m = v > m || v != v ? v : m;
                        }
                    o[qy * s->q_w + qx] = power_of(m, power);
                }
        }
    }
}

const float *khconv_input_of(const khconv_layer *layers, int upto, const float *x,
                             double inner_n, int tile, khconv_scratch *w)
{
    /* two layers at most (spec.h): layer 1's input is layer 0's maps */
    if (upto == 0)
        return x;
    khconv_pooled(&layers[0], x, layers[0].Wp_all, layers[0].s.filters, tile, inner_n, w,
                  w->maps);
    return w->maps;
}

void khconv_features(const khconv_layer *layers, int nlayers, const float *x, long n, int dim,
                     double inner_n, double readout_n, float *H)
{
    const khconv_layer *last = &layers[nlayers - 1];
    const int tile = last->kh.tile;
    const long width = last->kh.nrows * last->Q;
    if (width == 0 || n == 0)
        return;
    khconv_scratch w;
    khconv_scratch_init(&w, layers, nlayers, tile);
    const int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1)
        openblas_set_num_threads(1);
    for (long e = 0; e < n; e++) {
        const float *in = khconv_input_of(layers, nlayers - 1, x + (size_t)e * dim, inner_n, tile,
                                          &w);
        khconv_pooled(last, in, last->kh.Wp, last->kh.nrows, tile, readout_n, &w,
                      H + (size_t)e * width);
    }
    if (blas_threads != 1)
        openblas_set_num_threads(blas_threads);
    khconv_scratch_free(&w);
}
