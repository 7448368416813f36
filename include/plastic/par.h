/* The parallel layer. Everything that talks MPI is behind this interface
 * (mpi/comm.c, mpi/topk.c); mpi/serial.c implements it for one process so
 * the numerics can be unit-tested without MPI. Communicators are explicit:
 * a run executes on whatever pl_comm it is handed (the world, or a group of
 * a sweep). */
#ifndef PLASTIC_PAR_H
#define PLASTIC_PAR_H

#include <stdint.h>

typedef struct pl_comm pl_comm;

/* One entry of a per-example ranking: a current and the global unit index. */
typedef struct pl_rank_entry {
    float value;
    int32_t index;
} pl_rank_entry;

int pl_par_init(int *argc, char ***argv); /* 0 on success */
/* The same, asking for MPI_THREAD_MULTIPLE if multiple (for a thread that
 * makes MPI calls beside the main one; see farm.h). */
int pl_par_init_threads(int *argc, char ***argv, int multiple);
void pl_par_finalize(void);
pl_comm *pl_comm_world(void);
pl_comm *pl_comm_self(void); /* this process alone (a world of size 1) */
int pl_comm_rank(const pl_comm *c);
int pl_comm_size(const pl_comm *c);
void pl_comm_abort(const pl_comm *c, int code);
void pl_barrier(const pl_comm *c);

void pl_allreduce_max_float(const pl_comm *c, float *buf, int n);
void pl_allreduce_sum_float(const pl_comm *c, float *buf, long n); /* any n: sent in pieces */
void pl_allreduce_sum_double(const pl_comm *c, double *buf, int n);
void pl_allreduce_max_double(const pl_comm *c, double *buf, int n);
void pl_allreduce_sum_long(const pl_comm *c, long *buf, int n);
/* Block collectives over the n values of buf, block r being rank r's
 * pl_block_range(n, size, r) (any n: sent in pieces). reduce_scatter: on
 * return this rank's block of buf holds the sum over ranks of that block;
 * the rest of buf is undefined. allgather_blocks: every rank's block of buf
 * is copied to every rank (bits unchanged). Counted: the n values handed to
 * the reduce-scatter, the own block handed to the all-gather. */
void pl_reduce_scatter_sum_float(const pl_comm *c, float *buf, long n);
void pl_reduce_scatter_sum_double(const pl_comm *c, double *buf, long n);
void pl_allgather_blocks_float(const pl_comm *c, float *buf, long n);
/* Logical OR of a flag over all ranks (e.g. "a signal arrived"). */
int pl_allreduce_or(const pl_comm *c, int flag);
void pl_bcast_bytes(const pl_comm *c, void *buf, long bytes, int root);

/* lists holds nlists rankings of k entries each, sorted best first (larger
 * value first, lower index first among equal values). On return every rank
 * holds the k best entries of the union over ranks, in the same order. */
void pl_topk_allreduce(const pl_comm *c, pl_rank_entry *lists, int nlists, int k);

/* Sub-communicators: the ranks of c with the same color, ordered by key
 * (collective over c); their bytes also count on c. Free with
 * pl_comm_free, before c. */
pl_comm *pl_comm_split(const pl_comm *c, int color, int key);
void pl_comm_free(pl_comm *c);

/* Point-to-point messages of floats (the pipeline's activations and
 * deltas, nn/pipe.h). The nonblocking calls return a request that
 * pl_wait completes and frees (NULL is allowed and ignored); the buffer
 * must not be touched until then. n < 2^31. Counted: the floats sent. */
typedef struct pl_request pl_request;
pl_request *pl_isend_float(const pl_comm *c, const float *buf, long n, int dest, int tag);
pl_request *pl_irecv_float(const pl_comm *c, float *buf, long n, int src, int tag);
/* The same for doubles (the pipeline's loss and error counts). */
pl_request *pl_isend_double(const pl_comm *c, const double *buf, long n, int dest, int tag);
pl_request *pl_irecv_double(const pl_comm *c, double *buf, long n, int src, int tag);
void pl_wait(pl_request *r);
void pl_send_float(const pl_comm *c, const float *buf, long n, int dest, int tag);
void pl_recv_float(const pl_comm *c, float *buf, long n, int src, int tag);

/* Rank 0 receives, in rank order, every rank's count floats into recv
 * (recv may be NULL elsewhere). */
void pl_gatherv_float(const pl_comm *c, const float *send, long count, float *recv);

/* Bytes this rank has sent through this layer since start (for `bench`). */
long pl_comm_bytes_sent(const pl_comm *c);

/* Contiguous block distribution of n items over size ranks: rank r owns
 * [*lo, *hi). The first n % size ranks get one extra item. */
static inline void pl_block_range(long n, int size, int rank, long *lo, long *hi)
{
    long base = n / size, extra = n % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

/* The same in whole tiles: the ceil(n / tile) tiles of `tile` items (the
 * last one possibly shorter) are spread by pl_block_range, so every block
 * starts on a multiple of tile and ends on one or at n. A rank may get no
 * tile (*lo == *hi). Per-tile work then has the same shape in every layout
 * (gemm.h). tile = 1 is pl_block_range. */
static inline void pl_tile_range(long n, long tile, int size, int rank, long *lo, long *hi)
{
    long t0, t1;
    pl_block_range((n + tile - 1) / tile, size, rank, &t0, &t1);
    *lo = t0 * tile < n ? t0 * tile : n;
    *hi = t1 * tile < n ? t1 * tile : n;
}

/* Inserts (value, index) into a best-first list of length k holding *len
 * entries; keeps the k best. The ordering is the one pl_topk_allreduce uses. */
static inline int pl_rank_better(pl_rank_entry a, pl_rank_entry b)
{
    return a.value > b.value || (a.value == b.value && a.index < b.index);
}

#endif
