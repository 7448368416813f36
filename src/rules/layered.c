/* The layered rules' shared machinery (layered.h). */
#include "rules/layered.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/rng.h"

int pl_layered_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    char why[512];
    if (pl_netspec_check(cfg->net.layers, why, sizeof why)) {
        snprintf(err, size, "net.layers %s", why);
        return -1;
    }
    const int blocks = strcmp(cfg->net.parallel, "blocks") == 0, S = cfg->net.stages;
    if (!blocks && S != 0) {
        snprintf(err, size, "net.stages = %d: stages are for net.parallel = blocks (it is %s)", S,
                 cfg->net.parallel);
        return -1;
    }
    if (!blocks && cfg->net.stale) {
        snprintf(err, size, "net.stale = 1: the one-step-stale pipeline is for net.parallel = "
                 "blocks (it is %s)", cfg->net.parallel);
        return -1;
    }
    if (cfg->net.untie_after > 0 && !cfg->net.untie[0]) {
        snprintf(err, size, "net.untie_after = %d: net.untie lists no conv entries to untie",
                 cfg->net.untie_after);
        return -1;
    }
    if (blocks && cfg->net.untie[0]) {
        snprintf(err, size, "net.untie = %s: untied layers run in net.parallel = data only",
                 cfg->net.untie);
        return -1;
    }
    if (blocks && S > 0 && (S > nranks || nranks % S != 0)) {
        snprintf(err, size,
                 "net.stages = %d does not divide the %d rank(s): net.parallel = blocks needs "
                 "whole pipelines of net.stages ranks (or net.stages = 0: one pipeline of all "
                 "ranks)", S, nranks);
        return -1;
    }
    return 0;
}

int pl_layered_epochs(const pl_config *cfg, int stage)
{
    (void)stage;
    return cfg->optim.epochs;
}

double pl_layered_lr(const pl_config *cfg, int stage, int epoch)
{
    (void)stage;
    pl_schedule s;
    pl_schedule_from_config(&s, cfg);
    return pl_schedule_lr(&s, epoch, 0, 1);
}

const pl_dataset *pl_layered_split(const pl_model *m, int split)
{
    return split == PL_SPLIT_TRAIN ? m->train : split == PL_SPLIT_VALID ? m->valid : m->test;
}

int pl_layered_blocks(const pl_config *cfg) { return strcmp(cfg->net.parallel, "blocks") == 0; }

int pl_layered_create(pl_layered *L, const pl_config *cfg, const pl_comm *comm,
                      const pl_dataset *train)
{
    memset(L, 0, sizeof *L);
    pl_shape input = {train->channels, train->rows, train->cols, 0};
    const int exact = strcmp(cfg->optim.sum, "exact") == 0, P = pl_comm_size(comm);
    L->blocks = pl_layered_blocks(cfg);
    L->sets = L->blocks && cfg->net.stale ? 2 : 1;
    /* the net's rows hold this rank's share of a minibatch, in blocks mode
     * its pipeline's (evaluation goes in pieces of as many), once per set */
    int capacity = L->blocks ? L->sets * pl_pipe_capacity(cfg->optim.batch, cfg->optim.chunk,
                                                          exact, P, cfg->net.stages)
                             : pl_dp_capacity(cfg->optim.batch, cfg->optim.chunk, exact, P);
    if (pl_net_create_config(&L->net, cfg, input, train->nclass, capacity) != 0)
        return -1;
    pl_net_init_config(&L->net, cfg);
    if (!L->blocks) { /* blocks: pl_layered_stages, once the rule knows its units */
        pl_dp_init_config(&L->dp, &L->net, comm, cfg);
        pl_dp_shard(&L->dp);
        pl_dp_shaping(&L->dp, cfg->optim.clip, cfg->net.bias);
        long lo, hi;
        pl_dp_block(&L->dp, &lo, &hi);
        pl_optim_init_config(&L->opt, cfg, hi - lo);
    }
    pl_schedule_from_config(&L->sched, cfg);
    const int size = cfg->optim.batch;
    L->batch = size;
    L->dim = train->dim;
    L->xbuf = pl_alloc((size_t)L->sets * size * (size_t)train->dim * sizeof *L->xbuf);
    L->ybuf = pl_alloc((size_t)L->sets * size);
    L->order = pl_alloc((size_t)(train->n ? train->n : 1) * sizeof *L->order);
    L->nbatches = (train->n + size - 1) / size;
    return 0;
}

int pl_layered_stages(pl_layered *L, const pl_config *cfg, const pl_comm *comm,
                      const char *start, const double *cost, const char *units)
{
    char err[256];
    const int exact = strcmp(cfg->optim.sum, "exact") == 0;
    if (pl_pipe_init(&L->pipe, &L->net, comm, cfg->net.stages, start, cost, cfg->optim.chunk,
                     exact, cfg->optim.batch, L->sets, err, sizeof err) != 0) {
        if (cfg->net.stages > 0)
            pl_error("net.stages = %d (net.parallel = blocks): %s (%s)", cfg->net.stages, err,
                     units);
        else
            pl_error("net.stages = 0 (net.parallel = blocks, one stage per rank): %s (%s); set "
                     "net.stages to fewer", err, units);
        return -1;
    }
    pl_dp_shaping(&L->pipe.dp, cfg->optim.clip, cfg->net.bias);
    long lo, hi;
    pl_dp_block(&L->pipe.dp, &lo, &hi);
    pl_optim_init_config(&L->opt, cfg, hi - lo);
    return 0;
}

void pl_layered_layout(const pl_layered *L, const double *cost, char *line, size_t size)
{
    line[0] = '\0';
    if (!L->blocks)
        return;
    const pl_pipe *p = &L->pipe;
    size_t at = (size_t)snprintf(line, size, "%d stage(s) x %d pipeline(s), layers", p->stages,
                                 p->pipes);
    for (int s = 0; s < p->stages && at < size; s++)
        at += (size_t)snprintf(line + at, size - at, "%s%d-%d", s ? " | " : " ",
                               p->first[s] + 1, p->first[s + 1]);
    for (int s = 0; s < p->stages && at < size; s++) {
        double c = 0.0;
        for (int l = p->first[s]; l < p->first[s + 1]; l++)
            c += cost[l];
        at += (size_t)snprintf(line + at, size - at, "%s%.3g", s ? " | " : " (cost ", c);
    }
    if (at < size)
        snprintf(line + at, size - at, ")%s", L->sets > 1 ? ", one-step-stale" : "");
}

void pl_layered_free(pl_layered *L)
{
    if (L->blocks)
        pl_pipe_free(&L->pipe);
    pl_dp_free(&L->dp);
    pl_optim_free(&L->opt);
    pl_net_free(&L->net);
    pl_free(L->xbuf);
    pl_free(L->ybuf);
    pl_free(L->order);
    memset(L, 0, sizeof *L);
}

void pl_layered_begin_epoch(pl_layered *L, const pl_config *cfg, const pl_dataset *train,
                            int epoch)
{
    pl_rng rng;
    pl_rng_init(&rng, cfg->run.seed, PL_STREAM_NET_ORDER, (uint64_t)epoch);
    pl_rng_permutation(&rng, L->order, train->n);
    /* Amit's schedule: the untied layers train as convolutions first */
    const int tied = epoch < cfg->net.untie_after;
    if (L->net.tied && !tied)
        pl_info("net.untie = %s: untied from epoch %d on", cfg->net.untie, epoch + 1);
    L->net.tied = tied;
}

int pl_layered_minibatch(pl_layered *L, const pl_config *cfg, const pl_dataset *train, int batch)
{
    const int size = cfg->optim.batch, dim = train->dim;
    const long start = (long)batch * size;
    if (start >= train->n)
        return 0;
    const int B = train->n - start < size ? (int)(train->n - start) : size;
    /* in blocks mode only the first stage reads the inputs */
    const int inputs = !L->blocks || L->pipe.stage == 0;
    L->set = batch % L->sets;
    float *x = pl_layered_x(L, L->set);
    uint8_t *y = pl_layered_y(L, L->set);
    for (int i = 0; i < B; i++) {
        int e = L->order[start + i];
        if (inputs)
            memcpy(x + (size_t)i * dim, train->x + (size_t)e * dim, (size_t)dim * sizeof *x);
        y[i] = train->y[e];
    }
    return B;
}

/* The minibatch's step number over the run, for dropout masks. */
static uint64_t step_number(const pl_layered *L, int epoch, int batch)
{
    return (uint64_t)epoch * (uint64_t)L->nbatches + (uint64_t)batch;
}

float pl_layered_step_lr(const pl_layered *L, uint64_t step)
{
    const uint64_t n = (uint64_t)L->nbatches;
    return (float)pl_schedule_lr(&L->sched, (int)(step / n), (int)(step % n), L->nbatches);
}

int pl_layered_epoch(pl_layered *L, const pl_config *cfg, const pl_dataset *train, int epoch,
                     pl_epoch_pos *pos, pl_poll_fn poll, void *ctx, pl_layered_step_fn step,
                     pl_layered_flush_fn flush, void *rule)
{
    pl_layered_begin_epoch(L, cfg, train, epoch);
    int B;
    pl_dp_stats st;
    while ((B = pl_layered_minibatch(L, cfg, train, pos->batch)) > 0) {
        const uint64_t number = step_number(L, epoch, pos->batch);
        int rc = step(rule, B, number, pl_layered_step_lr(L, number), &st);
        if (rc)
            return rc;
        pos->loss_sum += st.loss;
        pos->wrong += st.errors;
        pos->batch++;
        if (poll && pos->batch < L->nbatches && poll(ctx))
            return PL_EXIT_CHECKPOINTED;
    }
    /* before the epoch's records, evaluation and checkpoint */
    if (flush) {
        int rc = flush(rule, &st);
        if (rc)
            return rc;
        pos->loss_sum += st.loss;
        pos->wrong += st.errors;
    }
    return 0;
}

void pl_layered_state(pl_layered *L, const pl_dataset *train, pl_state *s)
{
    const pl_net *net = &L->net;
    for (int t = 0; t < net->ntensors; t++) {
        const pl_param *p = &net->tensors[t];
        long rows = p->ndim > 1 ? p->shape[0] : 1;
        float *data = net->params + p->offset;
        pl_array *a;
        if (L->blocks) { /* whole on its stage's ranks, the first pipeline's written */
            const int mine = p->layer >= L->pipe.l0 && p->layer < L->pipe.l1;
            a = pl_state_rows(s, p->name, PL_ARRAY_MODEL, PL_F32, rows, p->count / rows, 0,
                              mine ? rows : 0, data, 0);
            a->copy = mine && L->pipe.pipe > 0;
        } else {
            a = pl_state_whole(s, p->name, PL_ARRAY_MODEL, PL_F32, rows, p->count / rows, data, 0);
        }
        const pl_layer *layer = &net->layers[p->layer];
        a->picture = t == 0 && layer->spec.kind == PL_LAYER_DENSE && p->ndim == 2 &&
                     layer->in_size == train->dim;
    }
    /* pconv noise maps, held as the layer's W: for model.h5 only, as every
     * rank draws them at create from run.seed */
    for (int l = 0; l < net->nlayers; l++) {
        const pl_layer *layer = &net->layers[l];
        if (!layer->noise)
            continue;
        const char *w = net->tensors[layer->param].name; /* "net/pconv1/W" */
        char name[64];
        snprintf(name, sizeof name, "%.*snoise", (int)(strrchr(w, '/') + 1 - w), w);
        const long rows = (long)layer->pconv.in_c * layer->pconv.maps;
        const long cols = (long)layer->pconv.h * layer->pconv.w;
        pl_array *a;
        if (L->blocks) {
            const int mine = l >= L->pipe.l0 && l < L->pipe.l1;
            a = pl_state_rows(s, name, PL_ARRAY_MODEL, PL_F32, rows, cols, 0, mine ? rows : 0,
                              layer->noise, 0);
            a->copy = mine && L->pipe.pipe > 0;
        } else {
            a = pl_state_whole(s, name, PL_ARRAY_MODEL, PL_F32, rows, cols, layer->noise, 0);
        }
        a->derived = 1;
    }
    long lo, hi;
    pl_dp_block(pl_layered_dp(L), &lo, &hi);
    pl_layered_optim_state(&L->opt, "net", net->nparams, lo, 0, 0, s);
    pl_state_attr(s, "net", "params", (double)net->nparams, 1);
    pl_state_attr(s, "net", "layers", net->nlayers, 1);
}

void pl_layered_optim_state(pl_optim *opt, const char *group, long total, long lo, int whole,
                            int copy, pl_state *s)
{
    pl_optim_array arrays[2];
    const int n = pl_optim_arrays(opt, arrays);
    for (int i = 0; i < n; i++) {
        const char *leaf = strrchr(arrays[i].name, '/');
        char name[64];
        snprintf(name, sizeof name, "%s/%s", group, leaf ? leaf + 1 : arrays[i].name);
        if (whole)
            pl_state_whole(s, name, PL_ARRAY_OPTIM, PL_F32, 1, total, arrays[i].data, 0);
        else
            pl_state_cols(s, name, PL_ARRAY_OPTIM, PL_F32, 1, total, lo, opt->n, arrays[i].data,
                          0)->copy = copy;
    }
    if (opt->method == PL_OPTIM_ADAM)
        pl_state_scalar(s, group, "adam_t", &opt->adam.t);
}

long pl_layered_errors(pl_layered *L, const pl_dataset *d)
{
    pl_dp_stats st = {0};
    if (d->n && L->blocks)
        pl_pipe_evaluate(&L->pipe, &L->net, d->x, d->y, d->n, &st);
    else if (d->n)
        pl_dp_evaluate(&L->dp, &L->net, d->x, d->y, d->n, &st);
    return st.errors;
}

/* A conv-like layer's bare products, one example at a time as its kernels
 * run them: out x hw = W (out x k) by cols (k x hw), the weight product
 * (out x k) and, for backprop, the input product (k x hw). */
static void per_example_gemms(int rows, int out, int hw, int k, float *a, float *bb, float *c,
                              int input_grad)
{
    for (int e = 0; e < rows; e++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, hw, k, 1.0f, bb, k, a, hw,
                    0.0f, c, hw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, k, hw, 1.0f, c, hw, a, hw, 0.0f,
                    bb, k);
        if (input_grad)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, hw, out, 1.0f, bb, k, c, hw,
                        0.0f, a, hw);
    }
}

/* The GEMMs of one minibatch of `rows` examples through the net, as the
 * layers call them. */
static void bare_minibatch(const pl_net *net, int l0, int l1, int rows, int backprop, float *a,
                           float *bb, float *c)
{
    for (int l = l0; l < l1; l++) {
        const pl_layer *L = &net->layers[l];
        const int input_grad = backprop && l > 0;
        if (L->spec.kind == PL_LAYER_DENSE) {
            const int in = (int)L->in_size, out = (int)L->out_size;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, a, in, bb,
                        in, 0.0f, c, out);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1.0f, c, out, a,
                        in, 0.0f, bb, in);
            if (input_grad)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0f, c,
                            out, bb, in, 0.0f, a, in);
        } else if (L->spec.kind == PL_LAYER_CONV) {
            const pl_conv_geom *g = &L->conv;
            per_example_gemms(rows, g->out_c, g->out_h * g->out_w, g->in_c * g->k_h * g->k_w, a,
                              bb, c, input_grad);
        } else if (L->spec.kind == PL_LAYER_PCONV) { /* as conv, maps for the im2col */
            const pl_pconv_geom *g = &L->pconv;
            per_example_gemms(rows, g->out_c, g->h * g->w, g->in_c * g->maps, a, bb, c, input_grad);
        }
    }
}

int pl_layered_share_rows(const pl_layered *L, const pl_config *cfg, const pl_comm *comm)
{
    long lo, hi;
    if (L->blocks)
        pl_block_range(cfg->optim.batch, L->pipe.pipes, L->pipe.pipe, &lo, &hi);
    else
        pl_block_range(cfg->optim.batch, pl_comm_size(comm), pl_comm_rank(comm), &lo, &hi);
    return (int)(hi - lo);
}

double pl_layered_bench_bare(pl_layered *L, const pl_config *cfg, const pl_comm *comm, long n,
                             int backprop, const pl_gemm_shape *extra, int nextra)
{
    const pl_net *net = &L->net;
    const int size = cfg->optim.batch;
    const int l0 = L->blocks ? L->pipe.l0 : 0, l1 = L->blocks ? L->pipe.l1 : net->nlayers;
    long biggest = 1;
    const int rows = pl_layered_share_rows(L, cfg, comm);
    for (int l = l0; l < l1; l++) {
        const pl_layer *layer = &net->layers[l];
        long in = layer->in_size, out = layer->out_size, w = in * out;
        if (layer->spec.kind == PL_LAYER_CONV) {
            const pl_conv_geom *g = &layer->conv;
            in = (long)g->in_c * g->k_h * g->k_w * g->out_h * g->out_w; /* im2col */
            w = (long)g->out_c * g->in_c * g->k_h * g->k_w;
        }
        if (layer->spec.kind == PL_LAYER_PCONV) {
            in = pl_pconv_scratch_size(&layer->pconv); /* the maps a */
            w = pl_pconv_w_size(&layer->pconv);
        }
        long need = (long)rows * (in > out ? in : out);
        biggest = need > biggest ? need : biggest;
        biggest = w > biggest ? w : biggest;
    }
    for (int i = 0; i < nextra; i++) { /* each operand and the product */
        const long m = extra[i].m > 0 ? extra[i].m : rows, nn = extra[i].n, k = extra[i].k;
        const long need[3] = {m * nn, nn * k, m * k};
        for (int j = 0; j < 3; j++)
            biggest = need[j] > biggest ? need[j] : biggest;
    }
    float *a = pl_calloc((size_t)biggest, sizeof *a), *bb = pl_calloc((size_t)biggest, sizeof *bb);
    float *c = pl_calloc((size_t)biggest, sizeof *c);
    pl_barrier(comm);
    double t0 = pl_now();
    for (long start = 0; start < n && rows > 0; start += size) {
        bare_minibatch(net, l0, l1, rows, backprop, a, bb, c);
        for (int i = 0; i < nextra; i++) {
            const int m = extra[i].m > 0 ? extra[i].m : rows;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, extra[i].k, extra[i].n,
                        1.0f, a, extra[i].n, bb, extra[i].k, 0.0f, c, extra[i].k);
        }
    }
    double t = pl_now() - t0;
    pl_allreduce_max_double(comm, &t, 1);
    pl_free(a);
    pl_free(bb);
    pl_free(c);
    return t;
}

void pl_layered_bench_detail(pl_layered *L, const pl_comm *comm, char *line, size_t size)
{
    line[0] = '\0';
    if (!L->blocks)
        return;
    pl_pipe *p = &L->pipe;
    const int P = pl_comm_size(comm);
    const double mb = p->minibatches > 0 ? (double)p->minibatches : 1.0;
    enum { K = 5 };
    const float mine[K] = {(float)(p->t_total / mb), (float)(p->t_wait / mb),
                           (float)(p->t_forward / mb), (float)(p->t_backward / mb),
                           (float)((p->c_total - p->c_wait) / mb)};
    float *all = pl_comm_rank(comm) == 0 ? pl_alloc((size_t)P * K * sizeof *all) : NULL;
    pl_gatherv_float(comm, mine, K, all);
    const pl_layer *out0 = &L->net.layers[p->first[1] - 1]; /* stage 0's output */
    const long floats = (long)p->chunk * out0->out_size;
    const double msg = pl_pipe_message_time(p, floats, 20);
    if (all) {
        size_t at = (size_t)snprintf(line, size, "per minibatch:");
        for (int r = 0; r < P && at < size; r++) {
            const float *v = all + K * r;
            at += (size_t)snprintf(line + at, size - at,
                                   "%s rank %d (stage %d) %.2f ms: compute %.2f ms (forward "
                                   "%.2f, backward sweep %.2f, the rest %.2f), blocked on "
                                   "messages %.2f ms, CPU outside waits %.2f ms",
                                   r ? ";" : "", r, r % p->stages, 1e3 * v[0],
                                   1e3 * (v[0] - v[1]), 1e3 * v[2], 1e3 * v[3],
                                   1e3 * (v[0] - v[1] - v[2] - v[3]), 1e3 * v[1], 1e3 * v[4]);
        }
        if (p->stages > 1 && at < size)
            snprintf(line + at, size - at,
                     "; one micro-batch's activations (%ld floats) stage 0 -> 1: %.3f ms", floats,
                     1e3 * msg);
        pl_free(all);
    }
    p->t_total = p->t_wait = p->t_forward = p->t_backward = p->c_total = p->c_wait = 0.0;
    p->minibatches = 0;
}
