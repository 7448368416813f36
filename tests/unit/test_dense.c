/* Dense layer kernels against the naive references: forward, the summed
 * outer products and bias gradient (overwrite and accumulate), the input
 * gradient through W and through a separate feedback matrix, and the
 * gradient bounds the exact sum relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/dense.h"
#include "plastic/nn/nn_ref.h"

#include "support.h"

static const int shapes[][3] = {{1, 1, 1}, {1, 300, 7}, {5, 3, 1}, {16, 24, 10}, {33, 65, 47}};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static void check_all(const float *got, const float *ref, long n, double tol, const char *what)
{
    for (long i = 0; i < n; i++)
        check_close(got[i], ref[i], tol, tol, what, i);
}

static void forward(void **state)
{
    (void)state;
    for (int s = 0; s < NSHAPES; s++) {
        int B = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = alloc_uniform((long)B * in, 1, (uint64_t)s, -1, 1);
        float *W = alloc_uniform((long)out * in, 2, (uint64_t)s, -1, 1);
        float *b = alloc_uniform(out, 3, (uint64_t)s, -1, 1);
        float *y = pl_alloc(sizeof(float) * B * out), *ref = pl_alloc(sizeof(float) * B * out);
        pl_dense_forward(y, x, W, b, B, in, out);
        pl_ref_dense_forward(ref, x, W, b, B, in, out);
        check_all(y, ref, (long)B * out, 1e-5, "y");
        pl_free(x), pl_free(W), pl_free(b), pl_free(y), pl_free(ref);
    }
}

static void backward_weights(void **state)
{
    (void)state;
    for (int s = 0; s < NSHAPES; s++) {
        int B = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = alloc_uniform((long)B * in, 4, (uint64_t)s, -1, 1);
        float *d = alloc_uniform((long)B * out, 5, (uint64_t)s, -1, 1);
        float *dW = alloc_uniform((long)out * in, 6, (uint64_t)s, -9, 9); /* overwritten */
        float *db = alloc_uniform(out, 7, (uint64_t)s, -9, 9);
        float *rW = pl_alloc(sizeof(float) * out * in), *rb = pl_alloc(sizeof(float) * out);
        pl_dense_backward_weights(dW, db, d, x, B, in, out, 0.0f);
        pl_ref_dense_backward_weights(rW, rb, d, x, B, in, out);
        check_all(dW, rW, (long)out * in, 1e-5, "dW");
        check_all(db, rb, out, 1e-5, "db");
        /* beta = 1 adds a second minibatch's worth */
        pl_dense_backward_weights(dW, db, d, x, B, in, out, 1.0f);
        for (long i = 0; i < (long)out * in; i++)
            check_close(dW[i], 2.0 * rW[i], 1e-5, 1e-5, "dW + dW", i);
        for (int i = 0; i < out; i++)
            check_close(db[i], 2.0 * rb[i], 1e-5, 1e-5, "db + db", i);
        /* the bound covers every value, up to the rounding of the float
         * result (exact.h leaves a factor 2 for it) */
        double bW, bb;
        pl_dense_grad_bound(d, x, B, in, out, &bW, &bb);
        for (long i = 0; i < (long)out * in; i++)
            assert_true(fabs(rW[i]) <= bW * (1 + 1e-6));
        for (int i = 0; i < out; i++)
            assert_true(fabs(rb[i]) <= bb * (1 + 1e-6));
        pl_free(x), pl_free(d), pl_free(dW), pl_free(db), pl_free(rW), pl_free(rb);
    }
}

/* Through W (backprop) and through a feedback matrix R of W's shape. */
static void backward_input(void **state)
{
    (void)state;
    for (int s = 0; s < NSHAPES; s++) {
        int B = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *d = alloc_uniform((long)B * out, 8, (uint64_t)s, -1, 1);
        float *R = alloc_uniform((long)out * in, 9, (uint64_t)s, -1, 1);
        float *dx = alloc_uniform((long)B * in, 10, (uint64_t)s, -9, 9);
        float *ref = pl_alloc(sizeof(float) * B * in);
        pl_dense_backward_input(dx, d, R, B, in, out, 0.0f);
        pl_ref_dense_backward_input(ref, d, R, B, in, out);
        check_all(dx, ref, (long)B * in, 1e-5, "dx");
        pl_dense_backward_input(dx, d, R, B, in, out, 1.0f);
        for (long i = 0; i < (long)B * in; i++)
            check_close(dx[i], 2.0 * ref[i], 1e-5, 1e-5, "dx + dx", i);
        pl_free(d), pl_free(R), pl_free(dx), pl_free(ref);
    }
}

/* No rows: the gradient of an empty sum is zero, and beta = 1 keeps it. */
static void empty_minibatch(void **state)
{
    (void)state;
    float dW[6] = {1, 2, 3, 4, 5, 6}, db[2] = {7, 8};
    pl_dense_backward_weights(dW, db, NULL, NULL, 0, 3, 2, 1.0f);
    assert_true(dW[5] == 6.0f && db[1] == 8.0f);
    pl_dense_backward_weights(dW, db, NULL, NULL, 0, 3, 2, 0.0f);
    for (int i = 0; i < 6; i++)
        assert_true(dW[i] == 0.0f);
    assert_true(db[0] == 0.0f && db[1] == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward),
        cmocka_unit_test(backward_weights),
        cmocka_unit_test(backward_input),
        cmocka_unit_test(empty_minibatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
