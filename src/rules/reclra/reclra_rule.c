/* Recursive local representation alignment (rec-LRA; lra.h) on a layered
 * network (net.layers), one supervised stage. Each minibatch is shared
 * over the ranks by the data-parallel path of the layered rules
 * (layered.h): per chunk of examples a forward pass, the output's error,
 * and every hidden layer's target and error from the top down; then the
 * local increments dW = e z^T / B (summed over ranks like backprop's
 * gradients, and stepped by the same sharded optimiser) and the error
 * synapses' increments (summed likewise, stepped at lra.gamma times the
 * rate). No derivative of an activation is taken.
 *
 * With net.parallel = blocks the net is a pipeline of stages (nn/pipe.h):
 * the forward streams through the stages, the last broadcasts e_L, and
 * every stage then sets its own layers' targets and steps its own weights
 * and synapses at once: there is no backward sweep. A stage holds each of
 * its layers together with the layer whose error sets its target, unless
 * that is the output (lra.pathway = output: the skip synapses). With
 * net.stale = 1 a stage runs each minibatch's forward before the previous
 * minibatch's targets and step (reclra_stale.c). */
#include "plastic/common.h"
#include "plastic/nn/clip.h"
#include "plastic/nn/stages.h"
#include "plastic/rule.h"
#include "rules/reclra/reclra_model.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static reclra_model *as_lra(pl_model *m) { return (reclra_model *)m; }

static lra_pathway pathway_of(const pl_config *cfg)
{
    return strcmp(cfg->lra.pathway, "chain") == 0 ? LRA_PATH_CHAIN : LRA_PATH_OUTPUT;
}

static lra_e_rule e_rule_of(const pl_config *cfg)
{
    return strcmp(cfg->lra.e_rule, "eq6") == 0     ? LRA_E_EQ6
           : strcmp(cfg->lra.e_rule, "fixed") == 0 ? LRA_E_FIXED
                                                   : LRA_E_TRANSPOSE;
}

static int reclra_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    if (pl_layered_check(cfg, nranks, err, size))
        return -1;
    if (cfg->net.untie[0]) {
        snprintf(err, size, "net.untie = %s: rec-LRA's error synapses have no untied form (untie "
                 "is for model.rule = bp or urfb)", cfg->net.untie);
        return -1;
    }
    if (strcmp(cfg->net.loss, "xent") != 0) {
        snprintf(err, size, "net.loss = %s: rec-LRA's output error is softmax minus the label "
                 "(net.loss = xent)", cfg->net.loss);
        return -1;
    }
    const int stages = cfg->net.stages > 0 ? cfg->net.stages : nranks;
    if (pl_layered_blocks(cfg) && stages > 1 && pathway_of(cfg) == LRA_PATH_CHAIN) {
        snprintf(err, size,
                 "lra.pathway = chain with net.parallel = blocks on %d stages: each layer's "
                 "target waits for the layer above, so the stages could not set their targets "
                 "at once; use lra.pathway = output (skip synapses from the output)", stages);
        return -1;
    }
    return 0;
}

/* A layer's work per example in a minibatch: its forward and its
 * increment, plus, for the synapse giving it a target, d = E e and (unless
 * fixed) the synapse's increment. */
static void reclra_costs(const reclra_model *r, double *cost)
{
    const pl_net *net = &r->lay.net;
    for (int l = 0; l < net->nlayers; l++) {
        cost[l] = 2.0 * pl_layer_cost(net, l);
        int i = r->lra.syn_of[l];
        if (i >= 0)
            cost[l] += (r->lra.e_rule == LRA_E_FIXED ? 1.0 : 2.0) *
                       lra_synapse_cost(&r->lra, net, i);
    }
}

/* Blocks mode: the stages, each layer kept with the source of its target
 * unless that is the output; then this stage's synapses [s0, s1) (top
 * down, so contiguous) and their weights. */
static int reclra_stages(reclra_model *r, const pl_config *cfg, const pl_comm *comm)
{
    const pl_net *net = &r->lay.net;
    const lra *a = &r->lra;
    char *start = pl_alloc((size_t)net->nlayers);
    double *cost = pl_alloc((size_t)net->nlayers * sizeof *cost);
    pl_stage_units(net, start);
    for (int i = 0; i < a->n; i++)
        if (a->syn[i].src != net->nlayers - 1)
            pl_stage_join(start, a->syn[i].dst, a->syn[i].src);
    reclra_costs(r, cost);
    int rc = pl_layered_stages(&r->lay, cfg, comm, start, cost,
                               "a res( ) block, or a layer outside blocks, is one unit, and "
                               "rec-LRA keeps a layer with the layer whose error sets its "
                               "target unless that is the output, e.g. a group of lra.gap layers");
    pl_free(start);
    pl_free(cost);
    if (rc)
        return rc;
    const int l0 = r->lay.pipe.l0, l1 = r->lay.pipe.l1;
    r->s0 = 0;
    while (r->s0 < a->n && a->syn[r->s0].dst >= l1)
        r->s0++;
    r->s1 = r->s0;
    while (r->s1 < a->n && a->syn[r->s1].dst >= l0)
        r->s1++;
    return 0;
}

static pl_model *reclra_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                               const pl_dataset *valid, const pl_dataset *test)
{
    reclra_model *r = pl_calloc(1, sizeof *r);
    r->base = (pl_model){&pl_rule_reclra, cfg, comm, train, valid, test};
    if (pl_layered_create(&r->lay, cfg, comm, train) != 0) {
        pl_free(r);
        return NULL;
    }
    char err[512];
    if (lra_create(&r->lra, &r->lay.net, pathway_of(cfg), cfg->lra.gap, (float)cfg->lra.beta,
                   e_rule_of(cfg), err, sizeof err) != 0) {
        pl_error("%s", err);
        pl_layered_free(&r->lay);
        pl_free(r);
        return NULL;
    }
    lra_init(&r->lra, strcmp(cfg->lra.e_init, "normal") == 0 ? LRA_E_INIT_NORMAL
                                                              : LRA_E_INIT_XAVIER,
             cfg->lra.e_std, cfg->run.seed);
    r->s0 = 0;
    r->s1 = r->lra.n;
    if (r->lay.blocks && reclra_stages(r, cfg, comm) != 0) {
        lra_free(&r->lra);
        pl_layered_free(&r->lay);
        pl_free(r);
        return NULL;
    }
    /* the synapses' weights are in top-down order, as the synapses */
    r->e0 = r->s0 < r->lra.n ? r->lra.syn[r->s0].offset : r->lra.nE;
    r->e1 = r->s1 < r->lra.n ? r->lra.syn[r->s1].offset : r->lra.nE;
    pl_optim_init_config(&r->eopt, cfg, r->e1 - r->e0);
    if (pl_layered_dp(&r->lay)->exact) {
        const int ns = r->s1 - r->s0;
        long *counts = pl_alloc((size_t)(ns ? ns : 1) * sizeof *counts);
        long largest = 1;
        for (int i = 0; i < ns; i++) {
            const lra_synapse *y = &r->lra.syn[r->s0 + i];
            counts[i] = (long)y->e_rows * y->e_cols;
            largest = counts[i] > largest ? counts[i] : largest;
        }
        pl_exact_init(&r->esum, ns, counts, 0);
        r->escratch = pl_alloc((size_t)largest * sizeof *r->escratch);
        pl_free(counts);
    }
    return &r->base;
}

static void reclra_destroy(pl_model *m)
{
    reclra_model *r = as_lra(m);
    if (pl_layered_dp(&r->lay)->exact)
        pl_exact_free(&r->esum);
    pl_free(r->escratch);
    pl_optim_free(&r->eopt);
    lra_free(&r->lra);
    pl_layered_free(&r->lay);
    pl_free(r);
}

/* The net's arrays (layered.h), then every error synapse (out(dst) x
 * out(src)) and their optimiser's arrays (1 x all synapses' weights):
 * replicated in data mode; in blocks mode the synapses by rows, all on
 * their stage's ranks, and the optimiser's by columns, the stage's block,
 * copies in pipelines after the first. */
static void reclra_state(pl_model *m, pl_state *s)
{
    reclra_model *r = as_lra(m);
    const int blocks = r->lay.blocks, copy = blocks && r->lay.pipe.pipe > 0;
    pl_layered_state(&r->lay, m->train, s);
    for (int i = 0; i < r->lra.n; i++) {
        const lra_synapse *y = &r->lra.syn[i];
        float *E = r->lra.E + y->offset;
        if (blocks) {
            const int mine = i >= r->s0 && i < r->s1;
            pl_array *a = pl_state_rows(s, y->name, PL_ARRAY_MODEL, PL_F32, y->e_rows,
                                        y->e_cols, 0, mine ? y->e_rows : 0, E, 0);
            a->copy = mine && copy;
        } else {
            pl_state_whole(s, y->name, PL_ARRAY_MODEL, PL_F32, y->e_rows, y->e_cols, E, 0);
        }
    }
    pl_layered_optim_state(&r->eopt, "lra", r->lra.nE, r->e0, !blocks, copy, s);
    reclra_stale_state(r, s);
    pl_state_attr(s, "lra", "synapses", r->lra.n, 1);
}

/* Scales the rows' errors (every hidden layer's of this rank's, and the
 * output's) by 1/B once the targets are set: the increments are then
 * means. In blocks mode every stage scales its copy of e_L, the source of
 * its skip synapses' increments. */
static void scale_errors(reclra_model *r, int row0, int rows, float scale)
{
    pl_net *net = &r->lay.net;
    const int l0 = r->lay.blocks ? r->lay.pipe.l0 : 0;
    const int l1 = r->lay.blocks ? r->lay.pipe.l1 : net->nlayers;
    for (int l = 0; l < net->nlayers; l++) {
        if (l != net->nlayers - 1 && (r->lra.syn_of[l] < 0 || l < l0 || l >= l1))
            continue;
        const pl_layer *L = &net->layers[l];
        float *e = L->delta + (size_t)row0 * L->out_size;
        for (long k = 0; k < (long)rows * L->out_size; k++)
            e[k] *= scale;
    }
}

/* lra->dE of this rank's synapses = their increments summed over the
 * minibatch's chunks on every rank sharing them (data mode: all ranks;
 * blocks: the stage's ranks in every pipeline): a float all-reduce (fast)
 * or exact sums (exact). */
static void sum_synapses(reclra_model *r, const pl_dp_plan *plan)
{
    lra *a = &r->lra;
    const pl_net *net = &r->lay.net;
    const pl_dp *dp = pl_layered_dp(&r->lay);
    if (a->e_rule == LRA_E_FIXED)
        return;
    if (!dp->exact) {
        for (int i = r->s0; i < r->s1; i++)
            lra_synapse_increment(a, net, i, plan->row_base, plan->rows,
                                  a->dE + a->syn[i].offset, 0.0f);
        if (pl_comm_size(dp->comm) > 1)
            pl_allreduce_sum_float(dp->comm, a->dE + r->e0, r->e1 - r->e0);
        return;
    }
    /* exact tensor i - s0 is synapse i */
    pl_exact_begin(&r->esum, plan->total_chunks);
    for (int i = r->s0; i < r->s1; i++)
        for (int c = 0; c < plan->nchunks; c++) {
            int row0, rows;
            pl_dp_chunk(dp, plan, c, &row0, &rows);
            pl_exact_bound(&r->esum, i - r->s0,
                           lra_synapse_increment_bound(a, net, i, row0, rows));
        }
    pl_exact_agree(&r->esum, dp->comm);
    for (int i = r->s0; i < r->s1; i++)
        for (int c = 0; c < plan->nchunks; c++) {
            int row0, rows;
            pl_dp_chunk(dp, plan, c, &row0, &rows);
            lra_synapse_increment(a, net, i, row0, rows, r->escratch, 0.0f);
            pl_exact_add(&r->esum, i - r->s0, r->escratch, 1, 0);
        }
    pl_exact_finish(&r->esum, dp->comm, a->dE + r->e0);
}

/* The steps once the increments are summed: the net's (sharded) and this
 * rank's synapses' at lra.gamma times the rate. */
void reclra_update(reclra_model *r, float lr)
{
    pl_layered *lay = &r->lay;
    pl_dp_step(pl_layered_dp(lay), &lay->net, &lay->opt, lr);
    const float erate = (float)r->base.cfg->lra.gamma * lr;
    if (r->lra.e_rule == LRA_E_FIXED || erate <= 0.0f)
        return;
    for (int i = r->s0; i < r->s1; i++) /* each synapse whole on this rank */
        pl_clip_whole(r->lra.dE + r->lra.syn[i].offset,
                      (long)r->lra.syn[i].e_rows * r->lra.syn[i].e_cols, r->base.cfg->optim.clip);
    pl_optim_step(&r->eopt, r->lra.E + r->e0, r->lra.dE + r->e0, erate);
}

/* Blocks mode: the share's targets, then its sums (reclra_model.h). */
void reclra_targets_and_sums(reclra_model *r, const pl_dp_plan *plan, int B, pl_dp_stats *stats)
{
    pl_layered *lay = &r->lay;
    pl_pipe *p = &lay->pipe;
    for (int i = 0; i < pl_pipe_micro(p, plan); i++) {
        int row0, rows;
        pl_pipe_micro_rows(p, plan, i, &row0, &rows);
        pl_pipe_output(p, plan, i);
        lra_targets_range(&r->lra, &lay->net, r->s0, r->s1, row0, rows);
        scale_errors(r, row0, rows, 1.0f / (float)B);
    }
    pl_pipe_share_stats(p, plan);
    pl_dp_sum(&p->dp, &lay->net, plan, stats); /* over the pipelines, into the stage's block */
    sum_synapses(r, plan);
}

/* Blocks mode: the forward streamed through the stages; e_L from the last
 * stage to all, micro-batch by micro-batch; every stage sets its layers'
 * targets as each micro-batch's e_L arrives, then, all at once, forms its
 * increments and steps. */
static int reclra_step_blocks(reclra_model *r, int B, uint64_t stepno, float lr,
                              pl_dp_stats *stats)
{
    pl_layered *lay = &r->lay;
    pl_pipe *p = &lay->pipe;
    pl_dp_plan plan;
    pl_pipe_begin(p, B, 0, &plan);
    /* the output's delta becomes e_L = softmax - onehot, sent to every
     * stage micro-batch by micro-batch */
    pl_pipe_forward(p, &lay->net, lay->xbuf, lay->ybuf, &plan, r->base.cfg->run.seed, stepno,
                    1.0f, 1);
    reclra_targets_and_sums(r, &plan, B, stats);
    if (isfinite(stats->loss))
        reclra_update(r, lr);
    pl_pipe_end(p);
    return isfinite(stats->loss) ? 0 : PL_EXIT_DIVERGED; /* the weights stay finite */
}

/* One minibatch of B examples in lay.xbuf: targets, increments, steps.
 * Returns 0 or PL_EXIT_DIVERGED (before any step). */
static int reclra_step(void *rule, int B, uint64_t stepno, float lr, pl_dp_stats *stats)
{
    reclra_model *r = rule;
    if (r->lay.blocks)
        return reclra_step_blocks(r, B, stepno, lr, stats);
    const uint64_t seed = r->base.cfg->run.seed;
    pl_layered *lay = &r->lay;
    pl_net *net = &lay->net;
    pl_dp *dp = &lay->dp;
    pl_dp_plan plan;
    pl_dp_blas_single(dp);
    pl_dp_begin(dp, B, &plan);
    const float *x = lay->xbuf + (size_t)plan.row0 * pl_shape_size(net->input);
    const pl_pass pass = {.train = 1, .seed = seed, .step = stepno, .example0 = (uint64_t)plan.row0};
    for (int i = 0; i < plan.nchunks; i++) {
        int row0, rows;
        long errors = 0;
        pl_dp_chunk(dp, &plan, i, &row0, &rows);
        pl_net_forward(net, x, row0, rows, &pass);
        /* the output's delta becomes e_L = softmax - onehot */
        double loss = pl_net_loss(net, lay->ybuf + plan.row0, row0, rows, 1.0f, &errors);
        lra_targets(&r->lra, net, row0, rows);
        scale_errors(r, row0, rows, 1.0f / (float)B);
        pl_dp_chunk_stats(dp, &plan, i, loss, errors);
    }
    pl_dp_sum(dp, net, &plan, stats);
    sum_synapses(r, &plan);
    pl_dp_blas_restore(dp);
    if (!isfinite(stats->loss))
        return PL_EXIT_DIVERGED; /* the weights stay finite */
    reclra_update(r, lr);
    return 0;
}

static int reclra_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                        void *ctx)
{
    (void)stage;
    const int stale = as_lra(m)->lay.sets > 1;
    return pl_layered_epoch(&as_lra(m)->lay, m->cfg, m->train, epoch, pos, poll, ctx,
                            stale ? reclra_stale_step : reclra_step,
                            stale ? reclra_stale_flush : NULL, m);
}

static long reclra_errors(pl_model *m, int split)
{
    return pl_layered_errors(&as_lra(m)->lay, pl_layered_split(m, split));
}

static void reclra_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    reclra_model *r = as_lra(m);
    const pl_config *cfg = m->cfg;
    long ne = r->lra.nE;
    if (j) {
        pl_json_str(j, "layers", r->lay.net.spec.text);
        pl_json_int(j, "params", r->lay.net.nparams);
        pl_json_int(j, "error_synapse_weights", ne);
    }
    char layout[512];
    double *cost = pl_alloc((size_t)r->lay.net.nlayers * sizeof *cost);
    reclra_costs(r, cost);
    pl_layered_layout(&r->lay, cost, layout, sizeof layout);
    pl_free(cost);
    if (j && layout[0])
        pl_json_str(j, "pipeline", layout);
    snprintf(line, size,
             "net %s (%ld parameters, %d error synapses of %ld weights), pathway %s gap %d, "
             "beta %g, E %s gamma %g, %s lr %g%s%s",
             r->lay.net.spec.text, r->lay.net.nparams, r->lra.n, ne, cfg->lra.pathway,
             cfg->lra.gap, cfg->lra.beta, cfg->lra.e_rule, cfg->lra.gamma, cfg->optim.method,
             cfg->optim.lr, layout[0] ? "; blocks: " : "", layout);
}

static const char *reclra_diverged_hint(int stage)
{
    (void)stage;
    return "try a smaller optim.lr, lra.beta or lra.gamma";
}

/* ---- bench ---- */

/* The bare GEMMs of an epoch: the net's forward and weight products
 * (layered.h), and per synapse of this rank the product d = e E^T
 * (rows x out_s by out_s x out_l) and, unless fixed, its increment
 * (out_l x rows by rows x out_s). */
static double reclra_bench_bare(pl_model *m, int stage)
{
    reclra_model *r = as_lra(m);
    (void)stage;
    const int rows = pl_layered_share_rows(&r->lay, m->cfg, m->comm);
    pl_gemm_shape *extra = pl_alloc((size_t)(2 * (r->s1 - r->s0) + 1) * sizeof *extra);
    int n = 0;
    for (int i = r->s0; i < r->s1; i++) {
        if (r->lra.syn[i].conv)
            continue; /* per-example im2col products: not modelled here */
        const int nd = r->lra.syn[i].rows, ns = r->lra.syn[i].cols;
        extra[n++] = (pl_gemm_shape){0, ns, nd};
        if (r->lra.e_rule != LRA_E_FIXED)
            extra[n++] = (pl_gemm_shape){nd, rows, ns};
    }
    double t = pl_layered_bench_bare(&r->lay, m->cfg, m->comm, m->train->n, 0, extra, n);
    pl_free(extra);
    return t;
}

static void reclra_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    reclra_model *r = as_lra(m);
    (void)stage;
    snprintf(line, size,
             "rec-LRA on %s (%d error synapses, pathway %s), batch %d %s (optim.sum = %s), the "
             "bare GEMMs of the same shapes on %d BLAS thread(s)",
             r->lay.net.spec.text, r->lra.n, m->cfg->lra.pathway, m->cfg->optim.batch,
             r->lay.sets > 1 ? "through a one-step-stale pipeline of stages (net.parallel = "
                               "blocks, net.stale = 1)"
             : r->lay.blocks ? "through a pipeline of stages (net.parallel = blocks)"
                             : "split over the ranks",
             m->cfg->optim.sum, r->lay.blocks ? 1 : openblas_get_num_threads());
}

static void reclra_bench_detail(pl_model *m, int stage, char *line, size_t size)
{
    (void)stage;
    pl_layered_bench_detail(&as_lra(m)->lay, m->comm, line, size);
}

const pl_rule pl_rule_reclra = {
    .name = "reclra",
    .title = "recursive local representation alignment on a layered network (net.layers, "
             "optim.*, lra.*)",
    .nstages = 1,
    .stages = {{"train", "net optim lra", 1}},
    .shared_stages = 0,
    .check = reclra_check,
    .create = reclra_create,
    .destroy = reclra_destroy,
    .state = reclra_state,
    .epochs = pl_layered_epochs,
    .lr = pl_layered_lr,
    .epoch = reclra_epoch,
    .settle = reclra_stale_settle,
    .errors = reclra_errors,
    .describe = reclra_describe,
    .diverged_hint = reclra_diverged_hint,
    .bench_bare = reclra_bench_bare,
    .bench_describe = reclra_bench_describe,
    .bench_detail = reclra_bench_detail,
};
