/* Helpers shared by the unit tests (tests/unit/test_*.c; the Makefile links
 * support.c into each): a temporary directory fixture, stderr capture,
 * tolerance checks, seeded uniform arrays and labels, PNGs read back. Include after
 * <cmocka.h>. */
#ifndef PLASTIC_TEST_SUPPORT_H
#define PLASTIC_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "plastic/config.h"
#include "plastic/data.h"

/* ---- temporary directory ------------------------------------------------ */

enum { TMPDIR_MAX = 1024 };

/* The directory tmpdir_setup made: $TMPDIR (or /tmp)/plastic-test-XXXXXX. */
extern char tmpdir[TMPDIR_MAX];

/* cmocka fixtures, for one test (cmocka_unit_test_setup_teardown) or for a
 * whole group (cmocka_run_group_tests); they leave *state alone. Setup makes
 * a fresh tmpdir with mkdtemp; teardown ends a stderr capture that a failed
 * test left running (see below), then removes tmpdir and everything below
 * it, and fails if anything is left. */
int tmpdir_setup(void **state);
int tmpdir_teardown(void **state);

/* dir/name into buf; fails the test if it does not fit. Returns buf. */
char *path_join(char *buf, size_t size, const char *dir, const char *name);

/* tmpdir/name, in one of 64 static buffers used in turn, so that a test can
 * hold several paths at once. */
const char *tmp_path(const char *name);

/* Removes path and, for a directory, everything below it (links are
 * removed, not followed). Returns 0 if path is gone afterwards. */
int remove_tree(const char *path);

/* ---- stderr capture ------------------------------------------------------ */

/* Between begin and end everything written to stderr (file descriptor 2,
 * so also by code that does not use stdio) goes to a file
 * $TMPDIR (or /tmp)/plastic-test-stderr-XXXXXX, deleted at the end; a
 * process that dies meanwhile (a sanitizer report, say) leaves it behind.
 * cmocka reports failures on stderr, so end the capture before any
 * assertion: begin, call, end, then assert on what came back. */
void stderr_capture_begin(void);
/* Restores stderr; returns the text written since begin (at most 16 KiB),
 * which stays available through stderr_text() until the next begin. Safe
 * to call with no capture running (then it changes nothing).
 * A capture that a failing test left running is ended, and what it held is
 * written to the real stderr, by the next begin, by tmpdir_teardown and at
 * exit, so a report that cmocka printed meanwhile still reaches the log. */
const char *stderr_capture_end(void);
const char *stderr_text(void);
/* Helper of CAPTURE_STDERR: ends the capture and passes value through. */
int stderr_capture_end_with(int value);

/* The value of call (an int expression) evaluated with stderr captured;
 * the capture ends before the value reaches any assertion, e.g.
 *     assert_int_equal(CAPTURE_STDERR(f(x)), 0);
 *     assert_contains(stderr_text(), "expected message"); */
#define CAPTURE_STDERR(call) (stderr_capture_begin(), stderr_capture_end_with(call))

/* Fails the test, showing both strings, unless needle occurs in haystack. */
#define assert_contains(haystack, needle)                                                  \
    do {                                                                                   \
        const char *hay_ = (haystack), *needle_ = (needle);                                \
        if (!strstr(hay_, needle_))                                                        \
            fail_msg("expected \"%s\" in: %s", needle_, hay_);                             \
    } while (0)

/* ---- numbers ------------------------------------------------------------- */

/* Fails the test unless |got - ref| <= atol + rtol |ref|; what[i] names the
 * value in the message. */
void check_close(double got, double ref, double atol, double rtol, const char *what, long i);

/* x[i] = (float)(lo + (hi - lo) u_i) for i < n, where u_i are the uniform
 * draws in (0, 1) of pl_rng (seed, PL_STREAM_TEST, substream). */
void fill_uniform(float *x, long n, uint64_t seed, uint64_t substream, double lo, double hi);
/* The same into a new array from pl_alloc (release it with pl_free). */
float *alloc_uniform(long n, uint64_t seed, uint64_t substream, double lo, double hi);
/* n labels below nclass, uniform draws of pl_rng (seed, PL_STREAM_TEST,
 * substream), in a new array from pl_alloc (release it with pl_free). */
uint8_t *alloc_labels(long n, int nclass, uint64_t seed, uint64_t substream);

/* ---- pictures ------------------------------------------------------------ */

struct rgb_image {
    unsigned w, h;
    unsigned char *px; /* RGB, w * h * 3 bytes, row-major; free() it */
};

/* Reads an 8-bit RGB PNG; fails the test on anything else. */
struct rgb_image read_png(const char *path);

/* ---- data ---------------------------------------------------------------- */

struct pl_dataset;
/* d becomes n zero images of side x side pixels, one channel, nclass
 * classes, labels unset (at least one of each allocated); release with
 * pl_dataset_free. */
void make_blank_images(struct pl_dataset *d, int n, int side, int nclass);
/* A learnable task for a rule's tests: n images of side x side pixels, one
 * channel, example e of class e mod nclass; class c is a fixed random
 * prototype, uniform in [lo, hi) (the same for every seed), plus N(0,
 * noise^2) per pixel drawn from seed. Release with pl_dataset_free. */
void make_prototypes(struct pl_dataset *d, int n, int side, int nclass, double lo, double hi,
                     double noise, uint64_t seed);

/* ---- a layered rule on a prototype task ---------------------------------- */

/* A rule's configuration (model.rule = rule, net.layers = layers, then the
 * NULL-terminated overrides, one epoch) and the prototype task of 3 x 3
 * images in 3 classes: n training examples, 60 validation and 60 test.
 * Tests that make their own configuration and data use the struct and
 * rule_fixture_teardown alone. */
typedef struct rule_fixture {
    pl_config cfg;
    pl_dataset train, valid, test;
} rule_fixture;
void rule_fixture_setup(rule_fixture *f, const char *rule, int n, const char *layers,
                        const char *const *overrides);
void rule_fixture_teardown(rule_fixture *f);

#endif
