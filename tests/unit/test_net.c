/* The network object: named parameter tensors and their layout, keyed
 * initialisation, the forward pass against the references, backprop against
 * finite differences of the loss (dense, conv and pool, residual blocks,
 * dropout, both losses), row ranges, and the layer-level API a rule drives. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/nn/dense.h"
#include "plastic/nn/loss.h"
#include "plastic/nn/net.h"
#include "plastic/nn/nn_ref.h"

#include "support.h"

static void create_ok(pl_net *net, const char *layers, pl_shape in, int nclass,
                      pl_loss_kind loss, int capacity)
{
    char err[512] = "";
    if (pl_net_create(net, layers, in, nclass, loss, 0.5f, capacity, err, sizeof err))
        fail_msg("'%s': %s", layers, err);
}

static void labels(uint8_t *y, int n, int nclass)
{
    for (int i = 0; i < n; i++)
        y[i] = (uint8_t)((7 * i + 3) % nclass);
}

static void tensors_are_named_and_laid_out(void **state)
{
    (void)state;
    pl_net net;
    create_ok(&net, "conv 4 3x3 relu, pool 2, dense 16 tanh, res( dense 16 tanh ), dense 10 softmax",
              (pl_shape){1, 8, 8, 0}, 10, PL_LOSS_XENT, 5);
    const char *names[8] = {"net/conv1/W",  "net/conv1/b",  "net/dense1/W", "net/dense1/b",
                            "net/dense2/W", "net/dense2/b", "net/dense3/W", "net/dense3/b"};
    const long sizes[8] = {4 * 9, 4, 16 * 64, 16, 16 * 16, 16, 10 * 16, 10};
    assert_int_equal(net.ntensors, 8);
    long offset = 0;
    for (int t = 0; t < 8; t++) {
        assert_string_equal(net.tensors[t].name, names[t]);
        assert_int_equal(net.tensors[t].count, sizes[t]);
        assert_int_equal(net.tensors[t].offset, offset);
        assert_ptr_equal(pl_net_param(&net, names[t]), &net.tensors[t]);
        offset += sizes[t];
    }
    assert_int_equal(net.nparams, offset);
    const pl_param *w = pl_net_param(&net, "net/conv1/W");
    assert_int_equal(w->ndim, 4);
    assert_int_equal(w->shape[0], 4);
    assert_int_equal(w->shape[1], 1);
    assert_int_equal(w->shape[3], 3);
    assert_int_equal(pl_net_param(&net, "net/dense1/W")->shape[1], 64);
    assert_null(pl_net_param(&net, "net/dense4/W"));
    assert_ptr_equal(net.layers[2].W, net.params + net.tensors[2].offset);
    assert_ptr_equal(net.layers[2].db, net.grads + net.tensors[3].offset);
    assert_int_equal(net.layers[1].param, -1);
    pl_net_free(&net);
}

static void create_errors_name_the_entry(void **state)
{
    (void)state;
    pl_net net;
    char err[512];
    assert_int_equal(pl_net_create(&net, "dense 64 relu, dense 64 relu, conv 8 3x3, dense 10",
                                   (pl_shape){1, 28, 28, 0}, 10, PL_LOSS_XENT, 1, 4, err,
                                   sizeof err),
                     -1);
    assert_contains(err, "entry 3 'conv 8 3x3': needs an image input");
    pl_config cfg;
    pl_config_defaults(&cfg);
    assert_int_equal(pl_config_override(&cfg, "net.layers=dense 256 tanh, dense 10 softmax"), 0);
    assert_int_equal(
        CAPTURE_STDERR(pl_net_create_config(&net, &cfg, (pl_shape){3, 32, 32, 0}, 100, 4)),
        PL_EXIT_USAGE);
    assert_contains(stderr_text(), "net.layers entry 2 'dense 10 softmax': the output layer has "
                                   "10 units, but the data has 100 classes");
}

/* Weights depend on (seed, layer, element) only: a layer keeps its values
 * when other layers change; biases start at 0; the scales follow the
 * scheme. */
static void init_is_keyed(void **state)
{
    (void)state;
    pl_net a, b;
    const pl_shape in = {1, 10, 10, 0};
    create_ok(&a, "dense 50 tanh, dense 30 tanh, dense 10", in, 10, PL_LOSS_XENT, 1);
    create_ok(&b, "dense 50 tanh, dense 30 tanh, dense 20 relu, dense 10", in, 10, PL_LOSS_XENT, 1);
    pl_net_init(&a, PL_INIT_XAVIER, 0, 42);
    pl_net_init(&b, PL_INIT_XAVIER, 0, 42);
    assert_memory_equal(a.layers[0].W, b.layers[0].W, sizeof(float) * 50 * 100);
    assert_memory_equal(a.layers[1].W, b.layers[1].W, sizeof(float) * 30 * 50);
    double limit = sqrt(6.0 / (100 + 50));
    for (int i = 0; i < 50 * 100; i++)
        assert_true(fabsf(a.layers[0].W[i]) <= limit);
    for (int i = 0; i < 50; i++)
        assert_true(a.layers[0].b[i] == 0.0f);
    pl_net_init(&b, PL_INIT_XAVIER, 0, 43);
    assert_true(memcmp(a.layers[0].W, b.layers[0].W, sizeof(float) * 50 * 100) != 0);
    /* he: N(0, 2 / fan_in); normal: N(0, std^2); sample sd within 5% */
    const double want[2] = {sqrt(2.0 / 100), 0.3};
    for (int k = 0; k < 2; k++) {
        pl_net_init(&a, k == 0 ? PL_INIT_HE : PL_INIT_NORMAL, 0.3, 7);
        double ss = 0;
        for (int i = 0; i < 50 * 100; i++)
            ss += (double)a.layers[0].W[i] * a.layers[0].W[i];
        check_close(sqrt(ss / (50 * 100)), want[k], 0, 0.05, "sd", k);
    }
    assert_int_equal(pl_init_parse("he"), PL_INIT_HE);
    assert_int_equal(pl_init_parse("lecun"), -1);
    pl_net_free(&a);
    pl_net_free(&b);
}

/* A pconv layer: W (V) is out_c x in_c x maps with fan_in in_c maps; its
 * noise maps are no parameters, are N(0, std^2) keyed by (seed, layer) on
 * their own stream (the weights do not move them), and its forward is the
 * reference's on them. */
static void pconv_noise_and_forward(void **state)
{
    (void)state;
    enum { B = 2 };
    pl_net a, b;
    const pl_shape in = {2, 6, 5, 0};
    create_ok(&a, "pconv 3 m4 n0.5 tanh, pconv 2 m8, dense 4 softmax", in, 4, PL_LOSS_XENT, B);
    create_ok(&b, "pconv 3 m4 n0.5 tanh, pconv 2 m8, dense 4 softmax", in, 4, PL_LOSS_XENT, B);
    const pl_param *w = pl_net_param(&a, "net/pconv1/W");
    assert_non_null(w);
    assert_int_equal(w->ndim, 3);
    assert_int_equal(w->shape[0], 3);
    assert_int_equal(w->shape[1], 2);
    assert_int_equal(w->shape[2], 4);
    assert_int_equal(pl_net_param(&a, "net/pconv2/W")->count, 2 * 3 * 8);
    assert_int_equal(pl_net_param(&a, "net/pconv2/b")->count, 2);
    assert_int_equal(a.nparams, 3 * 8 + 3 + 2 * 24 + 2 + 4 * 60 + 4);
    pl_net_init(&a, PL_INIT_XAVIER, 0, 42);
    pl_net_init(&b, PL_INIT_HE, 0, 42);
    const long n1 = 2 * 4 * 30, n2 = 3 * 8 * 30;
    assert_non_null(a.layers[0].noise);
    assert_null(a.layers[2].noise);
    assert_memory_equal(a.layers[0].noise, b.layers[0].noise, sizeof(float) * n1);
    assert_memory_equal(a.layers[1].noise, b.layers[1].noise, sizeof(float) * n2);
    assert_true(memcmp(a.layers[0].noise, a.layers[1].noise, sizeof(float) * n1) != 0);
    double ss = 0;
    for (long i = 0; i < n2; i++)
        ss += (double)a.layers[1].noise[i] * a.layers[1].noise[i];
    check_close(sqrt(ss / n2), 0.1, 0, 0.15, "noise sd", 1); /* the default std */
    ss = 0;
    for (long i = 0; i < n1; i++)
        ss += (double)a.layers[0].noise[i] * a.layers[0].noise[i];
    check_close(sqrt(ss / n1), 0.5, 0, 0.15, "noise sd", 0);
    pl_net_init(&b, PL_INIT_XAVIER, 0, 43);
    assert_true(memcmp(a.layers[0].noise, b.layers[0].noise, sizeof(float) * n1) != 0);

    float *x = alloc_uniform(B * 60, 3, 0, -1, 1);
    const pl_pass pass = {0};
    pl_net_forward(&a, x, 0, B, &pass);
    float h1[B * 90], h2[B * 60];
    pl_ref_pconv_forward(&a.layers[0].pconv, h1, x, a.layers[0].noise, a.layers[0].W,
                         a.layers[0].b, B);
    for (int i = 0; i < B * 90; i++) {
        check_close(a.layers[0].h[i], h1[i], 1e-6, 1e-5, "h1", i);
        h1[i] = (float)tanh(h1[i]);
    }
    pl_ref_pconv_forward(&a.layers[1].pconv, h2, h1, a.layers[1].noise, a.layers[1].W,
                         a.layers[1].b, B);
    for (int i = 0; i < B * 60; i++)
        check_close(a.layers[1].z[i], h2[i], 1e-5, 1e-4, "h2", i);
    pl_free(x);
    pl_net_free(&a);
    pl_net_free(&b);
}

/* An MLP's forward pass is the composition of the references. */
static void forward_matches_reference(void **state)
{
    (void)state;
    enum { B = 6, IN = 12, H = 9, C = 5 };
    pl_net net;
    create_ok(&net, "dense 9 tanh, dense 5 softmax", (pl_shape){1, 3, 4, 0}, C, PL_LOSS_XENT, B);
    pl_net_init(&net, PL_INIT_XAVIER, 0, 1);
    fill_uniform(net.layers[0].b, H, 2, 0, -0.5, 0.5);
    float x[B * IN], h1[B * H], h2[B * C], p[B * C];
    fill_uniform(x, B * IN, 3, 0, -1, 1);
    pl_net_forward(&net, x, 0, B, NULL);
    pl_ref_dense_forward(h1, x, net.layers[0].W, net.layers[0].b, B, IN, H);
    for (int i = 0; i < B * H; i++) {
        check_close(net.layers[0].h[i], h1[i], 1e-6, 1e-5, "h1", i);
        h1[i] = (float)pl_ref_act(PL_ACT_TANH, h1[i]);
        check_close(net.layers[0].z[i], h1[i], 1e-6, 1e-5, "z1", i);
    }
    pl_ref_dense_forward(h2, h1, net.layers[1].W, net.layers[1].b, B, H, C);
    pl_softmax_rows(h2, p, B, C);
    for (int i = 0; i < B * C; i++)
        check_close(pl_net_output(&net)[i], p[i], 1e-6, 1e-5, "p", i);
    pl_net_free(&net);
}

/* ---- gradients against finite differences ---- */

struct case_ {
    const char *layers;
    pl_shape in;
    int nclass;
    pl_loss_kind loss;
    pl_init_kind init;
};

static double minibatch_loss(pl_net *net, const float *x, const uint8_t *y, int B,
                             const pl_pass *pass)
{
    pl_net_forward(net, x, 0, B, pass);
    return pl_net_loss(net, y, 0, B, 1.0f / B, NULL) / B; /* the mean, whose gradient is taken */
}

static void check_gradients(const struct case_ *c)
{
    enum { B = 4, PER_TENSOR = 24 };
    pl_net net;
    create_ok(&net, c->layers, c->in, c->nclass, c->loss, B);
    pl_net_init(&net, c->init, 0, 11);
    for (long i = 0; i < net.nparams; i++) /* non-zero biases too */
        if (net.params[i] == 0.0f)
            net.params[i] = 0.05f * (float)((i * 37) % 11 - 5);
    long in = pl_shape_size(c->in);
    float *x = alloc_uniform(B * in, 12, 0, -1, 1);
    uint8_t y[B];
    labels(y, B, c->nclass);
    const pl_pass pass = {.train = 1, .seed = 5, .step = 3, .example0 = 0};
    minibatch_loss(&net, x, y, B, &pass);
    pl_net_backward(&net, 0, B);
    float *grad = pl_alloc(sizeof(float) * net.nparams);
    pl_net_grads(&net, 0, B, grad, 0.0f);
    /* small enough that no max-pool window changes its winner (1e-3 does
     * for one weight here), large enough for float's rounding of the loss */
    const float eps = 3e-4f;
    for (int t = 0; t < net.ntensors; t++) {
        const pl_param *p = &net.tensors[t];
        long step = p->count > PER_TENSOR ? p->count / PER_TENSOR : 1;
        for (long i = 0; i < p->count; i += step) {
            float *w = net.params + p->offset + i, save = *w;
            *w = save + eps;
            double up = minibatch_loss(&net, x, y, B, &pass);
            *w = save - eps;
            double down = minibatch_loss(&net, x, y, B, &pass);
            *w = save;
            double fd = (up - down) / (2.0 * (double)eps);
            double got = grad[p->offset + i];
            if (!(fabs(got - fd) <= 5e-4 + 2e-2 * fabs(fd)))
                fail_msg("'%s' %s[%ld]: backprop %.6g, finite difference %.6g", c->layers,
                         p->name, i, got, fd);
        }
    }
    pl_free(x);
    pl_free(grad);
    pl_net_free(&net);
}

static void gradients_dense(void **state)
{
    (void)state;
    const struct case_ cases[] = {
        {"dense 7 tanh, dense 5 logistic, dense 4 softmax", {1, 3, 3, 0}, 4, PL_LOSS_XENT,
         PL_INIT_XAVIER},
        {"dense 6 elu, dense 5 relu, dense 3 linear", {2, 2, 2, 0}, 3, PL_LOSS_XENT, PL_INIT_HE},
        {"dense 6 relu^3, dense 4 relu^2, dense 3 linear", {2, 2, 2, 0}, 3, PL_LOSS_POWER,
         PL_INIT_XAVIER},
        {"dense 6 tanh, dense 4 clip", {1, 2, 3, 0}, 4, PL_LOSS_HINGE, PL_INIT_XAVIER},
        {"dense 6 logistic, dense 4 linear", {1, 2, 3, 0}, 4, PL_LOSS_HINGE, PL_INIT_XAVIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gradients(&cases[i]);
}

static void gradients_conv(void **state)
{
    (void)state;
    const struct case_ cases[] = {
        {"conv 3 3x3 tanh, pool 2, conv 2 3x3 s2 tanh, dense 4 softmax", {2, 6, 6, 0}, 4,
         PL_LOSS_XENT, PL_INIT_XAVIER},
        {"conv 2 2x3 s2 elu, pool 3 s2, dense 3 linear", {1, 7, 5, 0}, 3, PL_LOSS_XENT,
         PL_INIT_HE},
        {"conv 3 1x1 tanh, dense 3 softmax", {2, 3, 3, 0}, 3, PL_LOSS_XENT, PL_INIT_XAVIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gradients(&cases[i]);
}

/* The noise stds keep every x + N of these inputs well away from the
 * relu's kink (at least 0.02), where a finite difference is meaningless. */
static void gradients_pconv(void **state)
{
    (void)state;
    const struct case_ cases[] = {
        {"pconv 3 m2 n0.5 tanh, dense 4 softmax", {2, 3, 3, 0}, 4, PL_LOSS_XENT, PL_INIT_XAVIER},
        {"conv 2 3x3 tanh, pconv 3 m2 n0.5 relu, pool 2, dense 3 linear", {1, 4, 4, 0}, 3,
         PL_LOSS_XENT, PL_INIT_HE},
        {"dense 5 tanh, pconv 2 m3 n0.6 elu, dense 3 softmax", {1, 2, 3, 0}, 3, PL_LOSS_XENT,
         PL_INIT_XAVIER},
        {"res( pconv 2 m2 n0.4 tanh ) x2, pconv 2 m1 clip, dense 4 clip", {2, 3, 2, 0}, 4,
         PL_LOSS_HINGE, PL_INIT_XAVIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gradients(&cases[i]);
}

static void gradients_residual_and_dropout(void **state)
{
    (void)state;
    const struct case_ cases[] = {
        {"dense 6 tanh, res( dense 6 tanh, dense 6 tanh ) x2, dense 4 softmax", {1, 2, 4, 0}, 4,
         PL_LOSS_XENT, PL_INIT_XAVIER},
        {"res( conv 2 3x3 tanh ), pool 2 s1, dense 4 linear", {2, 4, 4, 0}, 4, PL_LOSS_XENT,
         PL_INIT_XAVIER},
        {"dense 6 tanh, res( res( dense 6 tanh ), dense 6 tanh ), dense 3 softmax", {1, 1, 5, 0},
         3, PL_LOSS_XENT, PL_INIT_XAVIER},
        {"dense 8 tanh, dropout 0.3, dense 8 tanh, dropout 0.5, dense 4 softmax", {1, 2, 3, 0}, 4,
         PL_LOSS_XENT, PL_INIT_XAVIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gradients(&cases[i]);
}

/* Rows done in pieces give what the whole does (up to rounding), and each
 * layer keeps h, z and delta for every row. */
static void row_ranges(void **state)
{
    (void)state;
    enum { B = 7 };
    pl_net net;
    const pl_shape in = {2, 5, 5, 0};
    create_ok(&net, "conv 3 3x3 relu, pool 2, dense 8 tanh, dropout 0.2, dense 3 softmax", in, 3,
              PL_LOSS_XENT, B);
    pl_net_init(&net, PL_INIT_HE, 0, 3);
    float *x = alloc_uniform(B * 50, 4, 0, -1, 1);
    uint8_t y[B];
    labels(y, B, 3);
    const pl_pass pass = {.train = 1, .seed = 1, .step = 2, .example0 = 10};
    float *whole = pl_alloc(sizeof(float) * net.nparams), *parts = pl_alloc(sizeof(float) * net.nparams);
    float out[B * 3];
    pl_net_forward(&net, x, 0, B, &pass);
    long errors_whole = 0, errors_parts = 0;
    double loss_whole = pl_net_loss(&net, y, 0, B, 1.0f, &errors_whole);
    pl_net_backward(&net, 0, B);
    pl_net_grads(&net, 0, B, whole, 0.0f);
    memcpy(out, pl_net_output(&net), sizeof out);
    double loss_parts = 0;
    const int cuts[3] = {0, 3, B};
    for (int k = 0; k < 2; k++) {
        int r0 = cuts[k], n = cuts[k + 1] - cuts[k];
        pl_net_forward(&net, x, r0, n, &pass);
        loss_parts += pl_net_loss(&net, y, r0, n, 1.0f, &errors_parts);
        pl_net_backward(&net, r0, n);
        pl_net_grads(&net, r0, n, parts, k == 0 ? 0.0f : 1.0f);
    }
    for (int i = 0; i < B * 3; i++)
        check_close(pl_net_output(&net)[i], out[i], 1e-6, 1e-5, "output", i);
    check_close(loss_parts, loss_whole, 1e-6, 1e-6, "loss", 0);
    assert_int_equal(errors_parts, errors_whole);
    for (long i = 0; i < net.nparams; i++)
        check_close(parts[i], whole[i], 1e-5, 1e-4, "grad", i);
    pl_free(x), pl_free(whole), pl_free(parts);
    pl_net_free(&net);
}

/* What a feedback rule does: a layer's input gradient through another
 * matrix R, and parameter gradients from a delta of its own. */
static void layer_api(void **state)
{
    (void)state;
    enum { B = 3, IN = 6, H = 4, C = 3 };
    pl_net net;
    create_ok(&net, "dense 4 clip, dense 3 linear", (pl_shape){1, 1, IN, 0}, C, PL_LOSS_HINGE, B);
    pl_net_init(&net, PL_INIT_XAVIER, 0, 9);
    float x[B * IN], R[C * H], dx[B * H], ref[B * H], e[B * C], dW[C * H], db[C], rW[C * H], rb[C];
    fill_uniform(x, B * IN, 1, 0, -1, 1);
    fill_uniform(R, C * H, 2, 0, -1, 1);
    fill_uniform(e, B * C, 3, 0, -1, 1);
    pl_net_forward(&net, x, 0, B, NULL);
    assert_ptr_equal(pl_net_layer_input(&net, 0), x);
    assert_ptr_equal(pl_net_layer_input(&net, 1), net.layers[0].z);
    pl_net_layer_backward_input(&net, 1, e, R, 0, B, dx, 0.0f);
    pl_ref_dense_backward_input(ref, e, R, B, H, C);
    for (int i = 0; i < B * H; i++)
        check_close(dx[i], ref[i], 1e-6, 1e-5, "dx", i);
    memcpy(net.layers[1].delta, e, sizeof e); /* the rule's own error */
    pl_net_layer_grads(&net, 1, 0, B, dW, db, 0.0f);
    pl_ref_dense_backward_weights(rW, rb, e, net.layers[0].z, B, H, C);
    for (int i = 0; i < C * H; i++)
        check_close(dW[i], rW[i], 1e-6, 1e-5, "dW", i);
    for (int i = 0; i < C; i++)
        check_close(db[i], rb[i], 1e-6, 1e-5, "db", i);
    pl_net_free(&net);
}

static void evaluate_counts(void **state)
{
    (void)state;
    enum { N = 23 };
    pl_net net;
    create_ok(&net, "dense 5 tanh, dense 4 softmax", (pl_shape){1, 1, 6, 0}, 4, PL_LOSS_XENT, 5);
    pl_net_init(&net, PL_INIT_XAVIER, 0, 2);
    float *x = alloc_uniform(N * 6, 7, 0, -1, 1);
    uint8_t y[N];
    labels(y, N, 4);
    double loss = 0, ref_loss = 0;
    long errors = 0, ref_errors = 0;
    pl_net_evaluate(&net, x, y, N, 4, &loss, &errors);
    for (int i = 0; i < N; i++) {
        pl_net_forward(&net, x + i * 6, 0, 1, NULL);
        ref_loss += pl_net_loss(&net, y + i, 0, 1, 1.0f, &ref_errors);
    }
    check_close(loss, ref_loss, 1e-6, 1e-6, "loss", 0);
    assert_int_equal(errors, ref_errors);
    assert_true(errors > 0 && errors < N);
    pl_free(x);
    pl_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tensors_are_named_and_laid_out),
        cmocka_unit_test(create_errors_name_the_entry),
        cmocka_unit_test(init_is_keyed),
        cmocka_unit_test(pconv_noise_and_forward),
        cmocka_unit_test(forward_matches_reference),
        cmocka_unit_test(gradients_dense),
        cmocka_unit_test(gradients_conv),
        cmocka_unit_test(gradients_pconv),
        cmocka_unit_test(gradients_residual_and_dropout),
        cmocka_unit_test(row_ranges),
        cmocka_unit_test(layer_api),
        cmocka_unit_test(evaluate_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
