/* Competing hidden units (Krotov & Hopfield, PNAS 2019), fast ranking form.
 *
 * Each rank owns a contiguous block of hidden units (rows of W) made of
 * whole tiles of `tile` units (pl_tile_range). Per minibatch X (B examples
 * x N inputs):
 *   currents   I = Wp X^T, Wp = sign(W)|W|^(p-1) cached   (one sgemm per
 *              tile of units, gemm.h)
 *   ranking    per example the globally largest current gets g = 1 and the
 *              k-th largest g = -delta (ties: lower unit index first)
 *   update     dW_mu = sum_b g_mub x_b - (sum_b g_mub I_mub) W_mu
 *              W += eps dW / max(max|dW|, 1e-30)
 * Only rows with a nonzero g change (at most 2B), so only they are updated
 * and only their Wp is refreshed. Communication per minibatch: one top-k
 * merge of B*k pairs and one scalar max.
 *
 * Within a rank, pl_kh_step can run on T threads (pl_kh_set_threads): the
 * rank's tiles are split into T contiguous shards that the threads treat
 * like sub-ranks. Every tile's SGEMM has the same arguments in every layout,
 * so the result is bitwise the same for any T and rank count, whatever the
 * BLAS kernel. */
#ifndef PLASTIC_KH_H
#define PLASTIC_KH_H

#include <stdint.h>
#include "plastic/gemm.h"
#include "plastic/par.h"

typedef struct pl_kh_shard pl_kh_shard;

typedef struct pl_kh {
    const pl_comm *comm;
    long hidden;          /* K, global */
    int dim;              /* N */
    int tile;             /* units per SGEMM tile; row0 is a multiple of it */
    long row0, nrows;     /* this rank's units [row0, row0 + nrows), maybe none */
    double p;
    int k;
    float delta;
    int bmax;             /* largest minibatch the work space holds */

    float *W;             /* nrows x dim */
    int ldp;              /* row stride of Wp and xbuf: pl_gemm_ld(dim) */
    float *Wp;            /* nrows x ldp, sign(W)|W|^(p-1) */

    /* work space for one step (each shard has its own currents) */
    float *xbuf;          /* bmax x ldp: the minibatch, copied to aligned rows */
    pl_rank_entry *top;   /* bmax x k, the merged global rankings */

    long *wins;           /* nrows: times each unit won since the last reset */

    int threads;          /* threads of pl_kh_step, each on one shard of rows */
    pl_kh_shard *shards;  /* threads of them (kh.c) */
    struct pl_team *team; /* the threads, when more than one (team.h) */
} pl_kh;

/* W rows drawn from N(0,1), row mu keyed by (seed, mu): the same matrix for
 * any rank count. The rank's block is pl_tile_range(hidden, tile, ...): it
 * holds whole tiles, possibly none. Returns 0. */
int pl_kh_init(pl_kh *kh, const pl_comm *comm, long hidden, int dim, double p, int k,
               float delta, int bmax, uint64_t seed, int tile);
void pl_kh_free(pl_kh *kh);

/* Runs pl_kh_step on `threads` threads (a pl_team), clamped to [1, the
 * rank's tile count]; the default after pl_kh_init is 1, the plain serial
 * step. Each step sets OpenBLAS to one thread and restores its setting on
 * return; MPI is called only from the calling thread (MPI_THREAD_FUNNELED).
 * Call it, and pl_kh_step, from one thread. Returns the count in use. */
int pl_kh_set_threads(pl_kh *kh, int threads);

/* One minibatch (X is B x dim, B <= bmax) with learning rate eps.
 * Collective. Returns 0, or PL_EXIT_DIVERGED if the update is not finite on
 * any rank (then W is left unchanged). */
int pl_kh_step(pl_kh *kh, const float *X, int B, float eps);
/* The same for the minibatch of rows rows[0..B) of data (N floats each),
 * gathered once, straight into the step's aligned buffer. */
int pl_kh_step_rows(pl_kh *kh, const float *data, const int *rows, int B, float eps);

/* The minibatch (example b is row rows[b] of data, row b without rows) into
 * xbuf, the aligned buffer every tile call reads: the same rows and stride
 * in every layout. */
void pl_kh_load_minibatch(pl_kh *kh, const float *data, const int *rows, int B);

/* pl_kh_step on the B examples already in xbuf (rows kh->ldp apart, the
 * padding past dim left 0): for callers that build their examples in place,
 * such as a convolution's patches. */
int pl_kh_step_loaded(pl_kh *kh, int B, float eps);

/* Every current of the rank's units for the B examples in xbuf: out is
 * B x nrows (example-major), one pl_sgemm_tile per global tile into scratch
 * (B x tile floats, 64-byte aligned), so every current has the bits of the
 * fast step's. OpenBLAS must be on one thread. */
void pl_kh_currents(const pl_kh *kh, int B, float *scratch, float *out);

/* Recomputes Wp for every local row (after W was set from elsewhere). */
void pl_kh_refresh(pl_kh *kh);

/* |sum_i |W_mui|^p - 1| over all units: mean and max. Collective. */
void pl_kh_sphere(const pl_kh *kh, double *mean_dev, double *max_dev);

/* Units that never won since the last call, then resets the counters.
 * Collective. */
long pl_kh_take_never_won(pl_kh *kh);

/* sign(w)|w|^(p-1) for a whole row; repeated multiplication for integer p. */
void pl_kh_power_row(const float *w, float *out, int n, double p);

/* The literal, dense reference of one step on the full K x N matrix, in
 * double where it sums: Wp by pow(), all currents, a full sort per example,
 * dense g and dW. Serial. winners (B x 2, may be NULL) receives the first and
 * k-th unit of each example. Returns 0 or PL_EXIT_DIVERGED. */
int pl_kh_reference_step(float *W, long hidden, int dim, double p, int k, float delta,
                         const float *X, int B, float eps, int32_t *winners);

#endif
