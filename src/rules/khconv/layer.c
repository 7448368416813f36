/* A convolutional competing-units layer's fast step (layer.h): patches
 * through the shared im2col (nn/conv.c), then the dense KH step (kh.c) with
 * the patches as its examples. */
#include "rules/khconv/layer.h"

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/gemm.h"
#include "plastic/rng.h"

void khconv_layer_init(khconv_layer *L, const pl_comm *comm, const khconv_layer_spec *s,
                       int index, int batch, uint64_t seed, int tile)
{
    memset(L, 0, sizeof *L);
    L->s = *s;
    /* a valid convolution: no padding, out = (in - k) / stride + 1 */
    L->g = (pl_conv_geom){.in_c = s->in_c, .in_h = s->in_h, .in_w = s->in_w,
                          .out_c = s->filters, .out_h = s->out_h, .out_w = s->out_w,
                          .k_h = s->k_h, .k_w = s->k_w, .stride = s->stride};
    L->N = s->in_c * s->k_h * s->k_w;
    L->P = s->out_h * s->out_w;
    L->Q = s->q_h * s->q_w;
    L->ld = pl_gemm_ld(L->N);
    const int bmax = batch * L->P;
    pl_kh_init(&L->kh, comm, s->filters, L->N, s->p, s->k, (float)s->delta, bmax, seed, tile);
    /* pl_kh_init drew W on the dense layer's stream; each conv layer has its own */
    for (long j = 0; j < L->kh.nrows; j++) {
        pl_rng rng;
        pl_rng_init(&rng, seed, PL_STREAM_KHCONV_INIT,
                     ((uint64_t)index << 32) | (uint64_t)(L->kh.row0 + j));
        float *row = L->kh.W + (size_t)j * (size_t)L->N;
        for (int i = 0; i < L->N; i++)
            row[i] = (float)pl_rng_normal(&rng);
    }
    pl_kh_refresh(&L->kh);
    L->col = pl_alloc((size_t)L->N * (size_t)L->P * sizeof *L->col);
    L->Wp_all = pl_calloc((size_t)s->filters * (size_t)L->ld, sizeof *L->Wp_all);
}

void khconv_layer_free(khconv_layer *L)
{
    pl_kh_free(&L->kh);
    pl_free(L->col);
    pl_free(L->Wp_all);
    memset(L, 0, sizeof *L);
}

int khconv_patches(const khconv_layer *L, const float *x, float *col, float *rows, int ld,
                   int skip_zero)
{
    const int N = L->N, P = L->P;
    pl_im2col(&L->g, x, col);
    int written = 0;
    for (int p = 0; p < P; p++) {
        double ss = 0.0;
        for (int r = 0; r < N; r++) {
            double v = col[(size_t)r * P + p];
            ss += v * v;
        }
        if (ss == 0.0 && skip_zero)
            continue;
        const double inv = ss == 0.0 ? 0.0 : 1.0 / sqrt(ss);
        float *out = rows + (size_t)written * (size_t)ld;
        for (int r = 0; r < N; r++)
            out[r] = (float)((double)col[(size_t)r * P + p] * inv);
        written++;
    }
    return written;
}

int khconv_layer_step(khconv_layer *L, const float *maps, int B, float eps)
{
    const long in_size = pl_conv_in_size(&L->g);
    const int ld = L->kh.ldp;
    int rows = 0;
    /* straight into the step's aligned buffer: no copy of the patches */
    for (int b = 0; b < B; b++)
        rows += khconv_patches(L, maps + (size_t)b * (size_t)in_size, L->col,
                               L->kh.xbuf + (size_t)rows * (size_t)ld, ld, 1);
    if (rows == 0)
        return 0; /* nothing but zero patches: dW = 0 */
    return pl_kh_step_loaded(&L->kh, rows, eps);
}

void khconv_layer_gather(khconv_layer *L)
{
    const int F = L->s.filters, N = L->N;
    float *W = pl_alloc((size_t)F * (size_t)N * sizeof *W);
    pl_gatherv_float(L->kh.comm, L->kh.W, L->kh.nrows * N, W);
    pl_bcast_bytes(L->kh.comm, W, (long)F * N * (long)sizeof *W, 0);
    for (int f = 0; f < F; f++)
        pl_kh_power_row(W + (size_t)f * N, L->Wp_all + (size_t)f * L->ld, N, L->s.p);
    pl_free(W);
}
