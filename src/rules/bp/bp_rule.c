/* Backpropagation on a layered network (net.layers), the baseline the
 * backprop-free rules are measured against. One supervised stage on the
 * layered rules' machinery (layered.h): each minibatch is shared over the
 * ranks by the data-parallel path of src/nn/dp.c (optim.sum = fast: a
 * float reduce-scatter of the gradients; exact: fixed chunks summed
 * exactly, the same bits on any rank count), then an optimiser step
 * (optim.method) at the schedule's rate, sharded: each rank steps its
 * block of the parameters, which are then gathered. */
#include "plastic/common.h"
#include "plastic/rule.h"
#include "rules/bp/bp_model.h"

#include <cblas.h>
#include <math.h>

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
    if (pl_layered_create(&b->lay, cfg, comm, train) != 0) {
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
    pl_layered *lay = &as_bp(m)->lay;
    const pl_config *cfg = m->cfg;
    (void)stage;
    pl_layered_begin_epoch(lay, cfg, m->train, epoch);
    int B;
    while ((B = pl_layered_minibatch(lay, cfg, m->train, pos->batch)) > 0) {
        pl_dp_stats st;
        pl_dp_gradient(&lay->dp, &lay->net, lay->xbuf, lay->ybuf, B, cfg->run.seed,
                       pl_layered_step(lay, epoch, pos->batch), &st);
        if (!isfinite(st.loss))
            return PL_EXIT_DIVERGED; /* before the step: the weights stay finite */
        float lr = (float)pl_schedule_lr(&lay->sched, epoch, pos->batch, lay->nbatches);
        pl_dp_step(&lay->dp, &lay->net, &lay->opt, lr);
        pos->loss_sum += st.loss;
        pos->wrong += st.errors;
        pos->batch++;
        if (poll && pos->batch < lay->nbatches && poll(ctx))
            return PL_EXIT_CHECKPOINTED;
    }
    return 0;
}

static long bp_errors(pl_model *m, int split)
{
    return pl_layered_errors(&as_bp(m)->lay, split_of(m, split));
}

static void bp_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    const pl_net *net = &as_bp(m)->lay.net;
    if (j) {
        pl_json_str(j, "layers", net->spec.text);
        pl_json_int(j, "params", net->nparams);
    }
    snprintf(line, size, "net %s (%ld parameters), %s, lr %g", net->spec.text, net->nparams,
             m->cfg->optim.method, m->cfg->optim.lr);
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
    return pl_layered_bench_bare(&as_bp(m)->lay, m->cfg, m->comm, m->train->n, 1);
}

static void bp_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    (void)stage;
    snprintf(line, size,
             "backprop on %s, batch %d split over the ranks (optim.sum = %s), the bare GEMMs of "
             "the same shapes on %d BLAS thread(s)",
             as_bp(m)->lay.net.spec.text, m->cfg->optim.batch, m->cfg->optim.sum,
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
