/* What the MPI implementation files of the parallel layer share. */
#ifndef PLASTIC_COMM_IMPL_H
#define PLASTIC_COMM_IMPL_H

#include <mpi.h>

struct pl_comm {
    MPI_Comm comm;
    int rank, size;
    long bytes_sent; /* payload handed to collectives by this rank */
    struct pl_comm *parent; /* a split's communicator, which counts its bytes too */
};

void pl_topk_op_free(void);

#endif
