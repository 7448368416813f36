/* Global per-example top-k: each rank ranks its own hidden units, then one
 * MPI_Allreduce with a user-defined operation merges the lists. An element
 * of the reduction is one example's list of k (value, global index) pairs,
 * so the message is B*k pairs whatever the number of hidden units. */
#include "plastic/par.h"
#include "comm_impl.h"

#include <string.h>

static MPI_Op merge_op = MPI_OP_NULL;
static MPI_Datatype list_type = MPI_DATATYPE_NULL;
static int list_k = 0;

/* inout[i] = best k of in[i] ∪ inout[i], for each of *len lists. Both inputs
 * are sorted best first, so this is the head of a two-way merge. */
static void merge_lists(void *in, void *inout, int *len, MPI_Datatype *type)
{
    int bytes;
    MPI_Type_size(*type, &bytes);
    int k = bytes / (int)sizeof(pl_rank_entry);
    pl_rank_entry merged[k];
    const pl_rank_entry *a = in;
    pl_rank_entry *b = inout;
    for (int list = 0; list < *len; list++, a += k, b += k) {
        int i = 0, j = 0;
        for (int out = 0; out < k; out++)
            merged[out] = pl_rank_better(a[i], b[j]) ? a[i++] : b[j++];
        memcpy(b, merged, sizeof merged);
    }
}

void pl_topk_op_free(void)
{
    if (merge_op != MPI_OP_NULL)
        MPI_Op_free(&merge_op);
    if (list_type != MPI_DATATYPE_NULL)
        MPI_Type_free(&list_type);
    list_k = 0;
}

void pl_topk_allreduce(const pl_comm *c, pl_rank_entry *lists, int nlists, int k)
{
    if (c->size == 1)
        return;
    if (merge_op == MPI_OP_NULL)
        MPI_Op_create(merge_lists, 1 /* commutative: a total order */, &merge_op);
    if (list_k != k) {
        if (list_type != MPI_DATATYPE_NULL)
            MPI_Type_free(&list_type);
        /* float + int32 is 8 bytes with no padding; send them as raw pairs */
        MPI_Type_contiguous(k * (int)sizeof(pl_rank_entry), MPI_BYTE, &list_type);
        MPI_Type_commit(&list_type);
        list_k = k;
    }
    ((pl_comm *)c)->bytes_sent += (long)nlists * k * (long)sizeof(pl_rank_entry);
    MPI_Allreduce(MPI_IN_PLACE, lists, nlists, list_type, merge_op, c->comm);
}
