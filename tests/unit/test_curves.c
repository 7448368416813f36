/* Learning curves from metrics.jsonl: supervised epochs only, the last
 * record of a repeated epoch, phases counted on, errors naming file and
 * line; a run's curves.png; the `curves` verb's arguments and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/common.h"
#include "plastic/curves.h"
#include "plastic/plot.h"

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char why[4096];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* dir (made) holding metrics.jsonl with text; returns the file's path. */
static const char *run_with(const char *dir, const char *text)
{
    mkdir(tmp_path(dir), 0700);
    char name[256];
    snprintf(name, sizeof name, "%s/metrics.jsonl", dir);
    const char *path = tmp_path(name);
    write_file(path, text);
    return path;
}

/* A KH run: an unsupervised stage, then the readout with test_every = 2,
 * resumed after its epoch 2 so that epochs 2 and 3 were written twice. */
static const char *const KH_RUN =
    "{\"event\":\"start\",\"time\":1,\"name\":\"kh\",\"rule\":\"kh\",\"nranks\":2}\n"
    "{\"event\":\"epoch\",\"time\":2,\"phase\":\"kh\",\"epoch\":1,\"lr\":0.02,\"sphere_mean\":0.5}\n"
    "{\"event\":\"epoch\",\"time\":3,\"phase\":\"kh\",\"epoch\":2,\"lr\":0.01,\"sphere_mean\":0.1}\n"
    "{\"event\":\"epoch\",\"phase\":\"readout\",\"epoch\":1,\"loss\":3,\"train_error\":50,"
    "\"valid_error\":40}\n"
    "{\"event\":\"epoch\",\"phase\":\"readout\",\"epoch\":2,\"loss\":2,\"train_error\":30,"
    "\"valid_error\":25,\"test_error\":26}\n"
    "{\"event\":\"epoch\",\"phase\":\"readout\",\"epoch\":3,\"loss\":2,\"train_error\":99,"
    "\"valid_error\":99}\n"
    "{\"event\":\"resume\",\"rule\":\"kh\",\"phase\":\"readout\",\"epoch\":2}\n"
    "{\"event\":\"epoch\",\"phase\":\"readout\",\"epoch\":2,\"loss\":2,\"train_error\":31,"
    "\"valid_error\":24,\"test_error\":27}\n"
    "{\"event\":\"epoch\",\"phase\":\"readout\",\"epoch\":3,\"loss\":1,\"train_error\":20,"
    "\"valid_error\":21}\n"
    "{\"event\":\"checkpoint\",\"file\":\"ckpt_000005.h5\",\"why\":\"done\",\"step\":9}\n"
    "{\"event\":\"done\",\"test_error\":22.5,\"valid_error\":21,\"train_error\":20}\n";

static void test_read_kh_run(void **state)
{
    (void)state;
    const char *path = run_with("kh", KH_RUN);
    struct pl_curves c;
    assert_int_equal(pl_curves_read(path, &c, why, sizeof why), 0);
    assert_string_equal(c.rule, "kh");
    assert_string_equal(c.phases, "readout");
    assert_int_equal(c.nphases, 1);
    assert_int_equal(c.n, 3);
    const double epoch[3] = {1, 2, 3}, train[3] = {50, 31, 20}, valid[3] = {40, 24, 21};
    for (int i = 0; i < 3; i++) {
        assert_true(c.epoch[i] == epoch[i]);
        assert_true(c.value[PL_CURVE_TRAIN][i] == train[i]);
        assert_true(c.value[PL_CURVE_VALID][i] == valid[i]);
    }
    assert_true(isnan(c.value[PL_CURVE_TEST][0]));
    assert_true(c.value[PL_CURVE_TEST][1] == 27);
    assert_true(isnan(c.value[PL_CURVE_TEST][2]));
    assert_true(c.final_test == 22.5);
    pl_curves_free(&c);
}

/* Two supervised phases: the second's epochs count on from the first's last. */
static void test_phases_count_on(void **state)
{
    (void)state;
    const char *path = run_with(
        "two", "{\"event\":\"epoch\",\"phase\":\"b\",\"epoch\":2,\"train_error\":4}\n"
               "{\"event\":\"epoch\",\"phase\":\"a\",\"epoch\":1,\"train_error\":3}\n"
               "{\"event\":\"epoch\",\"phase\":\"b\",\"epoch\":1,\"train_error\":5}\n"
               "{\"event\":\"epoch\",\"phase\":\"b\",\"epoch\":3,\"train_error\":null}\n");
    struct pl_curves c;
    assert_int_equal(pl_curves_read(path, &c, why, sizeof why), 0);
    assert_string_equal(c.phases, "b, a");
    assert_string_equal(c.rule, "");
    assert_int_equal(c.n, 4);
    const double epoch[4] = {1, 2, 3, 4}, train[4] = {5, 4, NAN, 3};
    for (int i = 0; i < 4; i++) {
        assert_true(c.epoch[i] == epoch[i]);
        assert_true(c.value[PL_CURVE_TRAIN][i] == train[i] ||
                    (isnan(train[i]) && isnan(c.value[PL_CURVE_TRAIN][i])));
    }
    assert_true(isnan(c.final_test));
    pl_curves_free(&c);

    /* nothing supervised: no epochs, no error */
    path = run_with("none", "{\"event\":\"epoch\",\"phase\":\"kh\",\"epoch\":1}\n");
    assert_int_equal(pl_curves_read(path, &c, why, sizeof why), 0);
    assert_int_equal(c.n, 0);
    pl_curves_free(&c);
}

static void expect_bad(const char *text, const char *message)
{
    const char *path = run_with("bad", text);
    struct pl_curves c;
    why[0] = '\0';
    assert_int_not_equal(pl_curves_read(path, &c, why, sizeof why), 0);
    assert_int_equal(c.n, 0);
    pl_curves_free(&c);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", path, message);
    assert_contains(why, want);
}

static void test_bad_files(void **state)
{
    (void)state;
    const char *ok = "{\"event\":\"start\",\"rule\":\"bp\"}\n";
    char text[512];
    snprintf(text, sizeof text, "%s%s\n", ok, "{\"event\":\"epoch\",");
    expect_bad(text, "2: not a JSON record: column 19: expected a key in quotes");
    snprintf(text, sizeof text, "%s%s%s", ok, ok, "\n");
    expect_bad(text, "3: not a JSON record: column 2: expected '{'");
    expect_bad("{\"time\":1}\n", "1: a record without an \"event\" string");
    expect_bad("{\"event\":\"epoch\",\"epoch\":1,\"train_error\":3}\n",
               "1: an epoch record without a \"phase\" string");
    expect_bad("{\"event\":\"epoch\",\"phase\":\"t\",\"epoch\":0,\"train_error\":3}\n",
               "1: an epoch record whose \"epoch\" is not a whole number from 1");
    expect_bad("{\"event\":\"epoch\",\"phase\":\"t\",\"epoch\":1.5,\"train_error\":3}\n",
               "1: an epoch record whose \"epoch\"");
    expect_bad("{\"event\":\"epoch\",\"phase\":\"t\",\"train_error\":3}\n",
               "1: an epoch record whose \"epoch\"");
    expect_bad("{\"event\":\"epoch\",\"phase\":\"t\",\"epoch\":1,\"test_error\":\"3\"}\n",
               "1: \"test_error\" is neither a number nor null");
    /* an unfinished last line (a crash mid-write) is malformed too */
    expect_bad("{\"event\":\"epoch\",\"phase\":\"t\",\"epoch\":1,\"test_error\":3}\n{\"ev",
               "2: not a JSON record");

    struct pl_curves c;
    assert_int_not_equal(pl_curves_read(tmp_path("nothere/metrics.jsonl"), &c, why, sizeof why),
                         0);
    assert_contains(why, "cannot open '");
    assert_contains(why, "nothere/metrics.jsonl': No such file or directory");
    pl_curves_free(&c);
}

static int count_colour(const struct rgb_image *im, const unsigned char *rgb)
{
    int n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        n += !memcmp(im->px + 3 * i, rgb, 3);
    return n;
}

static void test_run_png(void **state)
{
    (void)state;
    run_with("kh", KH_RUN);
    const char *png = tmp_path("kh/curves.png");
    assert_int_equal(pl_curves_run_png(tmp_path("kh"), png, why, sizeof why), 0);
    struct rgb_image im = read_png(png);
    assert_int_equal(im.w, PL_PLOT_WIDTH);
    assert_int_equal(im.h, PL_PLOT_HEIGHT);
    /* train, valid, test each in its own colour */
    for (int m = 0; m < PL_CURVE_METRICS; m++)
        assert_true(count_colour(&im, pl_plot_palette[m]) > 20);
    free(im.px);

    /* no test error per epoch: the done record's, still in test's colour */
    run_with("end", "{\"event\":\"epoch\",\"phase\":\"train\",\"epoch\":1,\"train_error\":9,"
                    "\"valid_error\":null}\n"
                    "{\"event\":\"epoch\",\"phase\":\"train\",\"epoch\":2,\"train_error\":5,"
                    "\"valid_error\":null}\n"
                    "{\"event\":\"done\",\"test_error\":6}\n");
    png = tmp_path("end/curves.png");
    assert_int_equal(pl_curves_run_png(tmp_path("end/"), png, why, sizeof why), 0);
    im = read_png(png);
    assert_int_equal(count_colour(&im, pl_plot_palette[PL_CURVE_VALID]), 0);
    assert_true(count_colour(&im, pl_plot_palette[PL_CURVE_TEST]) > 20);
    free(im.px);

    /* only an unsupervised stage: nothing to draw, nothing written */
    run_with("shared", "{\"event\":\"epoch\",\"phase\":\"kh\",\"epoch\":1}\n");
    png = tmp_path("shared/curves.png");
    assert_int_equal(pl_curves_run_png(tmp_path("shared"), png, why, sizeof why), -1);
    struct stat st;
    assert_int_not_equal(stat(png, &st), 0);

    /* no metrics.jsonl: an error naming it */
    assert_int_equal(pl_curves_run_png(tmp_path("nothere"), png, why, sizeof why), 1);
    assert_contains(why, "nothere/metrics.jsonl");
}

/* Runs the verb on the words of line (space-separated), stderr captured. */
static int verb(const char *line)
{
    char buf[2048], *argv[32];
    snprintf(buf, sizeof buf, "curves %s", line);
    int argc = 0;
    for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    return CAPTURE_STDERR(pl_curves_verb(argc, argv));
}

static void test_verb(void **state)
{
    (void)state;
    run_with("kh", KH_RUN);
    run_with("lr=0.1", "{\"event\":\"epoch\",\"phase\":\"train\",\"epoch\":1,\"test_error\":9}\n"
                       "{\"event\":\"epoch\",\"phase\":\"train\",\"epoch\":2,\"test_error\":7}\n");
    run_with("nontest", "{\"event\":\"epoch\",\"phase\":\"train\",\"epoch\":1,\"train_error\":9,"
                        "\"valid_error\":null}\n");
    char line[1024];
    const char *out = tmp_path("cmp.png");
    /* a directory whose name holds '=' is taken whole; LABEL after the last '=' */
    snprintf(line, sizeof line, "-o %s %s=KH %s --title T", out, tmp_path("kh"),
             tmp_path("lr=0.1"));
    assert_int_equal(verb(line), 0);
    struct rgb_image im = read_png(out);
    assert_int_equal(im.w, PL_PLOT_WIDTH);
    assert_true(count_colour(&im, pl_plot_palette[0]) > 5);
    assert_true(count_colour(&im, pl_plot_palette[1]) > 5);
    free(im.px);
    snprintf(line, sizeof line, "--metric valid_error --log -o %s %s", out, tmp_path("kh"));
    assert_int_equal(verb(line), 0);

    /* errors name the file (and line), exit non-zero, write nothing */
    remove(out);
    snprintf(line, sizeof line, "-o %s %s", out, tmp_path("nontest"));
    assert_int_equal(verb(line), PL_EXIT_DATA);
    assert_contains(stderr_text(), "nontest/metrics.jsonl: no epoch record has a value of "
                                   "test_error");
    snprintf(line, sizeof line, "-o %s --metric valid_error %s", out, tmp_path("nontest"));
    assert_int_equal(verb(line), PL_EXIT_DATA);
    assert_contains(stderr_text(), "data.valid = 0");
    snprintf(line, sizeof line, "-o %s %s %s", out, tmp_path("kh"), tmp_path("missing"));
    assert_int_equal(verb(line), PL_EXIT_DATA);
    assert_contains(stderr_text(), "missing/metrics.jsonl': No such file or directory");
    run_with("broken", "{\"event\":\"start\"}\n{\"event\":\"epoch\",\"phase\":x}\n");
    snprintf(line, sizeof line, "-o %s %s", out, tmp_path("broken"));
    assert_int_equal(verb(line), PL_EXIT_DATA);
    assert_contains(stderr_text(), "broken/metrics.jsonl:2: not a JSON record: column 26: expected a value");
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0);

    /* usage */
    snprintf(line, sizeof line, "%s", tmp_path("kh"));
    assert_int_equal(verb(line), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "no output file (-o OUT.png)");
    assert_contains(stderr_text(), "usage: plastic curves");
    snprintf(line, sizeof line, "-o %s", out);
    assert_int_equal(verb(line), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "no run directory given");
    snprintf(line, sizeof line, "-o %s --metric loss %s", out, tmp_path("kh"));
    assert_int_equal(verb(line), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "unknown metric 'loss'");
    snprintf(line, sizeof line, "-o %s --smooth %s", out, tmp_path("kh"));
    assert_int_equal(verb(line), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "unknown option '--smooth'");
    assert_int_equal(verb("-o"), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "-o needs a value");
    char many[1024] = "-o x.png";
    for (int i = 0; i < PL_PLOT_MAX_SERIES + 1; i++)
        strcat(many, " r");
    assert_int_equal(verb(many), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "more than 8 runs");
    /* an unwritable output */
    snprintf(line, sizeof line, "-o %s %s", tmp_path("no/dir/x.png"), tmp_path("kh"));
    assert_int_equal(verb(line), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "cannot write image");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_read_kh_run), T(test_phases_count_on), T(test_bad_files),
        T(test_run_png),     T(test_verb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
