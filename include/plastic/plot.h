/* Line charts as 8-bit RGB PNG (learning curves): several series of (x, y)
 * points, each in a colour of a fixed palette and named in a legend right of
 * the chart; axes with ticks at "nice" numbers (1, 2 or 5 times a power of
 * ten), a linear or logarithmic y axis, a title and axis labels. All text
 * uses the bitmap font of font.h at twice its size. The same input gives
 * the same bytes.
 *
 * Points. A point whose x or y is NaN or infinite is skipped, and the line
 * breaks there: segments join consecutive points that are both finite. A
 * series of at most PL_PLOT_MARKED points (finite ones) gets a square marker
 * at each point; a longer one only at points with no finite neighbour, which
 * no segment shows. Later series are drawn over earlier ones.
 *
 * Axes. Each axis spans the finite points, widened to whole ticks (a single
 * value to 10% either side, or to -1 .. 1 for 0). Ticks step by 1, 2 or 5
 * times a power of ten, about 5 steps from end to end; an x axis whose values
 * are all whole numbers (epochs) steps by at least 1. Tick labels are thinned
 * (every second, third, ... labelled) where they would touch. A log y
 * axis runs between powers of ten, with a tick at each (every few when there
 * are many), and at 2 and 5 times each when it spans at most two decades. A
 * log y axis needs every finite y > 0: anything else is an error, as is a
 * chart with no finite point. */
#ifndef PLASTIC_PLOT_H
#define PLASTIC_PLOT_H

#include <stddef.h>

enum {
    PL_PLOT_MAX_SERIES = 8, /* the palette's size */
    PL_PLOT_MAX_TICKS = 32,
    PL_PLOT_MARKED = 30,
    PL_PLOT_WIDTH = 800, /* the default size */
    PL_PLOT_HEIGHT = 500,
    PL_PLOT_LABEL_MAX = 40 /* characters of a legend label shown; longer ones end in "..." */
};

/* Series i is drawn in pl_plot_palette[i], unless it picks a colour. */
extern const unsigned char pl_plot_palette[PL_PLOT_MAX_SERIES][3];

struct pl_plot_series {
    const char *label; /* in the legend; NULL or "" leaves the series out of it */
    const double *x, *y;
    long n;     /* points; x and y may be NULL when n = 0 */
    int colour; /* 0: by position; 1 .. PL_PLOT_MAX_SERIES: pl_plot_palette[colour - 1]
                 * (a series keeps its colour when others are left out) */
};

/* Fill it with a designated initializer; members left out are 0 / NULL:
 * no title or label, linear y, the default size. */
struct pl_plot {
    const struct pl_plot_series *series;
    int nseries; /* 1 .. PL_PLOT_MAX_SERIES */
    const char *title, *x_label, *y_label;
    int log_y;
    long width, height; /* pixels; 0: PL_PLOT_WIDTH x PL_PLOT_HEIGHT */
};

/* One axis: from lo to hi (the first and last tick, lo < hi); on a log
 * axis both are powers of ten. */
struct pl_plot_axis {
    double lo, hi;
    int log;
    int nticks;
    double ticks[PL_PLOT_MAX_TICKS]; /* ascending, lo first and hi last */
    int decimals; /* of the linear tick labels; -1: "%g" (and always on a log axis) */
};

/* The axis for values in [min, max] (finite, min <= max; > 0 for log):
 * see "Axes" above; integer asks for steps of at least 1. Returns 0, or 1
 * with the reason in why. */
int pl_plot_axis(double min, double max, int log, int integer, struct pl_plot_axis *a, char *why,
                 size_t n);

/* Tick i's label, as drawn. */
void pl_plot_tick_label(const struct pl_plot_axis *a, int i, char *buf, size_t n);

/* Where things land, in pixels from the top-left corner. Points are drawn
 * inside [plot_x, plot_x + plot_w) x [plot_y, plot_y + plot_h), framed by a
 * 1-pixel line just outside it; the axes' ends lie PL_PLOT_PAD pixels in
 * from its edges. Legend entry i's colour swatch covers
 * [legend_x, legend_x + PL_PLOT_SWATCH) x [legend_y + i * legend_pitch, ... + 2)
 * (entries of series without a label are left out, so i counts labelled
 * series). */
enum { PL_PLOT_PAD = 6, PL_PLOT_SWATCH = 24 };
struct pl_plot_geometry {
    long width, height;
    long plot_x, plot_y, plot_w, plot_h;
    long legend_x, legend_y, legend_pitch; /* legend_x < 0: no legend */
    struct pl_plot_axis x, y;
};

/* Checks p and lays it out. Returns 0, or 1 with the reason in why. */
int pl_plot_geometry(const struct pl_plot *p, struct pl_plot_geometry *g, char *why, size_t n);

/* The pixel column of x and the row of y (fractional; a point is drawn at
 * the nearest pixel, lround). */
double pl_plot_px(const struct pl_plot_geometry *g, double x);
double pl_plot_py(const struct pl_plot_geometry *g, double y);

/* Draws p into path (through "<path>.tmp" and rename). Returns 0, or
 * nonzero with the reason, naming path, in why; prints nothing, so the
 * caller says whether that is an error or a warning. */
int pl_png_plot(const char *path, const struct pl_plot *p, char *why, size_t n);

#endif
