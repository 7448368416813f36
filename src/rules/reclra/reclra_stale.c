/* rec-LRA's one-step-stale pipeline (net.stale = 1, blocks mode only;
 * nn/pipe.h). Every stage runs, per minibatch t: the forward of t, then
 * the targets, sums and step of t - 1 (the pending minibatch, in the other
 * set of rows). A forward thus sees weights without the previous
 * minibatch's step, and a stage never waits for the pipeline to fill or
 * drain: e_L of t - 1 arrived while it ran the forward of t. Every stage
 * runs the same order, so the bits do not depend on the stage count.
 *
 * The pending step is applied at every epoch's end (flush), so each epoch
 * starts fresh. Before a checkpoint between minibatches the pending
 * minibatch is settled: its targets and sums are done early (nothing they
 * read changes before the next forward would have let them run) and its
 * increments are kept, in the checkpoint too, for its step after the next
 * forward. So a checkpoint, timed or on a signal, changes no bit of the
 * run, and a resumed run is bitwise the uninterrupted one. */
#include <math.h>

#include "plastic/common.h"
#include "rules/reclra/reclra_model.h"

/* The pending minibatch's targets and sums: its increments held, or the
 * run marked diverged; *stats its loss and errors. */
static void settle_pending(reclra_model *r, pl_dp_stats *stats)
{
    pl_layered *lay = &r->lay;
    pl_dp_plan plan;
    pl_pipe_plan(&lay->pipe, r->pend.B, r->pend.set, &plan); /* its sums start again */
    lay->net.x = r->pend.x; /* the forward since pointed it at the next minibatch */
    reclra_targets_and_sums(r, &plan, r->pend.B, stats);
    r->pend.live = 0;
    if (isfinite(stats->loss))
        r->held = (long)r->pend.step + 1;
    else
        r->diverged = 1;
}

/* What is pending, completed: its sums (unless settled) and its step at
 * its own minibatch's rate. *stats = the loss and errors of sums done
 * here (settled ones were reported then). */
static int complete(reclra_model *r, pl_dp_stats *stats)
{
    *stats = (pl_dp_stats){0};
    if (r->pend.live)
        settle_pending(r, stats);
    if (r->diverged)
        return PL_EXIT_DIVERGED; /* before any step with that loss */
    if (r->held) {
        reclra_update(r, pl_layered_step_lr(&r->lay, (uint64_t)(r->held - 1)));
        r->held = 0;
    }
    return 0;
}

int reclra_stale_step(void *rule, int B, uint64_t step, float lr, pl_dp_stats *stats)
{
    reclra_model *r = rule;
    pl_layered *lay = &r->lay;
    pl_pipe *p = &lay->pipe;
    (void)lr; /* the pending minibatch steps at its own rate */
    *stats = (pl_dp_stats){0};
    if (r->diverged)
        return PL_EXIT_DIVERGED;
    pl_dp_plan plan;
    pl_pipe_begin(p, B, lay->set, &plan);
    pl_pipe_forward(p, &lay->net, pl_layered_x(lay, lay->set), pl_layered_y(lay, lay->set), &plan,
                    r->base.cfg->run.seed, step, 1.0f, 1);
    const float *x = lay->net.x;
    int rc = complete(r, stats);
    if (rc == 0)
        r->pend = (struct reclra_pending){.live = 1, .B = B, .set = lay->set, .step = step, .x = x};
    else /* this forward's messages complete before the run stops */
        pl_pipe_share_stats(p, &plan);
    pl_pipe_end(p);
    return rc;
}

int reclra_stale_flush(void *rule, pl_dp_stats *stats)
{
    reclra_model *r = rule;
    pl_pipe_blas_single(&r->lay.pipe); /* as inside a minibatch */
    int rc = complete(r, stats);
    pl_pipe_blas_restore(&r->lay.pipe);
    return rc;
}

void reclra_stale_settle(pl_model *m, int stage, pl_epoch_pos *pos)
{
    reclra_model *r = (reclra_model *)m;
    (void)stage;
    if (!r->pend.live)
        return;
    pl_dp_stats st;
    pl_pipe_blas_single(&r->lay.pipe);
    settle_pending(r, &st);
    pl_pipe_blas_restore(&r->lay.pipe);
    pos->loss_sum += st.loss;
    pos->wrong += st.errors;
}

/* The held increments as the optimisers' arrays are laid out (the net's
 * by this rank's block, the synapses' by the stage's range, copies in
 * later pipelines), and the scalar saying whether they are held. */
void reclra_stale_state(reclra_model *r, pl_state *s)
{
    pl_layered *lay = &r->lay;
    if (lay->sets < 2)
        return;
    long lo, hi;
    pl_dp_block(pl_layered_dp(lay), &lo, &hi);
    pl_state_cols(s, "net/pending", PL_ARRAY_STATE, PL_F32, 1, lay->net.nparams, lo, hi - lo,
                  lay->net.grads + lo, 0);
    pl_state_cols(s, "lra/pending", PL_ARRAY_STATE, PL_F32, 1, r->lra.nE, r->e0, r->e1 - r->e0,
                  r->lra.dE + r->e0, 0)
        ->copy = lay->pipe.pipe > 0;
    pl_state_scalar(s, "lra", "held", &r->held);
}
