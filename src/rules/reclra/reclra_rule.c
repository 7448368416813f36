/* Recursive local representation alignment (rec-LRA; lra.h) on a layered
 * network (net.layers), one supervised stage. Each minibatch is shared
 * over the ranks by the data-parallel path of the layered rules
 * (layered.h): per chunk of examples a forward pass, the output's error,
 * and every hidden layer's target and error from the top down; then the
 * local increments dW = e z^T / B (summed over ranks like backprop's
 * gradients, and stepped by the same sharded optimiser) and the error
 * synapses' increments (summed likewise, stepped at lra.gamma times the
 * rate). No derivative of an activation is taken. */
#include "plastic/common.h"
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
    if (strcmp(cfg->net.loss, "xent") != 0) {
        snprintf(err, size, "net.loss = %s: rec-LRA's output error is softmax minus the label "
                 "(net.loss = xent)", cfg->net.loss);
        return -1;
    }
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
    pl_optim_init_config(&r->eopt, cfg, r->lra.nE);
    if (r->lay.dp.exact) {
        long *counts = pl_alloc((size_t)(r->lra.n ? r->lra.n : 1) * sizeof *counts);
        long largest = 1;
        for (int i = 0; i < r->lra.n; i++) {
            counts[i] = (long)r->lra.syn[i].rows * r->lra.syn[i].cols;
            largest = counts[i] > largest ? counts[i] : largest;
        }
        pl_exact_init(&r->esum, r->lra.n, counts, 0);
        r->escratch = pl_alloc((size_t)largest * sizeof *r->escratch);
        pl_free(counts);
    }
    return &r->base;
}

static void reclra_destroy(pl_model *m)
{
    reclra_model *r = as_lra(m);
    if (r->lay.dp.exact)
        pl_exact_free(&r->esum);
    pl_free(r->escratch);
    pl_optim_free(&r->eopt);
    lra_free(&r->lra);
    pl_layered_free(&r->lay);
    pl_free(r);
}

/* The net's arrays (layered.h), then every error synapse (replicated,
 * out(dst) x out(src)) and their optimiser's arrays. */
static void reclra_state(pl_model *m, pl_state *s)
{
    reclra_model *r = as_lra(m);
    pl_layered_state(&r->lay, m->train, s);
    for (int i = 0; i < r->lra.n; i++) {
        const lra_synapse *y = &r->lra.syn[i];
        pl_state_whole(s, y->name, PL_ARRAY_MODEL, PL_F32, y->rows, y->cols,
                       r->lra.E + y->offset, 0);
    }
    pl_optim_array opt[2];
    int n = pl_optim_arrays(&r->eopt, opt);
    for (int i = 0; i < n; i++) {
        const char *leaf = strrchr(opt[i].name, '/');
        char name[64];
        snprintf(name, sizeof name, "lra/%s", leaf ? leaf + 1 : opt[i].name);
        pl_state_whole(s, name, PL_ARRAY_OPTIM, PL_F32, 1, r->lra.nE, opt[i].data, 0);
    }
    if (r->eopt.method == PL_OPTIM_ADAM)
        pl_state_scalar(s, "lra", "adam_t", &r->eopt.adam.t);
    pl_state_attr(s, "lra", "synapses", r->lra.n, 1);
}

/* Scales the rows' errors (every hidden layer's and the output's) by 1/B
 * once the targets are set: the increments are then means. */
static void scale_errors(reclra_model *r, int row0, int rows, float scale)
{
    pl_net *net = &r->lay.net;
    for (int l = 0; l < net->nlayers; l++) {
        if (r->lra.syn_of[l] < 0 && l != net->nlayers - 1)
            continue;
        const pl_layer *L = &net->layers[l];
        float *e = L->delta + (size_t)row0 * L->out_size;
        for (long k = 0; k < (long)rows * L->out_size; k++)
            e[k] *= scale;
    }
}

/* lra->dE = the synapses' increments summed over the minibatch's chunks
 * on every rank: a float all-reduce (fast) or exact sums (exact). */
static void sum_synapses(reclra_model *r, const pl_dp_plan *plan)
{
    lra *a = &r->lra;
    const pl_net *net = &r->lay.net;
    pl_dp *dp = &r->lay.dp;
    if (a->e_rule == LRA_E_FIXED)
        return;
    if (!dp->exact) {
        for (int i = 0; i < a->n; i++)
            lra_synapse_increment(a, net, i, 0, plan->rows, a->dE + a->syn[i].offset, 0.0f);
        if (pl_comm_size(dp->comm) > 1)
            pl_allreduce_sum_float(dp->comm, a->dE, a->nE);
        return;
    }
    pl_exact_begin(&r->esum, plan->total_chunks);
    for (int i = 0; i < a->n; i++)
        for (int c = 0; c < plan->nchunks; c++) {
            int row0, rows;
            pl_dp_chunk(dp, plan, c, &row0, &rows);
            pl_exact_bound(&r->esum, i, lra_synapse_increment_bound(a, net, i, row0, rows));
        }
    pl_exact_agree(&r->esum, dp->comm);
    for (int i = 0; i < a->n; i++)
        for (int c = 0; c < plan->nchunks; c++) {
            int row0, rows;
            pl_dp_chunk(dp, plan, c, &row0, &rows);
            lra_synapse_increment(a, net, i, row0, rows, r->escratch, 0.0f);
            pl_exact_add(&r->esum, i, r->escratch, 1, 0);
        }
    pl_exact_finish(&r->esum, dp->comm, a->dE);
}

/* One minibatch of B examples in lay.xbuf: targets, increments, steps.
 * Returns 0 or PL_EXIT_DIVERGED (before any step). */
static int reclra_step(void *rule, int B, uint64_t stepno, float lr, pl_dp_stats *stats)
{
    reclra_model *r = rule;
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
    pl_dp_step(dp, net, &lay->opt, lr);
    const float erate = (float)r->base.cfg->lra.gamma * lr;
    if (r->lra.e_rule != LRA_E_FIXED && erate > 0.0f)
        pl_optim_step(&r->eopt, r->lra.E, r->lra.dE, erate);
    return 0;
}

static int reclra_epoch(pl_model *m, int stage, int epoch, pl_epoch_pos *pos, pl_poll_fn poll,
                        void *ctx)
{
    (void)stage;
    return pl_layered_epoch(&as_lra(m)->lay, m->cfg, m->train, epoch, pos, poll, ctx,
                            reclra_step, m);
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
    snprintf(line, size,
             "net %s (%ld parameters, %d error synapses of %ld weights), pathway %s gap %d, "
             "beta %g, E %s gamma %g, %s lr %g",
             r->lay.net.spec.text, r->lay.net.nparams, r->lra.n, ne, cfg->lra.pathway,
             cfg->lra.gap, cfg->lra.beta, cfg->lra.e_rule, cfg->lra.gamma, cfg->optim.method,
             cfg->optim.lr);
}

static const char *reclra_diverged_hint(int stage)
{
    (void)stage;
    return "try a smaller optim.lr, lra.beta or lra.gamma";
}

/* ---- bench ---- */

/* The bare GEMMs of an epoch: the net's forward and weight products
 * (layered.h), and per synapse the product d = e E^T and its increment. */
static double reclra_bench_bare(pl_model *m, int stage)
{
    reclra_model *r = as_lra(m);
    const pl_config *cfg = m->cfg;
    (void)stage;
    double t = pl_layered_bench_bare(&r->lay, cfg, m->comm, m->train->n, 0);
    long lo, hi, biggest = 1;
    pl_block_range(cfg->optim.batch, pl_comm_size(m->comm), pl_comm_rank(m->comm), &lo, &hi);
    const int rows = (int)(hi - lo);
    for (int i = 0; i < r->lra.n; i++) {
        long need = (long)rows * (r->lra.syn[i].rows > r->lra.syn[i].cols ? r->lra.syn[i].rows
                                                                          : r->lra.syn[i].cols);
        long w = (long)r->lra.syn[i].rows * r->lra.syn[i].cols;
        biggest = need > biggest ? need : biggest;
        biggest = w > biggest ? w : biggest;
    }
    float *a = pl_calloc((size_t)biggest, sizeof *a), *b = pl_calloc((size_t)biggest, sizeof *b);
    float *c = pl_calloc((size_t)biggest, sizeof *c);
    pl_barrier(m->comm);
    double t0 = pl_now();
    for (long start = 0; start < m->train->n && rows > 0; start += cfg->optim.batch)
        for (int i = 0; i < r->lra.n; i++) {
            const int nd = r->lra.syn[i].rows, ns = r->lra.syn[i].cols;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nd, ns, 1.0f, a, ns, b, ns,
                        0.0f, c, nd);
            if (r->lra.e_rule != LRA_E_FIXED)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nd, ns, rows, 1.0f, c, nd, a,
                            ns, 0.0f, b, ns);
        }
    double te = pl_now() - t0;
    pl_allreduce_max_double(m->comm, &te, 1);
    pl_free(a);
    pl_free(b);
    pl_free(c);
    return t + te;
}

static void reclra_bench_describe(pl_model *m, int stage, char *line, size_t size)
{
    reclra_model *r = as_lra(m);
    (void)stage;
    snprintf(line, size,
             "rec-LRA on %s (%d error synapses, pathway %s), batch %d split over the ranks "
             "(optim.sum = %s), the bare GEMMs of the same shapes on %d BLAS thread(s)",
             r->lay.net.spec.text, r->lra.n, m->cfg->lra.pathway, m->cfg->optim.batch,
             m->cfg->optim.sum, openblas_get_num_threads());
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
    .errors = reclra_errors,
    .describe = reclra_describe,
    .diverged_hint = reclra_diverged_hint,
    .bench_bare = reclra_bench_bare,
    .bench_describe = reclra_bench_describe,
};
