/* Backpropagation on a layered network (net.layers), the baseline the
 * backprop-free rules are measured against. One supervised stage on the
 * layered rules' machinery (layered.h): each minibatch is shared over the
 * ranks by the data-parallel path of src/nn/dp.c (optim.sum = fast: a
 * float reduce-scatter of the gradients; exact: fixed chunks summed
 * exactly, the same bits on any rank count), then an optimiser step
 * (optim.method) at the schedule's rate, sharded: each rank steps its
 * block of the parameters, which are then gathered. With net.parallel =
 * blocks the net is a pipeline of stages (nn/pipe.h) and the gradient
 * needs the backward sweep through it, stage by stage. */
#include "plastic/common.h"
#include "plastic/nn/stages.h"
#include "plastic/rule.h"
#include "rules/bp/bp_model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>

static bp_model *as_bp(pl_model *m) { return (bp_model *)m; }

static int bp_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    if (pl_layered_check(cfg, nranks, err, size))
        return -1;
    if (cfg->net.stale) { /* the backward sweep needs the weights its forward saw */
        snprintf(err, size, "net.stale = 1: the one-step-stale pipeline is rec-LRA's "
                 "(model.rule = reclra); backprop runs without it (net.stale = 0)");
        return -1;
    }
    return 0;
}

/* A layer's work per example in a backprop minibatch: its forward, its
 * weight gradient and (past the first layer) its input gradient. */
static void bp_costs(const pl_net *net, double *cost)
{
    for (int l = 0; l < net->nlayers; l++)
        cost[l] = (l == 0 ? 2.0 : 3.0) * pl_layer_cost(net, l);
}

/* Blocks mode: the stages, units as nn/stages.h cuts them. */
static int bp_stages(bp_model *b, const pl_config *cfg, const pl_comm *comm)
{
    const pl_net *net = &b->lay.net;
    char *start = pl_alloc((size_t)net->nlayers);
    double *cost = pl_alloc((size_t)net->nlayers * sizeof *cost);
    pl_stage_units(net, start);
    bp_costs(net, cost);
    int rc = pl_layered_stages(&b->lay, cfg, comm, start, cost,
                               "a res( ) block, or a layer outside blocks, is one unit");
    pl_free(start);
    pl_free(cost);
    return rc;
}

static pl_model *bp_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                           const pl_dataset *valid, const pl_dataset *test)
{
    bp_model *b = pl_calloc(1, sizeof *b);
    b->base = (pl_model){&pl_rule_bp, cfg, comm, train, valid, test};
    if (pl_layered_create(&b->lay, cfg, comm, train) != 0) {
        pl_free(b);
        return NULL;
    }
    if (b->lay.blocks && bp_stages(b, cfg, comm) != 0) {
        pl_layered_free(&b->lay);
        pl_free(b);
        return NULL;
    }
    return &b->base;
}

static void bp_destroy(pl_model *m)
{
    bp_model *b = as_bp(m);
    pl_layered_free(&b->lay);
    pl_free(b);
}

/* The net's arrays (layered.h): a checkpoint has the layout of the
 * replicated step's and resumes on any rank count. */
static void bp_state(pl_model *m, pl_state *s) { pl_layered_state(&as_bp(m)->lay, m->train, s); }

/* Blocks mode: the forward streamed through the stages, the loss on the
 * last, the backward sweep back down, then each stage's gradient and step. */
static int bp_step_blocks(bp_model *b, int B, uint64_t step, float lr, pl_dp_stats *st)
{
    pl_layered *lay = &b->lay;
    pl_pipe *p = &lay->pipe;
    pl_dp_plan plan;
    pl_pipe_begin(p, B, 0, &plan);
    pl_pipe_forward(p, &lay->net, lay->xbuf, lay->ybuf, &plan, b->base.cfg->run.seed, step,
                    1.0f / (float)B, 0);
    pl_pipe_backward(p, &lay->net, &plan);
    pl_pipe_share_stats(p, &plan);
    pl_dp_sum(&p->dp, &lay->net, &plan, st); /* over the pipelines, into the stage's block */
    if (isfinite(st->loss))
        pl_dp_step(&p->dp, &lay->net, &lay->opt, lr);
    pl_pipe_end(p);
    return isfinite(st->loss) ? 0 : PL_EXIT_DIVERGED; /* before the step: weights stay finite */
}

/* A minibatch: the data-parallel gradient of the mean loss, then the
 * sharded optimiser step. */
static int bp_step(void *rule, int B, uint64_t step, float lr, pl_dp_stats *st)
{
    bp_model *b = rule;
    pl_layered *lay = &b->lay;
    if (lay->blocks)
        return bp_step_blocks(b, B, step, lr, st);
    pl_dp_gradient(&lay->dp, &lay->net, lay->xbuf, lay->ybuf, B, b->base.cfg->run.seed, step, st);
    if (!isfinite(st->loss))
        return PL_EXIT_DIVERGED; /* before the step: the weights stay finite */
    pl_dp_step(&lay->dp, &lay->net, &lay->opt, lr);
    return 0;
}

static int bp_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                    void *ctx)
{
    (void)stage;
    return pl_layered_epoch(&as_bp(m)->lay, m->cfg, m->train, epoch, pos, poll, ctx, bp_step,
                            NULL, m);
}

static long bp_errors(pl_model *m, int split)
{
    return pl_layered_errors(&as_bp(m)->lay, pl_layered_split(m, split));
}

static void bp_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    const pl_net *net = &as_bp(m)->lay.net;
    if (j) {
        pl_json_str(j, "layers", net->spec.text);
        pl_json_int(j, "params", net->nparams);
    }
    char layout[512];
    double *cost = pl_alloc((size_t)net->nlayers * sizeof *cost);
    bp_costs(net, cost);
    pl_layered_layout(&as_bp(m)->lay, cost, layout, sizeof layout);
    pl_free(cost);
    if (j && layout[0])
        pl_json_str(j, "pipeline", layout);
    snprintf(line, size, "net %s (%ld parameters), %s, lr %g%s%s", net->spec.text, net->nparams,
             m->cfg->optim.method, m->cfg->optim.lr, layout[0] ? "; blocks: " : "", layout);
}

static const char *bp_diverged_hint(int stage)
{
    (void)stage;
    return "try a smaller optim.lr";
}

/* bench: the bare GEMMs of the forward, weight and input products. */
static double bp_bench_bare(pl_model *m, int stage)
{
    (void)stage;
    return pl_layered_bench_bare(&as_bp(m)->lay, m->cfg, m->comm, m->train->n, 1, NULL, 0);
}

static void bp_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    (void)stage;
    const pl_layered *lay = &as_bp(m)->lay;
    snprintf(line, size,
             "backprop on %s, batch %d %s (optim.sum = %s), the bare GEMMs of the same shapes "
             "on %d BLAS thread(s)",
             lay->net.spec.text, m->cfg->optim.batch,
             lay->blocks ? "through a pipeline of stages (net.parallel = blocks)"
                         : "split over the ranks",
             m->cfg->optim.sum, lay->blocks ? 1 : openblas_get_num_threads());
}

static void bp_bench_detail(pl_model *m, int stage, char *line, size_t size)
{
    (void)stage;
    pl_layered_bench_detail(&as_bp(m)->lay, m->comm, line, size);
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
    .epochs = pl_layered_epochs,
    .lr = pl_layered_lr,
    .epoch = bp_epoch,
    .errors = bp_errors,
    .describe = bp_describe,
    .diverged_hint = bp_diverged_hint,
    .bench_bare = bp_bench_bare,
    .bench_describe = bp_bench_describe,
    .bench_detail = bp_bench_detail,
};
