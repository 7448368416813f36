/* Dense layer kernels: three SGEMMs and a bias pass. The bias is written
 * into y first and the product added onto it (beta = 1), so y is written in
 * one pass. */
#include "plastic/nn/dense.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "bound.h"

void pl_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                      int out)
{
    if (B <= 0 || out <= 0)
        return;
    for (int r = 0; r < B; r++)
        memcpy(y + (size_t)r * out, b, (size_t)out * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, W, in, 1.0f, y,
                out);
}

void pl_dense_backward_weights(float *dW, float *db, const float *delta, const float *x, int B,
                               int in, int out, float beta)
{
    if (out <= 0 || in <= 0)
        return;
    if (B <= 0) { /* an empty sum */
        if (beta == 0.0f) {
            memset(dW, 0, (size_t)out * in * sizeof *dW);
            if (db)
                memset(db, 0, (size_t)out * sizeof *db);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, delta, out, x, in, beta,
                dW, in);
    if (!db)
        return;
    if (beta == 0.0f)
        memset(db, 0, (size_t)out * sizeof *db);
    for (int r = 0; r < B; r++) { /* rows in order: a fixed summation order */
        const float *d = delta + (size_t)r * out;
        for (int o = 0; o < out; o++)
            db[o] += d[o];
    }
}

void pl_dense_backward_input(float *dx, const float *delta, const float *M, int B, int in,
                             int out, float beta)
{
    if (B <= 0 || in <= 0)
        return;
    if (out <= 0) {
        if (beta == 0.0f)
            memset(dx, 0, (size_t)B * in * sizeof *dx);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, delta, out, M, in,
                beta, dx, in);
}

void pl_dense_grad_bound(const float *delta, const float *x, int B, int in, int out,
                         double *bound_W, double *bound_b)
{
    double bw = 0.0, bb = 0.0;
    for (int r = 0; r < B; r++) {
        double d = pl_absmax(delta + (size_t)r * out, out);
        bw += d * pl_absmax(x + (size_t)r * in, in);
        bb += d;
    }
    *bound_W = bw;
    *bound_b = bb;
}
