/* The urfb rule (updated random feedback) through the rule interface and
 * its parts: the hinge loss's error against finite differences of the
 * loss; the backward through feedback matrices against a naive reference
 * (conv, pool, dense; NULL is backprop's bits); symmetric mode's update
 * equal to the true gradient (central differences); updated mode's R
 * stepped by W's very increment (the same float subtracted from both, so
 * R - W moves by rounding only; under Adam the same optimiser state);
 * fixed mode's R untouched; masks independent, at their rates, off the
 * output layer, and their weights zero through training; R keyed by the
 * seed; the state list; a small net learning in each mode; bad
 * configurations refused naming the key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/nn/loss.h"
#include "plastic/nn/net.h"
#include "plastic/nn/nn_ref.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/urfb/urfb_model.h"

#include "support.h"

enum { SIDE = 3, DIM = SIDE * SIDE, NCLASS = 3 };

typedef rule_fixture fixture;

static void setup(fixture *f, int n, const char *layers, const char *const *overrides)
{
    rule_fixture_setup(f, "urfb", n, layers, overrides);
}

static void teardown(fixture *f) { rule_fixture_teardown(f); }

static urfb_model *create(fixture *f)
{
    assert_ptr_equal(pl_rule_of(&f->cfg), &pl_rule_urfb);
    assert_int_equal(pl_rule_check(&f->cfg, 1), 0);
    pl_model *m = pl_rule_urfb.create(&f->cfg, pl_comm_self(), &f->train, &f->valid, &f->test);
    assert_non_null(m);
    return (urfb_model *)m;
}

static void epoch(urfb_model *u, int e)
{
    pl_epoch_pos pos = {0};
    assert_int_equal(pl_rule_urfb.epoch(&u->base, 0, e, &pos, NULL, NULL), 0);
}

static float *copy_of(const float *x, long n)
{
    float *c = pl_alloc((size_t)n * sizeof *c);
    memcpy(c, x, (size_t)n * sizeof *c);
    return c;
}

/* ---- the loss ---- */

/* pl_hinge_loss's gradient is the central difference of its loss (away
 * from the kinks at +-1), and minus it is Eq. 5's error: 1 on a target
 * below +1, -mu on a non-target above -1, else 0. */
static void hinge_error_is_the_loss_derivative(void **state)
{
    (void)state;
    enum { B = 4, C = 5 };
    const float mu = 0.25f, scale = 0.5f, h = 1e-3f;
    float z[B * C], grad[B * C], g2[B * C];
    const uint8_t y[B] = {0, 3, 4, 1};
    fill_uniform(z, B * C, 7, 0, -1.6, 1.6);
    for (int i = 0; i < B * C; i++)
        if (fabsf(fabsf(z[i]) - 1.0f) < 10 * h)
            z[i] += 0.05f; /* off the kinks */
    pl_hinge_loss(z, y, B, C, mu, scale, grad);
    double refg[B * C];
    pl_ref_hinge(z, y, B, C, mu, scale, refg);
    for (int i = 0; i < B * C; i++) {
        const float keep = z[i];
        z[i] = keep + h;
        const double up = pl_hinge_loss(z, y, B, C, mu, scale, g2);
        z[i] = keep - h;
        const double down = pl_hinge_loss(z, y, B, C, mu, scale, g2);
        z[i] = keep;
        const double fd = scale * (up - down) / (2.0 * (double)h);
        check_close(grad[i], fd, 1e-4, 1e-3, "hinge gradient vs central difference", i);
        check_close(grad[i], refg[i], 1e-7, 1e-6, "hinge gradient vs reference", i);
        const int r = i / C, c = i % C;
        const float eq5 = c == y[r] ? (z[i] < 1.0f ? 1.0f : 0.0f) : (z[i] > -1.0f ? -mu : 0.0f);
        assert_true(-grad[i] == scale * eq5);
    }
}

/* ---- the backward through feedback matrices ---- */

/* Every layer's delta after pl_net_backward_feedback against the naive
 * layer references run top down with R in place of W: conv (3x3, tanh:
 * no ties for the pool to break), pool, dense clip, dense clip output. */
static void feedback_backward_matches_reference(void **state)
{
    (void)state;
    enum { B = 3 };
    pl_net net;
    char err[256];
    const pl_shape in = {1, 6, 6, 0};
    if (pl_net_create(&net, "conv 3 3x3 tanh, pool 2, dense 7 clip, dense 4 clip", in, 4,
                      PL_LOSS_HINGE, 0.5f, B, err, sizeof err))
        fail_msg("%s", err);
    fill_uniform(net.params, net.nparams, 11, 0, -0.6, 0.6);
    float *R = alloc_uniform(net.nparams, 11, 1, -0.6, 0.6);
    const float *M[4] = {NULL, NULL, R + net.tensors[net.layers[2].param].offset,
                         R + net.tensors[net.layers[3].param].offset};
    float *x = alloc_uniform(B * 36, 11, 2, 0.0, 1.0);
    pl_net_forward(&net, x, 0, B, NULL);
    pl_layer *L = net.layers;
    float *top = alloc_uniform(B * 4, 11, 3, -1.0, 1.0);
    memcpy(L[3].delta, top, B * 4 * sizeof *top);
    pl_net_backward_feedback(&net, 0, 4, 0, B, M);

    /* the reference, layer by layer */
    float d3[B * 4], dz2[B * 7], d2[B * 7];
    float *dz1 = pl_alloc((size_t)B * L[1].out_size * sizeof *dz1);
    float *dz0 = pl_alloc((size_t)B * L[0].out_size * sizeof *dz0);
    float *d0 = pl_alloc((size_t)B * L[0].out_size * sizeof *d0);
    for (int i = 0; i < B * 4; i++)
        d3[i] = (float)(top[i] * pl_ref_act_deriv(PL_ACT_CLIP, L[3].h[i]));
    pl_ref_dense_backward_input(dz2, d3, M[3], B, 7, 4);
    for (int i = 0; i < B * 7; i++)
        d2[i] = (float)(dz2[i] * pl_ref_act_deriv(PL_ACT_CLIP, L[2].h[i]));
    pl_ref_dense_backward_input(dz1, d2, M[2], B, (int)L[2].in_size, 7);
    pl_ref_maxpool_backward(&L[1].pool, dz0, dz1, L[0].z, B);
    for (long i = 0; i < B * L[0].out_size; i++)
        d0[i] = (float)(dz0[i] * pl_ref_act_deriv(PL_ACT_TANH, L[0].h[i]));
    for (int i = 0; i < B * 4; i++)
        check_close(L[3].delta[i], d3[i], 1e-6, 1e-5, "output delta", i);
    for (int i = 0; i < B * 7; i++)
        check_close(L[2].delta[i], d2[i], 1e-6, 1e-5, "dense delta", i);
    for (long i = 0; i < B * L[1].out_size; i++)
        check_close(L[1].delta[i], dz1[i], 1e-6, 1e-5, "pool delta", i);
    for (long i = 0; i < B * L[0].out_size; i++)
        check_close(L[0].delta[i], d0[i], 1e-6, 1e-5, "conv delta", i);

    /* feedback through W itself, or NULL, is backprop, bit for bit */
    float *bp = pl_alloc((size_t)B * L[0].out_size * sizeof *bp);
    memcpy(L[3].delta, top, B * 4 * sizeof *top);
    pl_net_backward(&net, 0, B);
    memcpy(bp, L[0].delta, (size_t)B * L[0].out_size * sizeof *bp);
    const float *W[4] = {NULL, NULL, L[2].W, L[3].W};
    memcpy(L[3].delta, top, B * 4 * sizeof *top);
    pl_net_backward_feedback(&net, 0, 4, 0, B, W);
    assert_memory_equal(bp, L[0].delta, (size_t)B * L[0].out_size * sizeof *bp);
    memcpy(L[3].delta, top, B * 4 * sizeof *top);
    pl_net_backward_feedback(&net, 0, 4, 0, B, NULL);
    assert_memory_equal(bp, L[0].delta, (size_t)B * L[0].out_size * sizeof *bp);

    pl_free(bp);
    pl_free(dz1);
    pl_free(dz0);
    pl_free(d0);
    pl_free(top);
    pl_free(x);
    pl_free(R);
    pl_net_free(&net);
}

/* ---- symmetric mode is backprop ---- */

static double mean_loss(urfb_model *u, const pl_dataset *d)
{
    pl_net_forward(&u->lay.net, d->x, 0, d->n, NULL);
    return pl_net_loss(&u->lay.net, d->y, 0, d->n, 1.0f, NULL) / d->n;
}

/* One SGD step at rate 1 on a minibatch of the whole set: the update is
 * minus the gradient of the mean loss by central differences. Where a
 * perturbation crosses a kink (clip units, the hinge) the two one-sided
 * slopes differ and the parameter is left out; most must be checked. */
static void check_symmetric_gradient(const char *layers, const char *loss, float h)
{
    fixture f;
    char loss_key[64];
    snprintf(loss_key, sizeof loss_key, "net.loss=%s", loss);
    const char *o[] = {"urfb.feedback=symmetric", "optim.method=sgd", "optim.lr=1",
                       "optim.batch=6", loss_key, "net.hinge_mu=0.3", NULL};
    setup(&f, 6, layers, o);
    urfb_model *u = create(&f);
    assert_null(u->fb.R);
    pl_net *net = &u->lay.net;
    const long n = net->nparams;
    float *before = copy_of(net->params, n);
    double *fd = pl_alloc((size_t)n * sizeof *fd);
    char *kink = pl_calloc((size_t)n, 1);
    const double mid = mean_loss(u, &f.train);
    long checked = 0;
    for (long i = 0; i < n; i++) {
        float keep = net->params[i];
        net->params[i] = keep + h;
        double up = mean_loss(u, &f.train);
        net->params[i] = keep - h;
        double down = mean_loss(u, &f.train);
        net->params[i] = keep;
        fd[i] = (up - down) / (2.0 * h);
        kink[i] = fabs((up - mid) - (mid - down)) > 1e-2 * h + 1e-6;
        checked += !kink[i];
    }
    epoch(u, 0);
    for (long i = 0; i < n; i++) {
        double step = (double)before[i] - (double)net->params[i];
        if (!kink[i] && !(fabs(step - fd[i]) <= 1e-3 + 1e-2 * fabs(fd[i])))
            fail_msg("%s: parameter %ld: update %g, finite difference %g", layers, i, step, fd[i]);
    }
    if (checked < (long)(0.8 * (double)n))
        fail_msg("%s: only %ld of %ld parameters away from a kink", layers, checked, n);
    pl_free(before);
    pl_free(fd);
    pl_free(kink);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);
}

static void symmetric_is_the_true_gradient(void **state)
{
    (void)state;
    check_symmetric_gradient("dense 5 tanh, dense 3 softmax", "xent", 1e-2f);
    check_symmetric_gradient("dense 5 clip, dense 4 clip, dense 3 clip", "hinge", 1e-3f);
}

/* ---- updated mode: R gets W's increment ---- */

/* Minibatches of the whole set, so that after each epoch net->grads still
 * holds the step's summed increment g: W and R are each the old value
 * minus the same float lr g, bit for bit, and R - W moves only by the
 * rounding of those two subtractions (within 2^-24 of each value per
 * step). */
static void updated_r_gets_ws_increment(void **state)
{
    (void)state;
    fixture f;
    const char *o[] = {"urfb.feedback=updated", "optim.method=sgd", "optim.lr=0.05",
                       "optim.batch=30", "net.loss=hinge", "net.hinge_mu=0.2", NULL};
    setup(&f, 30, "dense 6 clip, dense 5 clip, dense 3 clip", o);
    urfb_model *u = create(&f);
    pl_net *net = &u->lay.net;
    const long n = net->nparams;
    float *W0 = copy_of(net->params, n), *R0 = copy_of(u->fb.R, n);
    const float lr = 0.05f;
    enum { STEPS = 5 };
    long moved = 0;
    for (int e = 0; e < STEPS; e++) {
        float *W = copy_of(net->params, n), *R = copy_of(u->fb.R, n);
        epoch(u, e);
        for (long i = 0; i < n; i++) {
            const float g = net->grads[i];
            assert_true(net->params[i] == W[i] - lr * g);
            if (!u->fb.keep_r[i])
                continue; /* biases, the first layer: no feedback */
            assert_true(u->fb.gR[i] == g);
            assert_true(u->fb.R[i] == R[i] - lr * g);
            moved += u->fb.R[i] != R[i];
        }
        pl_free(W);
        pl_free(R);
    }
    assert_true(moved > 0);
    for (long i = 0; i < n; i++) {
        if (!u->fb.keep_r[i]) {
            assert_true(u->fb.R[i] == 0.0f);
            continue;
        }
        const double d = (double)u->fb.R[i] - net->params[i], d0 = (double)R0[i] - W0[i];
        const double size = fabs(u->fb.R[i]) + fabs(net->params[i]) + fabs(R0[i]) + fabs(W0[i]);
        check_close(d, d0, STEPS * 0x1p-23 * size, 0.0, "R - W against its initial value", i);
    }
    pl_free(W0);
    pl_free(R0);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);
}

/* Under Adam too: R's optimiser state is W's, so its increments are W's. */
static void updated_under_adam_shares_ws_state(void **state)
{
    (void)state;
    fixture f;
    const char *o[] = {"optim.method=adam", "optim.lr=0.01", "optim.batch=10",
                       "net.loss=hinge", NULL};
    setup(&f, 30, "dense 6 clip, dense 5 clip, dense 3 clip", o);
    urfb_model *u = create(&f);
    pl_net *net = &u->lay.net;
    const long n = net->nparams;
    float *W0 = copy_of(net->params, n), *R0 = copy_of(u->fb.R, n);
    for (int e = 0; e < 3; e++)
        epoch(u, e);
    assert_int_equal(u->ropt.adam.t, u->lay.opt.adam.t);
    long moved = 0;
    for (long i = 0; i < n; i++) {
        if (!u->fb.keep_r[i])
            continue;
        assert_true(u->ropt.adam.m[i] == u->lay.opt.adam.m[i]);
        assert_true(u->ropt.adam.v[i] == u->lay.opt.adam.v[i]);
        const double dW = (double)net->params[i] - W0[i], dR = (double)u->fb.R[i] - R0[i];
        const double size = fabs(u->fb.R[i]) + fabs(net->params[i]) + fabs(R0[i]) + fabs(W0[i]);
        check_close(dR, dW, 9 * 0x1p-23 * size, 0.0, "R's increment against W's", i);
        moved += dW != 0.0;
    }
    assert_true(moved > 0);
    pl_free(W0);
    pl_free(R0);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);
}

/* ---- fixed mode, masks, keys ---- */

static void fixed_leaves_r_alone(void **state)
{
    (void)state;
    fixture f;
    const char *o[] = {"urfb.feedback=fixed", "optim.method=sgd", "optim.lr=0.05",
                       "optim.batch=10", "net.loss=hinge", NULL};
    setup(&f, 30, "dense 6 clip, dense 5 clip, dense 3 clip", o);
    urfb_model *u = create(&f);
    const long n = u->lay.net.nparams;
    float *W0 = copy_of(u->lay.net.params, n), *R0 = copy_of(u->fb.R, n);
    for (int e = 0; e < 3; e++)
        epoch(u, e);
    assert_memory_equal(R0, u->fb.R, (size_t)n * sizeof *R0);
    assert_true(memcmp(W0, u->lay.net.params, (size_t)n * sizeof *W0) != 0);
    assert_null(u->fb.gR);
    pl_free(W0);
    pl_free(R0);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);
}

/* R is drawn like W on its own stream keyed by (seed, layer): not W, the
 * same for the same seed, another for another seed; the first layer (no
 * input gradient) and the biases hold none. */
static void r_is_keyed_by_the_seed(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 30, "dense 6 tanh, dense 5 tanh, dense 3 softmax", NULL);
    urfb_model *a = create(&f), *b = create(&f);
    const pl_net *net = &a->lay.net;
    const long n = net->nparams;
    assert_memory_equal(a->fb.R, b->fb.R, (size_t)n * sizeof *a->fb.R);
    float *want = pl_calloc((size_t)n, sizeof *want);
    pl_net_init_weights(net, PL_INIT_XAVIER, 0.0, f.cfg.run.seed, PL_STREAM_URFB_INIT, want);
    for (int l = 0; l < net->nlayers; l++) {
        const pl_param *W = &net->tensors[net->layers[l].param], *bias = W + 1;
        const float *R = a->fb.R + W->offset;
        assert_int_equal(urfb_has_feedback(net, l), l > 0);
        assert_ptr_equal(a->fb.M[l], l > 0 ? R : NULL);
        for (long i = 0; i < W->count; i++) {
            assert_true(R[i] == (l > 0 ? want[W->offset + i] : 0.0f));
            if (l > 0)
                assert_true(R[i] != net->params[W->offset + i]);
        }
        for (long i = 0; i < bias->count; i++)
            assert_true(a->fb.R[bias->offset + i] == 0.0f);
    }
    pl_rule_urfb.destroy(&b->base);
    f.cfg.run.seed = 2;
    b = create(&f);
    assert_true(memcmp(a->fb.R, b->fb.R, (size_t)n * sizeof *a->fb.R) != 0);
    pl_free(want);
    pl_rule_urfb.destroy(&a->base);
    pl_rule_urfb.destroy(&b->base);
    teardown(&f);
}

/* Sparsity: each hidden layer's W and R masked at about their rates, by
 * independent masks; the output layer never; the same masks for the same
 * seed; and under Adam (whose step moves any weight with a nonzero
 * state) the masked weights stay exactly zero while the others learn. */
static void masks_stay_zero(void **state)
{
    (void)state;
    fixture f;
    const char *o[] = {"urfb.sparsity_w=0.5", "urfb.sparsity_r=0.3", "optim.method=adam",
                       "optim.lr=0.01", "optim.batch=10", "net.loss=hinge", NULL};
    setup(&f, 60, "dense 40 clip, dense 40 clip, dense 3 clip", o);
    urfb_model *u = create(&f), *again = create(&f);
    pl_net *net = &u->lay.net;
    const long n = net->nparams;
    assert_memory_equal(u->fb.keep_w, again->fb.keep_w, (size_t)n);
    assert_memory_equal(u->fb.keep_r, again->fb.keep_r, (size_t)n);
    pl_rule_urfb.destroy(&again->base);
    for (int l = 0; l < net->nlayers; l++) {
        const pl_param *W = &net->tensors[net->layers[l].param];
        long off_w = 0, off_r = 0, differ = 0;
        for (long i = W->offset; i < W->offset + W->count; i++) {
            off_w += !u->fb.keep_w[i];
            off_r += l > 0 && !u->fb.keep_r[i];
            differ += u->fb.keep_w[i] != u->fb.keep_r[i];
            assert_true(u->fb.keep_w[i] || net->params[i] == 0.0f);
        }
        const double fw = (double)off_w / W->count, fr = (double)off_r / W->count;
        if (l == net->nlayers - 1) {
            assert_int_equal(off_w, 0);
            assert_int_equal(off_r, 0);
            continue;
        }
        /* 4 standard deviations of a fraction of >= 360 draws */
        if (fabs(fw - 0.5) > 4 * sqrt(0.25 / W->count))
            fail_msg("layer %d: %g of W masked", l, fw);
        if (l > 0 && fabs(fr - 0.3) > 4 * sqrt(0.21 / W->count))
            fail_msg("layer %d: %g of R masked", l, fr);
        assert_true(differ > W->count / 4);
    }
    float *W0 = copy_of(net->params, n);
    for (int e = 0; e < 4; e++)
        epoch(u, e);
    long learnt = 0;
    for (long i = 0; i < n; i++) {
        if (!u->fb.keep_w[i])
            assert_true(net->params[i] == 0.0f);
        if (u->fb.R && !u->fb.keep_r[i])
            assert_true(u->fb.R[i] == 0.0f);
        learnt += u->fb.keep_w[i] && net->params[i] != W0[i];
    }
    assert_true(learnt > n / 4);
    pl_free(W0);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);
}

/* ---- the rule interface ---- */

static void state_lists_r_beside_w(void **state)
{
    (void)state;
    fixture f;
    const char *o[] = {"optim.method=adam", "net.loss=hinge", NULL};
    setup(&f, 6, "dense 5 clip, dense 4 clip, dense 3 clip", o);
    urfb_model *u = create(&f);
    pl_state *s = pl_calloc(1, sizeof *s);
    pl_rule_urfb.state(&u->base, s);
    /* W, b of 3 layers; net/m, net/v; R of layers 2 and 3; urfb/m, urfb/v */
    assert_int_equal(s->narrays, 12);
    assert_string_equal(s->arrays[8].name, "urfb/dense2/R");
    assert_int_equal(s->arrays[8].dims[0], 4);
    assert_int_equal(s->arrays[8].dims[1], 5);
    assert_int_equal(s->arrays[8].kind, PL_ARRAY_MODEL);
    assert_true(s->arrays[8].replicated);
    assert_ptr_equal(s->arrays[8].data, u->fb.M[1]);
    assert_string_equal(s->arrays[9].name, "urfb/dense3/R");
    assert_string_equal(s->arrays[10].name, "urfb/m");
    assert_int_equal(s->arrays[10].kind, PL_ARRAY_OPTIM);
    assert_int_equal(s->arrays[10].dims[1], u->lay.net.nparams);
    assert_string_equal(s->arrays[11].name, "urfb/v");
    assert_int_equal(s->nscalars, 2);
    assert_string_equal(s->scalars[1].group, "urfb");
    pl_free(s);
    pl_rule_urfb.destroy(&u->base);
    teardown(&f);

    /* fixed: R but no optimiser of its own; symmetric: no R */
    const char *modes[] = {"urfb.feedback=fixed", "urfb.feedback=symmetric"};
    const int arrays[] = {10, 8};
    for (int i = 0; i < 2; i++) {
        const char *o2[] = {"optim.method=adam", "net.loss=hinge", modes[i], NULL};
        setup(&f, 6, "dense 5 clip, dense 4 clip, dense 3 clip", o2);
        u = create(&f);
        s = pl_calloc(1, sizeof *s);
        pl_rule_urfb.state(&u->base, s);
        assert_int_equal(s->narrays, arrays[i]);
        assert_int_equal(s->nscalars, 1);
        pl_free(s);
        pl_rule_urfb.destroy(&u->base);
        teardown(&f);
    }
}

/* A prototype task learnt in each mode: the summed loss of the last
 * epoch under a tenth of the first's, the test set nearly all right. */
static void learns_in_every_mode(void **state)
{
    (void)state;
    const char *modes[][2] = {{"urfb.feedback=updated", "urfb.sparsity_w=0"},
                              {"urfb.feedback=fixed", "urfb.sparsity_w=0"},
                              {"urfb.feedback=symmetric", "urfb.sparsity_w=0"},
                              {"urfb.feedback=updated", "urfb.sparsity_w=0.3"}};
    for (int k = 0; k < 4; k++) {
        fixture f;
        const char *o[] = {modes[k][0], modes[k][1], "optim.method=sgd", "optim.lr=0.1",
                           "optim.batch=10", "net.loss=hinge", "net.hinge_mu=0.5", NULL};
        setup(&f, 90, "dense 16 clip, dense 16 clip, dense 3 clip", o);
        urfb_model *u = create(&f);
        double first = 0, last = 0;
        for (int e = 0; e < 20; e++) {
            pl_epoch_pos pos = {0};
            assert_int_equal(pl_rule_urfb.epoch(&u->base, 0, e, &pos, NULL, NULL), 0);
            if (e == 0)
                first = pos.loss_sum;
            last = pos.loss_sum;
        }
        if (!(last < 0.1 * first))
            fail_msg("%s %s: loss %g after %g", modes[k][0], modes[k][1], last, first);
        const long wrong = pl_rule_urfb.errors(&u->base, PL_SPLIT_TEST);
        if (wrong > 2)
            fail_msg("%s %s: %ld of 60 test examples wrong", modes[k][0], modes[k][1], wrong);
        pl_rule_urfb.destroy(&u->base);
        teardown(&f);
    }
}

/* Refused, naming the key: a sparsity outside [0, 1), an unknown
 * feedback, R's sparsity where there is no R, blocks mode. */
static void bad_configurations_are_refused(void **state)
{
    (void)state;
    pl_config cfg;
    pl_config_defaults(&cfg);
    const char *bad[][2] = {{"urfb.sparsity_w=1", "urfb.sparsity_w: must be < 1"},
                            {"urfb.sparsity_r=1.5", "urfb.sparsity_r: must be < 1"},
                            {"urfb.sparsity_w=-0.1", "urfb.sparsity_w: must be >= 0"},
                            {"urfb.feedback=sideways", "urfb.feedback"}};
    for (int i = 0; i < 4; i++) {
        assert_int_not_equal(CAPTURE_STDERR(pl_config_override(&cfg, bad[i][0])), 0);
        assert_contains(stderr_text(), bad[i][1]);
    }
    assert_int_equal(pl_config_override(&cfg, "model.rule=urfb"), 0);
    assert_int_equal(pl_config_override(&cfg, "urfb.feedback=symmetric"), 0);
    assert_int_equal(pl_config_override(&cfg, "urfb.sparsity_r=0.5"), 0);
    assert_int_not_equal(CAPTURE_STDERR(pl_rule_check(&cfg, 1)), 0);
    assert_contains(stderr_text(), "urfb.sparsity_r = 0.5 with urfb.feedback = symmetric");
    assert_int_equal(pl_config_override(&cfg, "urfb.sparsity_r=0"), 0);
    assert_int_equal(pl_rule_check(&cfg, 1), 0);
    assert_int_equal(pl_config_override(&cfg, "net.parallel=blocks"), 0);
    assert_int_not_equal(CAPTURE_STDERR(pl_rule_check(&cfg, 2)), 0);
    assert_contains(stderr_text(), "net.parallel = blocks: urfb runs data-parallel only");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hinge_error_is_the_loss_derivative),
        cmocka_unit_test(feedback_backward_matches_reference),
        cmocka_unit_test(symmetric_is_the_true_gradient),
        cmocka_unit_test(updated_r_gets_ws_increment),
        cmocka_unit_test(updated_under_adam_shares_ws_state),
        cmocka_unit_test(fixed_leaves_r_alone),
        cmocka_unit_test(r_is_keyed_by_the_seed),
        cmocka_unit_test(masks_stay_zero),
        cmocka_unit_test(state_lists_r_beside_w),
        cmocka_unit_test(learns_in_every_mode),
        cmocka_unit_test(bad_configurations_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
