/* Configuration: table defaults, strict INI loading with file:line errors,
 * section.key=value overrides, derived keys, and write -> load round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/rule.h"

#include "support.h"

static const char *const all_keys[] = {
    "run.name",     "run.dir",         "run.seed",        "run.threads",   "data.set",
    "data.dir",     "data.valid",      "data.train_limit", "data.test_limit", "kh.hidden",
    "kh.p",         "kh.k",            "kh.delta",        "kh.batch",      "kh.epochs",
    "kh.eps0",      "kh.impl",         "kh.tile",         "readout.n",       "readout.m",     "readout.beta",
    "readout.epochs", "readout.batch", "readout.lr",      "log.progress",  "net.layers",
    "net.init",     "net.init_std",    "net.loss",        "net.hinge_mu",  "optim.method",
    "optim.lr",     "optim.momentum",  "optim.beta1",     "optim.beta2",   "optim.eps",
    "optim.schedule", "optim.gamma",   "optim.step_every", "optim.power",  "optim.warmup",
    "optim.epochs", "optim.batch",     "optim.chunk",     "optim.sum",
};
enum { ALL_KEYS = sizeof all_keys / sizeof all_keys[0] };

/* ---- files in the group's temporary directory ---- */

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* ---- stderr: errors are the behaviour under test ---- */

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* ---- comparing configs field by field ---- */

static void assert_same_double(double a, double b)
{
    assert_memory_equal(&a, &b, sizeof a); /* bitwise: -0.0 and 0.0 differ */
}

static void assert_config_equal(const pl_config *a, const pl_config *b)
{
    assert_string_equal(a->run.name, b->run.name);
    assert_string_equal(a->run.dir, b->run.dir);
    assert_true(a->run.seed == b->run.seed);
    assert_int_equal(a->run.threads, b->run.threads);
    assert_string_equal(a->data.set, b->data.set);
    assert_string_equal(a->data.dir, b->data.dir);
    assert_int_equal(a->data.valid, b->data.valid);
    assert_int_equal(a->data.train_limit, b->data.train_limit);
    assert_int_equal(a->data.test_limit, b->data.test_limit);
    assert_int_equal(a->kh.hidden, b->kh.hidden);
    assert_same_double(a->kh.p, b->kh.p);
    assert_int_equal(a->kh.k, b->kh.k);
    assert_same_double(a->kh.delta, b->kh.delta);
    assert_int_equal(a->kh.batch, b->kh.batch);
    assert_int_equal(a->kh.epochs, b->kh.epochs);
    assert_same_double(a->kh.eps0, b->kh.eps0);
    assert_string_equal(a->kh.impl, b->kh.impl);
    assert_int_equal(a->kh.tile, b->kh.tile);
    assert_same_double(a->readout.n, b->readout.n);
    assert_same_double(a->readout.m, b->readout.m);
    assert_same_double(a->readout.beta, b->readout.beta);
    assert_int_equal(a->readout.epochs, b->readout.epochs);
    assert_int_equal(a->readout.batch, b->readout.batch);
    assert_same_double(a->readout.lr, b->readout.lr);
    assert_int_equal(a->log.progress, b->log.progress);
    assert_string_equal(a->net.layers, b->net.layers);
    assert_string_equal(a->net.init, b->net.init);
    assert_same_double(a->net.init_std, b->net.init_std);
    assert_string_equal(a->net.loss, b->net.loss);
    assert_same_double(a->net.hinge_mu, b->net.hinge_mu);
    assert_string_equal(a->optim.method, b->optim.method);
    assert_same_double(a->optim.lr, b->optim.lr);
    assert_same_double(a->optim.momentum, b->optim.momentum);
    assert_same_double(a->optim.beta1, b->optim.beta1);
    assert_same_double(a->optim.beta2, b->optim.beta2);
    assert_same_double(a->optim.eps, b->optim.eps);
    assert_string_equal(a->optim.schedule, b->optim.schedule);
    assert_same_double(a->optim.gamma, b->optim.gamma);
    assert_int_equal(a->optim.step_every, b->optim.step_every);
    assert_same_double(a->optim.power, b->optim.power);
    assert_same_double(a->optim.warmup, b->optim.warmup);
    assert_int_equal(a->optim.epochs, b->optim.epochs);
    assert_int_equal(a->optim.batch, b->optim.batch);
    assert_int_equal(a->optim.chunk, b->optim.chunk);
    assert_string_equal(a->optim.sum, b->optim.sum);
}

/* ---- defaults and good input ---- */

static void defaults_are_the_table_values(void **state)
{
    (void)state;
    pl_config c;
    memset(&c, 0xAB, sizeof c); /* every field must be overwritten */
    pl_config_defaults(&c);
    assert_string_equal(c.source, "");
    assert_string_equal(c.run.name, "");
    assert_string_equal(c.run.dir, "");
    assert_true(c.run.seed == 1);
    assert_int_equal(c.run.threads, 0);
    assert_string_equal(c.data.set, "mnist");
    assert_string_equal(c.data.dir, "");
    assert_int_equal(c.data.valid, 10000);
    assert_int_equal(c.data.train_limit, 0);
    assert_int_equal(c.data.test_limit, 0);
    assert_int_equal(c.kh.hidden, 2000);
    assert_true(c.kh.p == 3.0);
    assert_int_equal(c.kh.k, 7);
    assert_true(c.kh.delta == 0.4);
    assert_int_equal(c.kh.batch, 100);
    assert_int_equal(c.kh.epochs, 1000);
    assert_true(c.kh.eps0 == 0.04);
    assert_string_equal(c.kh.impl, "fast");
    assert_int_equal(c.kh.tile, 128);
    assert_true(c.readout.n == 4.5);
    assert_true(c.readout.m == 6.0);
    assert_true(c.readout.beta == 0.5);
    assert_int_equal(c.readout.epochs, 300);
    assert_int_equal(c.readout.batch, 100);
    assert_true(c.readout.lr == 0.001);
    assert_int_equal(c.log.progress, 1);
    assert_string_equal(c.net.layers, "dense 256 tanh, dense 10 softmax");
    assert_string_equal(c.net.init, "xavier");
    assert_true(c.net.init_std == 0.01);
    assert_string_equal(c.net.loss, "xent");
    assert_true(c.net.hinge_mu == 1.0);
    assert_string_equal(c.optim.method, "adam");
    assert_true(c.optim.lr == 0.001);
    assert_true(c.optim.momentum == 0.9);
    assert_true(c.optim.beta1 == 0.9);
    assert_true(c.optim.beta2 == 0.999);
    assert_true(c.optim.eps == 1e-8);
    assert_string_equal(c.optim.schedule, "const");
    assert_true(c.optim.gamma == 0.1);
    assert_int_equal(c.optim.step_every, 30);
    assert_true(c.optim.power == 1.0);
    assert_true(c.optim.warmup == 0.0);
    assert_int_equal(c.optim.epochs, 20);
    assert_int_equal(c.optim.batch, 100);
    assert_int_equal(c.optim.chunk, 25);
    assert_string_equal(c.optim.sum, "fast");
}

static void load_sets_fields(void **state)
{
    (void)state;
    const char *path = write_file("good.ini",
                                  "; a comment line\n"
                                  "# another\n"
                                  "[run]\n"
                                  "seed = 18446744073709551615\n"
                                  "name=  trial one  \n"
                                  "\n"
                                  "[data]\n"
                                  "set = cifar10 ; inline comment\n"
                                  "dir = /scratch/data/cifar-10\r\n"
                                  "valid = 0\n"
                                  "[kh]\n"
                                  "hidden = 100\n"
                                  "p = 4.5\n"
                                  "k = 2\n"
                                  "delta = -0\n"
                                  "eps0 = 2e-2\n"
                                  "impl = naive\n"
                                  "[readout]\n"
                                  "lr = 1e-5\n"
                                  "[log]\n"
                                  "progress = 0"); /* no final newline */
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, path)), 0);
    assert_string_equal(stderr_text(), "");
    assert_string_equal(c.source, path);
    assert_true(c.run.seed == UINT64_MAX);
    assert_string_equal(c.run.name, "trial one");
    assert_string_equal(c.data.set, "cifar10");
    assert_string_equal(c.data.dir, "/scratch/data/cifar-10");
    assert_int_equal(c.data.valid, 0);
    assert_int_equal(c.kh.hidden, 100);
    assert_true(c.kh.p == 4.5);
    assert_int_equal(c.kh.k, 2);
    assert_true(c.kh.delta == 0.0);
    assert_true(c.kh.eps0 == 0.02);
    assert_string_equal(c.kh.impl, "naive");
    assert_true(c.readout.lr == 1e-5);
    assert_int_equal(c.log.progress, 0);
    /* keys the file does not name keep their values */
    assert_int_equal(c.kh.batch, 100);
    assert_true(c.readout.n == 4.5);
    assert_string_equal(c.run.dir, "");
}

/* A second file applies over the first, changing only the keys it names. */
static void load_layers_over_current_values(void **state)
{
    (void)state;
    const char *first = write_file("first.ini", "[kh]\nhidden = 50\nk = 3\n");
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, first)), 0);
    const char *second = write_file("second.ini", "[kh]\nk = 5\n");
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, second)), 0);
    assert_int_equal(c.kh.hidden, 50);
    assert_int_equal(c.kh.k, 5);
    assert_string_equal(c.source, second);
}

/* ---- load errors: one message naming file and line, config unchanged ---- */

static void expect_load_error(const char *text, int line, const char *message)
{
    const char *path = write_file("bad.ini", text);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s:%d: %s", path, line, message);
    pl_config c, before;
    pl_config_defaults(&c);
    memcpy(&before, &c, sizeof c);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, path)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), expected);
    assert_int_equal(count_lines(stderr_text()), 1);
    assert_memory_equal(&c, &before, sizeof c);
}

static void unknown_key_fails_at_its_line(void **state)
{
    (void)state;
    expect_load_error("[kh]\n; comment\n\nfoo = 1\nhidden = 10\n", 4,
                      "unknown key 'foo' in section [kh] (known: hidden, p, k, delta, batch, "
                      "epochs, eps0, impl");
}

static void unknown_section_fails_at_its_line(void **state)
{
    (void)state;
    expect_load_error("[run]\nseed = 3\n[xyz]\nseed = 4\n", 3,
                      "unknown section [xyz] (known: run, model, data, kh, readout,");
    /* even with no keys in it, and however it is spaced */
    expect_load_error("[kh]\nk = 3\n\n  [ kh ]  ; comment\n", 4, "unknown section [ kh ]");
}

static void key_outside_section_fails(void **state)
{
    (void)state;
    expect_load_error("seed = 3\n", 1, "key 'seed' is outside any section");
}

static void bad_int_fails_at_its_line(void **state)
{
    (void)state;
    expect_load_error("[kh]\nhidden = 3.5\n", 2, "kh.hidden: expected an integer, got '3.5'");
    expect_load_error("[kh]\nbatch = 10\nepochs =\n", 3, "kh.epochs: expected an integer, got ''");
}

static void bad_double_fails_at_its_line(void **state)
{
    (void)state;
    expect_load_error("[run]\n[kh]\np = 3\ndelta = abc\n", 4,
                      "kh.delta: expected a number, got 'abc'");
    expect_load_error("[readout]\nlr = nan\n", 2,
                      "readout.lr: expected a finite number, got 'nan'");
}

static void out_of_range_fails_naming_the_range(void **state)
{
    (void)state;
    expect_load_error("[kh]\nk = 1\n", 2, "kh.k: must be >= 2, got 1");
    expect_load_error("[kh]\n\neps0 = 0\n", 3, "kh.eps0: must be > 0, got 0");
    expect_load_error("[data]\nset = mnist2\n", 2,
                      "data.set: expected one of mnist|fashion|cifar10|cifar100, got 'mnist2'");
}

static void syntax_error_fails_at_its_line(void **state)
{
    (void)state;
    expect_load_error("[kh]\nhidden = 10\n\n\nthis is not ini\n", 5, "syntax error");
    expect_load_error("[kh\nhidden = 10\n", 1, "syntax error");
    /* whichever comes first in the file is the one reported */
    expect_load_error("[kh]\nnonsense\nfoo = 1\n", 2, "syntax error");
    expect_load_error("[kh]\nfoo = 1\nnonsense\n", 2, "unknown key 'foo'");
}

/* An indented line is a continuation in inih: it would silently replace
 * the value of the key above, so it is refused like a repeated key. */
static void repeated_key_fails(void **state)
{
    (void)state;
    expect_load_error("[kh]\nhidden = 10\nk = 3\nhidden = 20\n", 4, "kh.hidden is set twice");
    expect_load_error("[kh]\nhidden = 10\n  20\n", 3, "kh.hidden is set twice");
}

/* inih would cut the line at its buffer size and use the rest. */
static void overlong_line_fails(void **state)
{
    (void)state;
    char text[1024];
    int n = snprintf(text, sizeof text, "[data]\ndir = /");
    memset(text + n, 'd', 400);
    snprintf(text + n + 400, sizeof text - (size_t)n - 400, "\n[kh]\nk = 3\n");
    expect_load_error(text, 2, "line is longer than");
}

/* fgets stops at no NUL, but inih reads the line only up to it, so the
 * rest of the line was ignored. Found by tests/fuzz/fuzz_config.c. */
static void nul_byte_fails(void **state)
{
    (void)state;
    static const char text[] = "[kh]\nk = 3\0 and more\nhidden = 10\n";
    const char *path = tmp_path("nul.ini");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    assert_int_equal(fclose(f), 0);
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, path)), PL_EXIT_USAGE);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s:2: line holds a NUL byte", path);
    assert_contains(stderr_text(), expected);
    assert_int_equal(c.kh.k, 7);
}

static void unreadable_file_fails(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    const char *path = tmp_path("missing.ini");
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, path)), PL_EXIT_USAGE);
    char expected[1024];
    snprintf(expected, sizeof expected, "cannot open config file '%s': No such file or directory",
             path);
    assert_contains(stderr_text(), expected);
    /* a directory opens but cannot be read */
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, tmpdir)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "cannot read config file");
    assert_string_equal(c.source, "");
}

/* ---- overrides ---- */

static void overrides_set_values(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(pl_config_override(&c, "kh.hidden=500"), 0);
    assert_int_equal(pl_config_override(&c, " kh.p = 2.5 "), 0);
    assert_int_equal(pl_config_override(&c, "data.set=fashion"), 0);
    assert_int_equal(pl_config_override(&c, "run.seed=42"), 0);
    assert_int_equal(pl_config_override(&c, "run.name=a=b"), 0); /* split at the first '=' */
    assert_int_equal(pl_config_override(&c, "log.progress=0"), 0);
    assert_int_equal(pl_config_override(&c, "readout.lr=+1e-3"), 0);
    assert_int_equal(pl_config_override(&c, "run.threads=-0"), 0);
    assert_int_equal(c.kh.hidden, 500);
    assert_true(c.kh.p == 2.5);
    assert_string_equal(c.data.set, "fashion");
    assert_true(c.run.seed == 42);
    assert_string_equal(c.run.name, "a=b");
    assert_int_equal(c.log.progress, 0);
    assert_true(c.readout.lr == 1e-3);
    assert_int_equal(c.run.threads, 0);
}

static void expect_override_error(const char *assignment, const char *message)
{
    pl_config c, before;
    pl_config_defaults(&c);
    memcpy(&before, &c, sizeof c);
    assert_int_equal(CAPTURE_STDERR(pl_config_override(&c, assignment)), PL_EXIT_USAGE);
    char expected[1024];
    snprintf(expected, sizeof expected, "override '%s': %s", assignment, message);
    assert_contains(stderr_text(), expected);
    assert_int_equal(count_lines(stderr_text()), 1);
    assert_memory_equal(&c, &before, sizeof c);
}

static void malformed_overrides_fail(void **state)
{
    (void)state;
    expect_override_error("foo", "expected section.key=value");
    expect_override_error("kh.p", "expected section.key=value");
    expect_override_error("p=3", "expected section.key=value");
    expect_override_error(".p=3", "expected section.key=value");
    expect_override_error("kh.=3", "expected section.key=value");
    expect_override_error("kh.foo=1", "unknown key 'foo' in section [kh]");
    expect_override_error("xyz.p=1", "unknown section [xyz]");
}

/* The value parsers are strict; overrides and files share them. */
static void bad_values_fail_with_reason(void **state)
{
    (void)state;
    expect_override_error("kh.p=abc", "kh.p: expected a number, got 'abc'");
    expect_override_error("kh.hidden=3.5", "kh.hidden: expected an integer, got '3.5'");
    expect_override_error("kh.hidden=", "kh.hidden: expected an integer, got ''");
    expect_override_error("kh.hidden=12abc", "kh.hidden: expected an integer, got '12abc'");
    expect_override_error("kh.hidden=0x10", "kh.hidden: expected an integer, got '0x10'");
    expect_override_error("kh.hidden=99999999999", "kh.hidden: 99999999999 does not fit in an int");
    expect_override_error("kh.delta=1.5x", "kh.delta: expected a number, got '1.5x'");
    expect_override_error("kh.delta=inf", "kh.delta: expected a finite number, got 'inf'");
    expect_override_error("kh.delta=-nan", "kh.delta: expected a finite number, got '-nan'");
    expect_override_error("kh.delta=1e999", "kh.delta: expected a finite number, got '1e999'");
    expect_override_error("kh.delta=-0.1", "kh.delta: must be >= 0, got -0.1");
    expect_override_error("run.seed=-1", "run.seed: expected a non-negative integer, got '-1'");
    expect_override_error("run.seed=18446744073709551616",
                          "run.seed: 18446744073709551616 does not fit in 64 bits");
    expect_override_error("log.progress=yes", "log.progress: expected 0 or 1, got 'yes'");
    expect_override_error("kh.impl=Fast", "kh.impl: expected one of fast|naive, got 'Fast'");
    expect_override_error("readout.m=0.5", "readout.m: must be >= 1, got 0.5");
    expect_override_error("readout.n=0", "readout.n: must be > 0, got 0");
}

/* Strings that do not fit are refused, never cut; so are strings an INI
 * file could not hold, since pl_config_write must round-trip them. */
static void bad_strings_fail(void **state)
{
    (void)state;
    char assignment[1200];
    int n = snprintf(assignment, sizeof assignment, "run.name=");
    memset(assignment + n, 'x', PL_NAME_MAX - 1);
    assignment[n + PL_NAME_MAX - 1] = '\0';
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(pl_config_override(&c, assignment), 0);
    assert_int_equal(strlen(c.run.name), PL_NAME_MAX - 1);
    strcat(assignment, "x");
    expect_override_error(assignment, "run.name: value is 128 characters long, the limit is 127");

    n = snprintf(assignment, sizeof assignment, "data.dir=/");
    memset(assignment + n, 'd', 1000);
    assignment[n + 1000] = '\0';
    expect_override_error(assignment, "data.dir: value is 1001 characters long, the limit is");
    expect_override_error("run.name=a ;b", "run.name: 'a ;b' cannot be written to an INI file");
    expect_override_error("run.name=;b", "run.name: ';b' cannot be written to an INI file");
    expect_override_error("run.name=a\tb", "run.name: 'a\tb' cannot be written to an INI file");
}

/* ---- finalize ---- */

static void finalize_derives_name_and_dir(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    strcpy(c.source, "configs/mnist-small.ini");
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_string_equal(c.run.name, "mnist-small");
    assert_string_equal(c.run.dir, "runs/mnist-small");

    pl_config_defaults(&c);
    strcpy(c.source, "plain");
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_string_equal(c.run.name, "plain");

    pl_config_defaults(&c);
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_string_equal(c.run.name, "plastic");
    assert_string_equal(c.run.dir, "runs/plastic");
}

static void finalize_keeps_explicit_values(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    strcpy(c.source, "configs/a.ini");
    assert_int_equal(pl_config_override(&c, "run.name=mine"), 0);
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_string_equal(c.run.name, "mine");
    assert_string_equal(c.run.dir, "runs/mine");
    assert_int_equal(pl_config_override(&c, "run.dir=/tmp/out"), 0);
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_string_equal(c.run.dir, "/tmp/out");
}

/* Constraints between a rule's keys are the rule's: finalize leaves them,
 * pl_rule_check names them. */
static void rule_checks_k_against_hidden(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(pl_config_override(&c, "kh.hidden=5"), 0);
    assert_int_equal(pl_config_override(&c, "kh.k=5"), 0);
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_int_equal(pl_rule_check(&c, 1), 0); /* equal is fine */
    assert_int_equal(pl_config_override(&c, "kh.k=6"), 0);
    assert_int_equal(pl_config_finalize(&c), 0);
    assert_int_equal(CAPTURE_STDERR(pl_rule_check(&c, 1)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "kh.k = 6 must be <= kh.hidden = 5");
    assert_int_equal(pl_config_override(&c, "kh.k=5"), 0);
    assert_int_equal(pl_config_override(&c, "kh.impl=naive"), 0);
    assert_int_equal(pl_rule_check(&c, 1), 0);
    assert_int_equal(CAPTURE_STDERR(pl_rule_check(&c, 2)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "kh.impl = naive is the serial reference: run it on 1 rank");
}

/* Fields assigned in code get the checks input gets. */
static void finalize_checks_assigned_fields(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    c.kh.batch = 0;
    assert_int_equal(CAPTURE_STDERR(pl_config_finalize(&c)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "kh.batch: must be >= 1, got 0");
    pl_config_defaults(&c);
    strcpy(c.kh.impl, "slow");
    assert_int_equal(CAPTURE_STDERR(pl_config_finalize(&c)), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "kh.impl: expected one of fast|naive, got 'slow'");
}

/* ---- write ---- */

static char *write_to_string(const pl_config *c)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    assert_int_equal(pl_config_write(c, NULL, f), 0);
    fclose(f);
    return text;
}

/* ---- net.layers: a value over several lines ---- */

/* Indented lines continue net.layers (comments and blank lines may come
 * between them, and a "; comment" ends any of them); the value is stored in
 * its canonical spelling. */
static void layers_continue_on_indented_lines(void **state)
{
    (void)state;
    const char *path = write_file("layers.ini",
                                  "[net]\n"
                                  "layers = conv 32 5x5 relu, pool 2 s2,  ; the first block\n"
                                  "    conv 64 3x3 s1 relu,pool 2,\n"
                                  "\n"
                                  "    ; a comment line between them\n"
                                  "\tres(dense 128 tanh,dense 128 tanh)x2, ; tabs indent too\n"
                                  "    dense 10 softmax\n"
                                  "loss = xent\n"
                                  "[optim]\n"
                                  "lr = 0.01\n");
    pl_config c;
    pl_config_defaults(&c);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&c, path)), 0);
    assert_string_equal(stderr_text(), "");
    assert_string_equal(c.net.layers, "conv 32 5x5 relu, pool 2 s2, conv 64 3x3 s1 relu, pool 2, "
                                      "res( dense 128 tanh, dense 128 tanh ) x2, dense 10 softmax");
    assert_true(c.optim.lr == 0.01);
}

/* A bad description is reported at the key's first line, naming the entry;
 * an unindented second layers line, or an indented line under another key,
 * is a key set twice. */
static void layers_errors_name_the_entry(void **state)
{
    (void)state;
    expect_load_error("[net]\nloss = xent\nlayers = dense 256 tanh,\n  conv 32 5x5 rleu,\n"
                      "  dense 10 softmax\n",
                      3,
                      "net.layers entry 2 'conv 32 5x5 rleu': unknown activation 'rleu' "
                      "(tanh|relu|relu^N|elu|sign|logistic|clip|linear|softmax)");
    expect_load_error("[net]\nlayers = dense 10 softmax\nlayers = dense 10\n", 3,
                      "net.layers is set twice");
    expect_load_error("[net]\nlayers = dense 10 softmax\ninit = he\n  normal\n", 4,
                      "net.init is set twice");
    expect_load_error("[net]\nlayers = res( dense 10\n", 2,
                      "net.layers: a res block after entry 1 lacks its ')'");
    expect_override_error("net.layers=conv 32 5x5 rleu",
                          "net.layers entry 1 'conv 32 5x5 rleu': unknown activation 'rleu'");
    expect_override_error("net.layers=", "net.layers: no layers");
    expect_override_error("optim.beta2=1", "optim.beta2: must be < 1, got 1");
    expect_override_error("optim.sum=approx", "optim.sum: expected one of fast|exact");
}

/* A description longer than an INI line is written over several lines,
 * each well within inih's limit, and reads back the same, from a file and
 * from text. */
static void long_layers_round_trip(void **state)
{
    (void)state;
    pl_config a, b;
    pl_config_defaults(&a);
    char layers[PL_LAYERS_MAX] = "conv 16 3x3 relu";
    for (int i = 0; i < 60; i++)
        strcat(layers, i % 3 ? ", dense 64 tanh" : ", res( dense 64 clip, dropout 0.25 ) x2");
    strcat(layers, ", dense 10 softmax");
    assert_true(strlen(layers) > 1000);
    assert_int_equal(pl_config_set(&a, "net.layers", layers, (char[256]){0}, 256), 0);
    assert_string_equal(a.net.layers, layers);
    assert_int_equal(pl_config_finalize(&a), 0);
    char *text = write_to_string(&a);
    int lines = 0;
    for (const char *line = strstr(text, "\nlayers = "); *line && line[1] != '\n' && line[1] != 'i';
         lines++) { /* the layers line and its continuations, up to "init =" */
        const char *end = strchr(line + 1, '\n');
        assert_true(end - line - 1 <= 100);
        line = end;
    }
    assert_true(lines > 10);
    pl_config_defaults(&b);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&b, write_file("long.ini", text))), 0);
    assert_config_equal(&a, &b);
    pl_config_defaults(&b);
    assert_int_equal(CAPTURE_STDERR(pl_config_load_text(&b, text, "ckpt.h5")), 0);
    assert_config_equal(&a, &b);
    free(text);
}

static void write_load_round_trip(void **state)
{
    (void)state;
    pl_config a;
    pl_config_defaults(&a);
    a.kh.delta = 0.1;
    a.readout.lr = 1e-5;
    a.kh.eps0 = 1.0 / 3.0;
    a.kh.p = 1.0 + DBL_EPSILON;
    a.readout.beta = 4.9406564584124654e-324; /* smallest subnormal */
    a.readout.n = DBL_MAX;
    a.readout.m = 6.02214076e23;
    a.run.seed = UINT64_MAX;
    a.kh.hidden = INT_MAX;
    a.data.valid = 0;
    a.log.progress = 0;
    strcpy(a.data.set, "cifar100");
    strcpy(a.kh.impl, "naive");
    strcpy(a.run.name, "run #1; a=b:c");
    strcpy(a.data.dir, "/data/with space/x;y");
    assert_int_equal(pl_config_finalize(&a), 0);

    char *text = write_to_string(&a);
    const char *path = write_file("resolved.ini", text);
    free(text);
    pl_config b;
    pl_config_defaults(&b);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&b, path)), 0);
    assert_config_equal(&a, &b);

    /* the defaults round-trip too, over a config that differs everywhere */
    pl_config d;
    pl_config_defaults(&d);
    text = write_to_string(&d);
    path = write_file("defaults.ini", text);
    free(text);
    assert_int_equal(CAPTURE_STDERR(pl_config_load(&b, path)), 0);
    assert_config_equal(&d, &b);
}

/* The text stored in a checkpoint reads back to the same configuration. */
static void load_text_round_trip(void **state)
{
    (void)state;
    pl_config a, b;
    pl_config_defaults(&a);
    a.kh.p = 4.5;
    a.checkpoint.every = 3;
    char *text = write_to_string(&a);
    pl_config_defaults(&b);
    assert_int_equal(CAPTURE_STDERR(pl_config_load_text(&b, text, "ckpt.h5")), 0);
    assert_config_equal(&a, &b);
    free(text);
    assert_int_equal(CAPTURE_STDERR(pl_config_load_text(&b, "[kh]\nbogus = 1\n", "ckpt.h5")),
                     PL_EXIT_USAGE);
    assert_contains(stderr_text(), "ckpt.h5:2: unknown key 'bogus'");
}

/* Resuming compares what the run computes, not where or how it executes. */
static void diff_names_the_first_run_defining_key(void **state)
{
    (void)state;
    pl_config a, b;
    pl_config_defaults(&a);
    pl_config_defaults(&b);
    char what[256] = "";
    strcpy(b.run.dir, "/elsewhere");
    strcpy(b.data.dir, "/scratch/mnist");
    b.run.threads = 8;
    strcpy(b.run.resume, "auto");
    b.checkpoint.every = 99;
    b.checkpoint.keep = 5;
    b.log.progress = 0;
    assert_int_equal(pl_config_diff(&a, &b, NULL, what, sizeof what), 0);
    b.readout.beta = 0.25;
    assert_int_equal(pl_config_diff(&a, &b, NULL, what, sizeof what), 1);
    assert_string_equal(what, "readout.beta is 0.5 there but 0.25 here");
    /* a section the run's rule does not read does not count */
    const char *const skip[] = {"readout", NULL};
    assert_int_equal(pl_config_diff(&a, &b, skip, what, sizeof what), 0);
    b.kh.hidden = 10;
    assert_int_equal(pl_config_diff(&a, &b, NULL, what, sizeof what), 1);
    assert_string_equal(what, "kh.hidden is 2000 there but 10 here");
}

static void write_is_grouped_ini_with_header(void **state)
{
    (void)state;
    pl_config c;
    pl_config_defaults(&c);
    c.kh.delta = 0.1;
    c.readout.lr = 1e-5;
    char *text = write_to_string(&c);
    assert_true(text[0] == ';' || text[0] == '#');
    /* each section once, in table order */
    const char *sections[] = {"\n[run]\n", "\n[data]\n", "\n[kh]\n", "\n[readout]\n", "\n[log]\n"};
    const char *at = text;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const char *found = strstr(at, sections[i]);
        assert_non_null(found);
        assert_null(strstr(found + 1, sections[i]));
        at = found + 1;
    }
    /* shortest digits that read back exactly, not %.17g noise */
    assert_non_null(strstr(text, "\ndelta = 0.1\n"));
    assert_non_null(strstr(text, "\nlr = 1e-05\n"));
    assert_non_null(strstr(text, "\nhidden = 2000\n"));
    assert_non_null(strstr(text, "\nset = mnist\n"));
    assert_non_null(strstr(text, "\nname =\n")); /* empty, no trailing space */
    free(text);
}

/* ---- --help listing ---- */

static void print_keys_lists_every_key(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    pl_config_print_keys(f);
    fclose(f);
    for (int i = 0; i < ALL_KEYS; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "  %s ", all_keys[i]);
        if (!strstr(text, needle))
            fail_msg("--help listing lacks %s:\n%s", all_keys[i], text);
    }
    /* type, default, help and valid values appear on the key's line */
    const char *line = strstr(text, "  kh.k ");
    assert_non_null(line);
    const char *end = strchr(line, '\n');
    char row[256];
    snprintf(row, sizeof row, "%.*s", (int)(end - line), line);
    assert_non_null(strstr(row, " int "));
    assert_non_null(strstr(row, " 7 "));
    assert_non_null(strstr(row, "anti-Hebbian"));
    assert_non_null(strstr(row, ">= 2"));
    assert_non_null(strstr(text, "mnist|fashion|cifar10|cifar100"));
    free(text);
}

/* Keys added after run ids were in use stay out of the identity (which
 * sweeps hash into run ids) at their default, and are in it otherwise. */
static void later_keys_leave_ids_alone_at_default(void **state)
{
    (void)state;
    pl_config c;
    char err[256];
    pl_config_defaults(&c);
    char *text = pl_config_identity(&c, NULL);
    assert_non_null(strstr(text, "net.layers="));
    assert_null(strstr(text, "net.bias="));
    assert_null(strstr(text, "optim.clip="));
    assert_null(strstr(text, "net.stale="));
    pl_free(text);
    assert_int_equal(pl_config_set(&c, "net.bias", "0", err, sizeof err), 0);
    assert_int_equal(pl_config_set(&c, "optim.clip", "0.5", err, sizeof err), 0);
    text = pl_config_identity(&c, NULL);
    assert_non_null(strstr(text, "net.bias=0"));
    assert_non_null(strstr(text, "optim.clip=0.5"));
    assert_null(strstr(text, "net.stale="));
    pl_free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_the_table_values),
        cmocka_unit_test(load_sets_fields),
        cmocka_unit_test(load_layers_over_current_values),
        cmocka_unit_test(unknown_key_fails_at_its_line),
        cmocka_unit_test(unknown_section_fails_at_its_line),
        cmocka_unit_test(key_outside_section_fails),
        cmocka_unit_test(bad_int_fails_at_its_line),
        cmocka_unit_test(bad_double_fails_at_its_line),
        cmocka_unit_test(out_of_range_fails_naming_the_range),
        cmocka_unit_test(syntax_error_fails_at_its_line),
        cmocka_unit_test(repeated_key_fails),
        cmocka_unit_test(overlong_line_fails),
        cmocka_unit_test(nul_byte_fails),
        cmocka_unit_test(unreadable_file_fails),
        cmocka_unit_test(layers_continue_on_indented_lines),
        cmocka_unit_test(layers_errors_name_the_entry),
        cmocka_unit_test(long_layers_round_trip),
        cmocka_unit_test(overrides_set_values),
        cmocka_unit_test(malformed_overrides_fail),
        cmocka_unit_test(bad_values_fail_with_reason),
        cmocka_unit_test(bad_strings_fail),
        cmocka_unit_test(finalize_derives_name_and_dir),
        cmocka_unit_test(finalize_keeps_explicit_values),
        cmocka_unit_test(rule_checks_k_against_hidden),
        cmocka_unit_test(finalize_checks_assigned_fields),
        cmocka_unit_test(write_load_round_trip),
        cmocka_unit_test(write_is_grouped_ini_with_header),
        cmocka_unit_test(load_text_round_trip),
        cmocka_unit_test(diff_names_the_first_run_defining_key),
        cmocka_unit_test(print_keys_lists_every_key),
        cmocka_unit_test(later_keys_leave_ids_alone_at_default),
    };
    return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
