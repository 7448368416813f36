/* The parallel layer for one process, without MPI: every collective is the
 * identity. Unit tests link this instead of comm.c and topk.c. */
#include "plastic/par.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pl_comm {
    int unused;
};

static pl_comm serial_world;

int pl_par_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
int pl_par_init_threads(int *argc, char ***argv, int multiple)
{
    (void)multiple;
    return pl_par_init(argc, argv);
}
void pl_par_finalize(void) {}
pl_comm *pl_comm_world(void) { return &serial_world; }
pl_comm *pl_comm_self(void) { return &serial_world; }
int pl_comm_rank(const pl_comm *c) { (void)c; return 0; }
int pl_comm_size(const pl_comm *c) { (void)c; return 1; }
void pl_comm_abort(const pl_comm *c, int code) { (void)c; exit(code); }
void pl_barrier(const pl_comm *c) { (void)c; }
void pl_allreduce_max_float(const pl_comm *c, float *buf, int n) { (void)c; (void)buf; (void)n; }
void pl_allreduce_sum_float(const pl_comm *c, float *buf, long n) { (void)c; (void)buf; (void)n; }
void pl_allreduce_sum_double(const pl_comm *c, double *buf, int n) { (void)c; (void)buf; (void)n; }
void pl_allreduce_max_double(const pl_comm *c, double *buf, int n) { (void)c; (void)buf; (void)n; }
void pl_allreduce_sum_long(const pl_comm *c, long *buf, int n) { (void)c; (void)buf; (void)n; }
void pl_reduce_scatter_sum_float(const pl_comm *c, float *buf, long n)
{
    (void)c; (void)buf; (void)n;
}
void pl_reduce_scatter_sum_double(const pl_comm *c, double *buf, long n)
{
    (void)c; (void)buf; (void)n;
}
void pl_allgather_blocks_float(const pl_comm *c, float *buf, long n)
{
    (void)c; (void)buf; (void)n;
}
int pl_allreduce_or(const pl_comm *c, int flag) { (void)c; return flag != 0; }
void pl_bcast_bytes(const pl_comm *c, void *buf, long bytes, int root)
{
    (void)c; (void)buf; (void)bytes; (void)root;
}
void pl_topk_allreduce(const pl_comm *c, pl_rank_entry *lists, int nlists, int k)
{
    (void)c; (void)lists; (void)nlists; (void)k;
}
void pl_gatherv_float(const pl_comm *c, const float *send, long count, float *recv)
{
    (void)c;
    if (recv != send)
        memmove(recv, send, (size_t)count * sizeof *send);
}
long pl_comm_bytes_sent(const pl_comm *c) { (void)c; return 0; }

/* Every split of one process is that process again. */
pl_comm *pl_comm_split(const pl_comm *c, int color, int key)
{
    (void)c; (void)color; (void)key;
    return calloc(1, sizeof(pl_comm));
}
void pl_comm_free(pl_comm *c)
{
    if (c && c != &serial_world)
        free(c);
}

/* One process has no peer: a message is a bug in the caller (a pipeline
 * of one stage sends nothing). */
static void no_peer(const char *what)
{
    fprintf(stderr, "plastic: internal error: %s in a one-process run\n", what);
    abort();
}
pl_request *pl_isend_float(const pl_comm *c, const float *buf, long n, int dest, int tag)
{
    (void)c; (void)buf; (void)n; (void)dest; (void)tag;
    no_peer("pl_isend_float");
    return NULL;
}
pl_request *pl_irecv_float(const pl_comm *c, float *buf, long n, int src, int tag)
{
    (void)c; (void)buf; (void)n; (void)src; (void)tag;
    no_peer("pl_irecv_float");
    return NULL;
}
pl_request *pl_isend_double(const pl_comm *c, const double *buf, long n, int dest, int tag)
{
    (void)c; (void)buf; (void)n; (void)dest; (void)tag;
    no_peer("pl_isend_double");
    return NULL;
}
pl_request *pl_irecv_double(const pl_comm *c, double *buf, long n, int src, int tag)
{
    (void)c; (void)buf; (void)n; (void)src; (void)tag;
    no_peer("pl_irecv_double");
    return NULL;
}
void pl_wait(pl_request *r) { (void)r; }
void pl_send_float(const pl_comm *c, const float *buf, long n, int dest, int tag)
{
    (void)c; (void)buf; (void)n; (void)dest; (void)tag;
    no_peer("pl_send_float");
}
void pl_recv_float(const pl_comm *c, float *buf, long n, int src, int tag)
{
    (void)c; (void)buf; (void)n; (void)src; (void)tag;
    no_peer("pl_recv_float");
}
