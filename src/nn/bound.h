/* Private to src/nn: the largest magnitude of a float array, as a double,
 * for the gradient bounds of the exact sum (exact.h). */
#ifndef PLASTIC_NN_BOUND_H
#define PLASTIC_NN_BOUND_H

#include <math.h>

/* max |x_i| (0 for n = 0), or NaN if any x_i is NaN or infinite: x * 0 is 0
 * for finite x and NaN otherwise, so one extra sum notices without a branch
 * and the loop still vectorises. */
static inline double pl_absmax(const float *x, long n)
{
    float m = 0.0f, bad = 0.0f;
    for (long i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
        bad += x[i] * 0.0f;
    }
    return (double)m + (double)bad;
}

#endif
