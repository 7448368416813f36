/* The bp rule through the rule interface: its state list, one epoch equal
 * to the library's data-parallel gradient and optimiser step, the update
 * of plain SGD equal to the true gradient of the mean loss (central finite
 * differences), the loss falling on a learnable task, and a network that
 * does not fit the data refused at create with its entry named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/bp/bp_model.h"

#include "support.h"

enum { SIDE = 2, DIM = SIDE * SIDE, NCLASS = 3 };

static void make_data(pl_dataset *d, int n, uint64_t seed)
{
    make_prototypes(d, n, SIDE, NCLASS, -1.0, 1.0, 0.2, seed);
}

typedef struct fixture {
    pl_config cfg;
    pl_dataset train, valid, test;
} fixture;

static void setup(fixture *f, int n, const char *layers)
{
    pl_config_defaults(&f->cfg);
    assert_int_equal(pl_config_override(&f->cfg, "model.rule=bp"), 0);
    char assign[256];
    snprintf(assign, sizeof assign, "net.layers=%s", layers);
    assert_int_equal(pl_config_override(&f->cfg, assign), 0);
    f->cfg.optim.batch = n;
    f->cfg.optim.epochs = 1;
    make_data(&f->train, n, 1);
    make_data(&f->valid, 30, 2);
    make_data(&f->test, 30, 3);
}

static void teardown(fixture *f)
{
    pl_dataset_free(&f->train);
    pl_dataset_free(&f->valid);
    pl_dataset_free(&f->test);
}

static pl_model *create(fixture *f)
{
    const pl_rule *rule = pl_rule_of(&f->cfg);
    assert_ptr_equal(rule, &pl_rule_bp);
    assert_int_equal(pl_rule_check(&f->cfg, 1), 0);
    return rule->create(&f->cfg, pl_comm_self(), &f->train, &f->valid, &f->test);
}

static void state_lists_every_tensor_replicated(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 6, "dense 5 tanh, dense 3 softmax");
    pl_model *m = create(&f);
    pl_state *s = pl_calloc(1, sizeof *s);
    pl_rule_bp.state(m, s);
    /* W, b of two layers, then Adam's m and v */
    assert_int_equal(s->narrays, 6);
    assert_string_equal(s->arrays[0].name, "net/dense1/W");
    assert_int_equal(s->arrays[0].dims[0], 5);
    assert_int_equal(s->arrays[0].dims[1], DIM);
    assert_true(s->arrays[0].replicated);
    assert_true(s->arrays[0].picture);
    assert_string_equal(s->arrays[1].name, "net/dense1/b");
    assert_int_equal(s->arrays[1].dims[1], 5);
    assert_string_equal(s->arrays[4].name, "net/m");
    assert_int_equal(s->arrays[4].kind, PL_ARRAY_OPTIM);
    assert_int_equal(s->arrays[4].dims[1], ((bp_model *)m)->lay.net.nparams);
    /* by columns, this rank's block of the sharded step: all of them on one */
    assert_false(s->arrays[4].replicated);
    assert_int_equal(s->arrays[4].start[1], 0);
    assert_int_equal(s->arrays[4].count[1], ((bp_model *)m)->lay.net.nparams);
    assert_string_equal(s->arrays[5].name, "net/v");
    assert_int_equal(s->nscalars, 1);
    assert_string_equal(s->scalars[0].name, "adam_t");
    pl_free(s);
    pl_rule_bp.destroy(m);
    teardown(&f);
}

/* The mean cross-entropy of the training set at the net's parameters. */
static double mean_loss(bp_model *b, const pl_dataset *d)
{
    pl_net_forward(&b->lay.net, d->x, 0, d->n, NULL);
    return pl_net_loss(&b->lay.net, d->y, 0, d->n, 1.0f, NULL) / d->n;
}

/* Plain SGD with lr 1 on one minibatch of the whole set: the update is
 * minus the gradient of the mean loss, which finite differences give. */
static void sgd_step_is_the_true_gradient(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 6, "dense 5 tanh, dense 3 softmax");
    assert_int_equal(pl_config_override(&f.cfg, "optim.method=sgd"), 0);
    assert_int_equal(pl_config_override(&f.cfg, "optim.lr=1"), 0);
    pl_model *m = create(&f);
    bp_model *b = (bp_model *)m;
    const long n = b->lay.net.nparams;
    float *before = pl_alloc((size_t)n * sizeof *before);
    memcpy(before, b->lay.net.params, (size_t)n * sizeof *before);
    double *fd = pl_alloc((size_t)n * sizeof *fd);
    const float h = 1e-2f;
    for (long i = 0; i < n; i++) {
        float keep = b->lay.net.params[i];
        b->lay.net.params[i] = keep + h;
        double up = mean_loss(b, &f.train);
        b->lay.net.params[i] = keep - h;
        double down = mean_loss(b, &f.train);
        b->lay.net.params[i] = keep;
        fd[i] = (up - down) / (2.0 * h);
    }
    pl_epoch_pos pos = {0};
    assert_int_equal(pl_rule_bp.epoch(m, 0, 0, &pos, NULL, NULL), 0);
    assert_int_equal(pos.batch, 1);
    for (long i = 0; i < n; i++) {
        double step = (double)before[i] - (double)b->lay.net.params[i];
        if (!(fabs(step - fd[i]) <= 1e-3 + 1e-2 * fabs(fd[i])))
            fail_msg("parameter %ld: update %g, finite difference %g", i, step, fd[i]);
    }
    pl_free(before);
    pl_free(fd);
    pl_rule_bp.destroy(m);
    teardown(&f);
}

/* A few epochs of minibatches: the running loss falls and the test error
 * ends far below chance. */
static void the_loss_falls(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 90, "dense 8 relu, dense 3 softmax");
    f.cfg.optim.batch = 10;
    f.cfg.optim.epochs = 8;
    f.cfg.optim.lr = 0.05;
    pl_model *m = create(&f);
    double first = 0, last = 0;
    for (int e = 0; e < 8; e++) {
        pl_epoch_pos pos = {0};
        assert_int_equal(pl_rule_bp.epoch(m, 0, e, &pos, NULL, NULL), 0);
        assert_int_equal(pos.batch, 9);
        if (e == 0)
            first = pos.loss_sum;
        last = pos.loss_sum;
    }
    assert_true(last < 0.5 * first);
    assert_true(pl_rule_bp.errors(m, PL_SPLIT_TEST) <= 3);
    pl_rule_bp.destroy(m);
    teardown(&f);
}

static void a_net_that_does_not_fit_is_refused(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 6, "dense 5 tanh, dense 4 softmax");
    pl_model *m = NULL;
    stderr_capture_begin();
    m = pl_rule_bp.create(&f.cfg, pl_comm_self(), &f.train, &f.valid, &f.test);
    stderr_capture_end();
    assert_null(m);
    assert_contains(stderr_text(), "net.layers entry 2 'dense 4 softmax'");
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_lists_every_tensor_replicated),
        cmocka_unit_test(sgd_step_is_the_true_gradient),
        cmocka_unit_test(the_loss_falls),
        cmocka_unit_test(a_net_that_does_not_fit_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
