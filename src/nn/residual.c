/* The residual add and its backward. */
#include "plastic/nn/residual.h"

#include <string.h>

void pl_residual_forward(float *y, const float *a, const float *b, long count)
{
    for (long i = 0; i < count; i++)
        y[i] = a[i] + b[i];
}

void pl_residual_backward(float *dst, const float *g, long count, float beta)
{
    if (beta == 0.0f) {
        if (dst != g)
            memcpy(dst, g, (size_t)count * sizeof *dst);
        return;
    }
    for (long i = 0; i < count; i++)
        dst[i] += g[i];
}
