/* Line charts (see plot.h), painted into a canvas and written through
 * picture.h.
 *
 * Layout, outside in: a margin; the title on top; the y label (rotated) on
 * the left, then the y tick labels, right-aligned against the tick marks;
 * the x label at the bottom, above it the x tick labels; the legend on the
 * right, outside the frame, so it never hides a curve. What is left is the
 * plot area, whose size follows from the labels. Tick values are computed
 * as k * mult / 10^-e (or * 10^e) with k * mult a whole number, so each is
 * rounded once and prints as written. */
#include "plastic/plot.h"

#include "core/picture.h"
#include "plastic/common.h"
#include "plastic/font.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SCALE 2                          /* font pixels are 2 x 2 */
#define LINE (PL_FONT_GLYPH_H * SCALE)   /* a line of text, descenders included */
#define CAP (PL_FONT_CAP_H * SCALE)      /* capitals and digits */
#define MARGIN 14
#define GAP 8
#define TICK 5                           /* tick marks, outside the frame */
#define TICK_GAP 4                       /* tick mark to its label */
#define MIN_PLOT 64                      /* the plot area's least width and height */
#define MAX_SIDE 10000L
#define MARKER 6
#define INTERVALS 5                      /* about this many between ticks */
#define TEXT_MAX 256                     /* characters kept of a title or axis label */
#define TICK_CHARS 32

const unsigned char pl_plot_palette[PL_PLOT_MAX_SERIES][3] = {
    {31, 119, 180},  /* blue */
    {230, 85, 13},   /* orange */
    {44, 160, 44},   /* green */
    {214, 39, 40},   /* red */
    {148, 103, 189}, /* purple */
    {140, 86, 75},   /* brown */
    {227, 119, 194}, /* pink */
    {23, 190, 207},  /* cyan */
};

static const unsigned char WHITE[3] = {255, 255, 255};
static const unsigned char BLACK[3] = {0, 0, 0};
static const unsigned char FRAME[3] = {80, 80, 80};
static const unsigned char GRID[3] = {228, 228, 228};

/* ---- axes ------------------------------------------------------------------ */

/* k * mult * 10^e, rounded once (k * mult is a whole number below 2^53). */
static double scaled(double k, int mult, int e)
{
    return e >= 0 ? k * mult * pow(10.0, e) : k * mult / pow(10.0, -e);
}

/* The nice step nearest raw (> 0): mult (1, 2 or 5) times 10^e. */
static void nice_step(double raw, int *mult, int *e)
{
    int k = (int)floor(log10(raw));
    double f = raw / scaled(1, 1, k);
    if (f < 1.5)
        *mult = 1;
    else if (f < 3.5)
        *mult = 2;
    else if (f < 7.5)
        *mult = 5;
    else {
        *mult = 1;
        k++;
    }
    *e = k;
}

static int linear_axis(double min, double max, int integer, struct pl_plot_axis *a, char *why,
                       size_t n)
{
    double mag = fmax(fabs(min), fabs(max));
    if (!(max - min > mag * 1e-12)) { /* one value (or nearly): widen around it */
        double d = mag > 0 ? mag * 0.1 : 1.0;
        min -= d;
        max += d;
    }
    if (!isfinite(max - min)) {
        snprintf(why, n, "values from %g to %g span too wide a range", min, max);
        return 1;
    }
    int mult, e;
    nice_step((max - min) / INTERVALS, &mult, &e);
    if (integer && e < 0) {
        mult = 1;
        e = 0;
    }
    double step = scaled(1, mult, e);
    double k0 = floor(min / step + 1e-9), k1 = ceil(max / step - 1e-9);
    if (k1 - k0 + 1 > PL_PLOT_MAX_TICKS || k1 <= k0) {
        snprintf(why, n, "no ticks fit values from %g to %g", min, max);
        return 1;
    }
    a->nticks = (int)(k1 - k0) + 1;
    for (int i = 0; i < a->nticks; i++)
        a->ticks[i] = scaled(k0 + i, mult, e) + 0.0; /* + 0.0: no "-0" */
    a->lo = a->ticks[0];
    a->hi = a->ticks[a->nticks - 1];
    a->decimals = e >= 0 ? 0 : -e;
    if (mag >= 1e9 || e < -8)
        a->decimals = -1;
    return 0;
}

static int log_axis(double min, double max, struct pl_plot_axis *a, char *why, size_t n)
{
    if (!(min > 0)) {
        snprintf(why, n, "a log axis needs values above 0, not %g", min);
        return 1;
    }
    int e0 = (int)floor(log10(min)), e1 = (int)ceil(log10(max));
    if (e0 < -300 || e1 > 300) {
        snprintf(why, n, "values from %g to %g lie beyond 1e-300 .. 1e300", min, max);
        return 1;
    }
    if (e1 == e0)
        e1++;
    int every = (e1 - e0 + 7) / 8; /* at most 9 decade ticks */
    e1 = e0 + (e1 - e0 + every - 1) / every * every;
    int between = e1 - e0 <= 2; /* 2 and 5 times each power too */
    a->nticks = 0;
    for (int e = e0; e <= e1; e += every) {
        a->ticks[a->nticks++] = scaled(1, 1, e);
        if (between && e < e1) {
            a->ticks[a->nticks++] = scaled(1, 2, e);
            a->ticks[a->nticks++] = scaled(1, 5, e);
        }
    }
    a->lo = a->ticks[0];
    a->hi = a->ticks[a->nticks - 1];
    a->decimals = -1;
    return 0;
}

int pl_plot_axis(double min, double max, int log, int integer, struct pl_plot_axis *a, char *why,
                 size_t n)
{
    memset(a, 0, sizeof *a);
    a->log = log != 0;
    if (!isfinite(min) || !isfinite(max) || min > max) {
        snprintf(why, n, "no axis for values from %g to %g", min, max);
        return 1;
    }
    return log ? log_axis(min, max, a, why, n) : linear_axis(min, max, integer, a, why, n);
}

void pl_plot_tick_label(const struct pl_plot_axis *a, int i, char *buf, size_t n)
{
    if (a->decimals >= 0)
        snprintf(buf, n, "%.*f", a->decimals, a->ticks[i]);
    else
        snprintf(buf, n, "%g", a->ticks[i]);
}

/* Where t lies along the axis, 0 at lo and 1 at hi. */
static double along(const struct pl_plot_axis *a, double t)
{
    if (a->log)
        return (log10(t) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    return (t - a->lo) / (a->hi - a->lo);
}

double pl_plot_px(const struct pl_plot_geometry *g, double x)
{
    return g->plot_x + PL_PLOT_PAD + along(&g->x, x) * (double)(g->plot_w - 1 - 2 * PL_PLOT_PAD);
}

double pl_plot_py(const struct pl_plot_geometry *g, double y)
{
    return g->plot_y + g->plot_h - 1 - PL_PLOT_PAD -
           along(&g->y, y) * (double)(g->plot_h - 1 - 2 * PL_PLOT_PAD);
}

/* ---- layout ---------------------------------------------------------------- */

struct layout {
    struct pl_plot_geometry g;
    const struct pl_plot *p;
    char title[TEXT_MAX + 1], x_label[TEXT_MAX + 1], y_label[TEXT_MAX + 1];
    char legend[PL_PLOT_MAX_SERIES][PL_PLOT_LABEL_MAX + 1];
    long title_x, x_label_x, x_label_y, y_label_x, y_label_y;
    long x_tick_y;
    int x_every, y_every; /* label every this many ticks, so labels do not collide */
};

static long text_w(const char *s) { return pl_font_text_width(s, SCALE); }

static long max_l(long a, long b) { return a > b ? a : b; }

/* s cut to what fits in width pixels (and in size - 1 characters), ending
 * in "..." when cut. */
static void fit(const char *s, long width, char *out, size_t size)
{
    size_t len = s ? strnlen(s, size) : 0;
    long fits = (width / SCALE + 1) / PL_FONT_ADVANCE;
    size_t keep = fits < 0 ? 0 : (size_t)fits < size - 1 ? (size_t)fits : size - 1;
    if (len <= keep) {
        memcpy(out, s ? s : "", len);
        out[len] = '\0';
        return;
    }
    size_t head = keep >= 3 ? keep - 3 : 0;
    memcpy(out, s, head);
    memcpy(out + head, "...", keep - head);
    out[keep] = '\0';
}

/* Checks the series; finds the finite points' extent. */
static int scan(const struct pl_plot *p, double *xmin, double *xmax, double *ymin, double *ymax,
                int *integer, char *why, size_t n)
{
    long finite = 0;
    *xmin = *ymin = INFINITY;
    *xmax = *ymax = -INFINITY;
    *integer = 1;
    for (int s = 0; s < p->nseries; s++) {
        const struct pl_plot_series *S = &p->series[s];
        const char *name = S->label ? S->label : "";
        if (S->colour < 0 || S->colour > PL_PLOT_MAX_SERIES) {
            snprintf(why, n, "series %d ('%.60s'): colour %d (0, or 1 .. %d)", s + 1, name,
                     S->colour, PL_PLOT_MAX_SERIES);
            return 1;
        }
        if (S->n < 0 || (S->n > 0 && (!S->x || !S->y))) {
            snprintf(why, n, "series %d ('%.60s'): %ld points, x %s, y %s", s + 1, name, S->n,
                     S->x ? "given" : "missing", S->y ? "given" : "missing");
            return 1;
        }
        for (long i = 0; i < S->n; i++) {
            double x = S->x[i], y = S->y[i];
            if (p->log_y && isfinite(y) && y <= 0) {
                snprintf(why, n, "series %d ('%.60s') has y = %g at point %ld: a log y axis "
                         "needs y > 0", s + 1, name, y, i + 1);
                return 1;
            }
            if (!isfinite(x) || !isfinite(y))
                continue;
            finite++;
            *xmin = fmin(*xmin, x);
            *xmax = fmax(*xmax, x);
            *ymin = fmin(*ymin, y);
            *ymax = fmax(*ymax, y);
            if (x != floor(x) || fabs(x) > 1e15)
                *integer = 0;
        }
    }
    if (!finite) {
        snprintf(why, n, "no point with finite x and y to draw");
        return 1;
    }
    return 0;
}

/* Label every this many ticks of a (g->x or g->y) so that labels of size
 * widest along it stay apart. */
static int label_every(const struct pl_plot_geometry *g, const struct pl_plot_axis *a,
                       long widest)
{
    double spacing = INFINITY; /* the least, as log ticks are not evenly spaced */
    for (int i = 1; i < a->nticks; i++)
        spacing = fmin(spacing, a == &g->x ? pl_plot_px(g, a->ticks[i]) - pl_plot_px(g, a->ticks[i - 1])
                                           : pl_plot_py(g, a->ticks[i - 1]) - pl_plot_py(g, a->ticks[i]));
    int every = 1;
    while (every < a->nticks && every * spacing < widest + GAP)
        every++;
    return every;
}

static long widest_tick(const struct pl_plot_axis *a)
{
    char buf[TICK_CHARS];
    long w = 0;
    for (int i = 0; i < a->nticks; i++) {
        pl_plot_tick_label(a, i, buf, sizeof buf);
        w = max_l(w, text_w(buf));
    }
    return w;
}

static int layout(const struct pl_plot *p, struct layout *L, char *why, size_t n)
{
    memset(L, 0, sizeof *L);
    L->p = p;
    struct pl_plot_geometry *g = &L->g;
    if (!p || !p->series || p->nseries < 1) {
        snprintf(why, n, "no series to draw");
        return 1;
    }
    if (p->nseries > PL_PLOT_MAX_SERIES) {
        snprintf(why, n, "%d series (at most %d, one per colour)", p->nseries,
                 PL_PLOT_MAX_SERIES);
        return 1;
    }
    g->width = p->width ? p->width : PL_PLOT_WIDTH;
    g->height = p->height ? p->height : PL_PLOT_HEIGHT;
    if (g->width < 1 || g->height < 1 || g->width > MAX_SIDE || g->height > MAX_SIDE) {
        snprintf(why, n, "%ld x %ld pixels (each side 1..%ld)", g->width, g->height, MAX_SIDE);
        return 1;
    }
    double xmin, xmax, ymin, ymax;
    int integer;
    if (scan(p, &xmin, &xmax, &ymin, &ymax, &integer, why, n))
        return 1;
    char sub[192];
    if (pl_plot_axis(xmin, xmax, 0, integer, &g->x, sub, sizeof sub)) {
        snprintf(why, n, "x axis: %s", sub);
        return 1;
    }
    if (pl_plot_axis(ymin, ymax, p->log_y, 0, &g->y, sub, sizeof sub)) {
        snprintf(why, n, "y axis: %s", sub);
        return 1;
    }

    /* the legend's labels */
    long legend_w = 0;
    int entries = 0;
    for (int s = 0; s < p->nseries; s++) {
        const char *label = p->series[s].label;
        if (!label || !*label)
            continue;
        fit(label, (long)PL_PLOT_LABEL_MAX * PL_FONT_ADVANCE * SCALE, L->legend[s],
            sizeof L->legend[s]);
        legend_w = max_l(legend_w, PL_PLOT_SWATCH + GAP + text_w(L->legend[s]));
        entries++;
    }

    /* top: title, then half a tick label above the frame */
    const long W = g->width, H = g->height;
    long top = MARGIN;
    fit(p->title, W - 2 * MARGIN, L->title, sizeof L->title);
    if (L->title[0])
        top += LINE + GAP;
    g->plot_y = top + CAP / 2 + 1;

    /* left: y label, y tick labels, tick marks, frame */
    long left = MARGIN;
    fit(p->y_label, H - 2 * MARGIN, L->y_label, sizeof L->y_label);
    if (L->y_label[0]) {
        L->y_label_x = left;
        left += LINE + GAP;
    }
    const long y_tick_w = widest_tick(&g->y);
    g->plot_x = left + y_tick_w + TICK_GAP + TICK + 1;

    /* right: the legend, or room for half the last x tick label */
    char last[TICK_CHARS];
    pl_plot_tick_label(&g->x, g->x.nticks - 1, last, sizeof last);
    long right;
    g->legend_x = -1;
    if (entries) {
        g->legend_x = W - MARGIN - legend_w;
        right = g->legend_x - 2 * GAP - 1;
    } else {
        right = W - MARGIN - text_w(last) / 2 - 1;
    }
    g->plot_w = right - g->plot_x;

    /* bottom: x label, x tick labels, tick marks, frame */
    long bottom = H - MARGIN;
    fit(p->x_label, W - 2 * MARGIN, L->x_label, sizeof L->x_label);
    if (L->x_label[0]) {
        L->x_label_y = bottom - LINE;
        bottom = L->x_label_y - GAP / 2;
    }
    L->x_tick_y = bottom - LINE;
    g->plot_h = L->x_tick_y - TICK_GAP - TICK - 1 - g->plot_y;

    if (g->plot_w < MIN_PLOT || g->plot_h < MIN_PLOT) {
        snprintf(why, n, "a %ld x %ld chart leaves %ld x %ld pixels for the points (at least %d "
                 "x %d): make it larger or its labels shorter",
                 W, H, g->plot_w, g->plot_h, MIN_PLOT, MIN_PLOT);
        return 1;
    }
    g->legend_y = g->plot_y + CAP / 2;
    g->legend_pitch = LINE + GAP;

    /* text centred on the plot area, kept inside the image */
    long tw = text_w(L->title), xw = text_w(L->x_label), yw = text_w(L->y_label);
    L->title_x = max_l(MARGIN, g->plot_x + (g->plot_w - tw) / 2);
    if (L->title_x + tw > W - MARGIN)
        L->title_x = max_l(MARGIN, W - MARGIN - tw);
    L->x_label_x = max_l(MARGIN, g->plot_x + (g->plot_w - xw) / 2);
    if (L->x_label_x + xw > W - MARGIN)
        L->x_label_x = max_l(MARGIN, W - MARGIN - xw);
    L->y_label_y = max_l(MARGIN, g->plot_y + (g->plot_h - yw) / 2);

    L->x_every = label_every(g, &g->x, widest_tick(&g->x));
    L->y_every = label_every(g, &g->y, CAP);
    return 0;
}

int pl_plot_geometry(const struct pl_plot *p, struct pl_plot_geometry *g, char *why, size_t n)
{
    struct layout L;
    if (layout(p, &L, why, n))
        return 1;
    *g = L.g;
    return 0;
}

/* ---- drawing --------------------------------------------------------------- */

/* A rectangle clipped to the plot area. */
static void dot(struct pl_canvas *cv, const struct pl_plot_geometry *g, long x, long y, long w,
                long h, const unsigned char *rgb)
{
    long x0 = max_l(x, g->plot_x), y0 = max_l(y, g->plot_y);
    long x1 = x + w < g->plot_x + g->plot_w ? x + w : g->plot_x + g->plot_w;
    long y1 = y + h < g->plot_y + g->plot_h ? y + h : g->plot_y + g->plot_h;
    if (x1 > x0 && y1 > y0)
        pl_canvas_fill(cv, x0, y0, x1 - x0, y1 - y0, rgb);
}

/* A 2-pixel pen along the segment, pixel by pixel (Bresenham). */
static void segment(struct pl_canvas *cv, const struct pl_plot_geometry *g, long x0, long y0,
                    long x1, long y1, const unsigned char *rgb)
{
    long dx = x1 > x0 ? x1 - x0 : x0 - x1, dy = y1 > y0 ? y0 - y1 : y1 - y0;
    long sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        dot(cv, g, x0, y0, 2, 2, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        long e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static int finite_point(const struct pl_plot_series *S, long i)
{
    return i >= 0 && i < S->n && isfinite(S->x[i]) && isfinite(S->y[i]);
}

static void draw_series(struct pl_canvas *cv, const struct pl_plot_geometry *g,
                        const struct pl_plot_series *S, const unsigned char *rgb)
{
    long finite = 0;
    for (long i = 0; i < S->n; i++)
        finite += finite_point(S, i);
    for (long i = 0; i < S->n; i++) {
        if (!finite_point(S, i))
            continue;
        long x = lround(pl_plot_px(g, S->x[i])), y = lround(pl_plot_py(g, S->y[i]));
        int prev = finite_point(S, i - 1), next = finite_point(S, i + 1);
        if (prev)
            segment(cv, g, lround(pl_plot_px(g, S->x[i - 1])),
                    lround(pl_plot_py(g, S->y[i - 1])), x, y, rgb);
        if (finite <= PL_PLOT_MARKED || (!prev && !next))
            dot(cv, g, x - MARKER / 2 + 1, y - MARKER / 2 + 1, MARKER, MARKER, rgb);
    }
}

static void draw_axes(struct pl_canvas *cv, const struct layout *L)
{
    const struct pl_plot_geometry *g = &L->g;
    char buf[TICK_CHARS];
    for (int i = 0; i < g->x.nticks; i++) {
        long c = lround(pl_plot_px(g, g->x.ticks[i]));
        pl_canvas_fill(cv, c, g->plot_y, 1, g->plot_h, GRID);
        pl_canvas_fill(cv, c, g->plot_y + g->plot_h + 1, 1, TICK, FRAME);
        if (i % L->x_every)
            continue;
        pl_plot_tick_label(&g->x, i, buf, sizeof buf);
        pl_canvas_text(cv, c - text_w(buf) / 2, L->x_tick_y, buf, SCALE, 0, BLACK);
    }
    for (int i = 0; i < g->y.nticks; i++) {
        long r = lround(pl_plot_py(g, g->y.ticks[i]));
        pl_canvas_fill(cv, g->plot_x, r, g->plot_w, 1, GRID);
        pl_canvas_fill(cv, g->plot_x - 1 - TICK, r, TICK, 1, FRAME);
        if (i % L->y_every)
            continue;
        pl_plot_tick_label(&g->y, i, buf, sizeof buf);
        pl_canvas_text(cv, g->plot_x - 1 - TICK - TICK_GAP - text_w(buf), r - CAP / 2, buf, SCALE,
                       0, BLACK);
    }
    /* the frame, just outside the plot area */
    pl_canvas_fill(cv, g->plot_x - 1, g->plot_y - 1, g->plot_w + 2, 1, FRAME);
    pl_canvas_fill(cv, g->plot_x - 1, g->plot_y + g->plot_h, g->plot_w + 2, 1, FRAME);
    pl_canvas_fill(cv, g->plot_x - 1, g->plot_y - 1, 1, g->plot_h + 2, FRAME);
    pl_canvas_fill(cv, g->plot_x + g->plot_w, g->plot_y - 1, 1, g->plot_h + 2, FRAME);
}

static const unsigned char *colour_of(const struct pl_plot *p, int s)
{
    int c = p->series[s].colour;
    return pl_plot_palette[c ? c - 1 : s];
}

static void draw(struct pl_canvas *cv, const struct layout *L)
{
    const struct pl_plot *p = L->p;
    const struct pl_plot_geometry *g = &L->g;
    draw_axes(cv, L);
    if (L->title[0])
        pl_canvas_text(cv, L->title_x, MARGIN, L->title, SCALE, 0, BLACK);
    if (L->x_label[0])
        pl_canvas_text(cv, L->x_label_x, L->x_label_y, L->x_label, SCALE, 0, BLACK);
    if (L->y_label[0])
        pl_canvas_text(cv, L->y_label_x, L->y_label_y, L->y_label, SCALE, 1, BLACK);
    for (int s = 0; s < p->nseries; s++)
        draw_series(cv, g, &p->series[s], colour_of(p, s));
    int entry = 0;
    for (int s = 0; s < p->nseries; s++) {
        if (!L->legend[s][0])
            continue;
        long y = g->legend_y + entry++ * g->legend_pitch;
        pl_canvas_fill(cv, g->legend_x, y, PL_PLOT_SWATCH, 2, colour_of(p, s));
        pl_canvas_text(cv, g->legend_x + PL_PLOT_SWATCH + GAP, y + 1 - CAP / 2, L->legend[s],
                       SCALE, 0, BLACK);
    }
}

int pl_png_plot(const char *path, const struct pl_plot *p, char *why, size_t n)
{
    if (!path || !*path) {
        snprintf(why, n, "chart: no output path given");
        return 1;
    }
    struct layout L;
    char reason[512];
    if (layout(p, &L, reason, sizeof reason)) {
        snprintf(why, n, "chart '%s': %s", path, reason);
        return 1;
    }
    struct pl_canvas cv;
    pl_canvas_init(&cv, L.g.width, L.g.height, WHITE);
    draw(&cv, &L);
    int rc = pl_canvas_write(path, &cv, why, n);
    pl_canvas_free(&cv);
    return rc;
}
