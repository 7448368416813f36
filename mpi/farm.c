/* The task farm over rank groups (farm.h). */
#include "plastic/farm.h"
#include "plastic/common.h"
#include "comm_impl.h"

#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_ASK = 101, TAG_ANSWER = 102 };
#define POLL_NS 200000L /* 0.2 ms between polls of an idle dispatcher or leader */

struct pl_farm {
    pl_comm group;
    MPI_Comm farm;       /* dup of world for the farm's messages */
    int world_rank, group_size, ngroups, index, dynamic;
    size_t request_bytes, answer_bytes;
    pl_farm_serve_fn serve;
    void *ctx;
    pthread_t thread;
    int running;
};

static void nap(void)
{
    struct timespec ts = {0, POLL_NS};
    nanosleep(&ts, NULL);
}

pl_farm *pl_farm_create(const pl_comm *world, int group_size, size_t request_bytes,
                        size_t answer_bytes)
{
    if (world->size % group_size != 0) {
        pl_error("sweep.group_size = %d does not divide the %d ranks (use mpirun -np a "
                 "multiple of it)", group_size, world->size);
        return NULL;
    }
    pl_farm *f = pl_calloc(1, sizeof *f);
    f->world_rank = world->rank;
    f->group_size = group_size;
    f->ngroups = world->size / group_size;
    f->index = world->rank / group_size;
    f->request_bytes = request_bytes;
    f->answer_bytes = answer_bytes;
    MPI_Comm split;
    MPI_Comm_split(world->comm, f->index, world->rank, &split);
    f->group.comm = split;
    MPI_Comm_rank(split, &f->group.rank);
    MPI_Comm_size(split, &f->group.size);
    MPI_Comm_dup(world->comm, &f->farm);
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    f->dynamic = f->ngroups > 1 && level >= MPI_THREAD_MULTIPLE;
    return f;
}

const pl_comm *pl_farm_group(const pl_farm *f) { return &f->group; }
int pl_farm_group_index(const pl_farm *f) { return f->index; }
int pl_farm_groups(const pl_farm *f) { return f->ngroups; }
int pl_farm_dynamic(const pl_farm *f) { return f->dynamic; }

typedef struct held {
    int group, source;
    char *request;
} held;

/* Serves one request; returns 1 if it was held back. */
static int serve_one(pl_farm *f, int group, int source, const char *request, char *answer,
                     int *active)
{
    int how = f->serve(f->ctx, group, request, answer);
    if (how == 1)
        return 1;
    MPI_Send(answer, (int)f->answer_bytes, MPI_BYTE, source, TAG_ANSWER, f->farm);
    if (how == 2)
        --*active;
    return 0;
}

static void *dispatch(void *arg)
{
    pl_farm *f = arg;
    int active = f->ngroups, nheld = 0;
    held *queue = pl_calloc((size_t)f->ngroups, sizeof *queue);
    char *request = pl_alloc(f->request_bytes), *answer = pl_alloc(f->answer_bytes);
    while (active > 0) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, f->farm, &flag, &st);
        if (!flag) {
            nap();
            continue;
        }
        MPI_Recv(request, (int)f->request_bytes, MPI_BYTE, st.MPI_SOURCE, TAG_ASK, f->farm,
                 MPI_STATUS_IGNORE);
        int group = st.MPI_SOURCE / f->group_size;
        if (serve_one(f, group, st.MPI_SOURCE, request, answer, &active)) {
            held *h = &queue[nheld++];
            h->group = group;
            h->source = st.MPI_SOURCE;
            h->request = pl_alloc(f->request_bytes);
            memcpy(h->request, request, f->request_bytes);
            continue;
        }
        /* that request may have freed work for the ones held back */
        for (int i = 0; i < nheld;) {
            if (serve_one(f, queue[i].group, queue[i].source, queue[i].request, answer,
                          &active)) {
                i++;
                continue;
            }
            pl_free(queue[i].request);
            queue[i] = queue[--nheld];
        }
    }
    pl_free(request);
    pl_free(answer);
    pl_free(queue);
    return NULL;
}

void pl_farm_start(pl_farm *f, pl_farm_serve_fn serve, void *ctx)
{
    f->serve = serve;
    f->ctx = ctx;
    if (f->dynamic && f->world_rank == 0) {
        if (pthread_create(&f->thread, NULL, dispatch, f) != 0) {
            pl_error_all("cannot start the sweep dispatcher thread");
            MPI_Abort(MPI_COMM_WORLD, PL_EXIT_USAGE);
        }
        f->running = 1;
    }
}

double pl_farm_ask(pl_farm *f, const void *request, void *answer)
{
    double t0 = pl_now();
    if (f->group.rank == 0) {
        MPI_Send(request, (int)f->request_bytes, MPI_BYTE, 0, TAG_ASK, f->farm);
        MPI_Request pending;
        MPI_Irecv(answer, (int)f->answer_bytes, MPI_BYTE, 0, TAG_ANSWER, f->farm, &pending);
        /* poll with naps: a blocking receive would spin a core while the
         * dispatcher holds the request back */
        for (int done = 0;;) {
            MPI_Test(&pending, &done, MPI_STATUS_IGNORE);
            if (done)
                break;
            nap();
        }
    }
    double waited = pl_now() - t0;
    MPI_Bcast(answer, (int)f->answer_bytes, MPI_BYTE, 0, f->group.comm);
    return waited;
}

void pl_farm_finish(pl_farm *f)
{
    if (f->running)
        pthread_join(f->thread, NULL);
    MPI_Barrier(f->farm);
    MPI_Comm_free(&f->farm);
    MPI_Comm_free(&f->group.comm);
    pl_free(f);
}
