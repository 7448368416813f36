/* Convolution through im2col and one SGEMM per example. A 1x1 kernel with
 * stride 1 needs no im2col: the input already is the column matrix. */
#include "plastic/nn/conv.h"

#include <cblas.h>
#include <string.h>

#include "bound.h"

void pl_same_axis(int in, int k, int stride, int *out, int *before)
{
    *out = (in + stride - 1) / stride;
    int pad = (*out - 1) * stride + k - in;
    *before = pad > 0 ? pad / 2 : 0;
}

void pl_conv_geom_same(pl_conv_geom *g, int in_c, int in_h, int in_w, int out_c, int k_h,
                       int k_w, int stride)
{
    g->in_c = in_c;
    g->in_h = in_h;
    g->in_w = in_w;
    g->out_c = out_c;
    g->k_h = k_h;
    g->k_w = k_w;
    g->stride = stride;
    pl_same_axis(in_h, k_h, stride, &g->out_h, &g->pad_top);
    pl_same_axis(in_w, k_w, stride, &g->out_w, &g->pad_left);
}

long pl_conv_in_size(const pl_conv_geom *g) { return (long)g->in_c * g->in_h * g->in_w; }
long pl_conv_out_size(const pl_conv_geom *g) { return (long)g->out_c * g->out_h * g->out_w; }
long pl_conv_col_size(const pl_conv_geom *g)
{
    return (long)g->in_c * g->k_h * g->k_w * g->out_h * g->out_w;
}
long pl_conv_w_size(const pl_conv_geom *g) { return (long)g->out_c * g->in_c * g->k_h * g->k_w; }

static int is_pointwise(const pl_conv_geom *g)
{
    return g->k_h == 1 && g->k_w == 1 && g->stride == 1;
}

/* The output columns ox whose input column ox s + j - pad_left lies in
 * [0, in_w): [*lo, *hi). Inner loops then run without bounds checks. */
static void valid_span(int j, int pad, int stride, int in, int out, int *lo, int *hi)
{
    int first = pad - j; /* ox s >= first */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    int last = in - 1 + pad - j; /* ox s <= last */
    *hi = last < 0 ? 0 : last / stride + 1;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

void pl_im2col(const pl_conv_geom *g, const float *x, float *col)
{
    const int s = g->stride, ow = g->out_w, oh = g->out_h;
    for (int c = 0; c < g->in_c; c++)
        for (int i = 0; i < g->k_h; i++)
            for (int j = 0; j < g->k_w; j++) {
                float *row = col + (((long)c * g->k_h + i) * g->k_w + j) * oh * ow;
                int lo, hi;
                valid_span(j, g->pad_left, s, g->in_w, ow, &lo, &hi);
                for (int oy = 0; oy < oh; oy++) {
                    float *out = row + (long)oy * ow;
                    int y = oy * s + i - g->pad_top;
                    if (y < 0 || y >= g->in_h) {
                        memset(out, 0, (size_t)ow * sizeof *out);
                        continue;
                    }
                    const float *in = x + ((long)c * g->in_h + y) * g->in_w + j - g->pad_left;
                    for (int ox = 0; ox < lo; ox++)
                        out[ox] = 0.0f;
                    for (int ox = lo; ox < hi; ox++)
                        out[ox] = in[ox * s];
                    for (int ox = hi; ox < ow; ox++)
                        out[ox] = 0.0f;
                }
            }
}

void pl_col2im_add(const pl_conv_geom *g, const float *col, float *dx)
{
    const int s = g->stride, ow = g->out_w, oh = g->out_h;
    for (int c = 0; c < g->in_c; c++)
        for (int i = 0; i < g->k_h; i++)
            for (int j = 0; j < g->k_w; j++) {
                const float *row = col + (((long)c * g->k_h + i) * g->k_w + j) * oh * ow;
                int lo, hi;
                valid_span(j, g->pad_left, s, g->in_w, ow, &lo, &hi);
                for (int oy = 0; oy < oh; oy++) {
                    int y = oy * s + i - g->pad_top;
                    if (y < 0 || y >= g->in_h)
                        continue;
                    const float *in = row + (long)oy * ow;
                    float *out = dx + ((long)c * g->in_h + y) * g->in_w + j - g->pad_left;
                    for (int ox = lo; ox < hi; ox++)
                        out[ox * s] += in[ox];
                }
            }
}

void pl_conv_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                     const float *b, int B, float *col)
{
    const long hw = (long)g->out_h * g->out_w, kk = (long)g->in_c * g->k_h * g->k_w;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    for (int e = 0; e < B; e++) {
        const float *xe = x + e * in_size;
        float *ye = y + e * out_size;
        for (int o = 0; o < g->out_c; o++)
            for (long p = 0; p < hw; p++)
                ye[o * hw + p] = b[o];
        const float *cols = xe;
        if (!is_pointwise(g)) {
            pl_im2col(g, xe, col);
            cols = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->out_c, (int)hw, (int)kk, 1.0f, W,
                    (int)kk, cols, (int)hw, 1.0f, ye, (int)hw);
    }
}

void pl_conv_backward_weights(const pl_conv_geom *g, float *dW, float *db, const float *delta,
                              const float *x, int B, float *col, float beta)
{
    const long hw = (long)g->out_h * g->out_w, kk = (long)g->in_c * g->k_h * g->k_w;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    if (beta == 0.0f) {
        memset(dW, 0, (size_t)pl_conv_w_size(g) * sizeof *dW);
        if (db)
            memset(db, 0, (size_t)g->out_c * sizeof *db);
    }
    for (int e = 0; e < B; e++) {
        const float *de = delta + e * out_size;
        const float *cols = x + e * in_size;
        if (!is_pointwise(g)) {
            pl_im2col(g, cols, col);
            cols = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->out_c, (int)kk, (int)hw, 1.0f, de,
                    (int)hw, cols, (int)hw, 1.0f, dW, (int)kk);
        if (db)
            for (int o = 0; o < g->out_c; o++) {
                float s = 0.0f;
                for (long p = 0; p < hw; p++)
                    s += de[o * hw + p];
                db[o] += s;
            }
    }
}

void pl_conv_backward_input(const pl_conv_geom *g, float *dx, const float *delta, const float *M,
                            int B, float *col, float beta)
{
    const long hw = (long)g->out_h * g->out_w, kk = (long)g->in_c * g->k_h * g->k_w;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    for (int e = 0; e < B; e++) {
        const float *de = delta + e * out_size;
        float *dxe = dx + e * in_size;
        if (is_pointwise(g)) { /* dx = M^T delta directly */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kk, (int)hw, g->out_c, 1.0f,
                        M, (int)kk, de, (int)hw, beta, dxe, (int)hw);
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kk, (int)hw, g->out_c, 1.0f, M,
                    (int)kk, de, (int)hw, 0.0f, col, (int)hw);
        if (beta == 0.0f)
            memset(dxe, 0, (size_t)in_size * sizeof *dxe);
        pl_col2im_add(g, col, dxe);
    }
}

void pl_conv_grad_bound(const pl_conv_geom *g, const float *delta, const float *x, int B,
                        double *bound_W, double *bound_b)
{
    const long hw = (long)g->out_h * g->out_w;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    double bw = 0.0, bb = 0.0;
    for (int e = 0; e < B; e++) {
        const float *de = delta + e * out_size;
        double positions = 0.0; /* sum over p of max over o of |delta[o][p]| */
        for (long p = 0; p < hw; p++) {
            float m = 0.0f, bad = 0.0f;
            for (int o = 0; o < g->out_c; o++) {
                float a = fabsf(de[o * hw + p]);
                m = a > m ? a : m;
                bad += a * 0.0f;
            }
            positions += (double)m + (double)bad;
        }
        bw += positions * pl_absmax(x + e * in_size, in_size);
        bb += positions;
    }
    *bound_W = bw;
    *bound_b = bb;
}
