/* The data-parallel path (the scheme is in dp.h). In exact mode the work
 * of a minibatch is grouped by chunk for the forward and backward, and by
 * layer for the gradients: a layer's gradients of up to MAX_GROUP chunks
 * are computed side by side and added in one pass over its accumulator. */
#include "plastic/nn/dp.h"

#include <cblas.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/clip.h"

/* Chunks whose gradients are held at once before they are added: the
 * exact accumulator is then streamed once per group rather than per chunk,
 * for a scratch of MAX_GROUP times the largest layer's parameters. */
enum { MAX_GROUP = 8 };

void pl_dp_init(pl_dp *dp, const pl_net *net, const pl_comm *comm, int chunk, int exact,
                int max_batch)
{
    pl_dp_init_layers(dp, net, comm, chunk, exact, max_batch, 0, net->nlayers);
}

/* The first tensor of a layer at or after l (ntensors if none). */
static int first_tensor(const pl_net *net, int l)
{
    int t = 0;
    while (t < net->ntensors && net->tensors[t].layer < l)
        t++;
    return t;
}

void pl_dp_init_layers(pl_dp *dp, const pl_net *net, const pl_comm *comm, int chunk, int exact,
                       int max_batch, int l0, int l1)
{
    memset(dp, 0, sizeof *dp);
    dp->comm = comm;
    dp->chunk = chunk > 0 ? chunk : 1;
    dp->exact = exact;
    dp->max_batch = max_batch;
    dp->max_chunks = (max_batch + dp->chunk - 1) / dp->chunk;
    dp->bias = 1; /* no shaping until pl_dp_shaping */
    dp->l0 = l0;
    dp->l1 = l1;
    /* tensors are laid out in layer order: the range's are contiguous */
    dp->t0 = first_tensor(net, l0);
    const int t1 = first_tensor(net, l1);
    dp->p0 = dp->t0 < net->ntensors ? net->tensors[dp->t0].offset : net->nparams;
    dp->nparams = (t1 < net->ntensors ? net->tensors[t1].offset : net->nparams) - dp->p0;
    dp->lo = dp->p0; /* replicated until pl_dp_shard */
    dp->hi = dp->p0 + dp->nparams;
    int need = pl_dp_capacity(max_batch, dp->chunk, exact, pl_comm_size(comm));
    if (net->capacity < need) {
        pl_error_all("pl_dp_init: the net holds %d rows, a minibatch of %d needs %d here "
                     "(pl_dp_capacity)", net->capacity, max_batch, need);
        pl_comm_abort(comm, PL_EXIT_USAGE);
    }
    if (!exact)
        return;
    const int nt = t1 - dp->t0;
    long *counts = pl_alloc((size_t)(nt + 1) * sizeof *counts);
    long largest = 0;
    for (int k = 0; k < nt; k++) {
        counts[k] = net->tensors[dp->t0 + k].count;
        if (k % 2 == 1 && counts[k - 1] + counts[k] > largest) /* W and b of a layer */
            largest = counts[k - 1] + counts[k];
    }
    pl_exact_init(&dp->sum, nt, counts, 2 * dp->max_chunks);
    dp->group = dp->max_chunks < MAX_GROUP ? dp->max_chunks : MAX_GROUP;
    dp->stride = largest;
    dp->scratch = pl_alloc((size_t)(largest > 0 ? largest : 1) * (size_t)(dp->group > 0 ? dp->group : 1) *
                           sizeof *dp->scratch);
    pl_free(counts);
}

void pl_dp_init_config(pl_dp *dp, const pl_net *net, const pl_comm *comm, const pl_config *cfg)
{
    pl_dp_init(dp, net, comm, cfg->optim.chunk, strcmp(cfg->optim.sum, "exact") == 0,
               cfg->optim.batch);
}

void pl_dp_free(pl_dp *dp)
{
    if (dp->exact)
        pl_exact_free(&dp->sum);
    pl_free(dp->scratch);
    memset(dp, 0, sizeof *dp);
}

void pl_dp_shard(pl_dp *dp)
{
    dp->shard = 1;
    pl_block_range(dp->nparams, pl_comm_size(dp->comm), pl_comm_rank(dp->comm), &dp->lo,
                   &dp->hi);
    dp->lo += dp->p0;
    dp->hi += dp->p0;
}

void pl_dp_block(const pl_dp *dp, long *lo, long *hi)
{
    *lo = dp->lo;
    *hi = dp->hi;
}

int pl_dp_capacity(int B, int chunk, int exact, int nranks)
{
    if (!exact)
        return (B + nranks - 1) / nranks;
    int chunks = (B + chunk - 1) / chunk;
    int most = (chunks + nranks - 1) / nranks;
    return most * chunk < B ? most * chunk : B;
}

void pl_dp_blas_single(pl_dp *dp)
{
    if (!dp->exact)
        return;
    dp->blas_threads = openblas_get_num_threads();
    if (dp->blas_threads != 1)
        openblas_set_num_threads(1);
}

void pl_dp_blas_restore(pl_dp *dp)
{
    if (dp->exact && dp->blas_threads > 1)
        openblas_set_num_threads(dp->blas_threads);
    dp->blas_threads = 0;
}

void pl_dp_begin(pl_dp *dp, int B, pl_dp_plan *plan)
{
    if (B > dp->max_batch) {
        pl_error_all("pl_dp_begin: a minibatch of %d is larger than the %d it was set up for", B,
                     dp->max_batch);
        pl_comm_abort(dp->comm, PL_EXIT_USAGE);
    }
    const int size = pl_comm_size(dp->comm), rank = pl_comm_rank(dp->comm);
    long lo, hi;
    plan->batch = B;
    plan->row_base = 0;
    if (dp->exact) {
        plan->total_chunks = (B + dp->chunk - 1) / dp->chunk;
        pl_block_range(plan->total_chunks, size, rank, &lo, &hi);
        plan->chunk0 = (int)lo;
        plan->nchunks = (int)(hi - lo);
        plan->row0 = (int)lo * dp->chunk;
        int end = (int)hi * dp->chunk < B ? (int)hi * dp->chunk : B;
        plan->rows = end > plan->row0 ? end - plan->row0 : 0;
        pl_exact_begin(&dp->sum, plan->total_chunks);
    } else {
        pl_block_range(B, size, rank, &lo, &hi);
        plan->row0 = (int)lo;
        plan->rows = (int)(hi - lo);
        plan->total_chunks = size;
        plan->chunk0 = rank;
        plan->nchunks = plan->rows > 0;
        dp->fast_stats[0] = dp->fast_stats[1] = 0.0;
    }
}

void pl_dp_chunk(const pl_dp *dp, const pl_dp_plan *plan, int i, int *row0, int *rows)
{
    if (!dp->exact) {
        *row0 = plan->row_base;
        *rows = plan->rows;
        return;
    }
    int start = (plan->chunk0 + i) * dp->chunk;
    int end = start + dp->chunk < plan->batch ? start + dp->chunk : plan->batch;
    *row0 = plan->row_base + start - plan->row0;
    *rows = end - start;
}

void pl_dp_chunk_stats(pl_dp *dp, const pl_dp_plan *plan, int i, double loss, long errors)
{
    if (!dp->exact) {
        dp->fast_stats[0] += loss;
        dp->fast_stats[1] += (double)errors;
        return;
    }
    double *side = pl_exact_side(&dp->sum);
    side[plan->chunk0 + i] = loss;
    side[dp->max_chunks + plan->chunk0 + i] = (double)errors;
}

static void sum_exact(pl_dp *dp, pl_net *net, const pl_dp_plan *plan, pl_dp_stats *stats)
{
    pl_exact *s = &dp->sum;
    /* exact tensor t - t0 is the net's tensor t */
    for (int l = dp->l0; l < dp->l1; l++) {
        int t = net->layers[l].param < 0 ? -1 : net->layers[l].param - dp->t0;
        for (int i = 0; t >= 0 && i < plan->nchunks; i++) {
            int row0, rows;
            double bW, bb;
            pl_dp_chunk(dp, plan, i, &row0, &rows);
            pl_net_layer_grad_bound(net, l, row0, rows, &bW, &bb);
            pl_exact_bound(s, t, bW);
            pl_exact_bound(s, t + 1, bb);
        }
    }
    pl_exact_agree(s, dp->comm);
    for (int l = dp->l0; l < dp->l1; l++) {
        if (net->layers[l].param < 0)
            continue;
        const int t = net->layers[l].param - dp->t0;
        const long nW = net->tensors[net->layers[l].param].count;
        for (int i0 = 0; i0 < plan->nchunks; i0 += dp->group) {
            int n = plan->nchunks - i0 < dp->group ? plan->nchunks - i0 : dp->group;
            for (int k = 0; k < n; k++) { /* chunk i0 + k's W, b at scratch + k stride */
                int row0, rows;
                float *dW = dp->scratch + k * dp->stride;
                pl_dp_chunk(dp, plan, i0 + k, &row0, &rows);
                pl_net_layer_grads(net, l, row0, rows, dW, dW + nW, 0.0f);
            }
            pl_exact_add(s, t, dp->scratch, n, dp->stride);
            pl_exact_add(s, t + 1, dp->scratch + nW, n, dp->stride);
        }
    }
    if (dp->shard) /* only this rank's block is stepped here */
        pl_exact_finish_block(s, dp->comm, net->grads + dp->p0);
    else
        pl_exact_finish(s, dp->comm, net->grads + dp->p0);
    if (stats) { /* every chunk's values, added in chunk order */
        const double *side = pl_exact_side(s);
        stats->loss = 0.0;
        stats->errors = 0;
        for (int c = 0; c < plan->total_chunks; c++) {
            stats->loss += side[c];
            stats->errors += (long)side[dp->max_chunks + c];
        }
    }
}

static void sum_fast(pl_dp *dp, pl_net *net, const pl_dp_plan *plan, pl_dp_stats *stats)
{
    float *g = net->grads + dp->p0;
    if (plan->rows > 0)
        for (int l = dp->l0; l < dp->l1; l++) {
            const pl_layer *L = &net->layers[l];
            if (L->param >= 0)
                pl_net_layer_grads(net, l, plan->row_base, plan->rows, L->dW, L->db, 0.0f);
        }
    else
        memset(g, 0, (size_t)dp->nparams * sizeof *g);
    if (pl_comm_size(dp->comm) > 1) { /* one rank holds the sum already */
        if (dp->shard) /* only this rank's block is stepped here */
            pl_reduce_scatter_sum_float(dp->comm, g, dp->nparams);
        else
            pl_allreduce_sum_float(dp->comm, g, dp->nparams);
        pl_allreduce_sum_double(dp->comm, dp->fast_stats, 2);
    }
    if (stats) {
        stats->loss = dp->fast_stats[0];
        stats->errors = (long)dp->fast_stats[1];
    }
}

void pl_dp_sum(pl_dp *dp, pl_net *net, const pl_dp_plan *plan, pl_dp_stats *stats)
{
    if (dp->exact)
        sum_exact(dp, net, plan, stats);
    else
        sum_fast(dp, net, plan, stats);
}

void pl_dp_step(pl_dp *dp, pl_net *net, pl_optim *opt, float lr)
{
    pl_dp_step_arrays(dp, net, opt, net->params, net->grads, lr);
}

void pl_dp_step_arrays(pl_dp *dp, const pl_net *net, pl_optim *opt, float *params, float *grads,
                       float lr)
{
    if (opt->n != dp->hi - dp->lo || dp->p0 + dp->nparams > net->nparams) {
        pl_error_all("pl_dp_step: an optimiser of %ld values for parameters [%ld, %ld) of %ld "
                     "(pl_dp_block)", opt->n, dp->lo, dp->hi, net->nparams);
        pl_comm_abort(dp->comm, PL_EXIT_USAGE);
    }
    const int sharded = dp->shard && pl_comm_size(dp->comm) > 1;
    if (dp->clip > 0.0 || !dp->bias)
        pl_shape_updates(sharded ? dp->comm : NULL, net, grads, dp->l0, dp->l1, dp->lo, dp->hi,
                         dp->clip, dp->bias);
    /* on every rank, an empty block too: Adam's step count t is replicated */
    pl_optim_step(opt, params + dp->lo, grads + dp->lo, lr);
    if (sharded)
        pl_allgather_blocks_float(dp->comm, params + dp->p0, dp->nparams);
}

void pl_dp_shaping(pl_dp *dp, double clip, int bias)
{
    dp->clip = clip;
    dp->bias = bias;
}

void pl_dp_gradient(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, int B,
                    uint64_t seed, uint64_t step, pl_dp_stats *stats)
{
    pl_dp_gradient_feedback(dp, net, X, y, B, seed, step, NULL, stats);
}

void pl_dp_gradient_feedback(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, int B,
                             uint64_t seed, uint64_t step, const float *const *feedback,
                             pl_dp_stats *stats)
{
    pl_dp_plan plan;
    pl_dp_blas_single(dp);
    pl_dp_begin(dp, B, &plan);
    const float *x = X + (size_t)plan.row0 * pl_shape_size(net->input);
    const pl_pass pass = {.train = 1, .seed = seed, .step = step, .example0 = (uint64_t)plan.row0};
    const float scale = 1.0f / (float)B;
    for (int i = 0; i < plan.nchunks; i++) {
        int row0, rows;
        long errors = 0;
        pl_dp_chunk(dp, &plan, i, &row0, &rows);
        pl_net_forward(net, x, row0, rows, &pass);
        double loss = pl_net_loss(net, y + plan.row0, row0, rows, scale, &errors);
        pl_net_backward_feedback(net, 0, net->nlayers, row0, rows, feedback);
        pl_dp_chunk_stats(dp, &plan, i, loss, errors);
    }
    pl_dp_sum(dp, net, &plan, stats);
    pl_dp_blas_restore(dp);
}

void pl_dp_evaluate(pl_dp *dp, pl_net *net, const float *X, const uint8_t *y, long n,
                    pl_dp_stats *stats)
{
    const int size = pl_comm_size(dp->comm), rank = pl_comm_rank(dp->comm);
    const long in_size = pl_shape_size(net->input);
    long lo, hi;
    stats->loss = 0.0;
    stats->errors = 0;
    if (!dp->exact) { /* an even share, in pieces as large as the buffers */
        pl_block_range(n, size, rank, &lo, &hi);
        pl_net_evaluate(net, X + lo * in_size, y + lo, hi - lo, net->capacity, &stats->loss,
                        &stats->errors);
        pl_allreduce_sum_double(dp->comm, &stats->loss, 1);
        pl_allreduce_sum_long(dp->comm, &stats->errors, 1);
        return;
    }
    /* whole chunks, each chunk's loss in its own slot, added in order */
    pl_dp_blas_single(dp);
    const long chunk = dp->chunk < net->capacity ? dp->chunk : net->capacity;
    const long chunks = (n + chunk - 1) / chunk;
    double *loss = pl_calloc((size_t)(chunks > 0 ? chunks : 1), sizeof *loss);
    pl_block_range(chunks, size, rank, &lo, &hi);
    for (long c = lo; c < hi; c++) {
        long start = c * chunk, rows = n - start < chunk ? n - start : chunk;
        pl_net_forward(net, X + start * in_size, 0, (int)rows, NULL);
        loss[c] = pl_net_loss(net, y + start, 0, (int)rows, 1.0f, &stats->errors);
    }
    for (long done = 0; done < chunks;) { /* MPI counts are int */
        int piece = chunks - done > (1L << 30) ? (1 << 30) : (int)(chunks - done);
        pl_allreduce_sum_double(dp->comm, loss + done, piece);
        done += piece;
    }
    for (long c = 0; c < chunks; c++)
        stats->loss += loss[c];
    pl_allreduce_sum_long(dp->comm, &stats->errors, 1);
    pl_free(loss);
    pl_dp_blas_restore(dp);
}
