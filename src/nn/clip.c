/* Update shaping (the scheme is in clip.h): biases held at zero and
 * per-tensor norm clipping with norms summed exactly over the ranks. */
#include "plastic/nn/clip.h"

#include <math.h>
#include <stdlib.h>

#include "plastic/common.h"

double pl_clip_factor(double norm2, double max_norm)
{
    if (max_norm <= 0.0 || !(norm2 > max_norm * max_norm))
        return 1.0;
    return max_norm / sqrt(norm2);
}

void pl_norms2_exact(const pl_comm *comm, int n, float *const *g, const long *len,
                     const long *count, double *norm2)
{
    /* on the stack: this runs before every step it shapes */
    double grid[PL_CLIP_BATCH];
    long q[PL_CLIP_BATCH] = {0};
    if (n > PL_CLIP_BATCH) {
        pl_error_all("pl_norms2_exact: %d tensors in one call (at most %d)", n, PL_CLIP_BATCH);
        abort();
    }
    for (int i = 0; i < n; i++) {
        double m = 0.0;
        for (long k = 0; k < len[i]; k++)
            m = isfinite(g[i][k]) ? fmax(m, fabs((double)g[i][k])) : INFINITY;
        grid[i] = m;
    }
    if (comm)
        pl_allreduce_max_double(comm, grid, n);
    for (int i = 0; i < n; i++) {
        /* squares of floats are exact in double; each is at most m^2, so
         * count of them on a grid of m^2 count / 2^60 stay below 2^60 */
        grid[i] = grid[i] * grid[i] * (double)count[i] / 0x1p60;
        if (!(grid[i] > 0.0) || !isfinite(grid[i]))
            continue; /* all zero (norm 0), or not finite (set below) */
        for (long k = 0; k < len[i]; k++) {
            const double s = (double)g[i][k] * (double)g[i][k];
            q[i] += (long)llround(s / grid[i]);
        }
    }
    if (comm)
        pl_allreduce_sum_long(comm, q, n);
    for (int i = 0; i < n; i++)
        norm2[i] = isfinite(grid[i]) ? (double)q[i] * grid[i] : grid[i];
}

/* Tensors [t, t1) of the net's in layers [l0, l1): this rank's parts of up
 * to PL_CLIP_BATCH of them (biases zeroed unless bias); returns the count
 * and sets *t to the tensor after the last taken. */
static int next_parts(const pl_net *net, float *grads, int l0, int l1, long lo, long hi, int bias,
                      int *t, float **part, long *len, long *count)
{
    int n = 0;
    for (; *t < net->ntensors && n < PL_CLIP_BATCH; ++*t) {
        const pl_param *p = &net->tensors[*t];
        if (p->layer < l0 || p->layer >= l1)
            continue;
        /* this rank's part of the tensor: [a, b) of the flat vector */
        const long a = p->offset > lo ? p->offset : lo;
        const long b = p->offset + p->count < hi ? p->offset + p->count : hi;
        part[n] = grads + a;
        len[n] = b > a ? b - a : 0;
        count[n] = p->count;
        if (!bias && *t == net->layers[p->layer].param + 1)
            for (long k = 0; k < len[n]; k++)
                part[n][k] = 0.0f;
        n++;
    }
    return n;
}

void pl_shape_updates(const pl_comm *comm, const pl_net *net, float *grads, int l0, int l1,
                      long lo, long hi, double clip, int bias)
{
    float *part[PL_CLIP_BATCH];
    long len[PL_CLIP_BATCH], count[PL_CLIP_BATCH];
    double norm2[PL_CLIP_BATCH];
    /* every rank walks the same tensors, so the batches' collectives match */
    for (int t = 0, n; (n = next_parts(net, grads, l0, l1, lo, hi, bias, &t, part, len, count));) {
        if (clip <= 0.0)
            continue;
        pl_norms2_exact(comm, n, part, len, count, norm2);
        for (int i = 0; i < n; i++) {
            const float f = (float)pl_clip_factor(norm2[i], clip);
            for (long k = 0; f != 1.0f && k < len[i]; k++)
                part[i][k] *= f;
        }
    }
}

void pl_clip_whole(float *g, long n, double clip)
{
    if (clip <= 0.0)
        return;
    double norm2;
    pl_norms2_exact(NULL, 1, &g, &n, &n, &norm2);
    const float f = (float)pl_clip_factor(norm2, clip);
    for (long k = 0; f != 1.0f && k < n; k++)
        g[k] *= f;
}
