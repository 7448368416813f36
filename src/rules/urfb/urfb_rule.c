/* Updated random feedback (Amit; algorithms.md §8) on a layered network
 * (net.layers), one supervised stage. Each minibatch goes through
 * backprop's data-parallel path (nn/dp.h) with the input gradients taken
 * through the feedback weights R in place of W (feedback.h): the deltas,
 * and so the increments delta x^T, are the rule's. The increments are
 * summed like gradients (fast or exact), W's masked entries dropped, and
 * the sharded optimiser step moves this rank's block of W; with
 * urfb.feedback = updated the same block of R is stepped by the same
 * increment (masked by R's mask) and all-gathered like W. Fixed leaves R
 * alone; symmetric feeds back through W (backprop, no R).
 *
 * net.parallel = blocks is refused: the pipeline's backward sweep would
 * have to carry R (and step it per stage); data mode covers the paper's
 * nets. */
#include "plastic/common.h"
#include "plastic/rule.h"
#include "rules/urfb/urfb_model.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static urfb_model *as_urfb(pl_model *m) { return (urfb_model *)m; }

static int urfb_check(const pl_config *cfg, int nranks, char *err, size_t size)
{
    if (pl_layered_check(cfg, nranks, err, size))
        return -1;
    if (pl_layered_blocks(cfg)) {
        snprintf(err, size,
                 "net.parallel = blocks: urfb runs data-parallel only (the pipeline's backward "
                 "sweep does not carry the feedback weights); use net.parallel = data");
        return -1;
    }
    if (urfb_mode_parse(cfg->urfb.feedback) == URFB_SYMMETRIC && cfg->urfb.sparsity_r > 0.0) {
        snprintf(err, size,
                 "urfb.sparsity_r = %g with urfb.feedback = symmetric: backprop feeds back "
                 "through W itself, there is no R to sparsify (use urfb.sparsity_w, or 0)",
                 cfg->urfb.sparsity_r);
        return -1;
    }
    return 0;
}

static pl_model *urfb_create(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                             const pl_dataset *valid, const pl_dataset *test)
{
    const int mode = urfb_mode_parse(cfg->urfb.feedback);
    if (mode < 0) {
        pl_error("urfb.feedback = %s: expected one of updated|fixed|symmetric",
                 cfg->urfb.feedback);
        return NULL;
    }
    urfb_model *u = pl_calloc(1, sizeof *u);
    u->base = (pl_model){&pl_rule_urfb, cfg, comm, train, valid, test};
    if (pl_layered_create(&u->lay, cfg, comm, train) != 0) {
        pl_free(u);
        return NULL;
    }
    pl_net *net = &u->lay.net;
    urfb_feedback_create(&u->fb, net, (urfb_mode)mode, cfg->urfb.sparsity_w, cfg->urfb.sparsity_r,
                         cfg->run.seed);
    urfb_feedback_init(&u->fb, net, (pl_init_kind)pl_init_parse(cfg->net.init), cfg->net.init_std,
                       cfg->run.seed);
    long lo, hi;
    pl_dp_block(&u->lay.dp, &lo, &hi);
    if (mode == URFB_UPDATED)
        pl_optim_init_config(&u->ropt, cfg, hi - lo);
    return &u->base;
}

static void urfb_destroy(pl_model *m)
{
    urfb_model *u = as_urfb(m);
    pl_optim_free(&u->ropt);
    urfb_feedback_free(&u->fb);
    pl_layered_free(&u->lay);
    pl_free(u);
}

/* The net's arrays (layered.h); then each R_l as its W_l is shaped,
 * replicated, "urfb/dense2/R" beside "net/dense2/W"; and R's optimiser
 * arrays (updated mode), 1 x nparams by columns as W's ("urfb/m", ...).
 * The masks are not stored: they are drawn again from run.seed. */
static void urfb_state(pl_model *m, pl_state *s)
{
    urfb_model *u = as_urfb(m);
    const pl_net *net = &u->lay.net;
    pl_layered_state(&u->lay, m->train, s);
    for (int l = 0; u->fb.R && l < net->nlayers; l++) {
        if (!urfb_has_feedback(net, l))
            continue;
        const pl_param *W = &net->tensors[net->layers[l].param];
        const char *kind = W->name + strlen("net/"); /* "dense2/W" */
        char name[64];
        snprintf(name, sizeof name, "urfb/%.*sR", (int)(strrchr(kind, '/') + 1 - kind), kind);
        const long rows = W->shape[0];
        pl_state_whole(s, name, PL_ARRAY_MODEL, PL_F32, rows, W->count / rows,
                       u->fb.R + W->offset, 0);
    }
    if (u->fb.mode == URFB_UPDATED) {
        long lo, hi;
        pl_dp_block(&u->lay.dp, &lo, &hi);
        pl_layered_optim_state(&u->ropt, "urfb", net->nparams, lo, 0, 0, s);
    }
    pl_state_attr(s, "urfb", "feedback_layers", u->fb.nfeedback, 1);
}

/* Arrays read from a file (a checkpoint, init_from): masked weights are
 * zero again, whatever the file held. */
static void urfb_loaded(pl_model *m)
{
    urfb_model *u = as_urfb(m);
    urfb_feedback_apply_masks(&u->fb, &u->lay.net);
}

/* A minibatch: the increments of the mean loss through the feedback
 * weights, summed over the ranks; then W's step and R's. */
static int urfb_step(void *rule, int B, uint64_t step, float lr, pl_dp_stats *st)
{
    urfb_model *u = rule;
    pl_layered *lay = &u->lay;
    pl_dp_gradient_feedback(&lay->dp, &lay->net, lay->xbuf, lay->ybuf, B,
                            u->base.cfg->run.seed, step, u->fb.M, st);
    if (!isfinite(st->loss))
        return PL_EXIT_DIVERGED; /* before the step: the weights stay finite */
    long lo, hi;
    pl_dp_block(&lay->dp, &lo, &hi);
    urfb_feedback_increments(&u->fb, &lay->net, lo, hi);
    pl_dp_step(&lay->dp, &lay->net, &lay->opt, lr);
    urfb_feedback_step(&u->fb, &lay->dp, &lay->net, &u->ropt, lr);
    return 0;
}

static int urfb_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                      void *ctx)
{
    (void)stage;
    return pl_layered_epoch(&as_urfb(m)->lay, m->cfg, m->train, epoch, pos, poll, ctx, urfb_step,
                            NULL, m);
}

static long urfb_errors(pl_model *m, int split)
{
    return pl_layered_errors(&as_urfb(m)->lay, pl_layered_split(m, split));
}

static void urfb_describe(pl_model *m, pl_json *j, char *line, size_t size)
{
    urfb_model *u = as_urfb(m);
    const pl_net *net = &u->lay.net;
    const pl_config *cfg = m->cfg;
    if (j) {
        pl_json_str(j, "layers", net->spec.text);
        pl_json_int(j, "params", net->nparams);
        pl_json_str(j, "feedback", cfg->urfb.feedback);
        pl_json_int(j, "feedback_layers", u->fb.nfeedback);
    }
    snprintf(line, size,
             "net %s (%ld parameters), feedback %s (%d layers), sparsity W %g R %g, loss %s, "
             "%s lr %g",
             net->spec.text, net->nparams, cfg->urfb.feedback, u->fb.nfeedback,
             cfg->urfb.sparsity_w, cfg->urfb.sparsity_r, cfg->net.loss, cfg->optim.method,
             cfg->optim.lr);
}

static const char *urfb_diverged_hint(int stage)
{
    (void)stage;
    return "try a smaller optim.lr";
}

/* bench: backprop's bare GEMMs (the feedback products have W's shapes;
 * R's step is elementwise). */
static double urfb_bench_bare(pl_model *m, int stage)
{
    (void)stage;
    return pl_layered_bench_bare(&as_urfb(m)->lay, m->cfg, m->comm, m->train->n, 1, NULL, 0);
}

static void urfb_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    (void)stage;
    const urfb_model *u = as_urfb(m);
    snprintf(line, size,
             "urfb (feedback %s) on %s, batch %d split over the ranks (optim.sum = %s), the bare "
             "GEMMs of backprop's shapes on %d BLAS thread(s)",
             m->cfg->urfb.feedback, u->lay.net.spec.text, m->cfg->optim.batch, m->cfg->optim.sum,
             openblas_get_num_threads());
}

const pl_rule pl_rule_urfb = {
    .name = "urfb",
    .title = "updated random feedback on a layered network (net.layers, optim.*, urfb.*): "
             "errors fed back through weights R of their own",
    .nstages = 1,
    .stages = {{"train", "net optim urfb", 1}},
    .shared_stages = 0,
    .check = urfb_check,
    .create = urfb_create,
    .destroy = urfb_destroy,
    .state = urfb_state,
    .loaded = urfb_loaded,
    .epochs = pl_layered_epochs,
    .lr = pl_layered_lr,
    .epoch = urfb_epoch,
    .errors = urfb_errors,
    .describe = urfb_describe,
    .diverged_hint = urfb_diverged_hint,
    .bench_bare = urfb_bench_bare,
    .bench_describe = urfb_bench_describe,
};
