/* The pipeline of stages (the scheme is in pipe.h): communicators, the
 * micro-batches' streaming forward and backward, the broadcasts of the
 * output's error and of the loss, and pipelined evaluation. The sums and
 * the step are the data-parallel path's (dp.c) over the stage's layers,
 * across the pipelines. */
#include "plastic/nn/pipe.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plastic/common.h"
#include "plastic/nn/stages.h"

/* Message tags: one per kind, so a stray message cannot match another
 * kind; within a kind MPI keeps the order of a sender's messages. */
enum {
    TAG_FORWARD = 11,
    TAG_BACKWARD = 12,
    TAG_EVALUATE = 13,
    TAG_PING = 14,
    TAG_OUTPUT = 15,
    TAG_STATS = 16
};

int pl_pipe_capacity(int B, int chunk, int exact, int nranks, int stages)
{
    const int S = stages > 0 ? stages : nranks;
    return pl_dp_capacity(B, chunk, exact, nranks / S);
}

int pl_pipe_init(pl_pipe *p, const pl_net *net, const pl_comm *comm, int stages,
                 const char *start, const double *cost, int chunk, int exact, int max_batch,
                 int sets, char *err, size_t errsize)
{
    memset(p, 0, sizeof *p);
    const int P = pl_comm_size(comm), rank = pl_comm_rank(comm);
    const int S = stages > 0 ? stages : P;
    if (S > P || P % S != 0) { /* the rules' checks refuse this first */
        snprintf(err, errsize, "%d stages do not divide %d ranks", S, P);
        return -1;
    }
    int *first = pl_alloc((size_t)(S + 1) * sizeof *first);
    if (pl_stage_cut(net->nlayers, start, cost, S, first) != 0) {
        snprintf(err, errsize, "%d stage(s), but the net has only %d unit(s) to cut between", S,
                 pl_stage_count_units(net->nlayers, start));
        pl_free(first);
        return -1;
    }
    p->comm = comm;
    p->stages = S;
    p->pipes = P / S;
    p->stage = rank % S;
    p->pipe = rank / S;
    p->first = first;
    p->l0 = first[p->stage];
    p->l1 = first[p->stage + 1];
    p->line = pl_comm_split(comm, p->pipe, p->stage);
    p->col = pl_comm_split(comm, p->stage, p->pipe);
    pl_dp_init_layers(&p->dp, net, p->col, chunk, exact, max_batch, p->l0, p->l1);
    pl_dp_shard(&p->dp);
    p->chunk = p->dp.chunk;
    const int cap = pl_pipe_capacity(max_batch, p->chunk, exact, P, S);
    if ((sets != 1 && sets != 2) || net->capacity < sets * cap) { /* a caller's bug */
        pl_error_all("pl_pipe_init: %d set(s) of %d rows in a net of %d", sets, cap,
                     net->capacity);
        abort();
    }
    const int piece = p->chunk < cap ? p->chunk : cap;
    p->max_micro = (cap + piece - 1) / piece;
    p->sets = sets;
    p->cap = cap;
    p->req = pl_calloc((size_t)(2 * p->max_micro + 1), sizeof *p->req);
    p->out_stride = (long)S * p->max_micro + 1;
    p->out_req = pl_calloc((size_t)(sets * p->out_stride), sizeof *p->out_req);
    p->out_copy = pl_alloc((size_t)sets * cap * (size_t)net->nclass * sizeof *p->out_copy);
    p->stats_stride = 2L * p->max_micro + 1;
    p->stats = pl_calloc((size_t)(sets * p->stats_stride), sizeof *p->stats);
    p->stat_req = pl_calloc((size_t)(sets * S), sizeof *p->stat_req);
    return 0;
}

void pl_pipe_free(pl_pipe *p)
{
    pl_dp_free(&p->dp);
    pl_comm_free(p->line);
    pl_comm_free(p->col);
    pl_free(p->first);
    pl_free(p->req);
    pl_free(p->out_req);
    pl_free(p->out_copy);
    pl_free(p->stats);
    pl_free(p->stat_req);
    memset(p, 0, sizeof *p);
}

/* This process's CPU seconds. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits for a message, counting the time blocked, in wall and CPU seconds. */
static void wait_timed(pl_pipe *p, pl_request *r)
{
    double t = pl_now(), c = cpu_now();
    pl_wait(r);
    p->t_wait += pl_now() - t;
    p->c_wait += cpu_now() - c;
}

/* Every stage computes on one BLAS thread, as exact sums do: the bits of a
 * product then do not depend on how many threads a rank has. */
void pl_pipe_blas_single(pl_pipe *p)
{
    p->blas_threads = openblas_get_num_threads();
    if (p->blas_threads != 1)
        openblas_set_num_threads(1);
}

void pl_pipe_blas_restore(pl_pipe *p)
{
    if (p->blas_threads > 1)
        openblas_set_num_threads(p->blas_threads);
    p->blas_threads = 0;
}

void pl_pipe_plan(pl_pipe *p, int B, int set, pl_dp_plan *plan)
{
    pl_dp_begin(&p->dp, B, plan);
    plan->row_base = set * p->cap;
}

void pl_pipe_begin(pl_pipe *p, int B, int set, pl_dp_plan *plan)
{
    p->t_start = pl_now();
    p->c_start = cpu_now();
    pl_pipe_blas_single(p);
    pl_pipe_plan(p, B, set, plan);
}

/* The set of rows a plan addresses. */
static int set_of(const pl_pipe *p, const pl_dp_plan *plan) { return plan->row_base / p->cap; }

void pl_pipe_end(pl_pipe *p)
{
    pl_pipe_blas_restore(p);
    p->t_total += pl_now() - p->t_start;
    p->c_total += cpu_now() - p->c_start;
    p->minibatches++;
}

int pl_pipe_micro(const pl_pipe *p, const pl_dp_plan *plan)
{
    return p->dp.exact ? plan->nchunks : (plan->rows + p->chunk - 1) / p->chunk;
}

void pl_pipe_micro_rows(const pl_pipe *p, const pl_dp_plan *plan, int i, int *row0, int *rows)
{
    if (p->dp.exact) { /* the data-parallel path's chunks */
        pl_dp_chunk(&p->dp, plan, i, row0, rows);
        return;
    }
    const int first = i * p->chunk;
    *row0 = plan->row_base + first;
    *rows = plan->rows - first < p->chunk ? plan->rows - first : p->chunk;
}

/* Rows [row0, row0 + rows) of a layer's buffer buf (out floats a row). */
static float *rows_of(float *buf, const pl_layer *L, int row0)
{
    return buf + (size_t)row0 * (size_t)L->out_size;
}

void pl_pipe_forward(pl_pipe *p, pl_net *net, const float *X, const uint8_t *y,
                     const pl_dp_plan *plan, uint64_t seed, uint64_t step, float scale,
                     int share_output)
{
    const int n = pl_pipe_micro(p, plan), s = p->stage, last = p->stages - 1;
    const int set = set_of(p, plan);
    /* buffer row r holds example plan->row0 + r - row_base: x and labels are
     * indexed by buffer row, and the dropout keys wrap back (unsigned) */
    const long shift = (long)plan->row0 - plan->row_base;
    const float *x = X + shift * pl_shape_size(net->input);
    const uint8_t *labels = y + shift;
    const pl_pass pass = {.train = 1, .seed = seed, .step = step,
                          .example0 = (uint64_t)plan->row0 - (uint64_t)plan->row_base};
    pl_request **recv = p->req, **send = p->req + p->max_micro;
    pl_request **out_req = p->out_req + set * p->out_stride;
    pl_request **stat_req = p->stat_req + set * p->stages;
    double *stats = p->stats + set * p->stats_stride;
    const pl_layer *below = s > 0 ? &net->layers[p->l0 - 1] : NULL;
    const pl_layer *top = &net->layers[p->l1 - 1], *out = &net->layers[net->nlayers - 1];
    const int C = (int)out->out_size;
    const int stats_p2p = p->sets > 1 && p->stages > 1 && n > 0;
    int row0, rows;
    const double t0 = pl_now(), wait0 = p->t_wait;
    p->shared[set] = share_output && p->stages > 1 ? n : 0;
    if (stats_p2p && s < last)
        stat_req[0] = pl_irecv_double(p->line, stats, 2L * n, last, TAG_STATS);
    for (int i = 0; below && i < n; i++) { /* every input posted at once */
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        recv[i] = pl_irecv_float(p->line, rows_of(below->z, below, row0),
                                 (long)rows * below->out_size, s - 1, TAG_FORWARD);
    }
    for (int i = 0; s < last && i < p->shared[set]; i++) { /* and every output error */
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        out_req[i] = pl_irecv_float(p->line, rows_of(out->delta, out, row0), (long)rows * C,
                                    last, TAG_OUTPUT);
    }
    for (int i = 0; i < n; i++) {
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        if (below)
            wait_timed(p, recv[i]);
        pl_net_forward_layers(net, x, p->l0, p->l1, row0, rows, &pass);
        if (s < last) {
            send[i] = pl_isend_float(p->line, rows_of(top->z, top, row0),
                                     (long)rows * top->out_size, s + 1, TAG_FORWARD);
        } else {
            long errors = 0;
            stats[2 * i] = pl_net_loss(net, labels, row0, rows, scale, &errors);
            stats[2 * i + 1] = (double)errors;
            if (i < p->shared[set]) { /* sent from a copy: the rule may scale its own */
                float *e = p->out_copy + (size_t)row0 * C;
                memcpy(e, rows_of(out->delta, out, row0), (size_t)rows * C * sizeof *e);
                for (int t = 0; t < last; t++)
                    out_req[i * last + t] = pl_isend_float(p->line, e, (long)rows * C, t,
                                                           TAG_OUTPUT);
            }
        }
    }
    for (int t = 0; stats_p2p && s == last && t < last; t++)
        stat_req[t] = pl_isend_double(p->line, stats, 2L * n, t, TAG_STATS);
    for (int i = 0; s < last && i < n; i++)
        wait_timed(p, send[i]);
    p->t_forward += pl_now() - t0 - (p->t_wait - wait0);
}

void pl_pipe_output(pl_pipe *p, const pl_dp_plan *plan, int i)
{
    const int set = set_of(p, plan);
    if (p->stage < p->stages - 1 && i < p->shared[set]) {
        pl_request **out_req = p->out_req + set * p->out_stride;
        wait_timed(p, out_req[i]);
        out_req[i] = NULL;
    }
}

void pl_pipe_share_stats(pl_pipe *p, const pl_dp_plan *plan)
{
    const int n = pl_pipe_micro(p, plan), set = set_of(p, plan), last = p->stages - 1;
    pl_request **out_req = p->out_req + set * p->out_stride;
    pl_request **stat_req = p->stat_req + set * p->stages;
    const double *stats = p->stats + set * p->stats_stride;
    /* the output errors still travelling: received on the way (a rule
     * that did not wait for them), or sent from the last stage */
    const int waits = p->stage < last ? p->shared[set] : p->shared[set] * last;
    for (int k = 0; k < waits; k++) {
        wait_timed(p, out_req[k]);
        out_req[k] = NULL;
    }
    p->shared[set] = 0;
    if (p->sets > 1 && p->stages > 1 && n > 0) { /* sent by the forward, point to point */
        for (int t = 0; t < (p->stage < last ? 1 : last); t++) {
            wait_timed(p, stat_req[t]);
            stat_req[t] = NULL;
        }
    } else if (p->stages > 1 && n > 0) {
        double t = pl_now(), c = cpu_now();
        pl_bcast_bytes(p->line, p->stats, 2L * n * (long)sizeof *p->stats, last);
        p->t_wait += pl_now() - t;
        p->c_wait += cpu_now() - c;
    }
    for (int i = 0; i < n; i++)
        pl_dp_chunk_stats(&p->dp, plan, i, stats[2 * i], (long)stats[2 * i + 1]);
}

void pl_pipe_backward(pl_pipe *p, pl_net *net, const pl_dp_plan *plan)
{
    const int n = pl_pipe_micro(p, plan), s = p->stage, last = p->stages - 1;
    pl_request **recv = p->req, **send = p->req + p->max_micro;
    const pl_layer *below = s > 0 ? &net->layers[p->l0 - 1] : NULL;
    const pl_layer *top = &net->layers[p->l1 - 1];
    int row0, rows;
    const double t0 = pl_now(), wait0 = p->t_wait;
    for (int i = 0; s < last && i < n; i++) { /* dL/dz of the stage's output, from above */
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        recv[i] = pl_irecv_float(p->line, rows_of(top->delta, top, row0),
                                 (long)rows * top->out_size, s + 1, TAG_BACKWARD);
    }
    for (int i = 0; i < n; i++) {
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        if (s < last)
            wait_timed(p, recv[i]);
        pl_net_backward_layers(net, p->l0, p->l1, row0, rows);
        if (below) /* dL/dz of the stage's input, down */
            send[i] = pl_isend_float(p->line, rows_of(below->delta, below, row0),
                                     (long)rows * below->out_size, s - 1, TAG_BACKWARD);
    }
    for (int i = 0; below && i < n; i++)
        wait_timed(p, send[i]);
    p->t_backward += pl_now() - t0 - (p->t_wait - wait0);
}

void pl_pipe_evaluate(pl_pipe *p, pl_net *net, const float *X, const uint8_t *y, long n,
                      pl_dp_stats *stats)
{
    const int s = p->stage, last = p->stages - 1;
    const long in_size = pl_shape_size(net->input);
    /* rounds of one set of rows: the messages' requests are counted for it */
    const long chunk = p->chunk < p->cap ? p->chunk : p->cap;
    long e0, e1; /* this pipeline's examples, cut into chunks from e0 */
    if (p->dp.exact) { /* whole global chunks, as a minibatch's */
        long c0, c1;
        pl_block_range((n + chunk - 1) / chunk, p->pipes, p->pipe, &c0, &c1);
        e0 = c0 * chunk < n ? c0 * chunk : n;
        e1 = c1 * chunk < n ? c1 * chunk : n;
    } else {
        pl_block_range(n, p->pipes, p->pipe, &e0, &e1);
    }
    const long round = p->cap / chunk * chunk; /* rows a set holds */
    pl_request **recv = p->req, **send = p->req + p->max_micro;
    const pl_layer *below = s > 0 ? &net->layers[p->l0 - 1] : NULL;
    const pl_layer *top = &net->layers[p->l1 - 1];
    double loss = 0.0;
    long errors = 0;
    pl_pipe_blas_single(p);
    for (long a = e0; a < e1; a += round) {
        const long end = e1 - a < round ? e1 - a : round; /* this round's rows */
        const int m = (int)((end + chunk - 1) / chunk);
        for (int j = 0; below && j < m; j++) {
            int row0 = j * (int)chunk, rows = (int)(end - row0 < chunk ? end - row0 : chunk);
            recv[j] = pl_irecv_float(p->line, rows_of(below->z, below, row0),
                                     (long)rows * below->out_size, s - 1, TAG_EVALUATE);
        }
        for (int j = 0; j < m; j++) {
            int row0 = j * (int)chunk, rows = (int)(end - row0 < chunk ? end - row0 : chunk);
            if (below)
                pl_wait(recv[j]);
            pl_net_forward_layers(net, X + a * in_size, p->l0, p->l1, row0, rows, NULL);
            if (s < last)
                send[j] = pl_isend_float(p->line, rows_of(top->z, top, row0),
                                         (long)rows * top->out_size, s + 1, TAG_EVALUATE);
            else
                loss += pl_net_loss(net, y + a, row0, rows, 1.0f, &errors);
        }
        for (int j = 0; s < last && j < m; j++)
            pl_wait(send[j]);
    }
    pl_pipe_blas_restore(p);
    /* the last stages hold the counts; the other ranks add 0 */
    pl_allreduce_sum_double(p->comm, &loss, 1);
    pl_allreduce_sum_long(p->comm, &errors, 1);
    stats->loss = loss;
    stats->errors = errors;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pl_pipe_message_time(pl_pipe *p, long n, int reps)
{
    double t = 0.0;
    if (p->stages > 1 && p->pipe == 0 && p->stage <= 1 && reps > 0) {
        float *buf = pl_calloc((size_t)(n > 0 ? n : 1), sizeof *buf);
        double *half = pl_alloc((size_t)reps * sizeof *half);
        const int other = 1 - p->stage;
        for (int r = -1; r < reps; r++) { /* r = -1: a warm-up */
            double t0 = pl_now();
            if (p->stage == 0) {
                pl_send_float(p->line, buf, n, other, TAG_PING);
                pl_recv_float(p->line, buf, n, other, TAG_PING);
            } else {
                pl_recv_float(p->line, buf, n, other, TAG_PING);
                pl_send_float(p->line, buf, n, other, TAG_PING);
            }
            if (r >= 0)
                half[r] = 0.5 * (pl_now() - t0);
        }
        /* the fastest: on cores shared with other work a round trip may
         * wait for a time slice, and the cost model wants the transport */
        qsort(half, (size_t)reps, sizeof *half, by_value);
        t = half[0];
        pl_free(buf);
        pl_free(half);
    }
    pl_bcast_bytes(p->comm, &t, (long)sizeof t, 0); /* rank 0 is stage 0 of pipeline 0 */
    return t;
}
