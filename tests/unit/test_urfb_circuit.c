/* The output circuit of Amit's Section 2.3 as reconstructed in circuit.h:
 * iterated from rest, or from any state, it reaches a cycle of period 2
 * whose supervisor activity, and whose difference of output activity
 * between the phases, is the error of Eq. 5 in each of its four cases
 * (target above or below +1, non-target above or below -1), the error
 * being minus the gradient of the hinge loss that training uses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "plastic/nn/loss.h"
#include "rules/urfb/circuit.h"

#include "support.h"

enum { C = 2 }; /* two classes: class 0 the target or not */

/* Eq. 5's error of output c for drive h: minus the hinge gradient of
 * loss.c (scale 1) at the saturated output. */
static float eq5_error(float h, int target, float mu)
{
    const float z[C] = {h < -1.0f ? -1.0f : h > 1.0f ? 1.0f : h, 0.0f};
    const uint8_t label = target ? 0 : 1;
    float grad[C];
    pl_hinge_loss(z, &label, 1, C, mu, 1.0f, grad);
    return -grad[0];
}

/* Iterates from start and checks the cycle: period 2 from step 2 on, the
 * supervisor at delta in both phases, the output at sigma(h) with the gate
 * closed and sigma(h) + delta with it open. */
static void check_cycle(urfb_circuit start, float h, int target, float mu, float delta)
{
    const float free_o = h < -1.0f ? -1.0f : h > 1.0f ? 1.0f : h;
    urfb_circuit c = start;
    urfb_circuit seen[12];
    for (int k = 0; k < 12; k++) {
        urfb_circuit_step(&c, h, target, mu);
        seen[k] = c;
    }
    for (int k = 1; k < 12; k++) { /* steps 2, 3, ... */
        const urfb_circuit *x = &seen[k];
        if (k + 2 < 12) {
            assert_true(seen[k + 2].t == x->t);
            assert_true(seen[k + 2].o == x->o);
            assert_true(seen[k + 2].s == x->s);
        }
        if (x->s != delta)
            fail_msg("h %g target %d step %d: supervisor %g, Eq. 5 %g", h, target, k + 1, x->s,
                     delta);
        if (x->t == 0.0f)
            assert_true(x->o == free_o);
        else
            check_close(x->o - free_o, delta, 1e-6, 0.0, "output across the cycle", k);
    }
    assert_true(seen[10].t != seen[11].t); /* a cycle, not a fixed point */
}

static void four_cases_reach_the_error_of_eq5(void **state)
{
    (void)state;
    const float mu = 1.0f / 9.0f;
    /* target at or above +1; below (inside, and saturated at -1) */
    const float target_h[] = {1.0f, 1.7f, 0.3f, -0.99f, -2.5f};
    const float target_delta[] = {0.0f, 0.0f, 1.0f, 1.0f, 1.0f};
    /* non-target at or below -1; above (inside, and saturated at +1) */
    const float other_h[] = {-1.0f, -3.0f, -0.2f, 0.8f, 4.0f};
    const float other_delta[] = {0.0f, 0.0f, -mu, -mu, -mu};
    const urfb_circuit starts[] = {{0, 0, 0}, {0.7f, 1, 0}, {-1, 0, 5}, {2, 1, -3}};
    for (int i = 0; i < 5; i++) {
        assert_true(eq5_error(target_h[i], 1, mu) == target_delta[i]);
        assert_true(eq5_error(other_h[i], 0, mu) == other_delta[i]);
        for (int j = 0; j < 4; j++) {
            check_cycle(starts[j], target_h[i], 1, mu, target_delta[i]);
            check_cycle(starts[j], other_h[i], 0, mu, other_delta[i]);
        }
    }
}

/* The supervisor alone: the two thresholds at the margins, for every
 * output in [-1, 1]. */
static void the_supervisor_reads_the_margins(void **state)
{
    (void)state;
    const float mu = 0.5f;
    for (int i = 0; i <= 200; i++) {
        const float o = -1.0f + 0.01f * (float)i;
        assert_true(urfb_supervisor(o, 1, mu) == (o < 1.0f ? 1.0f : 0.0f));
        assert_true(urfb_supervisor(o, 0, mu) == (o > -1.0f ? -mu : 0.0f));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_cases_reach_the_error_of_eq5),
        cmocka_unit_test(the_supervisor_reads_the_margins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
