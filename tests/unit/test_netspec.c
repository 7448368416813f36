/* net.layers: the grammar's examples parse into the expected layer lists
 * (repeats, residual blocks and their add layers, defaults), canonical
 * spelling, syntax errors naming the entry, shapes inferred from the input
 * and shape errors naming the entry or block. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/netspec.h"

#include "support.h"

static const pl_shape mnist = {1, 28, 28, 0}, cifar = {3, 32, 32, 0};

static void parse_ok(pl_netspec *s, const char *text)
{
    char err[512] = "";
    if (pl_netspec_parse(s, text, err, sizeof err))
        fail_msg("'%s': %s", text, err);
}

static void mlp(void **state)
{
    (void)state;
    pl_netspec s;
    parse_ok(&s, "dense 256 tanh, dense 256 tanh, dense 10 softmax");
    assert_int_equal(s.nlayers, 3);
    assert_int_equal(s.nentries, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.layers[i].kind, PL_LAYER_DENSE);
        assert_int_equal(s.layers[i].entry, i + 1);
    }
    assert_int_equal(s.layers[1].units, 256);
    assert_int_equal(s.layers[1].act, PL_ACT_TANH);
    assert_int_equal(s.layers[2].act, PL_ACT_SOFTMAX);
    char err[256];
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_XENT, err, sizeof err), 0);
    assert_int_equal(pl_shape_size(s.layers[0].in), 784);
    assert_true(s.layers[0].out.flat);
    pl_netspec_free(&s);
}

static void convnet(void **state)
{
    (void)state;
    pl_netspec s;
    parse_ok(&s, "conv 32 5x5 relu, pool 2 s2, conv 64 3x3 s1 relu, pool 2, dense 10 softmax");
    assert_int_equal(s.nlayers, 5);
    const pl_layer_spec *l = s.layers;
    assert_int_equal(l[0].kind, PL_LAYER_CONV);
    assert_int_equal(l[0].units, 32);
    assert_int_equal(l[0].k_h, 5);
    assert_int_equal(l[0].k_w, 5);
    assert_int_equal(l[0].stride, 1);
    assert_int_equal(l[1].kind, PL_LAYER_POOL);
    assert_int_equal(l[1].stride, 2);
    assert_int_equal(l[3].stride, 2); /* pool's stride defaults to its window */
    assert_int_equal(l[3].act, PL_ACT_LINEAR);
    char err[256];
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_XENT, err, sizeof err), 0);
    assert_int_equal(l[0].out.c, 32);
    assert_int_equal(l[0].out.h, 28);
    assert_int_equal(l[1].out.h, 14);
    assert_int_equal(l[3].out.w, 7);
    assert_int_equal(pl_shape_size(l[4].in), 64 * 7 * 7);
    pl_netspec_free(&s);
    /* rectangular kernels, strides, and the CIFAR geometry */
    parse_ok(&s, "conv 8 3x5 s2 elu, pool 3 s2, dropout 0.5, dense 100 linear");
    assert_int_equal(s.layers[0].k_h, 3);
    assert_int_equal(s.layers[0].k_w, 5);
    assert_int_equal(s.layers[0].stride, 2);
    assert_true(s.layers[2].p == 0.5f);
    assert_int_equal(pl_netspec_shapes(&s, cifar, 100, PL_LOSS_XENT, err, sizeof err), 0);
    assert_int_equal(s.layers[0].out.h, 16);
    assert_int_equal(s.layers[1].out.h, 8);
    pl_netspec_free(&s);
}

/* pconv K mM [nS] [ACT]: the noise std defaults to 0.1; the output keeps
 * the input's resolution with K channels, a flat input as 1x1 images. */
static void pconv_layers(void **state)
{
    (void)state;
    pl_netspec s;
    char err[256];
    parse_ok(&s, "pconv 16 m8 relu, pool 2, pconv 4 m2 n0.05, dense 8 tanh, "
                 "pconv 3 m1 relu n2, dense 10 softmax");
    const pl_layer_spec *l = s.layers;
    assert_int_equal(l[0].kind, PL_LAYER_PCONV);
    assert_int_equal(l[0].units, 16);
    assert_int_equal(l[0].maps, 8);
    assert_true(l[0].noise == 0.1f);
    assert_int_equal(l[0].act, PL_ACT_RELU);
    assert_int_equal(l[2].maps, 2);
    assert_true(l[2].noise == 0.05f);
    assert_int_equal(l[2].act, PL_ACT_LINEAR);
    assert_true(l[4].noise == 2.0f); /* the std and the activation in either order */
    assert_int_equal(l[4].act, PL_ACT_RELU);
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_XENT, err, sizeof err), 0);
    assert_int_equal(l[0].out.c, 16);
    assert_int_equal(l[0].out.h, 28);
    assert_int_equal(l[0].out.w, 28);
    assert_false(l[0].out.flat);
    assert_int_equal(l[2].in.c, 16);
    assert_int_equal(l[2].out.c, 4);
    assert_int_equal(l[2].out.h, 14);
    assert_int_equal(l[4].out.c, 3); /* after a dense layer: 8 channels of 1x1 */
    assert_int_equal(l[4].out.h, 1);
    assert_int_equal(pl_shape_size(l[5].in), 3);
    char line[256];
    pl_netspec_describe(&s, 0, line, sizeof line);
    assert_contains(line, "pconv 16 m8 n0.1 relu");
    assert_contains(line, "1x28x28 -> 16x28x28");
    pl_netspec_free(&s);
    char out[256];
    assert_int_equal(pl_netspec_canonical("pconv  16 m8\tn0.2 relu ,dense 10", out, sizeof out,
                                          err, sizeof err),
                     0);
    assert_string_equal(out, "pconv 16 m8 n0.2 relu, dense 10");
}

/* A repeat copies the entry; a res block is its layers plus an add from
 * the layer before the block; repeated blocks add from their own start. */
static void repeats_and_blocks(void **state)
{
    (void)state;
    pl_netspec s;
    parse_ok(&s, "dense 256 tanh x3, res( dense 256 tanh, dense 256 tanh ) x2, dense 10");
    assert_int_equal(s.nentries, 4);
    assert_int_equal(s.nblocks, 1);
    assert_int_equal(s.nlayers, 3 + 2 * 3 + 1);
    const int kinds[10] = {PL_LAYER_DENSE, PL_LAYER_DENSE, PL_LAYER_DENSE, PL_LAYER_DENSE,
                           PL_LAYER_DENSE, PL_LAYER_ADD,   PL_LAYER_DENSE, PL_LAYER_DENSE,
                           PL_LAYER_ADD,   PL_LAYER_DENSE};
    for (int i = 0; i < 10; i++)
        assert_int_equal(s.layers[i].kind, kinds[i]);
    assert_int_equal(s.layers[5].from, 2); /* the output of the third dense */
    assert_int_equal(s.layers[8].from, 5); /* the first block's output */
    assert_int_equal(s.layers[2].entry, 1);
    assert_int_equal(s.layers[4].entry, 3);
    assert_int_equal(s.layers[9].entry, 4);
    assert_int_equal(s.layers[9].act, PL_ACT_LINEAR);
    pl_netspec_free(&s);
    /* nested blocks, a block at the very start (adds the network input) */
    parse_ok(&s, "res(conv 1 3x3 relu,res(conv 1 3x3 relu)), dense 10");
    assert_int_equal(s.nlayers, 5);
    assert_int_equal(s.layers[2].kind, PL_LAYER_ADD);
    assert_int_equal(s.layers[2].from, 0);
    assert_int_equal(s.layers[3].kind, PL_LAYER_ADD);
    assert_int_equal(s.layers[3].from, -1);
    char err[256];
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_XENT, err, sizeof err), 0);
    pl_netspec_free(&s);
}

static void canonical_spelling(void **state)
{
    (void)state;
    char out[256], err[256];
    assert_int_equal(pl_netspec_canonical("  res(dense 4 tanh,dense   4\ttanh)x2 ,dense 10\n",
                                          out, sizeof out, err, sizeof err),
                     0);
    assert_string_equal(out, "res( dense 4 tanh, dense 4 tanh ) x2, dense 10");
    assert_int_equal(pl_netspec_canonical(out, out + 128, 128, err, sizeof err), 0);
    assert_string_equal(out + 128, out); /* a fixed point */
    assert_int_equal(pl_netspec_canonical("dense 10 softmax", out, 8, err, sizeof err), -1);
    assert_contains(err, "longer than 7 characters");
}

static void syntax_errors_name_the_entry(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"conv 32 5x5 relu, dense 5, conv 32 5x5 rleu",
         "entry 3 'conv 32 5x5 rleu': unknown activation 'rleu' (tanh|relu|relu^N|elu|sign|logistic|"
         "clip|linear|softmax)"},
        {"dense 256 tanh, lstm 5", "entry 2 'lstm 5': unknown layer 'lstm' (dense|conv|pool|"},
        {"dense", "entry 1 'dense': expected the number of units after 'dense'"},
        {"dense 0", "entry 1 'dense 0': expected the number of units"},
        {"dense 99999999999", "entry 1 'dense 99999999999': expected the number of units"},
        {"conv 8 relu", "entry 1 'conv 8 relu': expected a kernel such as 5x5"},
        {"conv 8 3x3 s0", "entry 1 'conv 8 3x3 s0': bad stride 's0' (s1 to s1024)"},
        {"pool 2 s2x", "entry 1 'pool 2 s2x': bad stride 's2x'"},
        {"conv 8 3x3 relu tanh", "entry 1 'conv 8 3x3 relu tanh': 'activation' given twice"},
        {"pool 2 relu", "entry 1 'pool 2 relu': unexpected 'relu' (pool takes a window"},
        {"dropout 1", "entry 1 'dropout 1': expected a probability 0 <= p < 1"},
        {"dropout", "entry 1 'dropout': expected a probability"},
        {"dense 5, pconv 16 m0", "entry 2 'pconv 16 m0': bad number of noise maps 'm0' (m1 to "
                                 "m1024)"},
        {"pconv 16 m2000 relu", "entry 1 'pconv 16 m2000 relu': bad number of noise maps"},
        {"pconv 16 mx", "entry 1 'pconv 16 mx': bad number of noise maps 'mx'"},
        {"pconv 16", "entry 1 'pconv 16': expected the noise maps per input channel, such as m8, "
                     "after the channels, got ''"},
        {"pconv 16 relu m8", "entry 1 'pconv 16 relu m8': expected the noise maps"},
        {"pconv m8", "entry 1 'pconv m8': expected the number of channels after 'pconv'"},
        {"pconv 16 m8 n0", "entry 1 'pconv 16 m8 n0': bad noise std 'n0' (n and a number > 0, "
                           "e.g. n0.1)"},
        {"pconv 16 m8 n-0.1", "entry 1 'pconv 16 m8 n-0.1': bad noise std"},
        {"pconv 16 m8 n", "entry 1 'pconv 16 m8 n': bad noise std"},
        {"pconv 16 m8 ninf", "bad noise std 'ninf'"},
        {"pconv 16 m8 nnan", "bad noise std 'nnan'"},
        {"pconv 16 m8 n1e-60", "bad noise std 'n1e-60'"},
        {"pconv 16 m8 n1e60", "bad noise std 'n1e60'"},
        {"pconv 16 m8 n0.1x", "bad noise std 'n0.1x'"},
        {"pconv 16 m8 m4", "entry 1 'pconv 16 m8 m4': 'noise maps' given twice"},
        {"pconv 16 m8 n0.1 n0.2", "'noise std' given twice"},
        {"pconv 16 m8 relu tanh", "entry 1 'pconv 16 m8 relu tanh': 'activation' given twice"},
        {"pconv 16 m8 rleu", "entry 1 'pconv 16 m8 rleu': unknown activation 'rleu'"},
        {"pconv 16 m8 3x3", "entry 1 'pconv 16 m8 3x3': unexpected '3x3'"},
        {"pconv 16 m8 s2", "entry 1 'pconv 16 m8 s2': unexpected 's2'"},
        {"dense 5 tanh x0", "entry 1 'dense 5 tanh x0': bad repeat count 'x0' (x1 to x4096)"},
        {"dense 5 x5000", "entry 1 'dense 5 x5000': bad repeat count"},
        {"dense 5 x4000, dense 5 x200", "more than 4096 layers"},
        {"dense 5,, dense 5", "entry 2 is empty (a comma too many?)"},
        {"dense 5,", "entry 2 is empty"},
        {"res(dense 5", "a res block after entry 1 lacks its ')'"},
        {"res dense 5", "expected '(' after 'res'"},
        {"res()", "entry 1 is empty"},
        {"dense 5) , dense 5", "unexpected ')' after entry 1"},
        {"dense 5 (tanh)", "unexpected '(' after entry 1"},
        {"res(dense 5) x0", "res block of entries 1-1: bad repeat count 'x0'"},
        {"   ", "no layers"},
        /* an entry of 8 long words is quoted whole (it was cut at 64 bytes) */
        {"conv 32 5x5 relu relu relu relu aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "entry 1 'conv 32 5x5 relu relu relu relu aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': "
         "'activation' given twice"},
        {"dense 8, pool 2 s2 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ccccccccccccccccccccccccccccccc",
         "entry 2 'pool 2 s2 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ccccccccccccccccccccccccccccccc': "
         "unexpected 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'"},
        /* longer texts are quoted to 80 characters, so the reason survives */
        {"conv 1 1x1 s1 relu relu aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         "entry 1 'conv 1 1x1 s1 relu relu aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbb"
         "...': 'activation' given twice"},
        {"dense 1 a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n",
         "entry 1 'dense 1 a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i"
         "...': too long (at most 8 words of at most 31 characters)"},
        {"res(dense 5) cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
         "cccccccccccccccccccccccccccccccccccccccccccc",
         "unexpected 'ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
         "cccccc...' after entry 1"},
        {"dense 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaa",
         "entry 1 'dense 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaa...': too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        pl_netspec s;
        if (pl_netspec_parse(&s, cases[i][0], err, sizeof err) == 0)
            fail_msg("'%s' parsed", cases[i][0]);
        if (!strstr(err, cases[i][1]))
            fail_msg("'%s': expected \"%s\" in \"%s\"", cases[i][0], cases[i][1], err);
    }
}

static void expect_shape_error(const char *text, pl_shape in, int nclass, pl_loss_kind loss,
                               const char *message)
{
    pl_netspec s;
    parse_ok(&s, text);
    char err[512] = "";
    if (pl_netspec_shapes(&s, in, nclass, loss, err, sizeof err) == 0)
        fail_msg("'%s' passed the shape check", text);
    if (!strstr(err, message))
        fail_msg("'%s': expected \"%s\" in \"%s\"", text, message, err);
    pl_netspec_free(&s);
}

static void shape_errors_name_the_entry(void **state)
{
    (void)state;
    expect_shape_error("dense 256 relu, dense 256 relu, dense 256 relu, dense 256 relu, dense 10",
                       mnist, 100, PL_LOSS_XENT,
                       "entry 5 'dense 10': the output layer has 10 units, but the data has 100 "
                       "classes: shapes do not match");
    expect_shape_error("dense 256 relu, conv 8 3x3, dense 10", mnist, 10, PL_LOSS_XENT,
                       "entry 2 'conv 8 3x3': needs an image input, but gets the 256 flat outputs");
    expect_shape_error("pool 2, pool 2, pool 2, pool 2, pool 3, dense 10", mnist, 10, PL_LOSS_XENT,
                       "entry 5 'pool 3': the 3x3 window is larger than its 1x2x2 input");
    expect_shape_error("dense 64 tanh, res( dense 32 tanh ), dense 10", mnist, 10, PL_LOSS_XENT,
                       "res block 'res( dense 32 tanh )': its output (32) must have the shape of "
                       "its input (64)");
    expect_shape_error("res( conv 2 3x3 ) x3, dense 10", mnist, 10, PL_LOSS_XENT,
                       "res block 'res( conv 2 3x3 ) x3': its output (2x28x28) must have the "
                       "shape of its input (1x28x28)");
    /* a long block is quoted to 80 characters, and the reason follows */
    expect_shape_error("dense 64 tanh, res( dense 32 tanh, dense 32 tanh, dense 32 tanh, dense 32 "
                       "tanh, dense 32 tanh, dense 32 tanh ), dense 10", mnist, 10, PL_LOSS_XENT,
                       "res block 'res( dense 32 tanh, dense 32 tanh, dense 32 tanh, dense 32 "
                       "tanh, dense 32 tan...': its output (32) must have the shape of its input "
                       "(64)");
    expect_shape_error("dense 64 softmax, dense 10", mnist, 10, PL_LOSS_XENT,
                       "entry 1 'dense 64 softmax': softmax belongs to the output layer only");
    expect_shape_error("dense 64 tanh, dense 10 tanh", mnist, 10, PL_LOSS_XENT,
                       "entry 2 'dense 10 tanh': net.loss = xent needs a softmax (or linear)");
    expect_shape_error("dense 64 clip, dense 10 softmax", mnist, 10, PL_LOSS_HINGE,
                       "net.loss = hinge needs an elementwise output");
    expect_shape_error("dense 64 tanh, dense 10 softmax, dropout 0.1", mnist, 10, PL_LOSS_XENT,
                       "softmax belongs to the output layer only");
    expect_shape_error("dense 10 linear, dropout 0.1", mnist, 10, PL_LOSS_XENT,
                       "entry 2 'dropout 0.1': the last layer must be dense");
    expect_shape_error("dense 64 relu^3, dense 10 tanh", mnist, 10, PL_LOSS_POWER,
                       "entry 2 'dense 10 tanh': net.loss = power applies tanh(beta z) itself: "
                       "it needs a linear output layer");
}

/* relu^N carries its exponent; a bad one is named. */
static void rectified_power_units(void **state)
{
    (void)state;
    pl_netspec s;
    parse_ok(&s, "dense 2000 relu^4.5, dense 10");
    assert_int_equal(s.layers[0].act, PL_ACT_REPU);
    assert_true(s.layers[0].power == 4.5f);
    char err[256], line[256];
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_POWER, err, sizeof err), 0);
    pl_netspec_describe(&s, 0, line, sizeof line);
    assert_contains(line, "dense 2000 relu^4.5");
    pl_netspec_free(&s);
    assert_int_equal(pl_netspec_parse(&s, "dense 20 relu^0, dense 10", err, sizeof err), -1);
    assert_contains(err, "entry 1 'dense 20 relu^0': unknown activation 'relu^0'");
}

/* The description of a layer, as a rule prints it. */
static void describes_layers(void **state)
{
    (void)state;
    pl_netspec s;
    parse_ok(&s, "conv 4 3x3 s2 relu, dense 8 tanh, res( dense 8 tanh ), dense 10 softmax");
    char err[256], line[256];
    assert_int_equal(pl_netspec_shapes(&s, mnist, 10, PL_LOSS_XENT, err, sizeof err), 0);
    pl_netspec_describe(&s, 0, line, sizeof line);
    assert_contains(line, "conv 4 3x3 s2 relu");
    assert_contains(line, "1x28x28 -> 4x14x14");
    pl_netspec_describe(&s, 3, line, sizeof line);
    assert_contains(line, "add the output of layer 2");
    pl_netspec_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp),
        cmocka_unit_test(convnet),
        cmocka_unit_test(pconv_layers),
        cmocka_unit_test(repeats_and_blocks),
        cmocka_unit_test(canonical_spelling),
        cmocka_unit_test(syntax_errors_name_the_entry),
        cmocka_unit_test(shape_errors_name_the_entry),
        cmocka_unit_test(describes_layers),
        cmocka_unit_test(rectified_power_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
