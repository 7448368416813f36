/* Receptive-field and heatmap PNGs: written, read back with libpng, checked
 * pixel by pixel; the bitmap font's glyphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/font.h"
#include "plastic/image.h"

#include "support.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct rgb_image image;

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

/* ---- heatmaps ------------------------------------------------------------ */

static const unsigned char *px_at(const image *im, long x, long y)
{
    assert_true(x >= 0 && y >= 0 && (unsigned long)x < im->w && (unsigned long)y < im->h);
    return im->px + ((size_t)y * im->w + (size_t)x) * 3;
}

static long lum(const unsigned char *p) { return 299L * p[0] + 587L * p[1] + 114L * p[2]; }

static int is_rgb(const unsigned char *p, int r, int g, int b)
{
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Top-left pixel of cell (r, c). */
static long cell_x(const struct pl_heatmap_geometry *g, int c)
{
    return g->cell_x + c * g->pitch_x;
}

static long cell_y(const struct pl_heatmap_geometry *g, int r)
{
    return g->cell_y + r * g->pitch_y;
}

/* Pixels of cell (r, c) that have colour (r, g, b), in rows dy0 <= dy < dy1 of the cell. */
static long count_in_cell(const image *im, const struct pl_heatmap_geometry *g, int r, int c,
                          long dy0, long dy1, int R, int G_, int B)
{
    long n = 0;
    for (long dy = dy0; dy < dy1; dy++)
        for (long dx = 0; dx < g->cell_w; dx++)
            n += is_rgb(px_at(im, cell_x(g, c) + dx, cell_y(g, r) + dy), R, G_, B);
    return n;
}

enum { MASK_MAX = 16 * 2 * PL_FONT_ADVANCE * 2 * PL_FONT_GLYPH_H }; /* 16 glyphs */

/* The font at scale 2 as an ink mask, cropped to its ink: w x h into out. */
static void text_mask(const char *s, unsigned char out[MASK_MAX], long *w, long *h)
{
    long x0 = 1L << 30, y0 = 1L << 30, x1 = -1, y1 = -1;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        for (int gy = 0; gy < PL_FONT_GLYPH_H; gy++)
            for (int gx = 0; gx < PL_FONT_GLYPH_W; gx++)
                if (pl_font_ink((unsigned char)s[i], gx, gy)) {
                    long x = ((long)i * PL_FONT_ADVANCE + gx) * 2, y = gy * 2L;
                    x0 = x < x0 ? x : x0;
                    y0 = y < y0 ? y : y0;
                    x1 = x + 1 > x1 ? x + 1 : x1;
                    y1 = y + 1 > y1 ? y + 1 : y1;
                }
    *w = x1 - x0 + 1;
    *h = y1 - y0 + 1;
    assert_true(strlen(s) <= 16 && *w > 0 && *h > 0);
    memset(out, 0, MASK_MAX);
    for (size_t i = 0; i < n; i++)
        for (int gy = 0; gy < PL_FONT_GLYPH_H; gy++)
            for (int gx = 0; gx < PL_FONT_GLYPH_W; gx++)
                if (pl_font_ink((unsigned char)s[i], gx, gy))
                    for (long d = 0; d < 4; d++) {
                        long x = ((long)i * PL_FONT_ADVANCE + gx) * 2 + d % 2 - x0;
                        long y = gy * 2L + d / 2 - y0;
                        out[y * *w + x] = 1;
                    }
}

/* 2 x 3 grid:     c0     c1           c2
 *           r0   1.00   2.00 (marked)  NaN
 *           r1   4.00   2.00           3.00   */
static const double HV[6] = {1.0, 2.0, NAN, 4.0, 2.0, 3.0};
static const unsigned char HM[6] = {0, 1, 0, 0, 0, 0};
static const char *const HROWS[2] = {"2", "3"};
static const char *const HCOLS[3] = {"10", "20", "30"};

static struct pl_heatmap example(void)
{
    return (struct pl_heatmap){.rows = 2, .cols = 3, .values = HV, .mark = HM,
                               .row_labels = HROWS, .col_labels = HCOLS, .row_title = "p",
                               .col_title = "k", .title = "test error (%)", .format = "%.2f"};
}

static image write_example(struct pl_heatmap_geometry *g)
{
    const char *png = tmp_path("h.png");
    struct pl_heatmap h = example();
    assert_int_equal(pl_heatmap_geometry(&h, g), 0);
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    return read_png(png);
}

/* An 8-bit RGB PNG of the size pl_heatmap_geometry gives, with everything
 * inside it; written through a temp file that is gone afterwards. */
static void test_heatmap_size_and_file(void **state)
{
    (void)state;
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    assert_int_equal(im.w, g.width);
    assert_int_equal(im.h, g.height);
    assert_true(g.cell_w >= 40 && g.cell_h >= 30);
    assert_true(g.pitch_x > g.cell_w && g.pitch_y > g.cell_h);
    assert_true(g.cell_x > 0 && g.cell_y > 0);
    assert_true(g.cell_x + 3 * g.pitch_x <= g.bar_x);
    assert_true(g.bar_x + g.bar_w < g.width);
    assert_true(g.cell_y + 2 * g.pitch_y <= g.height);
    assert_int_equal(g.bar_y, g.cell_y);
    assert_int_equal(g.bar_h, 2 * g.pitch_y - (g.pitch_y - g.cell_h));
    /* nothing reaches the edges (no text cut off) */
    for (unsigned x = 0; x < im.w; x++) {
        expect_px(&im, x, 0, 255, 255, 255);
        expect_px(&im, x, im.h - 1, 255, 255, 255);
    }
    for (unsigned y = 0; y < im.h; y++) {
        expect_px(&im, 0, y, 255, 255, 255);
        expect_px(&im, im.w - 1, y, 255, 255, 255);
    }
    /* hi and lo are printed whole right of the colour bar, at its ends:
     * their ink spans the width of "4.00" and "1.00" */
    long x0[2] = {1L << 30, 1L << 30}, x1[2] = {-1, -1};
    for (long y = 0; y < 14; y++)
        for (long x = g.bar_x + g.bar_w; x < g.width; x++)
            for (int end = 0; end < 2; end++)
                if (is_rgb(px_at(&im, x, end ? g.bar_y + g.bar_h - 1 - y : g.bar_y + y), 0, 0,
                           0)) {
                    x0[end] = x < x0[end] ? x : x0[end];
                    x1[end] = x > x1[end] ? x : x1[end];
                }
    unsigned char mask[MASK_MAX];
    long w, h;
    text_mask("4.00", mask, &w, &h);
    assert_int_equal(x1[0] - x0[0] + 1, w);
    text_mask("1.00", mask, &w, &h);
    assert_int_equal(x1[1] - x0[1] + 1, w);
    free(im.px);

    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "h.png ");
}

/* The size follows from the grid and the text: one more row adds a pitch,
 * a longer row label widens the image by whole glyphs, and so on. */
static void test_heatmap_size_rules(void **state)
{
    (void)state;
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *rows3[3] = {"a", "b", "c"}, *rows4[4] = {"a", "b", "c", "d"};
    const char *rows4long[4] = {"a", "b", "c", "dddd"};
    struct pl_heatmap h = {.rows = 3, .cols = 2, .values = v, .row_labels = rows3};
    struct pl_heatmap_geometry a, b;
    assert_int_equal(pl_heatmap_geometry(&h, &a), 0);
    h.rows = 4;
    h.row_labels = rows4;
    assert_int_equal(pl_heatmap_geometry(&h, &b), 0);
    assert_int_equal(b.height - a.height, a.pitch_y);
    assert_int_equal(b.width, a.width);
    h.row_labels = rows4long;
    assert_int_equal(pl_heatmap_geometry(&h, &a), 0);
    assert_int_equal(a.width - b.width, 3 * PL_FONT_ADVANCE * 2);
    assert_int_equal(a.cell_x - b.cell_x, 3 * PL_FONT_ADVANCE * 2);
    /* a title adds one line of text above the grid */
    h.title = "t";
    assert_int_equal(pl_heatmap_geometry(&h, &b), 0);
    assert_true(b.cell_y > a.cell_y && b.height - a.height == b.cell_y - a.cell_y);
    /* wide numbers widen the cells; the file agrees */
    h.format = "%12.6f";
    assert_int_equal(pl_heatmap_geometry(&h, &a), 0);
    assert_true(a.cell_w >= pl_font_text_width("    1.000000", 2));
    const char *png = tmp_path("h.png");
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    image im = read_png(png);
    assert_int_equal(im.w, a.width);
    assert_int_equal(im.h, a.height);
    free(im.px);
}

/* Low values light, high values dark, on the cells and on the colour bar. */
static void test_heatmap_colours(void **state)
{
    (void)state;
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    const unsigned char *lo = px_at(&im, cell_x(&g, 0) + 1, cell_y(&g, 0) + 1); /* 1.00 */
    const unsigned char *mid = px_at(&im, cell_x(&g, 1) + 1, cell_y(&g, 1) + 1); /* 2.00 */
    const unsigned char *hi = px_at(&im, cell_x(&g, 0) + 1, cell_y(&g, 1) + 1); /* 4.00 */
    assert_true(lum(lo) > lum(mid));
    assert_true(lum(mid) > lum(hi));
    /* a cell is one colour apart from its number: all four corners agree */
    const unsigned char *c2 =
        px_at(&im, cell_x(&g, 0) + g.cell_w - 1, cell_y(&g, 1) + g.cell_h - 1);
    assert_memory_equal(hi, c2, 3);
    /* the gap between cells is background */
    expect_px(&im, (unsigned)(cell_x(&g, 1) - 1), (unsigned)cell_y(&g, 0) + 1, 255, 255, 255);
    /* colour bar: the top end is the highest value's colour, the bottom the
     * lowest's, and lightness never falls from top to bottom */
    long bx = g.bar_x + g.bar_w / 2;
    assert_memory_equal(px_at(&im, bx, g.bar_y + 1), hi, 3);
    assert_memory_equal(px_at(&im, bx, g.bar_y + g.bar_h - 2), lo, 3);
    for (long y = g.bar_y + 2; y < g.bar_y + g.bar_h - 1; y++)
        assert_true(lum(px_at(&im, bx, y)) >= lum(px_at(&im, bx, y - 1)));
    free(im.px);
}

/* NaN: the whole cell is the no-data gray, with no number. */
static void test_heatmap_nan_cell(void **state)
{
    (void)state;
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    const int N = PL_HEATMAP_NODATA;
    assert_int_equal(count_in_cell(&im, &g, 0, 2, 0, g.cell_h, N, N, N), g.cell_w * g.cell_h);
    free(im.px);
}

/* Marked: black hatch over the colour, outside the number, which stays. */
static void test_heatmap_marked_cell(void **state)
{
    (void)state;
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    /* (0, 1) marked and (1, 1) not, both 2.00: top and bottom bands (clear
     * of the number) hold black only in the marked one */
    long band = g.cell_h / 4;
    long marked = count_in_cell(&im, &g, 0, 1, 0, band, 0, 0, 0) +
                  count_in_cell(&im, &g, 0, 1, g.cell_h - band, g.cell_h, 0, 0, 0);
    long plain = count_in_cell(&im, &g, 1, 1, 0, band, 0, 0, 0) +
                 count_in_cell(&im, &g, 1, 1, g.cell_h - band, g.cell_h, 0, 0, 0);
    assert_true(marked > 2 * band); /* lines, not a stray pixel */
    assert_int_equal(plain, 0);
    /* the middle rows, where the number is, are the same in both */
    for (long dy = g.cell_h / 2 - 7; dy < g.cell_h / 2 + 7; dy++)
        for (long dx = g.cell_w / 2 - 10; dx < g.cell_w / 2 + 10; dx++)
            assert_memory_equal(px_at(&im, cell_x(&g, 1) + dx, cell_y(&g, 0) + dy),
                                px_at(&im, cell_x(&g, 1) + dx, cell_y(&g, 1) + dy), 3);
    free(im.px);
}

/* The pixels of cell (r, c) that differ from its corner colour are exactly
 * the glyphs of `text`, in colour ink. */
static void expect_number(const image *im, const struct pl_heatmap_geometry *g, int r, int c,
                          const char *text, int ink)
{
    const unsigned char *bg = px_at(im, cell_x(g, c), cell_y(g, r));
    long x0 = 1L << 30, y0 = 1L << 30, x1 = -1, y1 = -1, count = 0;
    for (long dy = 0; dy < g->cell_h; dy++)
        for (long dx = 0; dx < g->cell_w; dx++) {
            const unsigned char *p = px_at(im, cell_x(g, c) + dx, cell_y(g, r) + dy);
            if (!memcmp(p, bg, 3))
                continue;
            assert_true(is_rgb(p, ink, ink, ink));
            count++;
            x0 = dx < x0 ? dx : x0;
            y0 = dy < y0 ? dy : y0;
            x1 = dx > x1 ? dx : x1;
            y1 = dy > y1 ? dy : y1;
        }
    assert_true(count > 0);
    unsigned char mask[MASK_MAX];
    long w, h;
    text_mask(text, mask, &w, &h);
    assert_int_equal(x1 - x0 + 1, w);
    assert_int_equal(y1 - y0 + 1, h);
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            const unsigned char *p = px_at(im, cell_x(g, c) + x0 + x, cell_y(g, r) + y0 + y);
            if (mask[y * w + x] != (memcmp(p, bg, 3) != 0))
                fail_msg("cell (%d,%d) \"%s\": pixel (%ld,%ld) of the text is %s", r, c, text,
                         x, y, mask[y * w + x] ? "missing" : "extra");
        }
}

/* Numbers render with the font, black on light cells, white on dark ones. */
static void test_heatmap_numbers(void **state)
{
    (void)state;
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    expect_number(&im, &g, 0, 0, "1.00", 0);
    expect_number(&im, &g, 1, 0, "4.00", 255);
    expect_number(&im, &g, 1, 1, "2.00", 0);
    free(im.px);
}

/* No finite value: NaN everywhere, still a picture (no lo / hi). Equal
 * values: one colour. Infinities clamp to the ends of the scale. */
static void test_heatmap_degenerate_values(void **state)
{
    (void)state;
    const char *png = tmp_path("h.png");
    double none[2] = {NAN, NAN};
    struct pl_heatmap h = {.rows = 1, .cols = 2, .values = none};
    struct pl_heatmap_geometry g;
    assert_int_equal(pl_heatmap_geometry(&h, &g), 0);
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    image im = read_png(png);
    assert_int_equal(im.w, g.width);
    const int N = PL_HEATMAP_NODATA;
    assert_int_equal(count_in_cell(&im, &g, 0, 1, 0, g.cell_h, N, N, N), g.cell_w * g.cell_h);
    free(im.px);

    double same[2] = {0.5, 0.5};
    h.values = same;
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    im = read_png(png);
    assert_memory_equal(px_at(&im, cell_x(&g, 0), cell_y(&g, 0)),
                        px_at(&im, cell_x(&g, 1), cell_y(&g, 0)), 3);
    free(im.px);

    double inf[3] = {-INFINITY, 1.0, INFINITY};
    h.cols = 3;
    h.values = inf;
    assert_int_equal(pl_heatmap_geometry(&h, &g), 0);
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    im = read_png(png);
    long bx = g.bar_x + g.bar_w / 2;
    assert_memory_equal(px_at(&im, cell_x(&g, 0), g.cell_y),
                        px_at(&im, bx, g.bar_y + g.bar_h - 2), 3);
    assert_memory_equal(px_at(&im, cell_x(&g, 2), g.cell_y), px_at(&im, bx, g.bar_y + 1), 3);
    free(im.px);
}

static void test_heatmap_unwritable_path(void **state)
{
    (void)state;
    const char *bad = tmp_path("no/such/dir/h.png");
    struct pl_heatmap h = example();
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(bad, &h)), 0);
    assert_contains(stderr_text(), bad);
    struct stat st;
    assert_int_not_equal(stat(bad, &st), 0);
}

static void test_heatmap_invalid_arguments(void **state)
{
    (void)state;
    const char *png = tmp_path("h.png");
    struct pl_heatmap_geometry g;
    struct pl_heatmap h = example();
    h.rows = 0;
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
    assert_contains(stderr_text(), png);
    assert_int_not_equal(pl_heatmap_geometry(&h, &g), 0);
    h = example();
    h.cols = -1;
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
    h = example();
    h.values = NULL;
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
    assert_contains(stderr_text(), "no values");
    const char *bad_formats[] = {"%d", "%s",  "%f %f", "no conversion",
                                 "%*f", "%.2Lf", "%",   "%.100f", "%1000f"};
    for (size_t i = 0; i < sizeof bad_formats / sizeof *bad_formats; i++) {
        h = example();
        h.format = bad_formats[i];
        assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
        assert_contains(stderr_text(), "format");
        assert_int_not_equal(pl_heatmap_geometry(&h, &g), 0);
    }
    h = example();
    h.rows = 5000; /* rejected before values are read */
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
    assert_contains(stderr_text(), "5000 rows");
    static char long_title[1200];
    memset(long_title, 'x', sizeof long_title - 1);
    h = example();
    h.title = long_title;
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, &h)), 0);
    assert_contains(stderr_text(), "title is longer");
    h = example();
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(NULL, &h)), 0);
    assert_int_not_equal(CAPTURE_STDERR(pl_png_heatmap(png, NULL)), 0);
    assert_int_not_equal(pl_heatmap_geometry(NULL, &g), 0);
    assert_int_not_equal(pl_heatmap_geometry(&h, NULL), 0);
    char names[256];
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "");

    /* good formats, and NULL labels, titles, marks and format */
    const char *good_formats[] = {"%.1f%%", "%g", "%+08.3e", "err %lf", "%a", NULL};
    for (size_t i = 0; i < sizeof good_formats / sizeof *good_formats; i++) {
        struct pl_heatmap m = {.rows = 2, .cols = 3, .values = HV, .format = good_formats[i]};
        assert_int_equal(pl_png_heatmap(png, &m), 0);
    }
}

/* A long row title is rotated: left of the grid its ink is taller than wide. */
static void test_heatmap_rotated_row_title(void **state)
{
    (void)state;
    const char *png = tmp_path("h.png");
    struct pl_heatmap h = {.rows = 3, .cols = 2, .values = HV, .row_title = "hidden units"};
    struct pl_heatmap_geometry g;
    assert_int_equal(pl_heatmap_geometry(&h, &g), 0);
    assert_true(g.cell_x < pl_font_text_width("hidden units", 2));
    assert_int_equal(pl_png_heatmap(png, &h), 0);
    image im = read_png(png);
    long x0 = 1L << 30, y0 = 1L << 30, x1 = -1, y1 = -1;
    for (long y = 0; y < (long)im.h; y++)
        for (long x = 0; x < g.cell_x; x++)
            if (is_rgb(px_at(&im, x, y), 0, 0, 0)) {
                x0 = x < x0 ? x : x0;
                y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1;
                y1 = y > y1 ? y : y1;
            }
    assert_true(x1 >= 0);
    assert_true(y1 - y0 > 4 * (x1 - x0));
    free(im.px);
}

/* An existing file of that name is replaced. */
static void test_heatmap_overwrites_existing(void **state)
{
    (void)state;
    const char *png = tmp_path("h.png");
    FILE *fp = fopen(png, "w");
    assert_non_null(fp);
    fputs("not a png", fp);
    fclose(fp);
    struct pl_heatmap_geometry g;
    image im = write_example(&g);
    assert_int_equal(im.w, g.width);
    free(im.px);
}

/* Every printable character but space has ink, inside its 5 x 9 box;
 * others draw as '?'. */
static void test_font_glyphs(void **state)
{
    (void)state;
    for (int c = 32; c <= 126; c++) {
        int ink = 0;
        for (int y = 0; y < PL_FONT_GLYPH_H; y++)
            for (int x = 0; x < PL_FONT_GLYPH_W; x++)
                ink += pl_font_ink(c, x, y) != 0;
        if (c == ' ')
            assert_int_equal(ink, 0);
        else if (!ink)
            fail_msg("glyph '%c' (%d) is empty", c, c);
        assert_int_equal(pl_font_ink(c, -1, 0) | pl_font_ink(c, PL_FONT_GLYPH_W, 0) |
                             pl_font_ink(c, 0, -1) | pl_font_ink(c, 0, PL_FONT_GLYPH_H),
                         0);
    }
    /* digits differ from each other and from the letters most like them */
    char pairs[64][2];
    int np = 0;
    for (char a = '0'; a <= '9'; a++)
        for (char b = (char)(a + 1); b <= '9'; b++) {
            pairs[np][0] = a;
            pairs[np++][1] = b;
        }
    const char *alike[] = {"0O", "1l", "1I", "2Z", "5S", "8B", "9g", "0o"};
    for (size_t i = 0; i < sizeof alike / sizeof *alike; i++) {
        pairs[np][0] = alike[i][0];
        pairs[np++][1] = alike[i][1];
    }
    for (int i = 0; i < np; i++) {
        int same = 1;
        for (int y = 0; y < PL_FONT_GLYPH_H; y++)
            for (int x = 0; x < PL_FONT_GLYPH_W; x++)
                same &= !pl_font_ink(pairs[i][0], x, y) == !pl_font_ink(pairs[i][1], x, y);
        if (same)
            fail_msg("glyphs '%c' and '%c' are the same", pairs[i][0], pairs[i][1]);
    }
    for (int y = 0; y < PL_FONT_GLYPH_H; y++)
        for (int x = 0; x < PL_FONT_GLYPH_W; x++) {
            assert_int_equal(pl_font_ink('\n', x, y), pl_font_ink('?', x, y));
            assert_int_equal(pl_font_ink(200, x, y), pl_font_ink('?', x, y));
        }
    assert_int_equal(pl_font_text_width("", 2), 0);
    assert_int_equal(pl_font_text_width(NULL, 2), 0);
    assert_int_equal(pl_font_text_width("ab", 1), 11);
    assert_int_equal(pl_font_text_width("3.45", 2), 46);
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
        T(test_heatmap_size_and_file),
        T(test_heatmap_size_rules),
        T(test_heatmap_colours),
        T(test_heatmap_nan_cell),
        T(test_heatmap_marked_cell),
        T(test_heatmap_numbers),
        T(test_heatmap_degenerate_values),
        T(test_heatmap_unwritable_path),
        T(test_heatmap_invalid_arguments),
        T(test_heatmap_rotated_row_title),
        T(test_heatmap_overwrites_existing),
        T(test_font_glyphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
