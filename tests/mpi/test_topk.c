/* The top-k merge (a user-defined MPI_Op) equals a global sort. Every rank
 * can generate every rank's candidates, so each checks the merge alone.
 * Prints "ok" and exits 0 on success; a failure names the list and rank. */
#include "plastic/par.h"
#include "plastic/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { LISTS = 64, PER_RANK = 9, K = 5 };

/* Candidate j of rank r for list l: values on a coarse grid so ties occur. */
static pl_rank_entry candidate(int r, int l, int j)
{
    pl_rng rng;
    pl_rng_init(&rng, 1234, PL_STREAM_TEST, (uint64_t)(l * 1000 + r * PER_RANK + j));
    float v = (float)pl_rng_below(&rng, 12) * 0.25f;
    return (pl_rank_entry){v, r * PER_RANK + j};
}

static int worse(const void *a, const void *b)
{
    pl_rank_entry x = *(const pl_rank_entry *)a, y = *(const pl_rank_entry *)b;
    return pl_rank_better(x, y) ? -1 : pl_rank_better(y, x) ? 1 : 0;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *w = pl_comm_world();
    int rank = pl_comm_rank(w), size = pl_comm_size(w);
    pl_rank_entry *lists = malloc(sizeof *lists * LISTS * K);
    pl_rank_entry *all = malloc(sizeof *all * (size_t)size * PER_RANK);
    int failures = 0;

    for (int l = 0; l < LISTS; l++) {
        pl_rank_entry mine[PER_RANK];
        for (int j = 0; j < PER_RANK; j++)
            mine[j] = candidate(rank, l, j);
        qsort(mine, PER_RANK, sizeof *mine, worse);
        for (int i = 0; i < K; i++)
            lists[l * K + i] = mine[i];
    }
    pl_topk_allreduce(w, lists, LISTS, K);

    for (int l = 0; l < LISTS; l++) {
        for (int r = 0; r < size; r++)
            for (int j = 0; j < PER_RANK; j++)
                all[r * PER_RANK + j] = candidate(r, l, j);
        qsort(all, (size_t)size * PER_RANK, sizeof *all, worse);
        for (int i = 0; i < K; i++)
            if (lists[l * K + i].index != all[i].index || lists[l * K + i].value != all[i].value) {
                fprintf(stderr, "rank %d list %d entry %d: merged (%g, %d), expected (%g, %d)\n",
                        rank, l, i, lists[l * K + i].value, lists[l * K + i].index, all[i].value,
                        all[i].index);
                failures++;
            }
    }
    int any = pl_allreduce_or(w, failures > 0);
    if (rank == 0)
        printf(any ? "top-k merge FAILED on %d ranks\n" : "top-k merge ok on %d ranks\n", size);
    free(lists);
    free(all);
    pl_par_finalize();
    return any;
}
