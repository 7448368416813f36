/* Max-pooling. The forward keeps, for every output, the input index it
 * came from, so the backward is a scatter with no comparisons. */
#include "plastic/nn/pool.h"
#include "plastic/nn/conv.h"

#include <string.h>

void pl_pool_geom_same(pl_pool_geom *g, int c, int in_h, int in_w, int k_h, int k_w, int stride)
{
    g->c = c;
    g->in_h = in_h;
    g->in_w = in_w;
    g->k_h = k_h;
    g->k_w = k_w;
    g->stride = stride;
    pl_same_axis(in_h, k_h, stride, &g->out_h, &g->pad_top);
    pl_same_axis(in_w, k_w, stride, &g->out_w, &g->pad_left);
}

long pl_pool_in_size(const pl_pool_geom *g) { return (long)g->c * g->in_h * g->in_w; }
long pl_pool_out_size(const pl_pool_geom *g) { return (long)g->c * g->out_h * g->out_w; }

static int clamp_lo(int v) { return v < 0 ? 0 : v; }
static int clamp_hi(int v, int n) { return v > n ? n : v; }

void pl_maxpool_forward(const pl_pool_geom *g, float *y, int32_t *argmax, const float *x, int B)
{
    const long in_size = pl_pool_in_size(g), out_size = pl_pool_out_size(g);
    for (int e = 0; e < B; e++) {
        const float *xe = x + e * in_size;
        float *ye = y + e * out_size;
        int32_t *ae = argmax + e * out_size;
        for (int c = 0; c < g->c; c++) {
            const long plane = (long)c * g->in_h * g->in_w;
            for (int oy = 0; oy < g->out_h; oy++) {
                int y0 = oy * g->stride - g->pad_top;
                int ylo = clamp_lo(y0), yhi = clamp_hi(y0 + g->k_h, g->in_h);
                for (int ox = 0; ox < g->out_w; ox++) {
                    int x0 = ox * g->stride - g->pad_left;
                    int xlo = clamp_lo(x0), xhi = clamp_hi(x0 + g->k_w, g->in_w);
                    long best = plane + (long)ylo * g->in_w + xlo;
                    for (int yy = ylo; yy < yhi; yy++)
                        for (int xx = xlo; xx < xhi; xx++) {
                            long i = plane + (long)yy * g->in_w + xx;
                            if (xe[i] > xe[best])
                                best = i;
                        }
                    long o = ((long)c * g->out_h + oy) * g->out_w + ox;
                    ye[o] = xe[best];
                    ae[o] = (int32_t)best;
                }
            }
        }
    }
}

void pl_maxpool_backward(const pl_pool_geom *g, float *dx, const float *dy,
                         const int32_t *argmax, int B, float beta)
{
    const long in_size = pl_pool_in_size(g), out_size = pl_pool_out_size(g);
    if (beta == 0.0f)
        memset(dx, 0, (size_t)B * in_size * sizeof *dx);
    for (int e = 0; e < B; e++) {
        float *dxe = dx + e * in_size;
        const float *dye = dy + e * out_size;
        const int32_t *ae = argmax + e * out_size;
        for (long o = 0; o < out_size; o++)
            dxe[ae[o]] += dye[o];
    }
}
