/* The linear network of the URFB theory (theory.h): teacher, initial
 * weights, a minibatch's increments through Wᵀ or R, the step, and the
 * exact expected error. */
#include "plastic/theory.h"

#include "plastic/common.h"
#include "plastic/rng.h"

#include <math.h>
#include <string.h>

enum { L = PL_THEORY_LAYERS };

static long wsize(const int *dim, int l) { return (long)dim[l + 1] * dim[l]; }

/* The widths' sum: one example's activities of every layer, input included. */
static int widths(const int *dim)
{
    int total = 0;
    for (int l = 0; l <= L; l++)
        total += dim[l];
    return total;
}

void pl_theory_net_create(pl_theory_net *n, const int dim[L + 1])
{
    memset(n, 0, sizeof *n);
    memcpy(n->dim, dim, sizeof n->dim);
    for (int l = 0; l < L; l++) {
        n->W[l] = pl_calloc((size_t)wsize(dim, l), sizeof(double));
        if (l > 0)
            n->R[l] = pl_calloc((size_t)wsize(dim, l), sizeof(double));
    }
    n->act = pl_alloc(2 * (size_t)widths(dim) * sizeof *n->act);
}

void pl_theory_net_free(pl_theory_net *n)
{
    for (int l = 0; l < L; l++) {
        pl_free(n->W[l]);
        pl_free(n->R[l]);
    }
    pl_free(n->act);
    memset(n, 0, sizeof *n);
}

void pl_theory_net_copy(pl_theory_net *dst, const pl_theory_net *src)
{
    for (int l = 0; l < L; l++) {
        size_t bytes = (size_t)wsize(src->dim, l) * sizeof(double);
        memcpy(dst->W[l], src->W[l], bytes);
        if (src->R[l])
            memcpy(dst->R[l], src->R[l], bytes);
    }
}

/* n entries N(0, 1/fan_in) from one substream, in storage order. */
static void draw(double *a, long n, int fan_in, uint64_t seed, uint64_t sub)
{
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_THEORY, sub);
    double sd = 1.0 / sqrt((double)fan_in);
    for (long i = 0; i < n; i++)
        a[i] = sd * pl_rng_normal(&r);
}

/* c (m x n) = a (m x k) b (k x n), all row-major. */
static void matmul(const double *a, const double *b, double *c, int m, int k, int n)
{
    memset(c, 0, (size_t)m * n * sizeof *c);
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++) {
            double aip = a[(long)i * k + p];
            const double *brow = b + (long)p * n;
            double *crow = c + (long)i * n;
            for (int j = 0; j < n; j++)
                crow[j] += aip * brow[j];
        }
}

/* M = W_2 W_1 W_0 (dim[3] x dim[0]) of any three factors shaped as W. */
static void product(const int *dim, double *const A[L], double *M)
{
    double *P = pl_alloc((size_t)dim[2] * dim[0] * sizeof *P);
    matmul(A[1], A[0], P, dim[2], dim[1], dim[0]);
    matmul(A[2], P, M, dim[3], dim[2], dim[0]);
    pl_free(P);
}

void pl_theory_teacher(const int dim[L + 1], uint64_t seed, double *T)
{
    double *A[L];
    for (int l = 0; l < L; l++) {
        A[l] = pl_alloc((size_t)wsize(dim, l) * sizeof(double));
        draw(A[l], wsize(dim, l), dim[l], seed, PL_THEORY_SUB_TEACHER + (uint64_t)l);
    }
    product(dim, A, T);
    for (int l = 0; l < L; l++)
        pl_free(A[l]);
}

void pl_theory_init(pl_theory_net *n, uint64_t seed, int zero_w)
{
    for (int l = 0; l < L; l++) {
        if (zero_w)
            memset(n->W[l], 0, (size_t)wsize(n->dim, l) * sizeof(double));
        else
            draw(n->W[l], wsize(n->dim, l), n->dim[l], seed, PL_THEORY_SUB_W + (uint64_t)l);
        if (n->R[l]) /* R_l is in x out: its fan-in as W_lᵀ's law, 1/dim[l] */
            draw(n->R[l], wsize(n->dim, l), n->dim[l], seed, PL_THEORY_SUB_R + (uint64_t)l);
    }
}

double pl_theory_increments(const pl_theory_net *n, int sgd, const double *x, const double *t,
                            int B, double *const G[L])
{
    const int *dim = n->dim, total = widths(dim);
    /* h[l]: layer l's activity (h[0] = x); d[l]: dL/dh_l of one example */
    double *h[L + 1], *d[L + 1];
    for (int l = 0, off = 0; l <= L; off += dim[l], l++) {
        h[l] = n->act + off;
        d[l] = n->act + total + off;
    }
    for (int l = 0; l < L; l++)
        memset(G[l], 0, (size_t)wsize(dim, l) * sizeof(double));
    double loss = 0;
    for (int b = 0; b < B; b++) {
        memcpy(h[0], x + (long)b * dim[0], (size_t)dim[0] * sizeof(double));
        for (int l = 0; l < L; l++)
            for (int i = 0; i < dim[l + 1]; i++) {
                const double *w = n->W[l] + (long)i * dim[l];
                double s = 0;
                for (int j = 0; j < dim[l]; j++)
                    s += w[j] * h[l][j];
                h[l + 1][i] = s;
            }
        const double *tb = t + (long)b * dim[L];
        for (int k = 0; k < dim[L]; k++) {
            d[L][k] = h[L][k] - tb[k];
            loss += 0.5 * d[L][k] * d[L][k];
        }
        /* d_l = B_l d_{l+1}: through W_lᵀ (columns of W_l) or R_l (rows) */
        for (int l = L - 1; l >= 1; l--) {
            int in = dim[l], out = dim[l + 1];
            if (sgd) {
                memset(d[l], 0, (size_t)in * sizeof(double));
                for (int k = 0; k < out; k++) {
                    const double *w = n->W[l] + (long)k * in;
                    for (int j = 0; j < in; j++)
                        d[l][j] += w[j] * d[l + 1][k];
                }
            } else {
                for (int j = 0; j < in; j++) {
                    const double *r = n->R[l] + (long)j * out;
                    double s = 0;
                    for (int k = 0; k < out; k++)
                        s += r[k] * d[l + 1][k];
                    d[l][j] = s;
                }
            }
        }
        for (int l = 0; l < L; l++)
            for (int i = 0; i < dim[l + 1]; i++) {
                double di = d[l + 1][i];
                double *g = G[l] + (long)i * dim[l];
                for (int j = 0; j < dim[l]; j++)
                    g[j] += di * h[l][j];
            }
    }
    for (int l = 0; l < L; l++)
        for (long i = 0; i < wsize(dim, l); i++)
            G[l][i] /= B;
    return loss / B;
}

void pl_theory_apply(pl_theory_net *n, int sgd, double eps, double lr, double *const G[L])
{
    const int *dim = n->dim;
    for (int l = 0; l < L; l++)
        for (long i = 0; i < wsize(dim, l); i++)
            n->W[l][i] -= lr * G[l][i];
    if (sgd || eps == 0)
        return;
    /* R_l gets ε times W_l's increment, transposed: R_l[j][k] -= ε lr G_l[k][j] */
    double step = eps * lr;
    for (int l = 1; l < L; l++) {
        int in = dim[l], out = dim[l + 1];
        for (int k = 0; k < out; k++)
            for (int j = 0; j < in; j++)
                n->R[l][(long)j * out + k] -= step * G[l][(long)k * in + j];
    }
}

double pl_theory_error(const pl_theory_net *n, const double *T)
{
    const int *dim = n->dim;
    long m = (long)dim[L] * dim[0];
    double *M = pl_alloc((size_t)m * sizeof *M);
    product(dim, n->W, M);
    double num = 0, den = 0;
    for (long i = 0; i < m; i++) {
        num += (M[i] - T[i]) * (M[i] - T[i]);
        den += T[i] * T[i];
    }
    pl_free(M);
    return num / den;
}

double pl_theory_rel_diff(const double *a, const double *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}
