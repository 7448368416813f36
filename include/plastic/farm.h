/* A task farm over groups of ranks (mpi/farm.c).
 *
 * The world is split (MPI_Comm_split) into groups of group_size
 * consecutive ranks; each group runs one task at a time on its own
 * communicator (so a task may be model-parallel). Group leaders ask for
 * tasks; the answers come from a dispatcher thread on world rank 0, which
 * calls the serve function for every request, so tasks are handed out
 * dynamically in whatever order groups finish. Requests and answers are
 * opaque byte blocks of fixed sizes.
 *
 * The dispatcher sleeps between polls (MPI_Iprobe, then 0.2 ms), so it
 * costs rank 0 almost nothing. It needs MPI_THREAD_MULTIPLE; without it,
 * or with a single group, there is no dispatcher and pl_farm_dynamic()
 * says 0: the caller then divides the tasks statically. */
#ifndef PLASTIC_FARM_H
#define PLASTIC_FARM_H

#include <stddef.h>
#include "plastic/par.h"

typedef struct pl_farm pl_farm;

/* Called on the dispatcher thread for each request: reads `request` from
 * `group`, writes `answer`, returns 0 to send it now, 1 to hold the request
 * until a later request has been served (the answer is asked for again
 * then), or 2 to send it and count the group as finished. */
typedef int (*pl_farm_serve_fn)(void *ctx, int group, const void *request, void *answer);

/* Collective over world. Returns NULL (error printed) if the world size is
 * not a multiple of group_size. */
pl_farm *pl_farm_create(const pl_comm *world, int group_size, size_t request_bytes,
                        size_t answer_bytes);
/* Starts the dispatcher (world rank 0 only does anything) when the farm is
 * dynamic. Collective over world. */
void pl_farm_start(pl_farm *f, pl_farm_serve_fn serve, void *ctx);
/* Joins the dispatcher after every group finished; frees. Collective. */
void pl_farm_finish(pl_farm *f);

const pl_comm *pl_farm_group(const pl_farm *f);
int pl_farm_group_index(const pl_farm *f);
int pl_farm_groups(const pl_farm *f);
int pl_farm_dynamic(const pl_farm *f);

/* Collective over the group: the leader sends request and waits for the
 * answer, which every rank of the group receives. Returns the seconds the
 * leader waited (dispatch overhead). */
double pl_farm_ask(pl_farm *f, const void *request, void *answer);

#endif
