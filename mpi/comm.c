/* The parallel layer over MPI: the world communicator, its splits, the
 * collectives the numerics need and the pipeline's point-to-point
 * messages. The only file besides topk.c and the HDF5 writers that
 * includes mpi.h. Bytes handed to collectives and sends are counted for
 * `bench`. */
#include "plastic/par.h"
#include "plastic/common.h"
#include "comm_impl.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pl_comm world, self;

int pl_par_init(int *argc, char ***argv) { return pl_par_init_threads(argc, argv, 0); }

int pl_par_init_threads(int *argc, char ***argv, int multiple)
{
    /* FUNNELED: the KH step's threads (kh.c) leave every MPI call to the
     * thread that started MPI. A sweep's dispatcher thread (farm.c) talks
     * MPI beside the main thread on rank 0, which needs MULTIPLE; the farm
     * falls back to static blocks if the library grants less. */
    int provided;
    int level = multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
    if (MPI_Init_thread(argc, argv, level, &provided) != MPI_SUCCESS)
        return 1;
    world.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(world.comm, &world.rank);
    MPI_Comm_size(world.comm, &world.size);
    world.bytes_sent = 0;
    self = (pl_comm){MPI_COMM_SELF, 0, 1, 0, NULL};
    pl_log_set_rank(world.rank);
    return 0;
}

void pl_par_finalize(void)
{
    pl_topk_op_free();
    MPI_Finalize();
}

pl_comm *pl_comm_world(void) { return &world; }
pl_comm *pl_comm_self(void) { return &self; }
int pl_comm_rank(const pl_comm *c) { return c->rank; }
int pl_comm_size(const pl_comm *c) { return c->size; }

void pl_comm_abort(const pl_comm *c, int code)
{
    fflush(NULL);
    MPI_Abort(c->comm, code);
    exit(code); /* not reached */
}

void pl_barrier(const pl_comm *c) { MPI_Barrier(c->comm); }

/* Collectives only read the counter through a const handle elsewhere;
 * counting is bookkeeping, not communicator state. A split's bytes count
 * on the communicators it was split from, so a rank's total stays on the
 * one it was handed (bench: the world's). */
static void count_bytes(const pl_comm *c, long bytes)
{
    for (pl_comm *p = (pl_comm *)c; p; p = p->parent)
        p->bytes_sent += bytes;
}

void pl_allreduce_max_float(const pl_comm *c, float *buf, int n)
{
    count_bytes(c, (long)n * (long)sizeof *buf);
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_MAX, c->comm);
}

void pl_allreduce_sum_float(const pl_comm *c, float *buf, long n)
{
    count_bytes(c, n * (long)sizeof *buf);
    while (n > 0) { /* MPI counts are int */
        int piece = n > (1L << 30) ? (1 << 30) : (int)n;
        MPI_Allreduce(MPI_IN_PLACE, buf, piece, MPI_FLOAT, MPI_SUM, c->comm);
        buf += piece;
        n -= piece;
    }
}

/* MPI counts are int: the block collectives go in pieces [a, a + len) of
 * the vector, in which rank r's part is its block cut to the piece. The
 * blocks run in rank order, so the parts lie back to back from a. */
enum { PIECE = 1 << 30 };

static void piece_parts(const pl_comm *c, long n, long a, long len, int *counts, int *displs)
{
    for (int r = 0, at = 0; r < c->size; r++) {
        long lo, hi;
        pl_block_range(n, c->size, r, &lo, &hi);
        lo = lo > a ? lo : a;
        hi = hi < a + len ? hi : a + len;
        counts[r] = hi > lo ? (int)(hi - lo) : 0;
        displs[r] = at;
        at += counts[r];
    }
}

static void reduce_scatter_sum(const pl_comm *c, void *buf, long n, MPI_Datatype type,
                               size_t size)
{
    count_bytes(c, n * (long)size);
    char *p = buf;
    int *counts = pl_alloc((size_t)c->size * 2 * sizeof *counts), *displs = counts + c->size;
    for (long a = 0; a < n; a += PIECE) {
        long len = n - a < PIECE ? n - a : PIECE;
        piece_parts(c, n, a, len, counts, displs);
        /* in place, the sum of this rank's part lands at the piece's start */
        MPI_Reduce_scatter(MPI_IN_PLACE, p + a * (long)size, counts, type, MPI_SUM, c->comm);
        if (counts[c->rank] > 0 && displs[c->rank] > 0)
            memmove(p + (a + displs[c->rank]) * (long)size, p + a * (long)size,
                    (size_t)counts[c->rank] * size);
    }
    pl_free(counts);
}

void pl_reduce_scatter_sum_float(const pl_comm *c, float *buf, long n)
{
    reduce_scatter_sum(c, buf, n, MPI_FLOAT, sizeof *buf);
}

void pl_reduce_scatter_sum_double(const pl_comm *c, double *buf, long n)
{
    reduce_scatter_sum(c, buf, n, MPI_DOUBLE, sizeof *buf);
}

void pl_allgather_blocks_float(const pl_comm *c, float *buf, long n)
{
    long lo, hi;
    pl_block_range(n, c->size, c->rank, &lo, &hi);
    count_bytes(c, (hi - lo) * (long)sizeof *buf);
    int *counts = pl_alloc((size_t)c->size * 2 * sizeof *counts), *displs = counts + c->size;
    for (long a = 0; a < n; a += PIECE) {
        long len = n - a < PIECE ? n - a : PIECE;
        piece_parts(c, n, a, len, counts, displs);
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf + a, counts, displs, MPI_FLOAT,
                       c->comm);
    }
    pl_free(counts);
}

void pl_allreduce_sum_double(const pl_comm *c, double *buf, int n)
{
    count_bytes(c, (long)n * (long)sizeof *buf);
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, c->comm);
}

void pl_allreduce_max_double(const pl_comm *c, double *buf, int n)
{
    count_bytes(c, (long)n * (long)sizeof *buf);
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_MAX, c->comm);
}

void pl_allreduce_sum_long(const pl_comm *c, long *buf, int n)
{
    count_bytes(c, (long)n * (long)sizeof *buf);
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_LONG, MPI_SUM, c->comm);
}

int pl_allreduce_or(const pl_comm *c, int flag)
{
    int v = flag != 0;
    count_bytes(c, (long)sizeof v);
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, c->comm);
    return v;
}

void pl_bcast_bytes(const pl_comm *c, void *buf, long bytes, int root)
{
    if (c->rank == root)
        count_bytes(c, bytes);
    /* MPI counts are int: send large buffers in pieces. */
    char *p = buf;
    while (bytes > 0) {
        int piece = bytes > (1L << 30) ? (1 << 30) : (int)bytes;
        MPI_Bcast(p, piece, MPI_BYTE, root, c->comm);
        p += piece;
        bytes -= piece;
    }
}

void pl_gatherv_float(const pl_comm *c, const float *send, long count, float *recv)
{
    int n = (int)count;
    int *counts = NULL, *displs = NULL;
    if (c->rank == 0) {
        counts = pl_alloc((size_t)c->size * sizeof *counts);
        displs = pl_alloc((size_t)c->size * sizeof *displs);
    }
    MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, c->comm);
    if (c->rank == 0) {
        int offset = 0;
        for (int r = 0; r < c->size; r++) {
            displs[r] = offset;
            offset += counts[r];
        }
    }
    count_bytes(c, count * (long)sizeof *send);
    MPI_Gatherv(send, n, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, 0, c->comm);
    pl_free(counts);
    pl_free(displs);
}

long pl_comm_bytes_sent(const pl_comm *c) { return c->bytes_sent; }

pl_comm *pl_comm_split(const pl_comm *c, int color, int key)
{
    pl_comm *sub = pl_calloc(1, sizeof *sub);
    sub->parent = (pl_comm *)c;
    MPI_Comm_split(c->comm, color, key, &sub->comm);
    MPI_Comm_rank(sub->comm, &sub->rank);
    MPI_Comm_size(sub->comm, &sub->size);
    return sub;
}

void pl_comm_free(pl_comm *c)
{
    if (!c || c == &world || c == &self)
        return;
    MPI_Comm_free(&c->comm);
    pl_free(c);
}

/* A nonblocking request: MPI's handle, kept off par.h so src/ needs no
 * mpi.h. */
struct pl_request {
    MPI_Request req;
};

static int message_count(const pl_comm *c, long n)
{
    if (n < 0 || n > INT_MAX) {
        pl_error_all("a message of %ld values: more than MPI's int count", n);
        pl_comm_abort(c, PL_EXIT_USAGE);
    }
    return (int)n;
}

/* One nonblocking send or receive of n values of `size` bytes each. */
static pl_request *isend(const pl_comm *c, const void *buf, long n, int size, MPI_Datatype type,
                         int dest, int tag)
{
    pl_request *r = pl_alloc(sizeof *r);
    count_bytes(c, n * (long)size);
    MPI_Isend(buf, message_count(c, n), type, dest, tag, c->comm, &r->req);
    return r;
}

static pl_request *irecv(const pl_comm *c, void *buf, long n, MPI_Datatype type, int src, int tag)
{
    pl_request *r = pl_alloc(sizeof *r);
    MPI_Irecv(buf, message_count(c, n), type, src, tag, c->comm, &r->req);
    return r;
}

pl_request *pl_isend_float(const pl_comm *c, const float *buf, long n, int dest, int tag)
{
    return isend(c, buf, n, (int)sizeof *buf, MPI_FLOAT, dest, tag);
}

pl_request *pl_irecv_float(const pl_comm *c, float *buf, long n, int src, int tag)
{
    return irecv(c, buf, n, MPI_FLOAT, src, tag);
}

pl_request *pl_isend_double(const pl_comm *c, const double *buf, long n, int dest, int tag)
{
    return isend(c, buf, n, (int)sizeof *buf, MPI_DOUBLE, dest, tag);
}

pl_request *pl_irecv_double(const pl_comm *c, double *buf, long n, int src, int tag)
{
    return irecv(c, buf, n, MPI_DOUBLE, src, tag);
}

void pl_wait(pl_request *r)
{
    if (!r)
        return;
    MPI_Wait(&r->req, MPI_STATUS_IGNORE);
    pl_free(r);
}

void pl_send_float(const pl_comm *c, const float *buf, long n, int dest, int tag)
{
    count_bytes(c, n * (long)sizeof *buf);
    MPI_Send(buf, message_count(c, n), MPI_FLOAT, dest, tag, c->comm);
}

void pl_recv_float(const pl_comm *c, float *buf, long n, int src, int tag)
{
    MPI_Recv(buf, message_count(c, n), MPI_FLOAT, src, tag, c->comm, MPI_STATUS_IGNORE);
}
