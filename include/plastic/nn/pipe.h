/* Block parallelism (net.parallel = blocks): the net's layers are cut
 * into S stages of consecutive units (stages.h), stage s on rank s of a
 * pipeline of S ranks; P / S pipelines split each minibatch's examples as
 * data-parallel groups (dp.h, over the ranks holding the same stage).
 *
 * One minibatch on a pipeline, in micro-batches of optim.chunk examples
 * (exact sums: the data-parallel path's global chunks; fast: the
 * pipeline's share cut into chunks of that size):
 *
 *   forward   stage s receives a micro-batch's input activations from
 *             s - 1, runs its layers on those rows (the GEMM shapes of one
 *             rank) and sends its output to s + 1, micro-batch after
 *             micro-batch, so the stages overlap; the last computes the
 *             loss and the output's error;
 *   share     (rec-LRA) the last stage sends each micro-batch's output
 *             error to every stage as soon as it has it, so a stage sets
 *             its targets for a micro-batch while later ones still stream
 *             through the stages above; at the end it broadcasts the
 *             micro-batches' loss and error counts;
 *   backward  (backprop only) dL/dz of a stage's input goes to s - 1,
 *             micro-batch after micro-batch: the backward sweep;
 *   sum, step each stage forms its layers' increments over all its rows
 *             (summed over the pipelines with optim.sum's fast or exact
 *             sums) and steps its own parameters, a contiguous block of
 *             the flat vector, sharded over the pipelines.
 *
 * No sum crosses a stage boundary, so with one pipeline the results are
 * the same bits for any S; with exact sums, for any S and any number of
 * pipelines (they are then the data-parallel exact path's bits, too).
 * Every rank allocates the whole net; it computes and updates only its
 * stage's layers. MPI is reached through par.h only.
 *
 * One-step-stale mode (net.stale, rec-LRA): the net's buffers hold two
 * sets of rows, so a minibatch's forward (one set) runs while the previous
 * minibatch's targets and sums (the other set) are still to come; a plan's
 * row_base says which set it addresses. The loss and errors then go from
 * the last stage to the others point to point, not by a broadcast, so no
 * stage waits for a later one to reach it. */
#ifndef PLASTIC_NN_PIPE_H
#define PLASTIC_NN_PIPE_H

#include <stdint.h>

#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/par.h"

typedef struct pl_pipe {
    const pl_comm *comm;   /* the run's ranks */
    pl_comm *line;         /* this rank's pipeline; its rank is the stage */
    pl_comm *col;          /* this stage in every pipeline; its rank is the pipeline */
    int stages, pipes;     /* S, and P / S */
    int stage, pipe;       /* this rank's */
    int *first;            /* S + 1: stage s holds layers [first[s], first[s + 1]) */
    int l0, l1;            /* this rank's layers */
    pl_dp dp;              /* the stage's sums over the pipelines, its sharded step */
    int chunk;             /* rows per micro-batch */
    int max_micro;         /* micro-batches of the largest share */
    int sets;              /* sets of rows: 1, or 2 in one-step-stale mode */
    int cap;               /* rows of one set: a pipeline's share of the largest minibatch */
    pl_request **req;      /* 2 x max_micro: receives, then sends */
    pl_request **out_req;  /* per set, out_stride: the output's error, max_micro receives
                              or (last stage) S - 1 sends per micro-batch */
    long out_stride;
    float *out_copy;       /* last stage: what those sends read (sets x cap x classes) */
    int shared[2];         /* per set: micro-batches whose output error is being shared */
    double *stats;         /* per set, stats_stride: each micro-batch's loss (summed) and
                              errors */
    long stats_stride;
    pl_request **stat_req; /* stale mode, per set: the stats' receive, or (last stage)
                              S - 1 sends */
    /* bench: seconds of the minibatches (pl_pipe_begin to pl_pipe_end), of
     * them blocked on the pipeline's messages and broadcasts, and computing
     * in the forward and in the backward sweep */
    double t_total, t_wait, t_start, t_forward, t_backward;
    /* the same in this process's CPU seconds: the minibatches, and inside
     * the waits (MPI polls while it waits): their difference is the
     * compute a rank would take on a core of its own */
    double c_total, c_wait, c_start;
    long minibatches;
    int blas_threads;      /* saved while a minibatch runs on one BLAS thread */
} pl_pipe;

/* Rows a net's buffers need on every rank: one pipeline's share of a
 * minibatch of B. */
int pl_pipe_capacity(int B, int chunk, int exact, int nranks, int stages);

/* Cuts net into stages (S = 0: all ranks of comm; P / S pipelines) at the
 * unit starts of start with the layer costs cost (stages.h), and sets up
 * the communicators and the stage's sums (minibatches of at most
 * max_batch, micro-batches of chunk rows) for `sets` sets of rows (1, or
 * 2: the net holds 2 pl_pipe_capacity). Collective. 0, or -1 with the
 * reason in err (fewer units than stages) and nothing allocated. */
int pl_pipe_init(pl_pipe *p, const pl_net *net, const pl_comm *comm, int stages,
                 const char *start, const double *cost, int chunk, int exact, int max_batch,
                 int sets, char *err, size_t errsize);
void pl_pipe_free(pl_pipe *p);

/* This pipeline's share of a minibatch of B (pl_dp_begin over the
 * pipelines) in set `set` of the rows; starts the stage's sums and the
 * clock. */
void pl_pipe_begin(pl_pipe *p, int B, int set, pl_dp_plan *plan);
/* The same without the clock: in stale mode, the plan of the pending
 * minibatch again, restarting the sums for it (after another's begin). */
void pl_pipe_plan(pl_pipe *p, int B, int set, pl_dp_plan *plan);
/* The share's micro-batches, and micro-batch i's buffer rows. */
int pl_pipe_micro(const pl_pipe *p, const pl_dp_plan *plan);
void pl_pipe_micro_rows(const pl_pipe *p, const pl_dp_plan *plan, int i, int *row0, int *rows);

/* The forward of the share through the pipeline (X is the minibatch, y its
 * labels; stage 0 reads X, the others receive): dropout keyed by (seed,
 * step, example); on the last stage the output layer's delta becomes
 * scale dL/dh (pl_net_loss) and the micro-batches' loss and errors are
 * kept. With share_output, each micro-batch's output delta goes on to
 * every stage (pl_pipe_output). For the second set of rows, example e is
 * read at X + (e - row_base) rows on, so the caller keeps a minibatch's
 * two sets in one buffer, at least row_base rows apart. Collective over
 * the pipeline. */
void pl_pipe_forward(pl_pipe *p, pl_net *net, const float *X, const uint8_t *y,
                     const pl_dp_plan *plan, uint64_t seed, uint64_t step, float scale,
                     int share_output);
/* Waits until micro-batch i's output delta (shared by the forward of
 * plan) is in this rank's output layer's delta. */
void pl_pipe_output(pl_pipe *p, const pl_dp_plan *plan, int i);
/* The micro-batches' loss and errors, from the last stage to every stage
 * (into the stage's sums: pl_dp_chunk_stats); completes the sharing of
 * the output. */
void pl_pipe_share_stats(pl_pipe *p, const pl_dp_plan *plan);
/* Backprop through the pipeline, micro-batch by micro-batch, from the
 * output delta the forward left on the last stage: every stage's deltas
 * = dL/dh of its layers. */
void pl_pipe_backward(pl_pipe *p, pl_net *net, const pl_dp_plan *plan);
/* One BLAS thread for a stage's products (as every minibatch runs them, so
 * their bits do not depend on the threads), and the count restored. */
void pl_pipe_blas_single(pl_pipe *p);
void pl_pipe_blas_restore(pl_pipe *p);
/* Stops the minibatch's clock. */
void pl_pipe_end(pl_pipe *p);

/* Loss (summed) and errors of n examples, without dropout, streamed
 * through the pipelines in micro-batches (the pipelines' shares as a
 * minibatch's), counted on the last stages. Collective. */
void pl_pipe_evaluate(pl_pipe *p, pl_net *net, const float *X, const uint8_t *y, long n,
                      pl_dp_stats *stats);

/* bench: seconds of one message of n floats from stage 0 to stage 1 of
 * the first pipeline (half a ping-pong's round trip, the fastest of reps;
 * 0 with one stage), the same on every rank. Collective. */
double pl_pipe_message_time(pl_pipe *p, long n, int reps);

#endif
