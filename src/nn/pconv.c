/* The perturbative layer (pconv.h): per example, the perturbed maps a are
 * built in the scratch and one SGEMM mixes them, as conv.c does with its
 * im2col matrix. The backward products rebuild a (or its relu's mask) from
 * x and N rather than keep it: C M maps per example would be M times the
 * input's memory for every row of the net's capacity. */
#include "plastic/nn/pconv.h"

#include <cblas.h>
#include <string.h>

#include "bound.h"

long pl_pconv_in_size(const pl_pconv_geom *g) { return (long)g->in_c * g->h * g->w; }
long pl_pconv_out_size(const pl_pconv_geom *g) { return (long)g->out_c * g->h * g->w; }
long pl_pconv_w_size(const pl_pconv_geom *g) { return (long)g->out_c * g->in_c * g->maps; }
long pl_pconv_noise_size(const pl_pconv_geom *g)
{
    return (long)g->in_c * g->maps * g->h * g->w;
}
long pl_pconv_scratch_size(const pl_pconv_geom *g) { return pl_pconv_noise_size(g); }

void pl_pconv_perturb(const pl_pconv_geom *g, const float *x, const float *noise, float *a)
{
    const long hw = (long)g->h * g->w;
    for (int c = 0; c < g->in_c; c++)
        for (int m = 0; m < g->maps; m++) {
            const long row = (long)c * g->maps + m;
            const float *xc = x + c * hw, *n = noise + row * hw;
            float *out = a + row * hw;
            for (long p = 0; p < hw; p++) {
                float v = xc[p] + n[p];
                out[p] = v <= 0.0f ? 0.0f : v; /* as act.c's relu: a NaN passes on */
            }
        }
}

void pl_pconv_forward(const pl_pconv_geom *g, float *y, const float *x, const float *noise,
                      const float *V, const float *b, int B, float *scratch)
{
    const long hw = (long)g->h * g->w, j = (long)g->in_c * g->maps;
    const long in_size = pl_pconv_in_size(g), out_size = pl_pconv_out_size(g);
    for (int e = 0; e < B; e++) {
        float *ye = y + e * out_size;
        for (int k = 0; k < g->out_c; k++)
            for (long p = 0; p < hw; p++)
                ye[k * hw + p] = b[k];
        pl_pconv_perturb(g, x + e * in_size, noise, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->out_c, (int)hw, (int)j, 1.0f, V,
                    (int)j, scratch, (int)hw, 1.0f, ye, (int)hw);
    }
}

void pl_pconv_backward_weights(const pl_pconv_geom *g, float *dV, float *db, const float *delta,
                               const float *x, const float *noise, int B, float *scratch,
                               float beta)
{
    const long hw = (long)g->h * g->w, j = (long)g->in_c * g->maps;
    const long in_size = pl_pconv_in_size(g), out_size = pl_pconv_out_size(g);
    if (beta == 0.0f) {
        memset(dV, 0, (size_t)pl_pconv_w_size(g) * sizeof *dV);
        if (db)
            memset(db, 0, (size_t)g->out_c * sizeof *db);
    }
    for (int e = 0; e < B; e++) {
        const float *de = delta + e * out_size;
        pl_pconv_perturb(g, x + e * in_size, noise, scratch);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->out_c, (int)j, (int)hw, 1.0f, de,
                    (int)hw, scratch, (int)hw, 1.0f, dV, (int)j);
        if (db)
            for (int k = 0; k < g->out_c; k++) {
                float s = 0.0f;
                for (long p = 0; p < hw; p++)
                    s += de[k * hw + p];
                db[k] += s;
            }
    }
}

void pl_pconv_backward_input(const pl_pconv_geom *g, float *dx, const float *delta,
                             const float *M, const float *x, const float *noise, int B,
                             float *scratch, float beta)
{
    const long hw = (long)g->h * g->w, j = (long)g->in_c * g->maps;
    const long in_size = pl_pconv_in_size(g), out_size = pl_pconv_out_size(g);
    for (int e = 0; e < B; e++) {
        const float *xe = x + e * in_size;
        float *dxe = dx + e * in_size;
        /* scratch (C M x H W) = M^T delta_e: the gradient of every map a */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)j, (int)hw, g->out_c, 1.0f, M,
                    (int)j, delta + e * out_size, (int)hw, 0.0f, scratch, (int)hw);
        if (beta == 0.0f)
            memset(dxe, 0, (size_t)in_size * sizeof *dxe);
        /* through the relu to x: maps of one channel added in order of m */
        for (int c = 0; c < g->in_c; c++)
            for (int m = 0; m < g->maps; m++) {
                const long row = (long)c * g->maps + m;
                const float *xc = xe + c * hw, *n = noise + row * hw, *ga = scratch + row * hw;
                float *out = dxe + c * hw;
                for (long p = 0; p < hw; p++)
                    out[p] += xc[p] + n[p] > 0.0f ? ga[p] : 0.0f;
            }
    }
}

void pl_pconv_grad_bound(const pl_pconv_geom *g, const float *delta, const float *x,
                         const float *noise, int B, double *bound_W, double *bound_b)
{
    const long hw = (long)g->h * g->w;
    const long in_size = pl_pconv_in_size(g), out_size = pl_pconv_out_size(g);
    double bw = 0.0, bb = 0.0;
    for (int e = 0; e < B; e++) {
        const float *de = delta + e * out_size, *xe = x + e * in_size;
        double positions = 0.0; /* sum over p of max over k of |delta[k][p]| */
        for (long p = 0; p < hw; p++) {
            float m = 0.0f, bad = 0.0f;
            for (int k = 0; k < g->out_c; k++) {
                float v = fabsf(de[k * hw + p]);
                m = v > m ? v : m;
                bad += v * 0.0f;
            }
            positions += (double)m + (double)bad;
        }
        /* max a = max relu(x + N), the float sum the kernels form; a NaN
         * in it makes the bound NaN, as pl_absmax does */
        float amax = 0.0f, bad = 0.0f;
        for (int c = 0; c < g->in_c; c++)
            for (int m = 0; m < g->maps; m++) {
                const float *xc = xe + c * hw, *n = noise + ((long)c * g->maps + m) * hw;
                for (long p = 0; p < hw; p++) {
                    float v = xc[p] + n[p];
                    amax = v > amax ? v : amax;
                    bad += v * 0.0f;
                }
            }
        bw += positions * ((double)amax + (double)bad);
        bb += positions;
    }
    *bound_W = bw;
    *bound_b = bb;
}
