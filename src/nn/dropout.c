/* Dropout masks from Philox. One block of four 32-bit words covers four
 * values; the counter is (block, example, step, stream | layer << 8), so
 * masks of different examples, steps and layers never share a counter, nor
 * one of the other streams (whose numbers stay below 256). Steps count
 * modulo 2^32. */
#include "plastic/nn/dropout.h"

#include <math.h>

#include "plastic/rng.h"

void pl_dropout_mask(float *mask, long n, int rows, float p, uint64_t seed, uint32_t layer,
                     uint64_t step, uint64_t example0)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    /* keep if u >= p 2^32: probability 1 - p up to 2^-32 */
    const double cut = floor((double)p * 4294967296.0);
    const uint64_t threshold = cut > 4294967295.0 ? 4294967295u : (uint64_t)cut;
    const float keep = 1.0f / (1.0f - p);
    for (int r = 0; r < rows; r++) {
        uint64_t example = example0 + (uint64_t)r;
        uint32_t ctr[4] = {0, (uint32_t)example, (uint32_t)step,
                           (uint32_t)PL_STREAM_DROPOUT | layer << 8};
        float *m = mask + (long)r * n;
        uint32_t u[4];
        for (long i = 0; i < n; i++) {
            if ((i & 3) == 0) {
                pl_philox4x32(key, ctr, u);
                ctr[0]++;
            }
            m[i] = (uint64_t)u[i & 3] >= threshold ? keep : 0.0f;
        }
    }
}

void pl_dropout_apply(float *y, const float *x, const float *mask, long count)
{
    for (long i = 0; i < count; i++)
        y[i] = x[i] * mask[i];
}
