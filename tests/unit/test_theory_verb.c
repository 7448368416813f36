/* `plastic theory`: a short run writes its charts and tables, a diverging
 * one still writes them and exits 3, and bad flags exit 1 naming the flag
 * with nothing written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/common.h"
#include "plastic/plot.h"
#include "plastic/theory.h"

#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Runs the verb on the words of line (space-separated), stderr captured. */
static int verb(const char *line)
{
    char buf[2048], *argv[32];
    snprintf(buf, sizeof buf, "theory %s", line);
    int argc = 0;
    for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    return CAPTURE_STDERR(pl_theory_verb(argc, argv));
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void short_run_writes_everything(void **state)
{
    (void)state;
    char line[1024], path[1100];
    const char *dir = tmp_path("out");
    snprintf(line, sizeof line, "-o %s --iters 200 --every 20 --seeds 2", dir);
    assert_int_equal(verb(line), 0);
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/fig%d.png", dir, f + 3);
        struct rgb_image im = read_png(path);
        assert_int_equal(im.w, PL_PLOT_WIDTH);
        free(im.px);
    }
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    char *text = slurp(path);
    assert_contains(text, "init,method,eps,seed,error_0,error_final,iters_to_1e-1,");
    assert_contains(text, "\nrandom_w,SGD,,2,");
    assert_contains(text, "\nzero_w,eps 0.25,0.25,1,1,"); /* W = 0: the error starts at 1 */
    free(text);
    snprintf(path, sizeof path, "%s/weights.csv", dir);
    text = slurp(path);
    assert_contains(text, "layer,shape,seed,rel_diff,sgd_moved\nW1,100x40,1,");
    assert_contains(text, "\nW3,10x100,2,");
    free(text);
    snprintf(path, sizeof path, "%s/errors.csv", dir);
    text = slurp(path);
    assert_contains(text, "iteration,random_w SGD seed 1,random_w SGD seed 2,random_w URFB");
    assert_contains(text, "\n200,");
    free(text);
}

static void divergence_is_reported(void **state)
{
    (void)state;
    char line[1024], path[1100];
    const char *dir = tmp_path("big");
    snprintf(line, sizeof line, "-o %s --iters 40 --every 10 --seeds 1 --lr 1", dir);
    assert_int_equal(verb(line), PL_EXIT_DIVERGED);
    assert_contains(stderr_text(), "SGD (random W) with seed 1 diverged at lr 1");
    snprintf(path, sizeof path, "%s/fig3.png", dir);
    assert_true(exists(path));
}

static void bad_flags_are_refused(void **state)
{
    (void)state;
    const char *dir = tmp_path("none");
    const char *bad[][2] = {
        {"--iters 0", "--iters: '0' is not a whole number in [1, 100000000]"},
        {"--iters 12x", "--iters: '12x' is not a whole number"},
        {"--lr -0.1", "--lr: '-0.1' is not a positive number"},
        {"--lr nan", "--lr: 'nan' is not a positive number"},
        {"--seeds 0", "--seeds: '0' is not a whole number in [1, 1000]"},
        {"--batch 1.5", "--batch: '1.5' is not a whole number"},
        {"--every 9", "--every: 9 does not divide --iters 3500"},
        {"--eps 1", "unknown option '--eps'"},
        {"extra", "unexpected argument 'extra'"},
        {"--seeds", "--seeds needs a value"},
    };
    char line[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "-o %s %s", dir, bad[i][0]);
        assert_int_equal(verb(line), PL_EXIT_USAGE);
        assert_contains(stderr_text(), bad[i][1]);
        assert_contains(stderr_text(), "usage: plastic theory");
    }
    assert_int_equal(verb("--iters 10 --every 10"), PL_EXIT_USAGE);
    assert_contains(stderr_text(), "no output directory (-o DIR)");
    assert_false(exists(dir));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(short_run_writes_everything),
        T(divergence_is_reported),
        T(bad_flags_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
