/* Competing hidden units, fast form: the currents one tile of units at a
 * time (an sgemm each, ranked while the tile is in cache), local top-k, a
 * global merge, and sparse row updates. See kh.h for the equations.
 *
 * Threads within a rank work like sub-ranks: each owns a contiguous shard of
 * the rank's tiles, with its own currents tile, ranking lists and pending
 * updates, and calls BLAS single-threaded on it. Per minibatch they meet at
 * four barriers (around the merge of the shard lists and around the max),
 * and only the calling thread talks MPI. Each tile's SGEMM gets the same
 * arguments in every layout (gemm.h) and every row's other arithmetic is the
 * same as with one thread, so W is bitwise the same for any thread and rank
 * count. The threads are a persistent pl_team (team.h). */
#include "rules/kh/kh.h"
#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/team.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* One thread's rows [lo, lo + nrows) of the rank's block, whole tiles, and
 * its work space. Aligned so no two threads write the same cache line. With
 * one thread the single shard's top is the pl_kh's merged list itself. */
struct pl_kh_shard {
    _Alignas(64) long lo, nrows;
    float *currents;      /* bmax x (rows of a tile): the currents of one tile */
    pl_rank_entry *top;   /* bmax x k, this shard's rankings */
    float *dW;            /* 2*bmax x dim: rows of the units that change */
    float *coef;          /* 2*bmax: sum_b g I for each changing row */
    int32_t *changed;     /* 2*bmax shard row indices, in first-touch order */
    int32_t *slot;        /* nrows: position in changed[] or -1 */
    int nchanged;
    uint32_t max_bits;    /* max |dW| over the changed rows, as float bits */
};

/* p as a small integer exponent, or 0 when pow() is needed. */
static int integer_power(double p)
{
    return (p == floor(p) && p >= 1.0 && p <= 32.0) ? (int)p : 0;
}

void pl_kh_power_row(const float *w, float *out, int n, double p)
{
    int ip = integer_power(p);
    switch (ip) {
    case 1: /* |w|^0 = 1: only the sign survives (sign(0) = 0) */
        for (int i = 0; i < n; i++)
            out[i] = (float)((w[i] > 0.0f) - (w[i] < 0.0f));
        return;
    case 2:
        memmove(out, w, (size_t)n * sizeof *w);
        return;
    case 3:
        for (int i = 0; i < n; i++)
            out[i] = w[i] * fabsf(w[i]);
        return;
    case 0: {
        float e = (float)(p - 1.0);
        for (int i = 0; i < n; i++)
            out[i] = copysignf(powf(fabsf(w[i]), e), w[i]);
        return;
    }
    default:
        for (int i = 0; i < n; i++) {
            float a = fabsf(w[i]), r = w[i];
            for (int e = 1; e < ip - 1; e++)
                r *= a;
            out[i] = r;
        }
        return;
    }
}

int pl_kh_init(pl_kh *kh, const pl_comm *comm, long hidden, int dim, double p, int k,
               float delta, int bmax, uint64_t seed, int tile)
{
    memset(kh, 0, sizeof *kh);
    kh->comm = comm;
    kh->hidden = hidden;
    kh->dim = dim;
    kh->p = p;
    kh->k = k;
    kh->delta = delta;
    kh->bmax = bmax;
    kh->tile = tile < 1 ? 1 : tile;
    long end;
    pl_tile_range(hidden, kh->tile, pl_comm_size(comm), pl_comm_rank(comm), &kh->row0, &end);
    kh->nrows = end - kh->row0;

    size_t rows = (size_t)kh->nrows, n = (size_t)dim;
    kh->ldp = pl_gemm_ld(dim);
    kh->W = pl_alloc(rows * n * sizeof(float));
    /* zeroed, so the padding past dim holds no garbage */
    kh->Wp = pl_calloc(rows * (size_t)kh->ldp, sizeof(float));
    kh->xbuf = pl_calloc((size_t)bmax * (size_t)kh->ldp, sizeof(float));
    kh->top = pl_alloc((size_t)bmax * (size_t)k * sizeof(pl_rank_entry));
    kh->wins = pl_calloc(rows, sizeof(long));
    pl_kh_set_threads(kh, 1);

    for (long j = 0; j < kh->nrows; j++) {
        pl_rng rng;
        pl_rng_init(&rng, seed, PL_STREAM_KH_INIT, (uint64_t)(kh->row0 + j));
        float *row = kh->W + (size_t)j * n;
        for (int i = 0; i < dim; i++)
            row[i] = (float)pl_rng_normal(&rng);
    }
    pl_kh_refresh(kh);
    return 0;
}

static void free_shards(pl_kh *kh)
{
    for (int t = 0; t < kh->threads; t++) {
        pl_kh_shard *s = &kh->shards[t];
        pl_free(s->currents);
        if (s->top != kh->top)
            pl_free(s->top);
        pl_free(s->dW);
        pl_free(s->coef);
        pl_free(s->changed);
        pl_free(s->slot);
    }
    pl_free(kh->shards);
    pl_team_destroy(kh->team);
    kh->shards = NULL;
    kh->team = NULL;
    kh->threads = 0;
}

int pl_kh_set_threads(pl_kh *kh, int threads)
{
    /* row0 is a multiple of the tile, so the rank's tiles start at local
     * multiples of it and shards of whole tiles are pl_tile_range's */
    const long tiles = (kh->nrows + kh->tile - 1) / kh->tile;
    if (threads > tiles)
        threads = (int)tiles;
    if (threads < 1)
        threads = 1;
    free_shards(kh);
    const size_t n = (size_t)kh->dim, bmax = (size_t)kh->bmax, k = (size_t)kh->k;
    kh->shards = pl_alloc((size_t)threads * sizeof *kh->shards);
    for (int t = 0; t < threads; t++) {
        pl_kh_shard *s = &kh->shards[t];
        memset(s, 0, sizeof *s);
        long hi;
        pl_tile_range(kh->nrows, kh->tile, threads, t, &s->lo, &hi);
        s->nrows = hi - s->lo;
        const size_t rows = (size_t)s->nrows;
        s->currents = pl_alloc(bmax * (size_t)(rows < (size_t)kh->tile ? rows : (size_t)kh->tile) *
                               sizeof(float));
        s->top = threads == 1 ? kh->top : pl_alloc(bmax * k * sizeof(pl_rank_entry));
        s->dW = pl_alloc(2 * bmax * n * sizeof(float));
        s->coef = pl_alloc(2 * bmax * sizeof(float));
        s->changed = pl_alloc(2 * bmax * sizeof(int32_t));
        s->slot = pl_alloc(rows * sizeof(int32_t));
        for (size_t j = 0; j < rows; j++)
            s->slot[j] = -1;
    }
    kh->threads = threads;
    if (threads > 1)
        kh->team = pl_team_create(threads);
    return threads;
}

void pl_kh_free(pl_kh *kh)
{
    free_shards(kh);
    pl_free(kh->W);
    pl_free(kh->Wp);
    pl_free(kh->xbuf);
    pl_free(kh->top);
    pl_free(kh->wins);
    memset(kh, 0, sizeof *kh);
}

void pl_kh_refresh(pl_kh *kh)
{
    for (long j = 0; j < kh->nrows; j++)
        pl_kh_power_row(kh->W + (size_t)j * kh->dim, kh->Wp + (size_t)j * kh->ldp, kh->dim,
                        kh->p);
}

/* Empty best-first lists: sentinels that lose to every real current, and
 * stay when there are fewer than k units. */
static void clear_lists(pl_rank_entry *lists, int B, int k)
{
    for (int i = 0; i < B * k; i++)
        lists[i] = (pl_rank_entry){-INFINITY, INT32_MAX};
}

/* Inserts one example's currents of nrows units (global indices from row0)
 * into its best-first top-k list. The order is total, so the list does not
 * depend on the order the tiles come in. One float comparison against the
 * k-th value rejects almost every unit. */
static void rank_tile(const float *cur, long nrows, long row0, int k, pl_rank_entry *list)
{
    float kth = list[k - 1].value;
    for (long j = 0; j < nrows; j++) {
        if (cur[j] < kth)
            continue; /* ties, NaN and -inf take the exact comparison below */
        pl_rank_entry e = {cur[j], (int32_t)(row0 + j)};
        if (!pl_rank_better(e, list[k - 1]))
            continue;
        int pos = k - 1;
        while (pos > 0 && pl_rank_better(e, list[pos - 1])) {
            list[pos] = list[pos - 1];
            pos--;
        }
        list[pos] = e;
        kth = list[k - 1].value;
    }
}

/* Adds g * (x - I W_row) for one example to the pending update of a row
 * (local to the shard). */
static void accumulate(pl_kh_shard *sh, int n, long local, float g, float current, const float *x)
{
    int s = sh->slot[local];
    if (s < 0) {
        s = sh->nchanged++;
        sh->slot[local] = s;
        sh->changed[s] = (int32_t)local;
        sh->coef[s] = 0.0f;
        memset(sh->dW + (size_t)s * n, 0, (size_t)n * sizeof(float));
    }
    float *d = sh->dW + (size_t)s * n;
    for (int i = 0; i < n; i++)
        d[i] += g * x[i];
    sh->coef[s] += g * current;
}

#define INFINITY_BITS 0x7f800000u

/* max |d_i| as the bits of a float. For non-negative floats the bit patterns
 * order like the values, and every NaN lies above +inf, so an integer max
 * (which vectorises) finds the largest value and flags NaN and inf alike. */
static uint32_t abs_max_bits(const float *d, int n)
{
    uint32_t m = 0;
    for (int i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, d + i, sizeof b);
        b &= 0x7fffffffu;
        m = b > m ? b : m;
    }
    return m;
}

static float bits_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* The currents of a shard's rows, one global tile at a time (every call's
 * arguments depend only on the tile: gemm.h), and their best-first top-k
 * per example. */
static void shard_rank(const pl_kh *kh, pl_kh_shard *sh, int B)
{
    const int k = kh->k, T = kh->tile;
    clear_lists(sh->top, B, k);
    for (long t0 = 0; t0 < sh->nrows; t0 += T) {
        const int rows = (int)(sh->nrows - t0 < T ? sh->nrows - t0 : T);
        const long first_unit = kh->row0 + sh->lo + t0;
        pl_sgemm_tile(B, rows, kh->dim, kh->xbuf, kh->Wp + (size_t)(sh->lo + t0) * kh->ldp,
                      sh->currents);
        for (int b = 0; b < B; b++)
            rank_tile(sh->currents + (size_t)b * rows, rows, first_unit, k,
                      sh->top + (size_t)b * k);
    }
}

/* kh->top = the best k of the shards' lists, per example: the list ranking
 * the whole block would give, as the order is total (see rank_tile). */
static void merge_shards(pl_kh *kh, int B)
{
    const int k = kh->k;
    pl_rank_entry merged[k];
    for (int b = 0; b < B; b++) {
        pl_rank_entry *out = kh->top + (size_t)b * k;
        memcpy(out, kh->shards[0].top + (size_t)b * k, (size_t)k * sizeof *out);
        for (int t = 1; t < kh->threads; t++) {
            const pl_rank_entry *a = kh->shards[t].top + (size_t)b * k;
            int i = 0, j = 0;
            for (int m = 0; m < k; m++)
                merged[m] = pl_rank_better(a[i], out[j]) ? a[i++] : out[j++];
            memcpy(out, merged, (size_t)k * sizeof *out);
        }
    }
}

/* Hebbian (first) and anti-Hebbian (k-th) terms for the shard's rows, in
 * example order so every row sums in the same order for any rank or thread
 * count; then dW_row -= (sum g I) W_row and the shard's max |dW|. */
static void shard_update(pl_kh *kh, pl_kh_shard *sh, int B)
{
    const int n = kh->dim, k = kh->k;
    const long nrows = sh->nrows, first_unit = kh->row0 + sh->lo;
    sh->nchanged = 0;
    for (int b = 0; b < B; b++) {
        const pl_rank_entry *list = kh->top + (size_t)b * k;
        const float *x = kh->xbuf + (size_t)b * kh->ldp;
        long first = list[0].index - first_unit, kth = list[k - 1].index - first_unit;
        if (first >= 0 && first < nrows) {
            accumulate(sh, n, first, 1.0f, list[0].value, x);
            kh->wins[sh->lo + first]++;
        }
        if (kth >= 0 && kth < nrows)
            accumulate(sh, n, kth, -kh->delta, list[k - 1].value, x);
    }
    uint32_t max_bits = 0;
    for (int s = 0; s < sh->nchanged; s++) {
        float *d = sh->dW + (size_t)s * n;
        const float *w = kh->W + (size_t)(sh->lo + sh->changed[s]) * n;
        const float c = sh->coef[s];
        for (int i = 0; i < n; i++)
            d[i] -= c * w[i];
        uint32_t m = abs_max_bits(d, n);
        max_bits = m > max_bits ? m : max_bits;
    }
    sh->max_bits = max_bits;
}

/* The update's global max |dW| (collective): a non-finite update anywhere,
 * or a merged list left with a sentinel (some example had fewer than k
 * comparable currents: NaN inputs or weights), becomes +inf on every rank
 * from the one reduction it needs anyway. */
static float global_max(const pl_kh *kh, int B)
{
    uint32_t max_bits = 0;
    for (int b = 0; b < B; b++)
        if (kh->top[(size_t)b * kh->k + kh->k - 1].index == INT32_MAX)
            max_bits = INFINITY_BITS;
    for (int t = 0; t < kh->threads; t++)
        max_bits = kh->shards[t].max_bits > max_bits ? kh->shards[t].max_bits : max_bits;
    float nc = max_bits >= INFINITY_BITS ? INFINITY : bits_float(max_bits);
    pl_allreduce_max_float(kh->comm, &nc, 1);
    return nc;
}

/* Clears the shard's pending rows; if the max is finite, applies
 * W += (eps / nc) dW to them and refreshes their Wp. */
static void shard_apply(pl_kh *kh, pl_kh_shard *sh, float nc, float eps)
{
    const int n = kh->dim;
    for (int s = 0; s < sh->nchanged; s++)
        sh->slot[sh->changed[s]] = -1;
    if (!isfinite(nc))
        return;
    if (nc < 1e-30f)
        nc = 1e-30f;
    const float scale = eps / nc;
    for (int s = 0; s < sh->nchanged; s++) {
        size_t row = (size_t)(sh->lo + sh->changed[s]);
        cblas_saxpy(n, scale, sh->dW + (size_t)s * n, 1, kh->W + row * n, 1);
        pl_kh_power_row(kh->W + row * n, kh->Wp + row * kh->ldp, n, kh->p);
    }
}

typedef struct step_ctx {
    pl_kh *kh;
    int B;
    float eps, nc;
} step_ctx;

/* One team member's part of a step: its shard, with the merge, the top-k
 * allreduce and the max on member 0, the thread that called pl_kh_step
 * (MPI_THREAD_FUNNELED). */
static void step_thread(void *p, int id)
{
    step_ctx *c = p;
    pl_kh *kh = c->kh;
    pl_kh_shard *sh = &kh->shards[id];
    shard_rank(kh, sh, c->B);
    pl_team_barrier(kh->team);
    if (id == 0) {
        merge_shards(kh, c->B);
        pl_topk_allreduce(kh->comm, kh->top, c->B, kh->k);
    }
    pl_team_barrier(kh->team);
    shard_update(kh, sh, c->B);
    pl_team_barrier(kh->team);
    if (id == 0)
        c->nc = global_max(kh, c->B);
    pl_team_barrier(kh->team);
    shard_apply(kh, sh, c->nc, c->eps);
}

/* The minibatch into xbuf: the same aligned rows and stride for every call
 * of every layout, wherever the caller's examples live. Example b is row
 * rows[b] of data (row b without rows). */
void pl_kh_load_minibatch(pl_kh *kh, const float *data, const int *rows, int B)
{
    for (int b = 0; b < B; b++)
        memcpy(kh->xbuf + (size_t)b * kh->ldp, data + (size_t)(rows ? rows[b] : b) * kh->dim,
               (size_t)kh->dim * sizeof *data);
}

int pl_kh_step(pl_kh *kh, const float *X, int B, float eps)
{
    return pl_kh_step_rows(kh, X, NULL, B, eps);
}

int pl_kh_step_rows(pl_kh *kh, const float *data, const int *rows, int B, float eps)
{
    pl_kh_load_minibatch(kh, data, rows, B);
    return pl_kh_step_loaded(kh, B, eps);
}

int pl_kh_step_loaded(pl_kh *kh, int B, float eps)
{
    /* One BLAS thread per tile call: OpenBLAS on several threads splits a
     * product and sums in another order; and with a team each thread calls
     * BLAS itself, so BLAS must not start threads of its own meanwhile. */
    const int blas_threads = openblas_get_num_threads();
    if (blas_threads != 1)
        openblas_set_num_threads(1);
    float nc;
    if (kh->threads == 1) {
        pl_kh_shard *sh = &kh->shards[0]; /* its top is kh->top */
        shard_rank(kh, sh, B);
        pl_topk_allreduce(kh->comm, kh->top, B, kh->k);
        shard_update(kh, sh, B);
        nc = global_max(kh, B);
        shard_apply(kh, sh, nc, eps);
    } else {
        step_ctx c = {kh, B, eps, 0.0f};
        pl_team_run(kh->team, step_thread, &c);
        nc = c.nc;
    }
    if (blas_threads != 1)
        openblas_set_num_threads(blas_threads);
    return isfinite(nc) ? 0 : PL_EXIT_DIVERGED;
}

void pl_kh_currents(const pl_kh *kh, int B, float *scratch, float *out)
{
    const int T = kh->tile;
    for (long t0 = 0; t0 < kh->nrows; t0 += T) {
        const int rows = (int)(kh->nrows - t0 < T ? kh->nrows - t0 : T);
        pl_sgemm_tile(B, rows, kh->dim, kh->xbuf, kh->Wp + (size_t)t0 * kh->ldp, scratch);
        for (int b = 0; b < B; b++)
            memcpy(out + (size_t)b * kh->nrows + t0, scratch + (size_t)b * rows,
                   (size_t)rows * sizeof *out);
    }
}

void pl_kh_sphere(const pl_kh *kh, double *mean_dev, double *max_dev)
{
    /* |W|^p = W * Wp elementwise, so no pow() is needed here either. */
    double sum_dev = 0.0, worst = 0.0;
    for (long j = 0; j < kh->nrows; j++) {
        const float *w = kh->W + (size_t)j * kh->dim, *wp = kh->Wp + (size_t)j * kh->ldp;
        double norm = 0.0;
        for (int i = 0; i < kh->dim; i++)
            norm += (double)w[i] * (double)wp[i];
        double dev = fabs(norm - 1.0);
        sum_dev += dev;
        if (!(dev <= worst))
            worst = dev; /* keeps NaN visible */
    }
    pl_allreduce_sum_double(kh->comm, &sum_dev, 1);
    pl_allreduce_max_double(kh->comm, &worst, 1);
    *mean_dev = sum_dev / (double)kh->hidden;
    *max_dev = worst;
}

long pl_kh_take_never_won(pl_kh *kh)
{
    long never = 0;
    for (long j = 0; j < kh->nrows; j++) {
        never += kh->wins[j] == 0;
        kh->wins[j] = 0;
    }
    pl_allreduce_sum_long(kh->comm, &never, 1);
    return never;
}
