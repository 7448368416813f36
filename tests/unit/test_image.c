/* Receptive-field PNG: written, read back with libpng, checked pixel by pixel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/image.h"

#include "support.h"

#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    unsigned w, h;
    unsigned char *px; /* RGB, w * h * 3 */
} image;

/* Reads an 8-bit RGB PNG; fails the test on anything else. */
static image read_png(const char *path)
{
    image im = {0, 0, NULL};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, fp), 8);
    assert_int_equal(png_sig_cmp(sig, 0, 8), 0);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed reading %s", path);
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    im.w = png_get_image_width(png, info);
    im.h = png_get_image_height(png, info);
    im.px = malloc((size_t)im.w * im.h * 3);
    assert_non_null(im.px);
    for (unsigned y = 0; y < im.h; y++)
        png_read_row(png, im.px + (size_t)y * im.w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return im;
}

static void expect_px(const image *im, unsigned x, unsigned y, int r, int g, int b)
{
    assert_true(x < im->w && y < im->h);
    const unsigned char *p = im->px + ((size_t)y * im->w + x) * 3;
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%u,%u) is (%d,%d,%d), expected (%d,%d,%d)", x, y, p[0], p[1], p[2], r,
                 g, b);
}

/* Every pixel of a scale x scale block has the same colour. */
static void expect_block(const image *im, unsigned x0, unsigned y0, int scale, int r, int g,
                         int b)
{
    for (int dy = 0; dy < scale; dy++)
        for (int dx = 0; dx < scale; dx++)
            expect_px(im, x0 + (unsigned)dx, y0 + (unsigned)dy, r, g, b);
}

/* Names of the files in dir, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t size)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        strncat(out, e->d_name, size - strlen(out) - 2);
        strcat(out, " ");
    }
    closedir(d);
}

#define G 128 /* border gray */

/* 3 units of 2x2 weights, 2 grid columns, scale 2:
 *   tile 4x4 px; width 1 + 2*(4+1) = 11; height 1 + 2*(4+1) = 11.
 * Pixel of unit u (grid gx, gy), weight (r, c): x = 1 + gx*5 + 2c, y = 1 + gy*5 + 2r. */
static void test_grid_colours(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    const float W[3 * 4] = {
        2.0f,  -2.0f, 0.0f, 1.0f,  /* unit 0: max |w| = 2 */
        0.5f,  1.0f,  0.0f, -1.0f, /* unit 1 */
        5.0f,  10.0f, 0.0f, -10.0f /* unit 2: unit 1 times 10 */
    };
    assert_int_equal(pl_png_weights(png, W, 3, 2, 2, 1, 2, 2), 0);
    image im = read_png(png);
    assert_int_equal(im.w, 11);
    assert_int_equal(im.h, 11);

    /* unit 0 at (1,1): red, blue / white, half red */
    expect_block(&im, 1, 1, 2, 255, 0, 0);
    expect_block(&im, 3, 1, 2, 0, 0, 255);
    expect_block(&im, 1, 3, 2, 255, 255, 255);
    expect_block(&im, 3, 3, 2, 255, 128, 128); /* x = 0.5 -> 255 * 0.5 rounded */

    /* unit 1 at (6,1) */
    expect_block(&im, 6, 1, 2, 255, 128, 128);
    expect_block(&im, 8, 1, 2, 255, 0, 0);
    expect_block(&im, 6, 3, 2, 255, 255, 255);
    expect_block(&im, 8, 3, 2, 0, 0, 255);

    /* per-unit scaling: unit 2 (at (1,6)) looks exactly like unit 1 */
    for (unsigned dy = 0; dy < 4; dy++)
        for (unsigned dx = 0; dx < 4; dx++) {
            const unsigned char *a = im.px + ((size_t)(1 + dy) * im.w + 6 + dx) * 3;
            const unsigned char *b = im.px + ((size_t)(6 + dy) * im.w + 1 + dx) * 3;
            assert_memory_equal(a, b, 3);
        }

    /* borders: outer frame and the lines between tiles */
    for (unsigned i = 0; i < 11; i++) {
        expect_px(&im, i, 0, G, G, G);
        expect_px(&im, i, 10, G, G, G);
        expect_px(&im, 0, i, G, G, G);
        expect_px(&im, 10, i, G, G, G);
        expect_px(&im, 5, i, G, G, G);
        expect_px(&im, i, 5, G, G, G);
    }
    /* the empty fourth cell is all gray */
    expect_block(&im, 6, 6, 4, G, G, G);
    free(im.px);

    /* written via a temp file that is gone afterwards */
    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "w.png ");
}

static void test_zero_unit_is_white(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    const float W[2 * 3] = {0, 0, 0, -3, 0, 3}; /* unit 0 all zero; 1x3 units */
    assert_int_equal(pl_png_weights(png, W, 2, 1, 3, 1, 1, 1), 0);
    image im = read_png(png);
    assert_int_equal(im.w, 1 + 3 + 1);
    assert_int_equal(im.h, 1 + 2 * (1 + 1));
    for (unsigned x = 1; x <= 3; x++)
        expect_px(&im, x, 1, 255, 255, 255);
    expect_px(&im, 1, 3, 0, 0, 255);
    expect_px(&im, 2, 3, 255, 255, 255);
    expect_px(&im, 3, 3, 255, 0, 0);
    expect_px(&im, 2, 2, G, G, G);
    free(im.px);
}

/* channels > 1: channel-major weights, one tile per channel side by side. */
static void test_multichannel_layout(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    /* 2 units, 3 channels of 1x2, 2 grid columns, scale 3.
     * tile 3x6 px; width 1 + 2*3*(6+1) = 43; height 1 + 1*(3+1) = 5. */
    const float W[2 * 6] = {
        1, 0, /* unit 0, channel 0 */
        0, -1, /* channel 1 */
        0.5f, 0, /* channel 2 */
        0, 0, 0, 0, 0, -4, /* unit 1: only channel 2, column 1 */
    };
    assert_int_equal(pl_png_weights(png, W, 2, 1, 2, 3, 2, 3), 0);
    image im = read_png(png);
    assert_int_equal(im.w, 43);
    assert_int_equal(im.h, 5);
    expect_block(&im, 1, 1, 3, 255, 0, 0);     /* u0 ch0 (0,0) */
    expect_block(&im, 4, 1, 3, 255, 255, 255); /* u0 ch0 (0,1) */
    expect_px(&im, 7, 2, G, G, G);             /* border between channel tiles */
    expect_block(&im, 8, 1, 3, 255, 255, 255); /* u0 ch1 (0,0) */
    expect_block(&im, 11, 1, 3, 0, 0, 255);    /* u0 ch1 (0,1) */
    expect_block(&im, 15, 1, 3, 255, 128, 128); /* u0 ch2 (0,0) */
    expect_px(&im, 21, 2, G, G, G);            /* border between units */
    expect_block(&im, 22, 1, 3, 255, 255, 255); /* u1 ch0 */
    expect_block(&im, 39, 1, 3, 0, 0, 255);    /* u1 ch2 (0,1) */
    expect_px(&im, 42, 2, G, G, G);
    free(im.px);
}

static void test_overwrites_existing(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    FILE *fp = fopen(png, "w");
    assert_non_null(fp);
    fputs("not a png", fp);
    fclose(fp);
    const float W[1] = {-1};
    assert_int_equal(pl_png_weights(png, W, 1, 1, 1, 1, 1, 1), 0);
    image im = read_png(png);
    assert_int_equal(im.w, 3);
    assert_int_equal(im.h, 3);
    expect_px(&im, 1, 1, 0, 0, 255);
    free(im.px);
}

static void test_unwritable_path(void **state)
{
    (void)state;
    const char *bad = tmp_path("no/such/dir/w.png");
    const float W[4] = {1, 2, 3, 4};
    assert_int_not_equal(pl_png_weights(bad, W, 1, 2, 2, 1, 1, 1), 0);
    struct stat st;
    assert_int_not_equal(stat(bad, &st), 0);
}

/* A directory in place of the output: the temp file is written, the rename
 * fails, and the temp file must be cleaned up. */
static void test_rename_failure_cleans_up(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    assert_int_equal(mkdir(png, 0700), 0);
    const char *inner = tmp_path("w.png/x");
    FILE *fp = fopen(inner, "w"); /* non-empty directory: rename cannot replace it */
    assert_non_null(fp);
    fclose(fp);
    const float W[1] = {1};
    assert_int_not_equal(pl_png_weights(png, W, 1, 1, 1, 1, 1, 1), 0);
    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "w.png ");
    unlink(inner);
    rmdir(png);
}

/* A write error inside libpng (file size limit hit mid-image) goes through the
 * setjmp path: nonzero, no temp file, and the previous image is untouched. */
static void test_write_error_keeps_old_image(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    const float one[1] = {1};
    assert_int_equal(pl_png_weights(png, one, 1, 1, 1, 1, 1, 1), 0);

    enum { N = 64, R = 28, C = 28 };
    float *W = malloc(sizeof(float) * N * R * C);
    assert_non_null(W);
    uint32_t s = 12345;
    for (int i = 0; i < N * R * C; i++) {
        s = s * 1664525u + 1013904223u; /* noise so the image does not compress away */
        W[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = pl_png_weights(png, W, N, R, C, 1, 8, 2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    free(W);
    assert_int_not_equal(rc, 0);

    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "w.png ");
    image im = read_png(png);
    assert_int_equal(im.w, 3);
    expect_px(&im, 1, 1, 255, 0, 0);
    free(im.px);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    const char *png = tmp_path("w.png");
    const float W[4] = {1, 2, 3, 4};
    assert_int_not_equal(pl_png_weights(png, W, 0, 2, 2, 1, 1, 1), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1, 2, 2, 1, 0, 1), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1, 2, 2, 1, 1, 0), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1, 0, 2, 1, 1, 1), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1, 2, -1, 1, 1, 1), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1, 2, 2, 0, 1, 1), 0);
    assert_int_not_equal(pl_png_weights(png, NULL, 1, 2, 2, 1, 1, 1), 0);
    assert_int_not_equal(pl_png_weights(NULL, W, 1, 2, 2, 1, 1, 1), 0);
    /* far too large: rejected before any allocation or file */
    assert_int_not_equal(pl_png_weights(png, W, 1, 2, 2, 1, 1, 1 << 30), 0);
    assert_int_not_equal(pl_png_weights(png, W, 1 << 30, 2, 2, 1, 1, 1), 0);
    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_grid_colours),
        T(test_zero_unit_is_white),
        T(test_multichannel_layout),
        T(test_overwrites_existing),
        T(test_unwritable_path),
        T(test_rename_failure_cleans_up),
        T(test_write_error_keeps_old_image),
        T(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
