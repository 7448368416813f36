/* Line charts: nice ticks, the log axis, pixels of known series read back
 * with libpng, NaN gaps, the legend, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/plot.h"

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char why[4096];

static void expect_ticks(const struct pl_plot_axis *a, const double *want, int n)
{
    if (a->nticks != n)
        fail_msg("%d ticks, expected %d (first %g, last %g)", a->nticks, n, a->ticks[0],
                 a->ticks[a->nticks - 1]);
    for (int i = 0; i < n; i++)
        check_close(a->ticks[i], want[i], 1e-12, 1e-12, "tick", i);
    assert_true(a->lo == a->ticks[0] && a->hi == a->ticks[n - 1]);
}

static void expect_label(const struct pl_plot_axis *a, int i, const char *want)
{
    char buf[32];
    pl_plot_tick_label(a, i, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_nice_ticks(void **state)
{
    (void)state;
    struct pl_plot_axis a;
    assert_int_equal(pl_plot_axis(0.3, 9.7, 0, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0, 2, 4, 6, 8, 10}, 6);
    expect_label(&a, 1, "2");

    assert_int_equal(pl_plot_axis(-0.37, 0.81, 0, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){-0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1.0}, 8);
    expect_label(&a, 0, "-0.4");
    expect_label(&a, 2, "0.0"); /* not "-0.0" */
    expect_label(&a, 5, "0.6"); /* rounded once: not 0.6000000000000001 */
    assert_true(a.ticks[5] == 0.6);

    /* epochs: whole numbers step by at least 1 */
    assert_int_equal(pl_plot_axis(1, 2, 0, 1, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){1, 2}, 2);
    assert_int_equal(pl_plot_axis(1, 20, 0, 1, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0, 5, 10, 15, 20}, 5);
    assert_int_equal(pl_plot_axis(1, 1, 0, 1, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0, 1, 2}, 3);

    /* one value: 10% either side; 0: -1 .. 1 */
    assert_int_equal(pl_plot_axis(5, 5, 0, 0, &a, why, sizeof why), 0);
    assert_true(a.lo <= 4.5 && a.hi >= 5.5 && a.hi - a.lo <= 2);
    assert_int_equal(pl_plot_axis(0, 0, 0, 0, &a, why, sizeof why), 0);
    assert_true(a.lo == -1 && a.hi == 1);

    /* small and large steps keep the decimals they need */
    assert_int_equal(pl_plot_axis(0.0012, 0.0047, 0, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0.001, 0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004, 0.0045, 0.005},
                 9);
    expect_label(&a, 1, "0.0015");
    assert_int_equal(pl_plot_axis(120, 980, 0, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0, 200, 400, 600, 800, 1000}, 6);

    /* every axis: ends hold the values, ascending, within the tick limit */
    const double cases[][2] = {{1e-7, 3e-7}, {-5e6, 2}, {0.1, 0.1000001}, {1e300, 1.5e300},
                               {-1, -1}, {3.99, 4.01}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_int_equal(pl_plot_axis(cases[c][0], cases[c][1], 0, 0, &a, why, sizeof why), 0);
        assert_true(a.nticks >= 2 && a.nticks <= PL_PLOT_MAX_TICKS);
        assert_true(a.lo <= cases[c][0] && a.hi >= cases[c][1]);
        for (int i = 1; i < a.nticks; i++)
            assert_true(a.ticks[i] > a.ticks[i - 1]);
    }

    assert_int_not_equal(pl_plot_axis(2, 1, 0, 0, &a, why, sizeof why), 0);
    assert_int_not_equal(pl_plot_axis(NAN, 1, 0, 0, &a, why, sizeof why), 0);
    assert_int_not_equal(pl_plot_axis(-1e308, 1e308, 0, 0, &a, why, sizeof why), 0);
    assert_contains(why, "too wide");
}

static void test_log_axis(void **state)
{
    (void)state;
    struct pl_plot_axis a;
    assert_int_equal(pl_plot_axis(0.5, 30, 1, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0.1, 1, 10, 100}, 4);
    expect_label(&a, 0, "0.1");
    expect_label(&a, 3, "100");
    /* two decades or fewer: 2 and 5 times each power too */
    assert_int_equal(pl_plot_axis(0.5, 8, 1, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0.1, 0.2, 0.5, 1, 2, 5, 10}, 7);
    expect_label(&a, 1, "0.2");
    assert_int_equal(pl_plot_axis(2, 8, 1, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){1, 2, 5, 10}, 4);
    assert_int_equal(pl_plot_axis(10, 10, 1, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){10, 20, 50, 100}, 4);
    assert_int_equal(pl_plot_axis(0.003, 40, 1, 0, &a, why, sizeof why), 0);
    expect_ticks(&a, (double[]){0.001, 0.01, 0.1, 1, 10, 100}, 6);
    expect_label(&a, 0, "0.001");
    /* many decades: a tick every few */
    assert_int_equal(pl_plot_axis(1e-20, 1e20, 1, 0, &a, why, sizeof why), 0);
    assert_true(a.nticks <= 9 && a.lo <= 1e-20 && a.hi >= 1e20);
    assert_int_not_equal(pl_plot_axis(0, 10, 1, 0, &a, why, sizeof why), 0);
    assert_contains(why, "above 0");
    assert_int_not_equal(pl_plot_axis(-3, 10, 1, 0, &a, why, sizeof why), 0);

    /* decades are evenly spaced on the chart */
    double x[3] = {1, 2, 3}, y[3] = {1, 10, 100};
    struct pl_plot_series s = {"s", x, y, 3, 0};
    struct pl_plot p = {.series = &s, .nseries = 1, .log_y = 1};
    struct pl_plot_geometry g;
    assert_int_equal(pl_plot_geometry(&p, &g, why, sizeof why), 0);
    assert_true(g.y.lo == 1 && g.y.hi == 100);
    double r1 = pl_plot_py(&g, 1), r10 = pl_plot_py(&g, 10), r100 = pl_plot_py(&g, 100);
    check_close(r1 - r10, r10 - r100, 1e-9, 0, "decade", 0);
    check_close(r1, g.plot_y + g.plot_h - 1 - PL_PLOT_PAD, 1e-9, 0, "bottom", 0);
    check_close(r100, g.plot_y + PL_PLOT_PAD, 1e-9, 0, "top", 0);
    check_close(pl_plot_py(&g, sqrt(10.0)), (r1 + r10) / 2, 1e-9, 0, "half a decade", 0);
}

static const unsigned char *px(const struct rgb_image *im, long x, long y)
{
    assert_true(x >= 0 && y >= 0 && (unsigned long)x < im->w && (unsigned long)y < im->h);
    return im->px + ((size_t)y * im->w + (size_t)x) * 3;
}

static int is_colour(const unsigned char *p, int s)
{
    return !memcmp(p, pl_plot_palette[s], 3);
}

/* Pixels of series colour s in row y between columns x0 and x1 (inclusive). */
static long count_in_row(const struct rgb_image *im, long y, long x0, long x1, int s)
{
    long n = 0;
    for (long x = x0; x <= x1; x++)
        n += is_colour(px(im, x, y), s);
    return n;
}

/* A horizontal line lands on the row of its y, from its first x to its last,
 * and nowhere else. */
static void test_horizontal_line(void **state)
{
    (void)state;
    double x[11], y[11];
    for (int i = 0; i < 11; i++) {
        x[i] = i;
        y[i] = 5.0;
    }
    double x2[2] = {0, 10}, y2[2] = {2, 8}; /* sets the y axis around the line */
    struct pl_plot_series s[2] = {{"flat", x, y, 11, 0}, {"span", x2, y2, 2, 0}};
    struct pl_plot p = {.series = s, .nseries = 2, .title = "T", .x_label = "x",
                        .y_label = "y", .width = 640, .height = 400};
    struct pl_plot_geometry g;
    assert_int_equal(pl_plot_geometry(&p, &g, why, sizeof why), 0);
    const char *png = tmp_path("line.png");
    assert_int_equal(pl_png_plot(png, &p, why, sizeof why), 0);
    struct rgb_image im = read_png(png);
    assert_int_equal(im.w, 640);
    assert_int_equal(im.h, 400);

    long row = lround(pl_plot_py(&g, 5.0));
    long c0 = lround(pl_plot_px(&g, 0.0)), c10 = lround(pl_plot_px(&g, 10.0));
    assert_true(c0 >= g.plot_x && c10 < g.plot_x + g.plot_w && c10 - c0 > 400);
    /* the whole row from the first point to the last (the second series
     * crosses it once, drawn over it) */
    assert_true(count_in_row(&im, row, c0, c10 + 1, 0) >= c10 - c0 - 4);
    assert_true(count_in_row(&im, row + 1, c0, c10 + 1, 0) >= c10 - c0 - 4);
    /* nothing of it left of the first point's marker or right of the last's */
    assert_int_equal(count_in_row(&im, row, g.plot_x, c0 - 3, 0), 0);
    assert_int_equal(count_in_row(&im, row, c10 + 4, g.plot_x + g.plot_w - 1, 0), 0);
    /* rows away from the line (beyond the markers) hold none of its colour */
    for (long r = g.plot_y; r < g.plot_y + g.plot_h; r++)
        if (r < row - 3 || r > row + 4)
            assert_int_equal(count_in_row(&im, r, g.plot_x, g.plot_x + g.plot_w - 1, 0), 0);
    /* the points of the second series */
    assert_true(is_colour(px(&im, c0, lround(pl_plot_py(&g, 2.0))), 1));
    assert_true(is_colour(px(&im, c10, lround(pl_plot_py(&g, 8.0))), 1));

    /* the legend: each labelled series' swatch in its colour */
    assert_true(g.legend_x > g.plot_x + g.plot_w);
    for (int i = 0; i < 2; i++)
        for (long dx = 0; dx < PL_PLOT_SWATCH; dx++)
            assert_true(is_colour(px(&im, g.legend_x + dx, g.legend_y + i * g.legend_pitch), i));
    /* the frame just outside the plot area, white background in the margin */
    const unsigned char *f = px(&im, g.plot_x - 1, g.plot_y + 10);
    assert_true(f[0] == f[1] && f[1] == f[2] && f[0] < 128);
    const unsigned char *m = px(&im, 2, 2);
    assert_true(m[0] == 255 && m[1] == 255 && m[2] == 255);
    free(im.px);
}

/* A NaN breaks the line: no segment into or out of it; the finite points
 * either side are joined to their finite neighbours only. */
static void test_nan_gap(void **state)
{
    (void)state;
    double x[7] = {0, 1, 2, 3, 4, 5, 6};
    double y[7] = {1, 1, NAN, 1, 1, NAN, 1};
    double xs[40], ys[40];
    for (int i = 0; i < 40; i++) { /* many points: markers only where isolated */
        xs[i] = i * 6.0 / 39;
        ys[i] = i == 20 ? NAN : 3.0;
    }
    ys[38] = NAN; /* leaves point 39 alone: it still gets a marker */
    struct pl_plot_series s[2] = {{"gappy", x, y, 7, 0}, {"long", xs, ys, 40, 0}};
    struct pl_plot p = {.series = s, .nseries = 2};
    struct pl_plot_geometry g;
    assert_int_equal(pl_plot_geometry(&p, &g, why, sizeof why), 0);
    const char *png = tmp_path("gap.png");
    assert_int_equal(pl_png_plot(png, &p, why, sizeof why), 0);
    struct rgb_image im = read_png(png);
    long row = lround(pl_plot_py(&g, 1.0));
    long c[7];
    for (int i = 0; i < 7; i++)
        c[i] = lround(pl_plot_px(&g, x[i]));
    /* joined: 0-1 and 3-4 */
    assert_true(count_in_row(&im, row, c[0], c[1], 0) >= c[1] - c[0]);
    assert_true(count_in_row(&im, row, c[3], c[4], 0) >= c[4] - c[3]);
    /* broken: from 1's marker to 3's, and from 4's to 6's, nothing */
    assert_int_equal(count_in_row(&im, row, c[1] + 4, c[3] - 3, 0), 0);
    assert_int_equal(count_in_row(&im, row, c[4] + 4, c[6] - 3, 0), 0);
    /* point 6 stands alone: its marker is there */
    assert_true(is_colour(px(&im, c[6], row), 0));

    /* the long series: a hole around point 20, a marker on the lone point 39 */
    long row3 = lround(pl_plot_py(&g, 3.0));
    long h0 = lround(pl_plot_px(&g, xs[19])), h1 = lround(pl_plot_px(&g, xs[21]));
    assert_int_equal(count_in_row(&im, row3, h0 + 2, h1 - 1, 1), 0);
    long c39 = lround(pl_plot_px(&g, xs[39])), c37 = lround(pl_plot_px(&g, xs[37]));
    assert_true(is_colour(px(&im, c39, row3 - 2), 1)); /* the marker's height */
    assert_false(is_colour(px(&im, c37, row3 - 2), 1)); /* no marker on joined points */
    free(im.px);
}

/* Same input, same bytes; a log chart draws. */
static void test_deterministic(void **state)
{
    (void)state;
    double x[5] = {1, 2, 3, 4, 5}, a[5] = {40, 12, 5, 2.5, 1.2}, b[5] = {50, 20, NAN, 4, 2};
    struct pl_plot_series s[2] = {{"rec-LRA", x, a, 5, 0}, {"backprop", x, b, 5, 0}};
    struct pl_plot p = {.series = s, .nseries = 2, .log_y = 1, .title = "test error",
                        .x_label = "epoch", .y_label = "error (%)"};
    const char *one = tmp_path("one.png"), *two = tmp_path("two.png");
    assert_int_equal(pl_png_plot(one, &p, why, sizeof why), 0);
    assert_int_equal(pl_png_plot(two, &p, why, sizeof why), 0);
    struct rgb_image i1 = read_png(one), i2 = read_png(two);
    assert_int_equal(i1.w, PL_PLOT_WIDTH);
    assert_int_equal(i1.h, PL_PLOT_HEIGHT);
    assert_memory_equal(i1.px, i2.px, (size_t)i1.w * i1.h * 3);
    free(i1.px);
    free(i2.px);
    FILE *f1 = fopen(one, "rb"), *f2 = fopen(two, "rb");
    assert_non_null(f1);
    assert_non_null(f2);
    int c1, c2;
    do {
        c1 = fgetc(f1);
        c2 = fgetc(f2);
        assert_int_equal(c1, c2);
    } while (c1 != EOF);
    fclose(f1);
    fclose(f2);
}

static void expect_refused(const struct pl_plot *p, const char *path, const char *message)
{
    why[0] = '\0';
    assert_int_not_equal(pl_png_plot(path, p, why, sizeof why), 0);
    assert_contains(why, message);
    if (path && *path) {
        assert_contains(why, path);
        struct stat st;
        assert_int_not_equal(stat(path, &st), 0);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *png = tmp_path("bad.png");
    double x[3] = {1, 2, 3}, y[3] = {5, 0, 2}, nan[3] = {NAN, NAN, NAN};
    struct pl_plot_series s = {"zero", x, y, 3, 0};
    struct pl_plot p = {.series = &s, .nseries = 0};
    expect_refused(&p, png, "no series");
    expect_refused(NULL, png, "no series");
    p.nseries = 1;
    expect_refused(&p, NULL, "no output path");
    expect_refused(&p, "", "no output path");
    p.log_y = 1;
    expect_refused(&p, png, "series 1 ('zero') has y = 0 at point 2: a log y axis needs y > 0");
    p.log_y = 0;
    struct pl_plot_series none = {"none", x, nan, 3, 0};
    p.series = &none;
    expect_refused(&p, png, "no point with finite x and y");
    struct pl_plot_series broken = {"broken", NULL, y, 3, 0};
    p.series = &broken;
    expect_refused(&p, png, "x missing");
    p.series = &s;
    p.nseries = PL_PLOT_MAX_SERIES + 1;
    expect_refused(&p, png, "at most 8");
    p.nseries = 1;
    p.width = 120;
    p.height = 90;
    expect_refused(&p, png, "make it larger");
    p.width = 100000;
    expect_refused(&p, png, "pixels");
    /* unwritable: the writer's message, naming the path */
    p.width = p.height = 0;
    const char *nodir = tmp_path("no/such/dir/c.png");
    expect_refused(&p, nodir, "cannot write image");
}

/* A series may pick its colour: it keeps it when others are left out. */
static void test_chosen_colour(void **state)
{
    (void)state;
    double x[2] = {0, 1}, y[2] = {0, 1};
    struct pl_plot_series s[2] = {{"first", x, y, 2, 3}, {"second", x, y, 1, 0}};
    struct pl_plot p = {.series = s, .nseries = 2};
    struct pl_plot_geometry g;
    assert_int_equal(pl_plot_geometry(&p, &g, why, sizeof why), 0);
    const char *png = tmp_path("colour.png");
    assert_int_equal(pl_png_plot(png, &p, why, sizeof why), 0);
    struct rgb_image im = read_png(png);
    assert_true(is_colour(px(&im, g.legend_x, g.legend_y), 2));
    assert_true(is_colour(px(&im, g.legend_x, g.legend_y + g.legend_pitch), 1));
    /* (1, 1) is the first series' alone; (0, 0) holds the second's marker */
    assert_true(is_colour(px(&im, lround(pl_plot_px(&g, 1)), lround(pl_plot_py(&g, 1))), 2));
    assert_true(is_colour(px(&im, lround(pl_plot_px(&g, 0)), lround(pl_plot_py(&g, 0))), 1));
    free(im.px);
    s[0].colour = PL_PLOT_MAX_SERIES + 1;
    assert_int_not_equal(pl_png_plot(png, &p, why, sizeof why), 0);
    assert_contains(why, "colour 9");
}

/* Long text is cut to fit, with "..."; series without a label stay out of
 * the legend. */
static void test_long_text(void **state)
{
    (void)state;
    double x[2] = {0, 1}, y[2] = {0, 1};
    char longer[300];
    memset(longer, 'w', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    struct pl_plot_series s[3] = {{NULL, x, y, 2, 0}, {"", x, y, 2, 0}, {longer, x, y, 2, 0}};
    struct pl_plot p = {.series = s, .nseries = 3, .title = longer, .x_label = longer,
                        .y_label = longer, .width = 1000};
    struct pl_plot_geometry g;
    assert_int_equal(pl_plot_geometry(&p, &g, why, sizeof why), 0);
    const char *png = tmp_path("long.png");
    assert_int_equal(pl_png_plot(png, &p, why, sizeof why), 0);
    struct rgb_image im = read_png(png);
    /* one legend entry, in the third colour */
    assert_true(is_colour(px(&im, g.legend_x, g.legend_y), 2));
    assert_false(is_colour(px(&im, g.legend_x, g.legend_y + g.legend_pitch), 2));
    free(im.px);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nice_ticks),
        cmocka_unit_test(test_log_axis),
        T(test_horizontal_line),
        T(test_nan_gap),
        T(test_deterministic),
        T(test_bad_input),
        T(test_chosen_colour),
        T(test_long_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
