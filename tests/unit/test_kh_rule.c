/* The KH rule through the rule interface (rule.h), as the trainer and the
 * sweep drive it: its state list, its hidden-layer epoch against the bare
 * step, the readout's features reused across a sweep's restarts only while
 * readout.n is unchanged, the batch hooks equal to runs alone, and both
 * stages together learning a task. */
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
#include "rules/kh/kh_model.h"

#include "support.h"

enum { SIDE = 4, DIM = SIDE * SIDE, NCLASS = 3 };

static void make_data(pl_dataset *d, int n, uint64_t seed)
{
    make_prototypes(d, n, SIDE, NCLASS, 0.0, 1.0, 0.1, seed);
}

typedef struct fixture {
    pl_config cfg;
    pl_dataset train, valid, test;
} fixture;

static void setup_fixture(fixture *f)
{
    pl_config_defaults(&f->cfg);
    f->cfg.kh.hidden = 37; /* odd, and not a multiple of any block */
    f->cfg.kh.k = 3;
    f->cfg.kh.batch = 20;
    f->cfg.kh.epochs = 4;
    f->cfg.readout.epochs = 30;
    f->cfg.readout.batch = 20;
    f->cfg.readout.lr = 0.01;
    make_data(&f->train, 120, 1);
    make_data(&f->valid, 30, 2);
    make_data(&f->test, 60, 3);
}

static void free_fixture(fixture *f)
{
    pl_dataset_free(&f->train);
    pl_dataset_free(&f->valid);
    pl_dataset_free(&f->test);
}

static pl_model *create(fixture *f)
{
    const pl_rule *rule = pl_rule_of(&f->cfg);
    assert_ptr_equal(rule, &pl_rule_kh);
    return rule->create(&f->cfg, pl_comm_self(), &f->train, &f->valid, &f->test);
}

static const pl_array *find(const pl_state *s, const char *name)
{
    for (int i = 0; i < s->narrays; i++)
        if (!strcmp(s->arrays[i].name, name))
            return &s->arrays[i];
    fail_msg("no array %s", name);
    return NULL;
}

static void state_lists_the_arrays(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f);
    pl_model *m = create(&f);
    pl_state *s = pl_calloc(1, sizeof *s);
    pl_rule_kh.state(m, s);
    assert_int_equal(s->narrays, 5);
    const pl_array *w = find(s, "kh/W"), *S = find(s, "readout/S");
    assert_int_equal(w->kind, PL_ARRAY_MODEL);
    assert_int_equal(w->dims[0], 37);
    assert_int_equal(w->dims[1], DIM);
    assert_int_equal(w->count[0], 37); /* one rank holds every row */
    assert_true(w->picture);
    assert_int_equal(w->stage, 0);
    assert_int_equal(S->dims[0], NCLASS);
    assert_int_equal(S->dims[1], 37);
    assert_int_equal(S->stage, 1);
    assert_int_equal(find(s, "kh/wins")->dtype, PL_I64);
    assert_int_equal(find(s, "readout/adam_m")->kind, PL_ARRAY_OPTIM);
    assert_int_equal(s->nscalars, 1);
    assert_string_equal(s->scalars[0].name, "adam_t");
    pl_free(s);
    pl_rule_kh.destroy(m);
    free_fixture(&f);
}

/* One epoch of stage 0 is the step of kh.c over the epoch's permutation. */
static void hidden_epoch_is_the_step(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f);
    pl_model *m = create(&f);
    kh_model *k = (kh_model *)m;
    pl_kh ref;
    const pl_config *c = &f.cfg;
    pl_kh_init(&ref, pl_comm_self(), c->kh.hidden, DIM, c->kh.p, c->kh.k, (float)c->kh.delta,
               c->kh.batch, c->run.seed, c->kh.tile);
    assert_memory_equal(ref.W, k->kh.W, sizeof(float) * 37 * DIM);
    for (int epoch = 0; epoch < 2; epoch++) {
        pl_epoch_pos pos = {0};
        assert_int_equal(pl_rule_kh.epoch(m, 0, epoch, &pos, NULL, NULL), 0);
        assert_int_equal(pos.batch, 6);
        int order[120];
        pl_rng rng;
        pl_rng_init(&rng, c->run.seed, PL_STREAM_KH_ORDER, (uint64_t)epoch);
        pl_rng_permutation(&rng, order, 120);
        float X[20 * DIM];
        float eps = (float)(c->kh.eps0 * (1.0 - (double)epoch / c->kh.epochs));
        for (int b0 = 0; b0 < 120; b0 += 20) {
            for (int b = 0; b < 20; b++)
                memcpy(X + b * DIM, f.train.x + (size_t)order[b0 + b] * DIM, sizeof(float) * DIM);
            assert_int_equal(pl_kh_step(&ref, X, 20, eps), 0);
        }
        assert_memory_equal(ref.W, k->kh.W, sizeof(float) * 37 * DIM);
    }
    pl_kh_free(&ref);
    pl_rule_kh.destroy(m);
    free_fixture(&f);
}

/* A sweep restarts the readout for each run on one hidden layer: the
 * features stay while readout.n does, and are made anew when it changes. */
static void restart_keeps_features_of_the_same_n(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f);
    pl_model *m = create(&f);
    kh_model *k = (kh_model *)m;
    assert_int_equal(pl_rule_kh.begin_stage(m, 1), 0);
    const float *H = k->H[PL_SPLIT_TRAIN];
    float first = H[5];
    pl_config other = f.cfg;
    other.readout.beta = 0.1; /* a readout key, not n */
    pl_rule_kh.restart(m, &other, 1);
    assert_ptr_equal(m->cfg, &other);
    assert_true(k->ro.beta == 0.1);
    assert_int_equal(pl_rule_kh.begin_stage(m, 1), 0);
    assert_ptr_equal(k->H[PL_SPLIT_TRAIN], H);
    pl_config third = other;
    third.readout.n = 2.0;
    pl_rule_kh.restart(m, &third, 1);
    assert_int_equal(pl_rule_kh.begin_stage(m, 1), 0);
    assert_true(k->features_n == 2.0);
    assert_true(k->H[PL_SPLIT_TRAIN][5] != first || first == 0.0f);
    pl_rule_kh.destroy(m);
    free_fixture(&f);
}

/* The sweep's batch hooks: readouts of 3 configurations differing in m and
 * beta trained together (restart_batch, epoch_batch, errors_batch) give
 * each configuration's epochs and errors through restart, epoch and errors
 * alone, bitwise; a later restart trains alone again. */
static void batch_hooks_equal_alone(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f);
    f.cfg.readout.epochs = 4;
    assert_string_equal(pl_rule_kh.batch_keys[0], "readout.m");
    assert_string_equal(pl_rule_kh.batch_keys[1], "readout.beta");
    pl_model *m = create(&f);
    assert_int_equal(pl_rule_kh.begin_stage(m, 0), 0);
    for (int e = 0; e < f.cfg.kh.epochs; e++) {
        pl_epoch_pos pos = {0};
        assert_int_equal(pl_rule_kh.epoch(m, 0, e, &pos, NULL, NULL), 0);
    }
    enum { N = 3, E = 4 };
    pl_config cfgs[N];
    const pl_config *ptrs[N];
    const double ms[N] = {6, 4, 8}, betas[N] = {0.5, 0.1, 1};
    pl_epoch_pos alone[N][E], together[N][E];
    long errs_alone[N][2], errs_together[N][2];
    for (int i = 0; i < N; i++) {
        cfgs[i] = f.cfg;
        cfgs[i].readout.m = ms[i];
        cfgs[i].readout.beta = betas[i];
        ptrs[i] = &cfgs[i];
        pl_rule_kh.restart(m, &cfgs[i], 1);
        assert_int_equal(pl_rule_kh.begin_stage(m, 1), 0);
        for (int e = 0; e < E; e++) {
            alone[i][e] = (pl_epoch_pos){0};
            assert_int_equal(pl_rule_kh.epoch(m, 1, e, &alone[i][e], NULL, NULL), 0);
        }
        errs_alone[i][0] = pl_rule_kh.errors(m, PL_SPLIT_VALID);
        errs_alone[i][1] = pl_rule_kh.errors(m, PL_SPLIT_TEST);
    }
    pl_rule_kh.restart_batch(m, ptrs, N, 1);
    assert_ptr_equal(m->cfg, &cfgs[0]);
    assert_int_equal(pl_rule_kh.begin_stage(m, 1), 0);
    for (int e = 0; e < E; e++) {
        pl_epoch_pos pos[N] = {{0}};
        assert_int_equal(pl_rule_kh.epoch_batch(m, 1, e, pos), 0);
        for (int i = 0; i < N; i++)
            together[i][e] = pos[i];
    }
    long errs[N];
    pl_rule_kh.errors_batch(m, PL_SPLIT_VALID, errs);
    for (int i = 0; i < N; i++)
        errs_together[i][0] = errs[i];
    pl_rule_kh.errors_batch(m, PL_SPLIT_TEST, errs);
    for (int i = 0; i < N; i++)
        errs_together[i][1] = errs[i];
    for (int i = 0; i < N; i++) {
        for (int e = 0; e < E; e++) {
            assert_memory_equal(&together[i][e].loss_sum, &alone[i][e].loss_sum, sizeof(double));
            assert_int_equal(together[i][e].wrong, alone[i][e].wrong);
            assert_int_equal(together[i][e].batch, alone[i][e].batch);
        }
        assert_int_equal(errs_together[i][0], errs_alone[i][0]);
        assert_int_equal(errs_together[i][1], errs_alone[i][1]);
    }
    pl_rule_kh.restart(m, &cfgs[1], 1);
    assert_int_equal(((kh_model *)m)->members, 0);
    pl_rule_kh.destroy(m);
    free_fixture(&f);
}

/* Both stages through the interface learn the prototypes task: the test
 * error ends far below chance (2/3). */
static void both_stages_learn(void **state)
{
    (void)state;
    fixture f;
    setup_fixture(&f);
    pl_model *m = create(&f);
    for (int stage = 0; stage < 2; stage++) {
        assert_int_equal(pl_rule_kh.begin_stage(m, stage), 0);
        int epochs = pl_rule_kh.epochs(&f.cfg, stage);
        for (int e = 0; e < epochs; e++) {
            pl_epoch_pos pos = {0};
            assert_int_equal(pl_rule_kh.epoch(m, stage, e, &pos, NULL, NULL), 0);
            if (stage == 1)
                assert_true(isfinite(pos.loss_sum));
        }
    }
    long wrong = pl_rule_kh.errors(m, PL_SPLIT_TEST);
    assert_true(wrong < 60 / 6);
    pl_rule_kh.destroy(m);
    free_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_lists_the_arrays),
        cmocka_unit_test(hidden_epoch_is_the_step),
        cmocka_unit_test(restart_keeps_features_of_the_same_n),
        cmocka_unit_test(batch_hooks_equal_alone),
        cmocka_unit_test(both_stages_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
