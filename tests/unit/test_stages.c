/* Cutting a net into pipeline stages (nn/stages.h): the units of plain and
 * residual nets, joined units, layer costs, and the balanced cut: by hand
 * on small cases, and against every possible cut of random costs (the
 * optimum, cuts at unit starts only, every stage non-empty); too few
 * units refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/net.h"
#include "plastic/nn/stages.h"
#include "plastic/rng.h"

#include "support.h"

static void make_net(pl_net *net, const char *layers, pl_shape in)
{
    char err[256];
    if (pl_net_create(net, layers, in, 3, PL_LOSS_XENT, 1, 4, err, sizeof err))
        fail_msg("%s", err);
}

static void units_keep_blocks_whole(void **state)
{
    (void)state;
    pl_net net;
    make_net(&net, "dense 8 tanh, res( dense 8 tanh, dense 8 tanh ) x2, dense 3 softmax",
             (pl_shape){1, 2, 2, 0});
    /* layers: d0 | d1 d2 add3 | d4 d5 add6 | d7 */
    assert_int_equal(net.nlayers, 8);
    char start[8];
    pl_stage_units(&net, start);
    const char want[8] = {1, 1, 0, 0, 1, 0, 0, 1};
    assert_memory_equal(start, want, 8);
    assert_int_equal(pl_stage_count_units(8, start), 4);
    pl_stage_join(start, 0, 1); /* d0 with the first block */
    assert_int_equal(start[1], 0);
    assert_int_equal(pl_stage_count_units(8, start), 3);
    pl_net_free(&net);

    /* a block at the input: its add takes the net's input */
    make_net(&net, "res( dense 4 tanh ), dense 3 softmax", (pl_shape){4, 1, 1, 1});
    char s2[3];
    pl_stage_units(&net, s2);
    assert_int_equal(s2[0], 1);
    assert_int_equal(s2[1], 0);
    assert_int_equal(s2[2], 1);
    pl_net_free(&net);
}

static void layer_costs(void **state)
{
    (void)state;
    pl_net net;
    make_net(&net, "conv 2 3x3 relu, pool 2, dense 5 tanh, dropout 0.1, dense 3 softmax",
             (pl_shape){1, 4, 4, 0});
    assert_true(pl_layer_cost(&net, 0) == 2.0 * 1 * 3 * 3 * 4 * 4); /* im2col GEMM */
    assert_true(pl_layer_cost(&net, 1) == 2.0 * 2 * 2);              /* pool: outputs */
    assert_true(pl_layer_cost(&net, 2) == 8.0 * 5);
    assert_true(pl_layer_cost(&net, 3) == 5.0);
    assert_true(pl_layer_cost(&net, 4) == 5.0 * 3);
    pl_net_free(&net);
    /* pconv: K C M H W multiply-adds, and C M H W to build its maps */
    make_net(&net, "pconv 3 m4 relu, dense 3 softmax", (pl_shape){2, 4, 5, 0});
    assert_true(pl_layer_cost(&net, 0) == (3.0 + 1) * 2 * 4 * 4 * 5);
    pl_net_free(&net);
}

static void cuts_by_hand(void **state)
{
    (void)state;
    const char all[4] = {1, 1, 1, 1};
    int first[6];
    const double even[4] = {1, 1, 1, 1};
    assert_int_equal(pl_stage_cut(4, all, even, 2, first), 0);
    assert_int_equal(first[0], 0);
    assert_int_equal(first[1], 2);
    assert_int_equal(first[2], 4);
    const double heavy[4] = {5, 1, 1, 1}; /* 5 | 3 beats 6 | 2 */
    assert_int_equal(pl_stage_cut(4, all, heavy, 2, first), 0);
    assert_int_equal(first[1], 1);
    assert_int_equal(pl_stage_cut(4, all, heavy, 4, first), 0);
    for (int s = 0; s <= 4; s++)
        assert_int_equal(first[s], s);
    assert_int_equal(pl_stage_cut(4, all, heavy, 1, first), 0);
    assert_int_equal(first[0], 0);
    assert_int_equal(first[1], 4);
    assert_int_equal(pl_stage_cut(4, all, heavy, 5, first), -1); /* fewer units than stages */
    /* only at unit starts: units {0}, {1, 2}, {3} */
    const char some[4] = {1, 1, 0, 1};
    assert_int_equal(pl_stage_cut(4, some, even, 2, first), 0);
    assert_int_equal(first[1], 1); /* 1 | 3 and 3 | 1 tie: the earlier boundary */
    assert_int_equal(pl_stage_cut(4, some, even, 4, first), -1);
}

/* The largest stage cost of every cut of n units into S stages, by
 * enumerating the S - 1 boundaries. */
static double brute(const double *c, int n, int S, int lo, double sofar)
{
    if (S == 1) {
        double s = 0;
        for (int i = lo; i < n; i++)
            s += c[i];
        return s > sofar ? s : sofar;
    }
    double best = -1, s = 0;
    for (int end = lo + 1; end <= n - (S - 1); end++) {
        s += c[end - 1];
        double m = brute(c, n, S - 1, end, s > sofar ? s : sofar);
        if (best < 0 || m < best)
            best = m;
    }
    return best;
}

static void cuts_are_optimal(void **state)
{
    (void)state;
    pl_rng r;
    pl_rng_init(&r, 11, PL_STREAM_TEST, 0);
    for (int trial = 0; trial < 300; trial++) {
        const int n = 1 + (int)pl_rng_below(&r, 9);
        double cost[9];
        char start[9];
        for (int l = 0; l < n; l++) {
            cost[l] = (double)pl_rng_below(&r, 20);
            start[l] = l == 0 || pl_rng_below(&r, 3) != 0;
        }
        /* the units' costs, for the enumeration */
        double unit[9];
        int U = 0;
        for (int l = 0; l < n; l++) {
            if (start[l])
                unit[U++] = 0;
            unit[U - 1] += cost[l];
        }
        for (int S = 1; S <= U + 1; S++) {
            int first[11];
            int rc = pl_stage_cut(n, start, cost, S, first);
            if (S > U) {
                assert_int_equal(rc, -1);
                continue;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(first[0], 0);
            assert_int_equal(first[S], n);
            double worst = 0;
            for (int s = 0; s < S; s++) {
                assert_true(first[s] < first[s + 1]); /* not empty */
                assert_true(start[first[s]]);          /* at a unit start */
                double sum = 0;
                for (int l = first[s]; l < first[s + 1]; l++)
                    sum += cost[l];
                worst = sum > worst ? sum : worst;
            }
            if (worst != brute(unit, U, S, 0, 0))
                fail_msg("trial %d: %d units in %d stages: largest %g, optimum %g", trial, U, S,
                         worst, brute(unit, U, S, 0, 0));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(units_keep_blocks_whole),
        cmocka_unit_test(layer_costs),
        cmocka_unit_test(cuts_by_hand),
        cmocka_unit_test(cuts_are_optimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
