/* Update shaping (nn/clip.h): the clip factor, exact norms against double
 * sums, biases held at zero, each tensor clipped to its own norm. That a
 * norm split over ranks' blocks gives the same bits on any rank count is
 * tests/mpi/test_nn_dp.c's (a clipped net without biases, 1-4 ranks). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/clip.h"
#include "plastic/nn/net.h"
#include "plastic/rng.h"

static void fill(float *x, long n, double scale, uint64_t seed)
{
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_TEST, 0);
    for (long i = 0; i < n; i++)
        x[i] = (float)(scale * pl_rng_normal(&r));
}

static double norm2_double(const float *x, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

static void the_factor(void **state)
{
    (void)state;
    assert_true(pl_clip_factor(4.0, 0.0) == 1.0); /* off */
    assert_true(pl_clip_factor(4.0, 2.0) == 1.0); /* at the bound */
    assert_true(pl_clip_factor(1.0, 2.0) == 1.0);
    assert_true(fabs(pl_clip_factor(16.0, 2.0) - 0.5) < 1e-15);
}

static void exact_norms_match_double_sums(void **state)
{
    (void)state;
    enum { N = 1001 };
    float x[N], zero[5] = {0};
    const long scales[] = {1, 1000};
    for (int k = 0; k < 2; k++) {
        fill(x, N, 1e-3 * (double)scales[k], 7 + (uint64_t)k);
        x[17] = 40.0f * (float)scales[k]; /* one large value sets the grid */
        float *g = x;
        long n = N;
        double norm2;
        pl_norms2_exact(NULL, 1, &g, &n, &n, &norm2);
        const double ref = norm2_double(x, N);
        assert_true(fabs(norm2 - ref) <= 1e-12 * ref + 1e-300);
    }
    float *z = zero;
    long five = 5;
    double norm2 = -1.0;
    pl_norms2_exact(NULL, 1, &z, &five, &five, &norm2);
    assert_true(norm2 == 0.0);
}

static void biases_held_and_each_tensor_clipped(void **state)
{
    (void)state;
    pl_net net;
    char err[256];
    assert_int_equal(pl_net_create(&net, "dense 6 tanh, dense 3 softmax", (pl_shape){1, 2, 2, 0},
                                   3, PL_LOSS_XENT, 1.0f, 4, err, sizeof err),
                     0);
    float *g = net.grads;
    fill(g, net.nparams, 1.0, 3);
    const pl_param *W1 = &net.tensors[0], *b1 = &net.tensors[1], *W2 = &net.tensors[2];
    for (long k = 0; k < W2->count; k++) /* W2 small: within the bound */
        g[W2->offset + k] *= 1e-3f;
    float *before = pl_alloc((size_t)net.nparams * sizeof *before);
    memcpy(before, g, (size_t)net.nparams * sizeof *before);
    const double clip = 0.5;
    pl_shape_updates(NULL, &net, g, 0, net.nlayers, 0, net.nparams, clip, 0);
    for (int t = 0; t < net.ntensors; t++) {
        const pl_param *p = &net.tensors[t];
        const double n2 = norm2_double(g + p->offset, p->count);
        if (t == 1 || t == 3) { /* biases */
            assert_true(n2 == 0.0);
            continue;
        }
        const double was = norm2_double(before + p->offset, p->count);
        if (was > clip * clip)
            assert_true(fabs(sqrt(n2) - clip) < 1e-6);
        else
            assert_memory_equal(g + p->offset, before + p->offset, p->count * sizeof *g);
    }
    assert_true(norm2_double(before + W1->offset, W1->count) > clip * clip); /* W1 was clipped */
    (void)b1;
    /* biases kept when bias = 1, clip 0: nothing changes */
    memcpy(g, before, (size_t)net.nparams * sizeof *g);
    pl_shape_updates(NULL, &net, g, 0, net.nlayers, 0, net.nparams, 0.0, 1);
    assert_memory_equal(g, before, (size_t)net.nparams * sizeof *g);
    /* a whole tensor (an error synapse) */
    float e[40];
    fill(e, 40, 1.0, 9);
    pl_clip_whole(e, 40, 0.25);
    assert_true(fabs(sqrt(norm2_double(e, 40)) - 0.25) < 1e-6);
    pl_free(before);
    pl_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_factor),
        cmocka_unit_test(exact_norms_match_double_sums),
        cmocka_unit_test(biases_held_and_each_tensor_clipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
