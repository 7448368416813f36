/* The untied layer's kernels (local.h): per tile of examples, the im2col
 * of each turned position-major, then one small SGEMM per position. */
#include "plastic/nn/local.h"

#include <cblas.h>
#include <string.h>

#include "bound.h"

static long kk_of(const pl_conv_geom *g) { return (long)g->in_c * g->k_h * g->k_w; }

long pl_local_positions(const pl_conv_geom *g) { return (long)g->out_h * g->out_w; }
long pl_local_w_size(const pl_conv_geom *g)
{
    return pl_local_positions(g) * g->out_c * kk_of(g);
}
long pl_local_b_size(const pl_conv_geom *g) { return pl_local_positions(g) * g->out_c; }

/* colT (TILE x hw x kk), col (kk x hw), D and Y (TILE x out_c each). */
long pl_local_scratch_size(const pl_conv_geom *g)
{
    const long hw = pl_local_positions(g), kk = kk_of(g);
    return PL_LOCAL_TILE * hw * kk + kk * hw + 2L * PL_LOCAL_TILE * g->out_c;
}

struct tile_bufs {
    float *colT, *col, *D, *Y;
};

static struct tile_bufs split_scratch(const pl_conv_geom *g, float *scratch)
{
    const long hw = pl_local_positions(g), kk = kk_of(g);
    struct tile_bufs t;
    t.colT = scratch;
    t.col = t.colT + PL_LOCAL_TILE * hw * kk;
    t.D = t.col + kk * hw;
    t.Y = t.D + (long)PL_LOCAL_TILE * g->out_c;
    return t;
}

void pl_local_from_conv(const pl_conv_geom *g, float *W, float *b, const float *Wc,
                        const float *bc)
{
    const long hw = pl_local_positions(g), wn = (long)g->out_c * kk_of(g);
    for (long p = 0; p < hw; p++) {
        memcpy(W + p * wn, Wc, (size_t)wn * sizeof *W);
        if (b)
            memcpy(b + p * g->out_c, bc, (size_t)g->out_c * sizeof *b);
    }
}

void pl_local_broadcast(const pl_conv_geom *g, float *W, float *b)
{
    const long hw = pl_local_positions(g), wn = (long)g->out_c * kk_of(g);
    for (long p = 1; p < hw; p++) {
        memcpy(W + p * wn, W, (size_t)wn * sizeof *W);
        if (b)
            memcpy(b + p * g->out_c, b, (size_t)g->out_c * sizeof *b);
    }
}

/* colT[t] = im2col(x_t) transposed (hw x kk), for the T examples at x. */
static void load_tile(const pl_conv_geom *g, const float *x, int T, struct tile_bufs *s)
{
    const long hw = pl_local_positions(g), kk = kk_of(g), in_size = pl_conv_in_size(g);
    for (int t = 0; t < T; t++) {
        pl_im2col(g, x + t * in_size, s->col);
        float *ct = s->colT + t * hw * kk;
        for (long k = 0; k < kk; k++)
            for (long p = 0; p < hw; p++)
                ct[p * kk + k] = s->col[k * hw + p];
    }
}

/* D[t][o] = delta_t[o][p]: the tile's errors at position p. */
static void gather_delta(const pl_conv_geom *g, const float *delta, int T, long p, float *D)
{
    const long hw = pl_local_positions(g), out_size = pl_conv_out_size(g);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < g->out_c; o++)
            D[t * g->out_c + o] = delta[t * out_size + o * hw + p];
}

void pl_local_forward(const pl_conv_geom *g, float *y, const float *x, const float *W,
                      const float *b, int B, float *scratch)
{
    const long hw = pl_local_positions(g), kk = kk_of(g), wn = (long)g->out_c * kk;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    struct tile_bufs s = split_scratch(g, scratch);
    for (int e0 = 0; e0 < B; e0 += PL_LOCAL_TILE) {
        const int T = B - e0 < PL_LOCAL_TILE ? B - e0 : PL_LOCAL_TILE;
        load_tile(g, x + e0 * in_size, T, &s);
        float *ye = y + e0 * out_size;
        for (long p = 0; p < hw; p++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, g->out_c, (int)kk, 1.0f,
                        s.colT + p * kk, (int)(hw * kk), W + p * wn, (int)kk, 0.0f, s.Y,
                        g->out_c);
            const float *bp = b + p * g->out_c;
            for (int t = 0; t < T; t++)
                for (int o = 0; o < g->out_c; o++)
                    ye[t * out_size + o * hw + p] = s.Y[t * g->out_c + o] + bp[o];
        }
    }
}

void pl_local_backward_weights(const pl_conv_geom *g, float *dW, float *db, const float *delta,
                               const float *x, int B, float *scratch, float beta)
{
    const long hw = pl_local_positions(g), kk = kk_of(g), wn = (long)g->out_c * kk;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    struct tile_bufs s = split_scratch(g, scratch);
    if (beta == 0.0f) {
        memset(dW, 0, (size_t)pl_local_w_size(g) * sizeof *dW);
        if (db)
            memset(db, 0, (size_t)pl_local_b_size(g) * sizeof *db);
    }
    for (int e0 = 0; e0 < B; e0 += PL_LOCAL_TILE) {
        const int T = B - e0 < PL_LOCAL_TILE ? B - e0 : PL_LOCAL_TILE;
        load_tile(g, x + e0 * in_size, T, &s);
        for (long p = 0; p < hw; p++) {
            gather_delta(g, delta + e0 * out_size, T, p, s.D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->out_c, (int)kk, T, 1.0f, s.D,
                        g->out_c, s.colT + p * kk, (int)(hw * kk), 1.0f, dW + p * wn, (int)kk);
            if (db)
                for (int o = 0; o < g->out_c; o++) {
                    float sum = 0.0f;
                    for (int t = 0; t < T; t++)
                        sum += s.D[t * g->out_c + o];
                    db[p * g->out_c + o] += sum;
                }
        }
    }
}

void pl_local_backward_input(const pl_conv_geom *g, float *dx, const float *delta,
                             const float *M, int B, float *scratch, float beta)
{
    const long hw = pl_local_positions(g), kk = kk_of(g), wn = (long)g->out_c * kk;
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    struct tile_bufs s = split_scratch(g, scratch);
    for (int e0 = 0; e0 < B; e0 += PL_LOCAL_TILE) {
        const int T = B - e0 < PL_LOCAL_TILE ? B - e0 : PL_LOCAL_TILE;
        for (long p = 0; p < hw; p++) { /* colT[t][p] = M_p^T delta_t[:, p] */
            gather_delta(g, delta + e0 * out_size, T, p, s.D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, (int)kk, g->out_c, 1.0f,
                        s.D, g->out_c, M + p * wn, (int)kk, 0.0f, s.colT + p * kk,
                        (int)(hw * kk));
        }
        for (int t = 0; t < T; t++) {
            const float *ct = s.colT + t * hw * kk;
            for (long k = 0; k < kk; k++)
                for (long p = 0; p < hw; p++)
                    s.col[k * hw + p] = ct[p * kk + k];
            float *dxe = dx + (e0 + t) * in_size;
            if (beta == 0.0f)
                memset(dxe, 0, (size_t)in_size * sizeof *dxe);
            pl_col2im_add(g, s.col, dxe);
        }
    }
}

void pl_local_grad_bound(const pl_conv_geom *g, const float *delta, const float *x, int B,
                         double *bound_W, double *bound_b)
{
    const long in_size = pl_conv_in_size(g), out_size = pl_conv_out_size(g);
    double bw = 0.0, bb = 0.0;
    for (int e = 0; e < B; e++) {
        const double d = pl_absmax(delta + e * out_size, out_size);
        bw += d * pl_absmax(x + e * in_size, in_size);
        bb += d;
    }
    *bound_W = bw;
    *bound_b = bb;
}
