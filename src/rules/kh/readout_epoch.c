/* One epoch of readout training, shared by `train` (with checkpoints between
 * minibatches) and `sweep` (many short readouts on one set of features). */
#include "plastic/common.h"
#include "rules/kh/readout.h"
#include "plastic/rng.h"

#include <string.h>

void pl_readout_batch_init(pl_readout_batch *b, int size, long nunits, int n)
{
    b->size = size;
    b->h = pl_alloc((size_t)size * (size_t)(nunits ? nunits : 1) * sizeof *b->h);
    b->y = pl_alloc((size_t)size);
    b->order = pl_alloc((size_t)(n ? n : 1) * sizeof *b->order);
}

void pl_readout_batch_free(pl_readout_batch *b)
{
    pl_free(b->h);
    pl_free(b->y);
    pl_free(b->order);
    memset(b, 0, sizeof *b);
}

void pl_readout_batch_shuffle(pl_readout_batch *b, int n, uint64_t seed, int epoch)
{
    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_READOUT_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, b->order, n);
}

void pl_readout_batch_fill(pl_readout_batch *b, const float *H, const uint8_t *y, long nunits,
                           int start, int B)
{
    for (int j = 0; j < B; j++) {
        int i = b->order[start + j];
        memcpy(b->h + (size_t)j * nunits, H + (size_t)i * nunits,
               (size_t)nunits * sizeof *b->h);
        b->y[j] = y[i];
    }
}

long pl_readout_act_errors(const pl_readout *r, const uint8_t *y, int B)
{
    long wrong = 0;
    for (int b = 0; b < B; b++) {
        const double *a = r->act + (size_t)b * r->nclass;
        int best = 0;
        for (int c = 1; c < r->nclass; c++)
            if (a[c] > a[best])
                best = c;
        wrong += best != y[b];
    }
    return wrong;
}

int pl_readout_epoch(pl_readout *r, const float *H, const uint8_t *y, int n, uint64_t seed,
                     int epoch, float lr, int *batch, pl_readout_batch *buf, double *loss_sum,
                     long *wrong, int (*poll)(void *), void *ctx)
{
    const int size = buf->size;
    pl_readout_batch_shuffle(buf, n, seed, epoch);
    for (int start = *batch * size; start < n; start += size) {
        int B = n - start < size ? n - start : size;
        pl_readout_batch_fill(buf, H, y, r->nunits, start, B);
        *loss_sum += pl_readout_step(r, buf->h, buf->y, B, lr);
        *wrong += pl_readout_act_errors(r, buf->y, B); /* activations before the step */
        ++*batch;
        int stop = start + B < n && poll ? poll(ctx) : 0;
        if (stop)
            return stop;
    }
    return 0;
}
