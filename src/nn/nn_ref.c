/* Naive references (nn_ref.h): the definitions, looped over directly. */
#include "plastic/nn/nn_ref.h"

#include <math.h>
#include <string.h>

#include "plastic/common.h"

double pl_ref_act(pl_act a, double h)
{
    switch (a) {
    case PL_ACT_TANH: return tanh(h);
    case PL_ACT_RELU: return h > 0 ? h : 0;
    case PL_ACT_ELU: return h > 0 ? h : exp(h) - 1;
    case PL_ACT_SIGN: return h > 0 ? 1 : h < 0 ? -1 : 0;
    case PL_ACT_LOGISTIC: return 1 / (1 + exp(-h));
    case PL_ACT_CLIP: return h < -1 ? -1 : h > 1 ? 1 : h;
    default: return h;
    }
}

double pl_ref_act_deriv(pl_act a, double h)
{
    switch (a) {
    case PL_ACT_TANH: return 1 - tanh(h) * tanh(h);
    case PL_ACT_RELU: return h > 0;
    case PL_ACT_ELU: return h > 0 ? 1 : exp(h);
    case PL_ACT_SIGN: return 0;
    case PL_ACT_LOGISTIC: return exp(-h) / ((1 + exp(-h)) * (1 + exp(-h)));
    case PL_ACT_CLIP: return h > -1 && h < 1;
    default: return 1;
    }
}

void pl_ref_dense_forward(float *y, const float *x, const float *W, const float *b, int B,
                          int in, int out)
{
    for (int r = 0; r < B; r++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int i = 0; i < in; i++)
                s += (double)W[o * in + i] * x[r * in + i];
            y[r * out + o] = (float)s;
        }
}

void pl_ref_dense_backward_weights(float *dW, float *db, const float *delta, const float *x,
                                   int B, int in, int out)
{
    for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
            double s = 0;
            for (int r = 0; r < B; r++)
                s += (double)delta[r * out + o] * x[r * in + i];
            dW[o * in + i] = (float)s;
        }
        double s = 0;
        for (int r = 0; r < B; r++)
            s += delta[r * out + o];
        db[o] = (float)s;
    }
}

void pl_ref_dense_backward_input(float *dx, const float *delta, const float *M, int B, int in,
                                 int out)
{
    for (int r = 0; r < B; r++)
        for (int i = 0; i < in; i++) {
            double s = 0;
            for (int o = 0; o < out; o++)
                s += (double)delta[r * out + o] * M[o * in + i];
            dx[r * in + i] = (float)s;
        }
}

/* x[c][y][x] of one example, 0 in the padding. */
static double pixel(const pl_conv_geom *g, const float *x, int c, int y, int xx)
{
    if (y < 0 || y >= g->in_h || xx < 0 || xx >= g->in_w)
        return 0;
    return x[(c * g->in_h + y) * g->in_w + xx];
}

static long w_at(const pl_conv_geom *g, int o, int c, int i, int j)
{
    return ((long)(o * g->in_c + c) * g->k_h + i) * g->k_w + j;
}

/* A convolution and an untied layer (local.h) are one loop nest: the
 * untied layer's weights and bias at output position p sit p blocks on
 * (a block is a convolution's W, or out_c biases); the convolution's
 * blocks are all block 0. */
static long blocks_at(const pl_conv_geom *g, int untied, int oy, int ox)
{
    return untied ? (long)oy * g->out_w + ox : 0;
}

static void ref_forward(const pl_conv_geom *g, int untied, float *y, const float *x,
                        const float *W, const float *b, int B)
{
    long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g), wn = pl_conv_w_size(g);
    for (int e = 0; e < B; e++)
        for (int o = 0; o < g->out_c; o++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    long blk = blocks_at(g, untied, oy, ox);
                    double s = b[blk * g->out_c + o];
                    for (int c = 0; c < g->in_c; c++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++)
                                s += W[blk * wn + w_at(g, o, c, i, j)] *
                                     pixel(g, x + e * in_size, c, oy * g->stride + i - g->pad_top,
                                           ox * g->stride + j - g->pad_left);
                    y[e * out_size + (o * g->out_h + oy) * g->out_w + ox] = (float)s;
                }
}

/* Sums in double over examples (and, for a convolution, positions), then
 * rounded once. */
static void ref_backward_weights(const pl_conv_geom *g, int untied, float *dW, float *db,
                                 const float *delta, const float *x, int B)
{
    long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g), wn = pl_conv_w_size(g);
    long blocks = untied ? (long)g->out_h * g->out_w : 1;
    double *sw = pl_calloc((size_t)(blocks * wn), sizeof *sw);
    double *sb = pl_calloc((size_t)(blocks * g->out_c), sizeof *sb);
    for (int e = 0; e < B; e++)
        for (int o = 0; o < g->out_c; o++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    long blk = blocks_at(g, untied, oy, ox);
                    double d = delta[e * out_size + (o * g->out_h + oy) * g->out_w + ox];
                    sb[blk * g->out_c + o] += d;
                    for (int c = 0; c < g->in_c; c++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++)
                                sw[blk * wn + w_at(g, o, c, i, j)] +=
                                    d * pixel(g, x + e * in_size, c, oy * g->stride + i - g->pad_top,
                                              ox * g->stride + j - g->pad_left);
                }
    for (long i = 0; i < blocks * wn; i++)
        dW[i] = (float)sw[i];
    for (long i = 0; i < blocks * g->out_c; i++)
        db[i] = (float)sb[i];
    pl_free(sw);
    pl_free(sb);
}

static void ref_backward_input(const pl_conv_geom *g, int untied, float *dx, const float *delta,
                               const float *M, int B)
{
    long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g), wn = pl_conv_w_size(g);
    for (int e = 0; e < B; e++)
        for (int c = 0; c < g->in_c; c++)
            for (int y = 0; y < g->in_h; y++)
                for (int xx = 0; xx < g->in_w; xx++) {
                    /* every output that read x[c][y][xx], through which tap */
                    double s = 0;
                    for (int o = 0; o < g->out_c; o++)
                        for (int oy = 0; oy < g->out_h; oy++)
                            for (int ox = 0; ox < g->out_w; ox++) {
                                int i = y - oy * g->stride + g->pad_top;
                                int j = xx - ox * g->stride + g->pad_left;
                                if (i < 0 || i >= g->k_h || j < 0 || j >= g->k_w)
                                    continue;
                                s += M[blocks_at(g, untied, oy, ox) * wn + w_at(g, o, c, i, j)] *
                                     delta[e * out_size + (o * g->out_h + oy) * g->out_w + ox];
                            }
                    dx[e * in_size + (c * g->in_h + y) * g->in_w + xx] = (float)s;
                }
}

void pl_ref_conv_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                         const float *b, int B)
{
    ref_forward(g, 0, y, x, W, b, B);
}

void pl_ref_conv_backward_weights(const pl_conv_geom *g, float *dW, float *db,
                                  const float *delta, const float *x, int B)
{
    ref_backward_weights(g, 0, dW, db, delta, x, B);
}

void pl_ref_conv_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                                const float *M, int B)
{
    ref_backward_input(g, 0, dx, delta, M, B);
}

void pl_ref_local_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                          const float *b, int B)
{
    ref_forward(g, 1, y, x, W, b, B);
}

void pl_ref_local_backward_weights(const pl_conv_geom *g, float *dW, float *db,
                                   const float *delta, const float *x, int B)
{
    ref_backward_weights(g, 1, dW, db, delta, x, B);
}

void pl_ref_local_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                                 const float *M, int B)
{
    ref_backward_input(g, 1, dx, delta, M, B);
}

/* a[c M + m][p] of one example, in double. */
static double perturbed(const pl_pconv_geom *g, const float *x, const float *noise, int c, int m,
                        long p)
{
    const long hw = (long)g->h * g->w;
    double v = (double)x[c * hw + p] + noise[((long)c * g->maps + m) * hw + p];
    return v > 0 ? v : 0;
}

void pl_ref_pconv_forward(const pl_pconv_geom *g, float *y, const float *x, const float *noise,
                          const float *V, const float *b, int B)
{
    const long hw = (long)g->h * g->w, in_size = pl_pconv_in_size(g);
    const long out_size = pl_pconv_out_size(g), j = (long)g->in_c * g->maps;
    for (int e = 0; e < B; e++)
        for (int k = 0; k < g->out_c; k++)
            for (long p = 0; p < hw; p++) {
                double s = b[k];
                for (int c = 0; c < g->in_c; c++)
                    for (int m = 0; m < g->maps; m++)
                        s += V[k * j + c * g->maps + m] *
                             perturbed(g, x + e * in_size, noise, c, m, p);
                y[e * out_size + k * hw + p] = (float)s;
            }
}

void pl_ref_pconv_backward_weights(const pl_pconv_geom *g, float *dV, float *db,
                                   const float *delta, const float *x, const float *noise, int B)
{
    const long hw = (long)g->h * g->w, in_size = pl_pconv_in_size(g);
    const long out_size = pl_pconv_out_size(g), j = (long)g->in_c * g->maps;
    for (int k = 0; k < g->out_c; k++) {
        double sb = 0;
        for (int e = 0; e < B; e++)
            for (long p = 0; p < hw; p++)
                sb += delta[e * out_size + k * hw + p];
        db[k] = (float)sb;
        for (int c = 0; c < g->in_c; c++)
            for (int m = 0; m < g->maps; m++) {
                double s = 0;
                for (int e = 0; e < B; e++)
                    for (long p = 0; p < hw; p++)
                        s += delta[e * out_size + k * hw + p] *
                             perturbed(g, x + e * in_size, noise, c, m, p);
                dV[k * j + c * g->maps + m] = (float)s;
            }
    }
}

void pl_ref_pconv_backward_input(const pl_pconv_geom *g, float *dx, const float *delta,
                                 const float *M, const float *x, const float *noise, int B)
{
    const long hw = (long)g->h * g->w, in_size = pl_pconv_in_size(g);
    const long out_size = pl_pconv_out_size(g), j = (long)g->in_c * g->maps;
    for (int e = 0; e < B; e++)
        for (int c = 0; c < g->in_c; c++)
            for (long p = 0; p < hw; p++) {
                double s = 0;
                for (int m = 0; m < g->maps; m++) {
                    if (perturbed(g, x + e * in_size, noise, c, m, p) <= 0)
                        continue; /* the relu is flat there */
                    for (int k = 0; k < g->out_c; k++)
                        s += (double)M[k * j + c * g->maps + m] * delta[e * out_size + k * hw + p];
                }
                dx[e * in_size + c * hw + p] = (float)s;
            }
}

/* The input index of the maximum of one window (the first of equal ones,
 * scanning rows then columns), or -1 for a window with no input. */
static long window_max(const pl_pool_geom *g, const float *x, int c, int oy, int ox)
{
    long best = -1;
    for (int i = 0; i < g->k_h; i++)
        for (int j = 0; j < g->k_w; j++) {
            int y = oy * g->stride + i - g->pad_top, xx = ox * g->stride + j - g->pad_left;
            if (y < 0 || y >= g->in_h || xx < 0 || xx >= g->in_w)
                continue;
            long at = ((long)c * g->in_h + y) * g->in_w + xx;
            if (best < 0 || x[at] > x[best])
                best = at;
        }
    return best;
}

void pl_ref_maxpool_forward(const pl_pool_geom *g, float *y, const float *x, int B)
{
    long in_size = pl_pool_in_size(g), out_size = pl_pool_out_size(g);
    for (int e = 0; e < B; e++)
        for (int c = 0; c < g->c; c++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++)
                    y[e * out_size + (c * g->out_h + oy) * g->out_w + ox] =
                        x[e * in_size + window_max(g, x + e * in_size, c, oy, ox)];
}

void pl_ref_maxpool_backward(const pl_pool_geom *g, float *dx, const float *dy, const float *x,
                             int B)
{
    long in_size = pl_pool_in_size(g), out_size = pl_pool_out_size(g);
    memset(dx, 0, (size_t)(B * in_size) * sizeof *dx);
    for (int e = 0; e < B; e++)
        for (int c = 0; c < g->c; c++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++)
                    dx[e * in_size + window_max(g, x + e * in_size, c, oy, ox)] +=
                        dy[e * out_size + (c * g->out_h + oy) * g->out_w + ox];
}

double pl_ref_xent(const float *logits, const uint8_t *labels, int B, int C, double scale,
                   double *grad)
{
    double loss = 0;
    for (int r = 0; r < B; r++) {
        const float *h = logits + r * C;
        double m = h[0], s = 0;
        for (int c = 1; c < C; c++)
            m = h[c] > m ? h[c] : m;
        for (int c = 0; c < C; c++)
            s += exp(h[c] - m);
        loss += log(s) + m - h[labels[r]];
        for (int c = 0; c < C; c++)
            grad[r * C + c] = scale * (exp(h[c] - m) / s - (c == labels[r]));
    }
    return loss;
}

double pl_ref_hinge(const float *z, const uint8_t *labels, int B, int C, double mu,
                    double scale, double *grad)
{
    double loss = 0;
    for (int r = 0; r < B; r++)
        for (int c = 0; c < C; c++) {
            double v = z[r * C + c];
            int target = c == labels[r];
            double margin = target ? 1 - v : 1 + v, weight = target ? 1 : mu;
            loss += margin > 0 ? weight * margin : 0;
            grad[r * C + c] = margin > 0 ? scale * weight * (target ? -1 : 1) : 0;
        }
    return loss;
}
