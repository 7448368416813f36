/* The data-parallel path on one process: the chunked exact gradient equals
 * the whole-minibatch gradient up to rounding, for any chunk size; the fast
 * path equals it exactly; plans and capacities; evaluation; BLAS threads
 * restored; and a backprop loop (gradient, optimiser step) that learns.
 * Rank-count independence is tests/mpi/test_nn_dp.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/dp.h"
#include "plastic/nn/net.h"
#include "plastic/nn/optim.h"
#include "plastic/nn/schedule.h"
#include "plastic/par.h"

#include "support.h"

static const char *const layers = "conv 3 3x3 relu, pool 2, dense 12 tanh, res( dense 12 tanh ), "
                                  "dense 4 softmax";
static const pl_shape in = {2, 6, 6, 0};
enum { B = 23, DIM = 72, C = 4 };

static void make_net(pl_net *net, int capacity)
{
    char err[256];
    assert_int_equal(pl_net_create(net, layers, in, C, PL_LOSS_XENT, 1, capacity, err, sizeof err), 0);
    pl_net_init(net, PL_INIT_XAVIER, 0, 4);
}

static void data(float *x, uint8_t *y, int n)
{
    fill_uniform(x, (long)n * DIM, 8, 0, -1, 1);
    for (int i = 0; i < n; i++)
        y[i] = (uint8_t)((5 * i + 1) % C);
}

/* The gradient of the mean loss, computed on the whole minibatch at once. */
static void whole_gradient(pl_net *net, const float *x, const uint8_t *y, float *grad, double *loss)
{
    const pl_pass pass = {.train = 1, .seed = 2, .step = 9, .example0 = 0};
    pl_net_forward(net, x, 0, B, &pass);
    *loss = pl_net_loss(net, y, 0, B, 1.0f / B, NULL);
    pl_net_backward(net, 0, B);
    pl_net_grads(net, 0, B, grad, 0.0f);
}

static void exact_equals_whole_up_to_rounding(void **state)
{
    (void)state;
    float x[B * DIM];
    uint8_t y[B];
    data(x, y, B);
    pl_net net;
    make_net(&net, B);
    float *ref = pl_alloc(sizeof(float) * net.nparams);
    double ref_loss;
    whole_gradient(&net, x, y, ref, &ref_loss);
    const int chunks[4] = {1, 5, 8, 23};
    for (int k = 0; k < 4; k++) {
        pl_dp dp;
        pl_dp_init(&dp, &net, pl_comm_self(), chunks[k], 1, B);
        pl_dp_stats st;
        pl_dp_gradient(&dp, &net, x, y, B, 2, 9, &st);
        for (long i = 0; i < net.nparams; i++)
            check_close(net.grads[i], ref[i], 1e-6, 1e-4, "grad", i);
        check_close(st.loss, ref_loss, 1e-9, 1e-6, "loss", k);
        pl_dp_free(&dp);
    }
    pl_free(ref);
    pl_net_free(&net);
}

/* On one rank the fast path is the whole-minibatch computation. */
static void fast_is_the_whole_minibatch(void **state)
{
    (void)state;
    float x[B * DIM];
    uint8_t y[B];
    data(x, y, B);
    pl_net net;
    make_net(&net, B);
    float *ref = pl_alloc(sizeof(float) * net.nparams);
    double ref_loss;
    whole_gradient(&net, x, y, ref, &ref_loss);
    pl_dp dp;
    pl_dp_init(&dp, &net, pl_comm_self(), 5, 0, B);
    pl_dp_stats st;
    pl_dp_gradient(&dp, &net, x, y, B, 2, 9, &st);
    assert_memory_equal(net.grads, ref, sizeof(float) * net.nparams);
    assert_true(st.loss == ref_loss);
    pl_dp_free(&dp);
    pl_free(ref);
    pl_net_free(&net);
}

static void plans_and_capacity(void **state)
{
    (void)state;
    assert_int_equal(pl_dp_capacity(100, 25, 1, 3), 50);
    assert_int_equal(pl_dp_capacity(100, 25, 1, 4), 25);
    assert_int_equal(pl_dp_capacity(100, 25, 1, 8), 25);
    assert_int_equal(pl_dp_capacity(10, 25, 1, 2), 10);
    assert_int_equal(pl_dp_capacity(101, 25, 1, 1), 101);
    assert_int_equal(pl_dp_capacity(100, 25, 0, 3), 34);
    pl_net net;
    make_net(&net, B);
    pl_dp dp;
    pl_dp_init(&dp, &net, pl_comm_self(), 5, 1, B);
    pl_dp_plan plan;
    pl_dp_begin(&dp, B, &plan);
    assert_int_equal(plan.total_chunks, 5);
    assert_int_equal(plan.nchunks, 5);
    assert_int_equal(plan.rows, B);
    int row0, rows;
    pl_dp_chunk(&dp, &plan, 4, &row0, &rows);
    assert_int_equal(row0, 20);
    assert_int_equal(rows, 3);
    pl_dp_free(&dp);
    pl_net_free(&net);
}

/* Evaluation in exact mode takes chunks of optim.chunk examples; its loss
 * and errors are those of a plain pass. */
static void evaluate(void **state)
{
    (void)state;
    enum { N = 57 };
    float x[N * DIM];
    uint8_t y[N];
    data(x, y, N);
    pl_net net;
    make_net(&net, B);
    double loss;
    long errors;
    pl_net_evaluate(&net, x, y, N, B, &loss, &errors);
    for (int exact = 0; exact <= 1; exact++) {
        pl_dp dp;
        pl_dp_init(&dp, &net, pl_comm_self(), 8, exact, B);
        pl_dp_stats st;
        pl_dp_evaluate(&dp, &net, x, y, N, &st);
        check_close(st.loss, loss, 1e-9, 1e-6, "loss", exact);
        assert_int_equal(st.errors, errors);
        pl_dp_free(&dp);
    }
    pl_net_free(&net);
}

/* Exact mode runs BLAS on one thread and puts the count back after. */
static void blas_threads_restored(void **state)
{
    (void)state;
    int before = openblas_get_num_threads();
    openblas_set_num_threads(2);
    pl_net net;
    make_net(&net, B);
    float x[B * DIM];
    uint8_t y[B];
    data(x, y, B);
    pl_dp dp;
    pl_dp_init(&dp, &net, pl_comm_self(), 8, 1, B);
    pl_dp_gradient(&dp, &net, x, y, B, 1, 1, NULL);
    assert_int_equal(openblas_get_num_threads(), 2);
    pl_dp_free(&dp);
    pl_net_free(&net);
    openblas_set_num_threads(before);
}

/* A backprop epoch is a thin loop over minibatches: the gradient, then an
 * optimiser step at the schedule's rate. Two Gaussian blobs per class in
 * 8 dimensions are learned to a low training error. */
static void backprop_loop_learns(void **state)
{
    (void)state;
    enum { N = 400, D = 8, K = 3, BATCH = 40, EPOCHS = 15 };
    float *x = pl_alloc(sizeof(float) * N * D);
    uint8_t y[N];
    float centres[2 * K * D];
    fill_uniform(centres, 2 * K * D, 1, 0, -2, 2);
    fill_uniform(x, N * D, 2, 0, -0.6, 0.6);
    for (int i = 0; i < N; i++) {
        y[i] = (uint8_t)(i % K);
        for (int d = 0; d < D; d++)
            x[i * D + d] += centres[((i / K) % 2 * K + y[i]) * D + d];
    }
    pl_net net;
    char err[256];
    assert_int_equal(pl_net_create(&net, "dense 32 tanh, dropout 0.1, dense 3 softmax",
                                   (pl_shape){1, 1, D, 0}, K, PL_LOSS_XENT, 1, BATCH, err,
                                   sizeof err),
                     0);
    pl_net_init(&net, PL_INIT_XAVIER, 0, 3);
    pl_dp dp;
    pl_dp_init(&dp, &net, pl_comm_self(), 10, 1, BATCH);
    pl_optim opt;
    pl_optim_init(&opt, PL_OPTIM_ADAM, net.nparams, 0, 0.9f, 0.999f, 1e-8f);
    pl_schedule sched = {.kind = PL_SCHEDULE_LINEAR, .lr = 0.02, .warmup = 1, .epochs = EPOCHS};
    const int nb = N / BATCH;
    long step = 0, last_errors = N;
    for (int e = 0; e < EPOCHS; e++) {
        last_errors = 0;
        for (int b = 0; b < nb; b++, step++) {
            pl_dp_stats st;
            pl_dp_gradient(&dp, &net, x + b * BATCH * D, y + b * BATCH, BATCH, 7, (uint64_t)step,
                           &st);
            pl_optim_step(&opt, net.params, net.grads, (float)pl_schedule_lr(&sched, e, b, nb));
            last_errors += st.errors;
        }
    }
    pl_dp_stats final;
    pl_dp_evaluate(&dp, &net, x, y, N, &final);
    if (!(final.errors < N / 20 && last_errors < N / 10))
        fail_msg("training error %ld/%d in the last epoch, %ld/%d after", last_errors, N,
                 final.errors, N);
    pl_optim_free(&opt);
    pl_dp_free(&dp);
    pl_net_free(&net);
    pl_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_equals_whole_up_to_rounding),
        cmocka_unit_test(fast_is_the_whole_minibatch),
        cmocka_unit_test(plans_and_capacity),
        cmocka_unit_test(evaluate),
        cmocka_unit_test(blas_threads_restored),
        cmocka_unit_test(backprop_loop_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
