/* Backpropagation on a layered network (net.layers), the baseline the
 * backprop-free rules are measured against. One supervised stage; each
 * minibatch is shared over the ranks by the data-parallel path of
 * src/nn/dp.c (optim.sum = fast: a float reduce-scatter of the gradients;
 * exact: fixed chunks summed exactly, the same bits on any rank count),
 * then an optimiser step (optim.method) at the schedule's rate, sharded:
 * each rank steps its block of the parameters, which are then gathered.
 * Every rank holds the whole network (its arrays are replicated) and the
 * optimiser state of its block (arrays by columns). */
#include "plastic/common.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/schedule.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/bp/bp_model.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static bp_model *as_bp(pl_model *m) { return (bp_model *)m; }

static int bp_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    (void)nranks;
    char why[512];
    if (pl_netspec_check(cfg->net.layers, why, sizeof why)) {
        snprintf(err, size, "net.layers %s", why);
        return -1;
    }
    return 0;
}

static const pl_dataset *split_of(const pl_model *m, int split)
{
    return split == PL_SPLIT_TRAIN ? m->train : split == PL_SPLIT_VALID ? m->valid : m->test;
}

static pl_model *bp_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                           const pl_dataset *valid, const pl_dataset *test)
{
    bp_model *b = pl_calloc(1, sizeof *b);
    b->base = (pl_model){&pl_rule_bp, cfg, comm, train, valid, test};
    pl_shape input = {train->channels, train->rows, train->cols, 0};
    const int exact = strcmp(cfg->optim.sum, "exact") == 0;
    /* the net's rows hold this rank's share of a minibatch (evaluation goes
     * in pieces of as many) */
    int capacity = pl_dp_capacity(cfg->optim.batch, cfg->optim.chunk, exact, pl_comm_size(comm));
    if (pl_net_create_config(&b->net, cfg, input, train->nclass, capacity) != 0) {
        pl_free(b);
        return NULL;
    }
    pl_net_init_config(&b->net, cfg);
    pl_dp_init_config(&b->dp, &b->net, comm, cfg);
    pl_dp_shard(&b->dp);
    long lo, hi;
    pl_dp_block(&b->dp, &lo, &hi);
    pl_optim_init_config(&b->opt, cfg, hi - lo);
    pl_schedule_from_config(&b->sched, cfg);
    b->xbuf = pl_alloc((size_t)cfg->optim.batch * (size_t)train->dim * sizeof *b->xbuf);
    b->ybuf = pl_alloc((size_t)cfg->optim.batch);
    b->order = pl_alloc((size_t)(train->n ? train->n : 1) * sizeof *b->order);
    return &b->base;
}

static void bp_destroy(pl_model *m)
{
    bp_model *b = as_bp(m);
    pl_dp_free(&b->dp);
    pl_optim_free(&b->opt);
    pl_net_free(&b->net);
    pl_free(b->xbuf);
    pl_free(b->ybuf);
    pl_free(b->order);
    pl_free(b);
}

/* Every tensor of the net, replicated, as a 2-D array: its first dimension
 * by the rest (a bias is 1 x n). The first dense layer's W, when it sees
 * the raw input, is the picture. The optimiser's arrays are 1 x nparams,
 * this rank holding its block's columns: a checkpoint has the layout of
 * the replicated step's and resumes on any rank count. */
static void bp_state(pl_model *m, pl_state *s)
{
    bp_model *b = as_bp(m);
    const pl_net *net = &b->net;
    for (int t = 0; t < net->ntensors; t++) {
        const pl_param *p = &net->tensors[t];
        long rows = p->ndim > 1 ? p->shape[0] : 1;
        pl_array *a = pl_state_whole(s, p->name, PL_ARRAY_MODEL, PL_F32, rows, p->count / rows,
                                     net->params + p->offset, 0);
        const pl_layer *L = &net->layers[p->layer];
        a->picture = t == 0 && L->spec.kind == PL_LAYER_DENSE && p->ndim == 2 &&
                     L->in_size == m->train->dim;
    }
    pl_optim_array opt[2];
    long lo, hi;
    pl_dp_block(&b->dp, &lo, &hi);
    int n = pl_optim_arrays(&b->opt, opt);
    for (int i = 0; i < n; i++) {
        const char *leaf = strrchr(opt[i].name, '/');
        char name[64];
        snprintf(name, sizeof name, "net/%s", leaf ? leaf + 1 : opt[i].name);
        pl_state_cols(s, name, PL_ARRAY_OPTIM, PL_F32, 1, net->nparams, lo, hi - lo,
                      opt[i].data, 0);
    }
    if (b->opt.method == PL_OPTIM_ADAM)
        pl_state_scalar(s, "net", "adam_t", &b->opt.adam.t);
    pl_state_attr(s, "net", "params", (double)net->nparams, 1);
    pl_state_attr(s, "net", "layers", net->nlayers, 1);
}

static int bp_epochs(const pl_config *cfg, int stage)
{
    (void)stage;
    return cfg->optim.epochs;
}

static double bp_lr(const pl_config *cfg, int stage, int epoch)
{
    (void)stage;
    pl_schedule s;
    pl_schedule_from_config(&s, cfg);
    return pl_schedule_lr(&s, epoch, 0, 1);
}

/* One epoch of minibatches in the order keyed by (seed, epoch): the
 * data-parallel gradient of the mean loss, then the sharded optimiser step
 * at the schedule's rate of that minibatch. */
static int bp_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                    void *ctx)
{
    bp_model *b = as_bp(m);
    const pl_config *cfg = m->cfg;
    const pl_dataset *train = m->train;
    const int size = cfg->optim.batch, n = train->n, dim = train->dim;
    const int nbatches = (n + size - 1) / size;
    (void)stage;
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_NET_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, b->order, n);
    for (int start = pos->batch * size; start < n; start += size) {
        const int B = n - start < size ? n - start : size;
        for (int i = 0; i < B; i++) {
            int e = b->order[start + i];
            memcpy(b->xbuf + (size_t)i * dim, train->x + (size_t)e * dim,
                   (size_t)dim * sizeof *b->xbuf);
            b->ybuf[i] = train->y[e];
        }
        pl_dp_stats st;
        const uint64_t step = (uint64_t)epoch * (uint64_t)nbatches + (uint64_t)pos->batch;
        pl_dp_gradient(&b->dp, &b->net, b->xbuf, b->ybuf, B, cfg->run.seed, step, &st);
        if (!isfinite(st.loss))
            return PL_EXIT_DIVERGED; /* before the step: the weights stay finite */
        float lr = (float)pl_schedule_lr(&b->sched, epoch, pos->batch, nbatches);
        pl_dp_step(&b->dp, &b->net, &b->opt, lr);
        pos->loss_sum += st.loss;
        pos->wrong += st.errors;
        pos->batch++;
        if (poll && start + B < n && poll(ctx))
            return PL_EXIT_CHECKPOINTED;
    }
    return 0;
}

static long bp_errors(pl_model *m, int split)
{
    bp_model *b = as_bp(m);
    const pl_dataset *d = split_of(m, split);
    pl_dp_stats st = {0};
    if (d->n)
        pl_dp_evaluate(&b->dp, &b->net, d->x, d->y, d->n, &st);
    return st.errors;
}

static void bp_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    bp_model *b = as_bp(m);
    if (j) {
        pl_json_str(j, "layers", b->net.spec.text);
        pl_json_int(j, "params", b->net.nparams);
    }
    snprintf(line, size, "net %s (%ld parameters), %s, lr %g", b->net.spec.text, b->net.nparams,
             m->cfg->optim.method, m->cfg->optim.lr);
}

static const char *bp_diverged_hint(int stage)
{
    (void)stage;
    return "try a smaller optim.lr";
}

/* ---- bench ---- */

/* The GEMMs of one minibatch of `rows` examples through the net, as the
 * layers call them: per dense layer the forward product, the weight
 * gradient and (past the first layer) the input gradient; per conv layer
 * the same three per example on im2col'd inputs. */
static void bare_minibatch(const pl_net *net, int rows, float *a, float *bb, float *c)
{
    for (int l = 0; l < net->nlayers; l++) {
        const pl_layer *L = &net->layers[l];
        if (L->spec.kind == PL_LAYER_DENSE) {
            const int in = (int)L->in_size, out = (int)L->out_size;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, a, in, bb,
                        in, 0.0f, c, out);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0f, c, out, a,
                        in, 0.0f, bb, in);
            if (l > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0f, c,
                            out, bb, in, 0.0f, a, in);
        } else if (L->spec.kind == PL_LAYER_CONV) {
            const pl_conv_geom *g = &L->conv;
            const int hw = g->out_h * g->out_w, kk = g->in_c * g->k_h * g->k_w;
            for (int e = 0; e < rows; e++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->out_c, hw, kk, 1.0f, bb,
                            kk, a, hw, 0.0f, c, hw);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->out_c, kk, hw, 1.0f, c, hw,
                            a, hw, 0.0f, bb, kk);
                if (l > 0)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, hw, g->out_c, 1.0f,
                                bb, kk, c, hw, 0.0f, a, hw);
            }
        }
    }
}

/* Seconds of the bare GEMMs of an epoch on this rank's share of each
 * minibatch (the slowest rank's), with the BLAS threads the rank has. */
static double bp_bench_bare(pl_model *m, int stage)
{
    bp_model *b = as_bp(m);
    const pl_net *net = &b->net;
    const int size = m->cfg->optim.batch, n = m->train->n;
    (void)stage;
    long lo, hi, biggest = 1;
    pl_block_range(size, pl_comm_size(m->comm), pl_comm_rank(m->comm), &lo, &hi);
    const int rows = (int)(hi - lo);
    for (int l = 0; l < net->nlayers; l++) {
        const pl_layer *L = &net->layers[l];
        long in = L->in_size, out = L->out_size, w = in * out;
        if (L->spec.kind == PL_LAYER_CONV) {
            const pl_conv_geom *g = &L->conv;
            in = (long)g->in_c * g->k_h * g->k_w * g->out_h * g->out_w; /* im2col */
            w = (long)g->out_c * g->in_c * g->k_h * g->k_w;
        }
        long need = (long)rows * (in > out ? in : out);
        biggest = need > biggest ? need : biggest;
        biggest = w > biggest ? w : biggest;
    }
    float *a = pl_calloc((size_t)biggest, sizeof *a), *bb = pl_calloc((size_t)biggest, sizeof *bb);
    float *c = pl_calloc((size_t)biggest, sizeof *c);
    pl_barrier(m->comm);
    double t0 = pl_now();
    for (int start = 0; start < n && rows > 0; start += size)
        bare_minibatch(net, rows, a, bb, c);
    double t = pl_now() - t0;
    pl_allreduce_max_double(m->comm, &t, 1);
    pl_free(a);
    pl_free(bb);
    pl_free(c);
    return t;
}

static void bp_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    bp_model *b = as_bp(m);
    (void)stage;
    snprintf(line, size,
             "backprop on %s, batch %d split over the ranks (optim.sum = %s), the bare GEMMs of "
             "the same shapes on %d BLAS thread(s)",
             b->net.spec.text, m->cfg->optim.batch, m->cfg->optim.sum,
             openblas_get_num_threads());
}

const pl_rule pl_rule_bp = {
    .name = "bp",
    .title = "backpropagation on a layered network (net.layers, optim.*): the baseline",
    .nstages = 1,
    .stages = {{"train", "net optim", 1}},
    .shared_stages = 0,
    .check = bp_check,
    .create = bp_create,
    .destroy = bp_destroy,
    .state = bp_state,
    .epochs = bp_epochs,
    .lr = bp_lr,
    .epoch = bp_epoch,
    .errors = bp_errors,
    .describe = bp_describe,
    .diverged_hint = bp_diverged_hint,
    .bench_bare = bp_bench_bare,
    .bench_describe = bp_bench_describe,
};
