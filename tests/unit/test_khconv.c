/* Convolutional competing hidden units (src/rules/khconv): the layers
 * grammar and its errors; the fast conv step (im2col + pl_kh_step) against
 * the literal reference; the update on a hand-worked case; the threaded step
 * bitwise equal to the serial one; the pooled features against their
 * definition; and the rule through its interface: filters approach the
 * p-sphere and the readout learns a task well below chance, one and two
 * layers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/par.h"
#include "plastic/rng.h"
#include "plastic/rule.h"
#include "rules/khconv/features.h"
#include "rules/khconv/khconv_model.h"
#include "rules/khconv/layer.h"
#include "rules/khconv/spec.h"

#include "support.h"

/* ---- the grammar ---- */

static void spec_parses_layers_and_overrides(void **state)
{
    (void)state;
    khconv_spec s;
    char err[256] = "";
    assert_int_equal(khconv_spec_parse("conv 5x5 32 pool 2x2, conv 3x3 64 stride 1 k 3 p 2 "
                                       "delta 0.2 pool 2x2",
                                       2, 3.0, 0.4, &s, err, sizeof err),
                     0);
    assert_int_equal(s.nlayers, 2);
    assert_int_equal(s.layer[0].filters, 32);
    assert_int_equal(s.layer[0].k, 2);
    assert_true(s.layer[0].p == 3.0 && s.layer[0].delta == 0.4);
    assert_int_equal(s.layer[1].k, 3);
    assert_true(s.layer[1].p == 2.0 && s.layer[1].delta == 0.2);
    assert_int_equal(khconv_spec_shapes(&s, 1, 28, 28, err, sizeof err), 0);
    /* 28 - 5 + 1 = 24 positions, pooled 12; 12 - 3 + 1 = 10, pooled 5 */
    assert_int_equal(s.layer[0].out_h, 24);
    assert_int_equal(s.layer[0].q_h, 12);
    assert_int_equal(s.layer[1].in_c, 32);
    assert_int_equal(s.layer[1].out_w, 10);
    assert_int_equal(s.layer[1].q_w, 5);
}

static void spec_errors_name_the_entry(void **state)
{
    (void)state;
    khconv_spec s;
    char err[256];
    const struct {
        const char *text, *want;
    } bad[] = {
        {"dense 5x5 32", "entry 1: expected 'conv"},
        {"conv 5by5 32", "entry 1: kernel '5by5'"},
        {"conv 5x5 0", "entry 1: filters '0'"},
        {"conv 5x5 32, conv 3x3 8 pool", "entry 2: bad or missing value for 'pool'"},
        {"conv 5x5 32 size 3", "entry 1: unknown word 'size'"},
        {"conv 3x3 4, conv 3x3 4, conv 3x3 4", "at most 2 layers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(khconv_spec_parse(bad[i].text, 2, 3.0, 0.4, &s, err, sizeof err), -1);
        assert_contains(err, bad[i].want);
    }
    assert_int_equal(khconv_spec_parse("conv 29x5 8", 2, 3.0, 0.4, &s, err, sizeof err), 0);
    assert_int_equal(khconv_spec_shapes(&s, 1, 28, 28, err, sizeof err), -1);
    assert_contains(err, "entry 1: kernel 29x5 is larger");
    assert_int_equal(khconv_spec_parse("conv 5x5 8 k 9", 2, 3.0, 0.4, &s, err, sizeof err), 0);
    assert_int_equal(khconv_spec_shapes(&s, 1, 28, 28, err, sizeof err), -1);
    assert_contains(err, "k = 9 must be <= its 8 filters");

    /* the rule's check names the key */
    pl_config cfg;
    pl_config_defaults(&cfg);
    snprintf(cfg.model.rule, sizeof cfg.model.rule, "khconv");
    snprintf(cfg.khconv.layers, sizeof cfg.khconv.layers, "conv 3x3 4 pool 30x30");
    assert_int_equal(pl_rule_khconv.check(&cfg, 1, err, sizeof err), -1);
    assert_contains(err, "khconv.layers: entry 1: pool 30x30");
}

/* ---- the step ---- */

/* A layer spec with its shapes for in_c maps of side x side. */
static khconv_layer_spec layer_spec(const char *text, int in_c, int side)
{
    khconv_spec s;
    char err[256];
    assert_int_equal(khconv_spec_parse(text, 3, 3.0, 0.4, &s, err, sizeof err), 0);
    assert_int_equal(khconv_spec_shapes(&s, in_c, side, side, err, sizeof err), 0);
    return s.layer[0];
}

/* n / side^2 maps of side x side values in (0, 1), a fifth of them 0 and
 * the first 3 rows of every map 0 (so the top patches are all zero, as on
 * MNIST's background). */
static float *sparse_maps(long n, int side, uint64_t substream)
{
    float *x = alloc_uniform(n, 31, substream, -0.25, 1.0);
    for (long i = 0; i < n; i++)
        x[i] = x[i] < 0.0f || i % (side * side) < 3 * side ? 0.0f : x[i];
    return x;
}

static void fast_matches_reference(const char *text, int in_c, int side, int B, int steps)
{
    khconv_layer_spec s = layer_spec(text, in_c, side);
    khconv_layer L;
    khconv_layer_init(&L, pl_comm_self(), &s, 0, B, 5, 2);
    const size_t nw = (size_t)s.filters * (size_t)L.N;
    float *ref = pl_alloc(nw * sizeof *ref);
    memcpy(ref, L.kh.W, nw * sizeof *ref);
    const long in_size = (long)in_c * side * side;
    int32_t *winners = pl_alloc((size_t)B * L.P * 2 * sizeof *winners);
    for (int step = 0; step < steps; step++) {
        float *x = sparse_maps(B * in_size, side, (uint64_t)step);
        float eps = 0.05f * (1.0f - (float)step / (float)steps);
        assert_int_equal(khconv_layer_step(&L, x, B, eps), 0);
        assert_int_equal(khconv_reference_step(ref, &s, x, B, eps, winners), 0);
        /* the merged rankings of the last step: nonzero patches, in order */
        long row = 0;
        for (long patch = 0; patch < (long)B * L.P; patch++) {
            if (winners[2 * patch] < 0)
                continue;
            const pl_rank_entry *top = L.kh.top + (size_t)row * s.k;
            if (top[0].index != winners[2 * patch] || top[s.k - 1].index != winners[2 * patch + 1])
                fail_msg("%s step %d patch %ld: fast ranks %d, %d; reference %d, %d", text, step,
                         patch, top[0].index, top[s.k - 1].index, winners[2 * patch],
                         winners[2 * patch + 1]);
            row++;
        }
        assert_true(row > 0 && row < (long)B * L.P); /* zero patches were left out */
        for (size_t i = 0; i < nw; i++)
            check_close(L.kh.W[i], ref[i], 1e-5, 1e-4, "W", (long)i);
        pl_free(x);
    }
    pl_free(ref);
    pl_free(winners);
    khconv_layer_free(&L);
}

static void fast_step_equals_reference(void **state)
{
    (void)state;
    fast_matches_reference("conv 3x3 7", 1, 8, 3, 12);
    /* two input channels, stride 2, p = 2, k = 2 */
    fast_matches_reference("conv 3x2 5 stride 2 p 2 k 2", 2, 9, 2, 10);
    /* a non-integer p takes pow() */
    fast_matches_reference("conv 2x2 6 p 4.5 delta 0.3", 1, 6, 4, 8);
}

/* One 2 x 2 map [[3, 4], [0, 0]], kernel 1x2: patches (3, 4) -> (0.6, 0.8)
 * and (0, 0), left out. p = 2 (Wp = W), k = 2, delta = 0.5, W1 = (1, 0),
 * W2 = (0, 1): currents 0.6 and 0.8, so g2 = 1, g1 = -0.5 and
 *   dW2 = (0.6, 0.8) - 0.8 (0, 1) = (0.6, 0)
 *   dW1 = -0.5 [(0.6, 0.8) - 0.6 (1, 0)] = (0, -0.4)
 * max |dW| = 0.6, so with eps = 0.3: W1 = (1, -0.2), W2 = (0.3, 1). */
static void update_matches_the_equation_by_hand(void **state)
{
    (void)state;
    khconv_layer_spec s = layer_spec("conv 1x2 2 k 2 p 2 delta 0.5", 1, 2);
    khconv_layer L;
    khconv_layer_init(&L, pl_comm_self(), &s, 0, 1, 1, 8);
    const float W0[4] = {1, 0, 0, 1}, x[4] = {3, 4, 0, 0};
    memcpy(L.kh.W, W0, sizeof W0);
    pl_kh_refresh(&L.kh);
    float ref[4];
    memcpy(ref, W0, sizeof W0);
    assert_int_equal(khconv_layer_step(&L, x, 1, 0.3f), 0);
    assert_int_equal(khconv_reference_step(ref, &s, x, 1, 0.3f, NULL), 0);
    const float want[4] = {1.0f, -0.2f, 0.3f, 1.0f};
    for (int i = 0; i < 4; i++) {
        check_close(L.kh.W[i], want[i], 1e-6, 1e-6, "fast W", i);
        check_close(ref[i], want[i], 1e-6, 1e-6, "reference W", i);
    }
    assert_int_equal(L.kh.wins[1], 1); /* filter 2 won the one nonzero patch */
    assert_int_equal(L.kh.wins[0], 0);
    khconv_layer_free(&L);
}

static void threaded_step_is_bitwise_serial(void **state)
{
    (void)state;
    khconv_layer_spec s = layer_spec("conv 3x3 11 k 2", 2, 7);
    khconv_layer one, two;
    khconv_layer_init(&one, pl_comm_self(), &s, 1, 4, 8, 3);
    khconv_layer_init(&two, pl_comm_self(), &s, 1, 4, 8, 3);
    assert_int_equal(pl_kh_set_threads(&two.kh, 2), 2);
    for (int step = 0; step < 6; step++) {
        float *x = sparse_maps(4L * 2 * 7 * 7, 7, 100 + (uint64_t)step);
        assert_int_equal(khconv_layer_step(&one, x, 4, 0.05f), 0);
        assert_int_equal(khconv_layer_step(&two, x, 4, 0.05f), 0);
        pl_free(x);
    }
    assert_memory_equal(one.kh.W, two.kh.W, sizeof(float) * 11 * one.N);
    khconv_layer_free(&one);
    khconv_layer_free(&two);
}

/* ---- features ---- */

/* h_mu,q = relu(max over the window of <W_mu, x_patch / |x_patch|>_mu)^n,
 * filter-major, from the definition in double. */
static void features_match_their_definition(void **state)
{
    (void)state;
    khconv_layer_spec s = layer_spec("conv 3x3 5 pool 2x3", 2, 8); /* 6x6 -> 3x2 */
    khconv_layer L;
    khconv_layer_init(&L, pl_comm_self(), &s, 0, 1, 4, 2);
    const int E = 3, dim = 2 * 8 * 8, Q = L.Q;
    assert_int_equal(Q, 6);
    float *x = sparse_maps((long)E * dim, 8, 7);
    float *H = pl_alloc((size_t)E * 5 * Q * sizeof *H);
    khconv_features(&L, 1, x, E, dim, 1.0, 2.0, H);
    for (int e = 0; e < E; e++)
        for (int mu = 0; mu < 5; mu++)
            for (int qy = 0; qy < 3; qy++)
                for (int qx = 0; qx < 2; qx++) {
                    double best = -INFINITY;
                    for (int oy = 2 * qy; oy < 2 * qy + 2; oy++)
                        for (int ox = 3 * qx; ox < 3 * qx + 3; ox++) {
                            double v[18], ss = 0.0, I = 0.0;
                            for (int c = 0; c < 2; c++)
                                for (int i = 0; i < 3; i++)
                                    for (int j = 0; j < 3; j++) {
                                        int r = (c * 3 + i) * 3 + j;
                                        v[r] = x[e * dim + (c * 8 + oy + i) * 8 + ox + j];
                                        ss += v[r] * v[r];
                                    }
                            for (int r = 0; r < 18; r++) {
                                double w = L.kh.W[mu * 18 + r];
                                I += w * fabs(w) * (ss > 0 ? v[r] / sqrt(ss) : 0.0);
                            }
                            best = I > best ? I : best;
                        }
                    double want = best > 0 ? best * best : 0.0;
                    check_close(H[(size_t)e * 5 * Q + (size_t)mu * Q + qy * 2 + qx], want, 1e-5,
                                1e-4, "feature", mu);
                }
    pl_free(x);
    pl_free(H);
    khconv_layer_free(&L);
}

/* ---- the rule ---- */

enum { SIDE = 10, NCLASS = 3 };

/* A task made for convolutions: one bar of ones on a zero background,
 * horizontal, vertical or diagonal (the class, e mod 3), at a random
 * offset, plus uniform noise in [0, 0.2) on the bar. */
static void make_bars(pl_dataset *d, int n, uint64_t seed)
{
    make_blank_images(d, n, SIDE, NCLASS);
    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_TEST, 2);
    for (int e = 0; e < n; e++) {
        const int c = e % NCLASS, at = 1 + (int)pl_rng_below(&rng, SIDE - 2);
        d->y[e] = (uint8_t)c;
        for (int i = 0; i < SIDE; i++) {
            int row = c == 0 ? at : i, col = c == 1 ? at : c == 0 ? i : (i + at) % SIDE;
            d->x[(size_t)e * d->dim + row * SIDE + col] = 1.0f + 0.2f * (float)pl_rng_uniform(&rng);
        }
    }
}

static void setup_fixture(rule_fixture *f, const char *layers)
{
    pl_config_defaults(&f->cfg);
    snprintf(f->cfg.model.rule, sizeof f->cfg.model.rule, "khconv");
    snprintf(f->cfg.khconv.layers, sizeof f->cfg.khconv.layers, "%s", layers);
    f->cfg.khconv.batch = 10;
    f->cfg.khconv.epochs = 30;
    f->cfg.khconv.eps0 = 0.1;
    f->cfg.khconv.tile = 3;
    f->cfg.readout.n = 1;
    f->cfg.readout.epochs = 30;
    f->cfg.readout.batch = 20;
    f->cfg.readout.lr = 0.01;
    f->cfg.log.progress = 0;
    make_bars(&f->train, 150, 1);
    make_bars(&f->valid, 30, 2);
    make_bars(&f->test, 90, 3);
}

static double sphere_mean(pl_kh *kh)
{
    double mean, max;
    pl_kh_sphere(kh, &mean, &max);
    return mean;
}

/* The filters that win a good share of the patches (>= 5%) reach the
 * p-sphere, sum_i |W_i|^p -> 1, and the mean deviation over all filters
 * at least halves. Filters that seldom win move little: W += eps dW /
 * max|dW| scales every filter's step by the busiest filter's. */
static void filters_approach_the_sphere(pl_kh *kh, int layer, double mean_before)
{
    long total = 0;
    for (int mu = 0; mu < kh->hidden; mu++)
        total += kh->wins[mu];
    int frequent = 0;
    for (int mu = 0; mu < kh->hidden; mu++) {
        double norm = 0;
        for (int i = 0; i < kh->dim; i++)
            norm += pow(fabs(kh->W[mu * kh->dim + i]), kh->p);
        if (20 * kh->wins[mu] < total)
            continue;
        frequent++;
        if (fabs(norm - 1.0) > 0.05)
            fail_msg("layer %d: filter %d won %ld of %ld patches but sum |W|^p = %g", layer + 1,
                     mu, kh->wins[mu], total, norm);
    }
    double after = sphere_mean(kh);
    if (frequent < 1 || mean_before < 3.0 || after > 0.5 * mean_before)
        fail_msg("layer %d: %d frequent winners; mean deviation from the sphere %g -> %g",
                 layer + 1, frequent, mean_before, after);
}

/* Every stage through the interface as the trainer runs it. */
static void learn(rule_fixture *f, int nlayers)
{
    const pl_rule *rule = pl_rule_of(&f->cfg);
    assert_ptr_equal(rule, &pl_rule_khconv);
    char err[256];
    assert_int_equal(rule->check(&f->cfg, 1, err, sizeof err), 0);
    pl_model *m = rule->create(&f->cfg, pl_comm_self(), &f->train, &f->valid, &f->test);
    assert_non_null(m);
    khconv_model *km = (khconv_model *)m;
    assert_int_equal(km->spec.nlayers, nlayers);
    assert_int_equal(rule->epochs(&f->cfg, 1), nlayers == 2 ? f->cfg.khconv.epochs : 0);

    pl_state *s = pl_calloc(1, sizeof *s);
    rule->state(m, s);
    assert_int_equal(s->narrays, 2 * nlayers + 3);
    assert_string_equal(s->arrays[0].name, "khconv/W1");
    const khconv_layer *last = &km->layer[nlayers - 1];
    assert_int_equal(s->arrays[2 * nlayers].dims[1], (long)last->s.filters * last->Q);
    pl_free(s);

    for (int stage = 0; stage < rule->nstages; stage++) {
        const int epochs = rule->epochs(&f->cfg, stage);
        if (epochs == 0)
            continue;
        assert_int_equal(rule->begin_stage(m, stage), 0);
        double before = stage < nlayers ? sphere_mean(&km->layer[stage].kh) : 0.0;
        for (int e = 0; e < epochs; e++) {
            pl_epoch_pos pos = {0, 0.0, 0};
            assert_int_equal(rule->epoch(m, stage, e, &pos, NULL, NULL), 0);
        }
        if (stage < nlayers)
            filters_approach_the_sphere(&km->layer[stage].kh, stage, before);
    }
    long wrong = rule->errors(m, PL_SPLIT_TEST);
    /* chance is 2/3 of the 90 */
    if (wrong > 90 / 5)
        fail_msg("%d layer(s): %ld of 90 test examples wrong", nlayers, wrong);
    rule->destroy(m);
}

static void one_layer_learns(void **state)
{
    (void)state;
    rule_fixture f;
    setup_fixture(&f, "conv 3x3 8 pool 2x2");
    learn(&f, 1);
    rule_fixture_teardown(&f);
}

static void two_layers_learn(void **state)
{
    (void)state;
    rule_fixture f;
    setup_fixture(&f, "conv 3x3 8, conv 3x3 7 k 3 pool 2x2");
    learn(&f, 2);
    rule_fixture_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_parses_layers_and_overrides),
        cmocka_unit_test(spec_errors_name_the_entry),
        cmocka_unit_test(fast_step_equals_reference),
        cmocka_unit_test(update_matches_the_equation_by_hand),
        cmocka_unit_test(threaded_step_is_bitwise_serial),
        cmocka_unit_test(features_match_their_definition),
        cmocka_unit_test(one_layer_learns),
        cmocka_unit_test(two_layers_learn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
