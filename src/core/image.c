/* Pictures as 8-bit RGB PNG (libpng): receptive-field grids and heatmaps.
 *
 * Both go through the writer of picture.h, which streams rows through
 * libpng into "<path>.tmp" and renames that over path once complete, so a
 * reader sees the old picture or the new one.
 *
 * Receptive fields. Every tile is rows*scale by cols*scale pixels; a unit
 * occupies `channels` tiles side by side, units fill a grid of grid_cols
 * cells, and a 1-pixel gray line separates and surrounds all tiles. So the
 * image is
 *   width  = 1 + grid_cols * channels * (cols * scale + 1)
 *   height = 1 + grid_rows * (rows * scale + 1),  grid_rows = ceil(nunits / grid_cols).
 * Colours: each unit is divided by its own max |w|, then x in [-1, 1] goes
 * white -> red for x > 0 and white -> blue for x < 0. Non-finite weights are
 * drawn black so a diverged unit stands out. Rendered one row at a time (no
 * full frame in memory).
 *
 * Heatmaps (see image.h for what they show) are small, so they are drawn
 * into a whole RGB frame first: text, cells and colour bar overlap in ways
 * that are simpler to paint than to compute row by row. */
#include "plastic/image.h"

#include "core/picture.h"
#include "plastic/common.h"
#include "plastic/font.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define GRAY 128
#define MAX_SIDE PL_PICTURE_MAX_SIDE

/* ---- receptive fields ------------------------------------------------------ */

struct layout {
    const float *W;
    const float *inv; /* per-unit 1 / max |w|, 0 for an all-zero unit */
    int nunits, rows, cols, channels, grid_cols, scale;
    size_t per_unit;     /* rows * cols * channels */
    long tile_w, tile_h; /* tile size in pixels, without border */
    long width, height;
};

static void colour(float w, float inv, unsigned char *px)
{
    if (!isfinite(w)) {
        px[0] = px[1] = px[2] = 0;
        return;
    }
    float x = w * inv;
    if (x > 1.0f)
        x = 1.0f;
    if (x < -1.0f)
        x = -1.0f;
    unsigned char fade = (unsigned char)(255.0f * (1.0f - fabsf(x)) + 0.5f);
    if (x > 0.0f) {
        px[0] = 255;
        px[1] = fade;
        px[2] = fade;
    } else if (x < 0.0f) {
        px[0] = fade;
        px[1] = fade;
        px[2] = 255;
    } else {
        px[0] = px[1] = px[2] = 255;
    }
}

/* Fills row y of the image into out (width * 3 bytes); a pl_render_fn. */
static void render_row(const void *ctx, long y, unsigned char *out)
{
    const struct layout *L = ctx;
    memset(out, GRAY, (size_t)L->width * 3);
    if (y == 0)
        return;
    long cell_y = (y - 1) / (L->tile_h + 1);
    long py = (y - 1) % (L->tile_h + 1);
    if (py == L->tile_h)
        return; /* horizontal border */
    long r = py / L->scale;
    long tiles = (long)L->grid_cols * L->channels;
    for (long t = 0; t < tiles; t++) {
        long unit = cell_y * L->grid_cols + t / L->channels;
        if (unit >= L->nunits)
            break; /* empty cells stay gray */
        long ch = t % L->channels;
        const float *w = L->W + (size_t)unit * L->per_unit +
                         ((size_t)ch * (size_t)L->rows + (size_t)r) * (size_t)L->cols;
        float inv = L->inv[unit];
        unsigned char *px = out + (size_t)(1 + t * (L->tile_w + 1)) * 3;
        for (long c = 0; c < L->cols; c++) {
            unsigned char rgb[3];
            colour(w[c], inv, rgb);
            for (int s = 0; s < L->scale; s++, px += 3)
                memcpy(px, rgb, 3);
        }
    }
}

int pl_png_weights(const char *path, const float *W, int nunits, int rows, int cols,
                   int channels, int grid_cols, int scale)
{
    if (!path || !*path) {
        pl_error("png: no output path given");
        return 1;
    }
    if (!W || nunits <= 0 || rows <= 0 || cols <= 0 || channels <= 0 || grid_cols <= 0 ||
        scale <= 0) {
        pl_error("png '%s': invalid arguments (weights %s, nunits %d, rows %d, cols %d, "
                 "channels %d, grid_cols %d, scale %d; all must be positive)",
                 path, W ? "given" : "missing", nunits, rows, cols, channels, grid_cols, scale);
        return 1;
    }
    /* Sizes in 64-bit arithmetic: every factor is below 2^31, and each
     * product is checked against MAX_SIDE before it is multiplied again. */
    int64_t tile_w = (int64_t)cols * scale, tile_h = (int64_t)rows * scale;
    int64_t grid_rows = ((int64_t)nunits + grid_cols - 1) / grid_cols;
    int64_t width = -1, height = -1;
    if (tile_w < MAX_SIDE && tile_h < MAX_SIDE && channels < MAX_SIDE && grid_cols < MAX_SIDE &&
        grid_rows < MAX_SIDE) {
        int64_t tiles = (int64_t)grid_cols * channels;
        if (tiles < MAX_SIDE)
            width = 1 + tiles * (tile_w + 1);
        height = 1 + grid_rows * (tile_h + 1);
    }
    if (width < 0 || width > MAX_SIDE || height > MAX_SIDE) {
        pl_error("png '%s': image would be too large (%d units of %dx%dx%d at scale %d in %d "
                 "columns; at most %ld pixels per side)",
                 path, nunits, rows, cols, channels, scale, grid_cols, MAX_SIDE);
        return 1;
    }
    int64_t per_unit = (int64_t)rows * cols * channels;
    if (per_unit > INT64_MAX / nunits || (uint64_t)(per_unit * nunits) > SIZE_MAX / sizeof(float)) {
        pl_error("png '%s': weight matrix size overflows", path);
        return 1;
    }

    float *inv = pl_alloc((size_t)nunits * sizeof *inv);
    for (int u = 0; u < nunits; u++) {
        const float *w = W + (size_t)u * (size_t)per_unit;
        float m = 0.0f;
        for (int64_t i = 0; i < per_unit; i++) {
            float a = fabsf(w[i]);
            if (isfinite(a) && a > m)
                m = a;
        }
        inv[u] = m > 0.0f ? 1.0f / m : 0.0f;
        if (!isfinite(inv[u]))
            inv[u] = 0.0f; /* subnormal max: 1/m overflows; draw as zero */
    }
    struct layout L = {
        .W = W, .inv = inv, .nunits = nunits, .rows = rows, .cols = cols,
        .channels = channels, .grid_cols = grid_cols, .scale = scale,
        .per_unit = (size_t)per_unit, .tile_w = (long)tile_w, .tile_h = (long)tile_h,
        .width = (long)width, .height = (long)height,
    };
    char why[PL_PICTURE_WHY];
    int rc = pl_picture_write(path, L.width, L.height, render_row, &L, why, sizeof why);
    if (rc)
        pl_error("%s", why);
    pl_free(inv);
    return rc;
}

/* ---- heatmaps ------------------------------------------------------------- */

#define TEXT_SCALE 2     /* font pixels are 2 x 2 */
#define MARGIN 12        /* around everything */
#define GAP 6            /* between a label and what it labels */
#define CELL_MIN_W 44
#define CELL_H 36
#define CELL_PAD 12      /* at least 6 pixels either side of a cell's number */
#define CELL_GAP 2       /* white between cells */
#define BAR_GAP 16       /* grid to colour bar */
#define BAR_W 16
#define HATCH 8          /* hatch lines of marked cells: one pixel in HATCH */
#define MAX_CELLS 4096   /* rows or columns */
#define MAX_TEXT 1000    /* characters in one label or title */
#define MAX_PIXELS (1L << 26)
#define VALUE_CHARS 64   /* longest printed value kept */

static const unsigned char WHITE[3] = {255, 255, 255};
static const unsigned char BLACK[3] = {0, 0, 0};
static const unsigned char NODATA[3] = {PL_HEATMAP_NODATA, PL_HEATMAP_NODATA, PL_HEATMAP_NODATA};
static const unsigned char FRAME[3] = {96, 96, 96};

/* The colour scale, light to dark at t = 0, 1/3, 2/3, 1: every channel
 * non-increasing, so lightness falls monotonically. */
static const unsigned char RAMP[4][3] = {
    {255, 250, 215}, /* pale cream */
    {250, 190, 90},  /* light orange */
    {215, 75, 40},   /* red */
    {110, 10, 30},   /* dark maroon */
};

static void ramp(double t, unsigned char *rgb)
{
    if (!(t > 0.0))
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    double s = t * 3.0;
    int k = s >= 2.0 ? 2 : (int)s;
    double f = s - k;
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = (unsigned char)lround(RAMP[k][ch] + (RAMP[k + 1][ch] - RAMP[k][ch]) * f);
}

/* Black or white, whichever reads better on rgb. */
static const unsigned char *ink_on(const unsigned char *rgb)
{
    long lum = 299L * rgb[0] + 587L * rgb[1] + 114L * rgb[2];
    return lum >= 128000L ? BLACK : WHITE;
}

/* One printf conversion of a double (f F e E g G a A, optional flags, width
 * and precision of at most 2 digits each, and 'l'), any other text, "%%"
 * allowed. */
static int valid_format(const char *f)
{
    int conversions = 0;
    for (const char *p = f; *p; p++) {
        if (*p != '%')
            continue;
        if (*++p == '%')
            continue;
        p += strspn(p, "-+ #0");
        size_t digits = strspn(p, "0123456789");
        p += digits;
        if (*p == '.') {
            p++;
            size_t more = strspn(p, "0123456789");
            p += more;
            digits = more > digits ? more : digits;
        }
        if (digits > 2)
            return 0; /* width and precision below 100 */
        if (*p == 'l')
            p++;
        if (!*p || !strchr("fFeEgGaA", *p))
            return 0;
        conversions++;
    }
    return conversions == 1;
}

struct heat_layout {
    struct pl_heatmap_geometry g;
    const struct pl_heatmap *h;
    const char *format;
    int any_finite;             /* else no lo / hi */
    double lo, hi;
    long title_x, title_y;      /* y < 0: not drawn */
    long col_title_x, col_title_y;
    long col_label_y;
    long row_title_x, row_title_y;
    int row_title_up;           /* rotated to read bottom to top */
    long row_label_right;       /* row labels end here */
};

static const char *text_of(const char *s) { return s ? s : ""; }

static long text_w(const char *s) { return pl_font_text_width(s, TEXT_SCALE); }

static long max_l(long a, long b) { return a > b ? a : b; }

static void format_value(const struct heat_layout *L, double v, char *buf)
{
    if (snprintf(buf, VALUE_CHARS, L->format, v) < 0)
        snprintf(buf, VALUE_CHARS, "?");
}

static double position(const struct heat_layout *L, double v)
{
    if (v == INFINITY)
        return 1.0;
    if (v == -INFINITY || !(L->hi > L->lo))
        return 0.0;
    return (v - L->lo) / (L->hi - L->lo);
}

/* Text longer than MAX_TEXT? Names it in why. */
static int too_long(const char *s, const char *what, long i, char *why, size_t n)
{
    if (!s || strnlen(s, MAX_TEXT + 1) <= MAX_TEXT)
        return 0;
    if (i >= 0)
        snprintf(why, n, "%s %ld is longer than %d characters", what, i, MAX_TEXT);
    else
        snprintf(why, n, "%s is longer than %d characters", what, MAX_TEXT);
    return 1;
}

/* Checks h and computes the layout. Returns 0, or 1 with the reason in why. */
static int heat_layout(const struct pl_heatmap *h, struct heat_layout *L, char *why, size_t n)
{
    memset(L, 0, sizeof *L);
    if (!h) {
        snprintf(why, n, "no heatmap given");
        return 1;
    }
    L->h = h;
    if (h->rows <= 0 || h->cols <= 0 || h->rows > MAX_CELLS || h->cols > MAX_CELLS) {
        snprintf(why, n, "%d rows and %d columns (each must be 1..%d)", h->rows, h->cols,
                 MAX_CELLS);
        return 1;
    }
    if (!h->values) {
        snprintf(why, n, "no values given");
        return 1;
    }
    L->format = h->format ? h->format : "%.2f";
    if (!valid_format(L->format)) {
        snprintf(why, n, "format \"%.64s\" is not one printf conversion of a double "
                 "(%%f, %%e, %%g or %%a)", L->format);
        return 1;
    }
    if (too_long(h->title, "title", -1, why, n) ||
        too_long(h->row_title, "row title", -1, why, n) ||
        too_long(h->col_title, "column title", -1, why, n))
        return 1;
    long row_label_w = 0, col_label_w = 0;
    for (int r = 0; h->row_labels && r < h->rows; r++) {
        if (too_long(h->row_labels[r], "row label", r, why, n))
            return 1;
        row_label_w = max_l(row_label_w, text_w(h->row_labels[r]));
    }
    for (int c = 0; h->col_labels && c < h->cols; c++) {
        if (too_long(h->col_labels[c], "column label", c, why, n))
            return 1;
        col_label_w = max_l(col_label_w, text_w(h->col_labels[c]));
    }

    /* the range and the widest printed value */
    size_t cells = (size_t)h->rows * (size_t)h->cols;
    char buf[VALUE_CHARS];
    long value_w = 0;
    L->lo = INFINITY;
    L->hi = -INFINITY;
    for (size_t i = 0; i < cells; i++) {
        double v = h->values[i];
        if (isnan(v))
            continue;
        if (isfinite(v)) {
            L->any_finite = 1;
            L->lo = fmin(L->lo, v);
            L->hi = fmax(L->hi, v);
        }
        format_value(L, v, buf);
        value_w = max_l(value_w, text_w(buf));
    }
    long bar_label_w = 0;
    if (L->any_finite) {
        format_value(L, L->lo, buf);
        bar_label_w = text_w(buf);
        format_value(L, L->hi, buf);
        bar_label_w = max_l(bar_label_w, text_w(buf));
    }

    const long line = PL_FONT_GLYPH_H * TEXT_SCALE, cap = PL_FONT_CAP_H * TEXT_SCALE;
    struct pl_heatmap_geometry *g = &L->g;
    g->cell_w = max_l(CELL_MIN_W, max_l(value_w + CELL_PAD, col_label_w + 2 * GAP));
    g->cell_h = CELL_H;
    g->pitch_x = g->cell_w + CELL_GAP;
    g->pitch_y = g->cell_h + CELL_GAP;
    long grid_w = h->cols * g->pitch_x - CELL_GAP, grid_h = h->rows * g->pitch_y - CELL_GAP;

    /* left to right: row title, row labels, grid, colour bar and its labels */
    long x = MARGIN, row_title_w = text_w(h->row_title), row_title_h = cap;
    if (row_title_w) {
        L->row_title_up = strlen(h->row_title) > 4;
        if (L->row_title_up) {
            row_title_h = row_title_w;
            row_title_w = line;
        }
        L->row_title_x = x;
        x += row_title_w + 3 * GAP;
    }
    if (row_label_w) {
        x += row_label_w;
        L->row_label_right = x;
        x += GAP;
    }
    g->cell_x = x;
    x += grid_w + BAR_GAP;
    g->bar_x = x;
    g->bar_w = BAR_W;
    x += BAR_W;
    if (bar_label_w)
        x += GAP + bar_label_w;
    x += MARGIN;
    long title_w = text_w(h->title), col_title_w = text_w(h->col_title);
    g->width = max_l(x, max_l(title_w, col_title_w) + 2 * MARGIN);

    /* top to bottom: title, column title, column labels, grid */
    long y = MARGIN;
    L->title_y = L->col_title_y = L->col_label_y = -1;
    if (title_w) {
        L->title_y = y;
        y += line + 2 * GAP;
    }
    if (col_title_w) {
        L->col_title_y = y;
        y += line + GAP;
    }
    if (col_label_w) {
        L->col_label_y = y;
        y += line;
    }
    g->cell_y = y + GAP;
    g->bar_y = g->cell_y;
    g->bar_h = grid_h;
    long bottom = g->cell_y + grid_h;
    if (row_title_w) {
        L->row_title_y = max_l(MARGIN, g->cell_y + (grid_h - row_title_h) / 2);
        bottom = max_l(bottom, L->row_title_y + row_title_h);
    }
    g->height = bottom + MARGIN;

    /* titles centred on the grid as far as the image allows */
    long grid_mid = g->cell_x + grid_w / 2;
    long t = grid_mid - title_w / 2, ct = grid_mid - col_title_w / 2;
    L->title_x = t + title_w + MARGIN > g->width ? g->width - MARGIN - title_w : t;
    L->col_title_x = ct + col_title_w + MARGIN > g->width ? g->width - MARGIN - col_title_w : ct;
    L->title_x = max_l(L->title_x, MARGIN);
    L->col_title_x = max_l(L->col_title_x, MARGIN);

    if (g->width > MAX_SIDE || g->height > MAX_SIDE ||
        (int64_t)g->width * g->height > (int64_t)MAX_PIXELS) {
        snprintf(why, n, "image would be too large (%ld x %ld pixels; at most %ld)", g->width,
                 g->height, (long)MAX_PIXELS);
        return 1;
    }
    return 0;
}

int pl_heatmap_geometry(const struct pl_heatmap *h, struct pl_heatmap_geometry *g)
{
    struct heat_layout L;
    char why[256];
    if (!g || heat_layout(h, &L, why, sizeof why))
        return 1;
    *g = L.g;
    return 0;
}

/* Text at the heatmap's scale. */
static void draw_text(struct pl_canvas *cv, long x, long y, const char *s, int up,
                      const unsigned char *rgb)
{
    pl_canvas_text(cv, x, y, s, TEXT_SCALE, up, rgb);
}

/* Pixel (dx, dy) of a cell lies on the cross-hatch of marked cells. */
static int on_hatch(long dx, long dy)
{
    return (dx + dy) % HATCH == 0 || (dx - dy) % HATCH == 0; /* 0 also when negative */
}

/* One cell: its colour, the cross-hatch if marked, the number if any. */
static void draw_cell(struct pl_canvas *cv, const struct heat_layout *L, int r, int c)
{
    const struct pl_heatmap *h = L->h;
    const struct pl_heatmap_geometry *g = &L->g;
    size_t i = (size_t)r * (size_t)h->cols + (size_t)c;
    double v = h->values[i];
    long x0 = g->cell_x + c * g->pitch_x, y0 = g->cell_y + r * g->pitch_y;
    unsigned char rgb[3];
    if (isnan(v))
        memcpy(rgb, NODATA, 3);
    else
        ramp(position(L, v), rgb);
    pl_canvas_fill(cv, x0, y0, g->cell_w, g->cell_h, rgb);

    char buf[VALUE_CHARS] = "";
    if (!isnan(v))
        format_value(L, v, buf);
    const long cap = PL_FONT_CAP_H * TEXT_SCALE, w = text_w(buf);
    long tx = x0 + (g->cell_w - w) / 2, ty = y0 + (g->cell_h - cap) / 2;
    if (h->mark && h->mark[i]) {
        /* both diagonals every HATCH pixels, kept 3 pixels clear of the
         * number; on a dark cell each black line gets a white edge beside
         * it so that it stands out */
        const int dark = ink_on(rgb) == WHITE;
        for (long dy = 0; dy < g->cell_h; dy++)
            for (long dx = 0; dx < g->cell_w; dx++) {
                long x = x0 + dx, y = y0 + dy;
                if (w && x >= tx - 3 && x < tx + w + 3 && y >= ty - 3 && y < ty + cap + 3)
                    continue;
                if (on_hatch(dx, dy))
                    pl_canvas_fill(cv, x, y, 1, 1, BLACK);
                else if (dark && dx > 0 && on_hatch(dx - 1, dy))
                    pl_canvas_fill(cv, x, y, 1, 1, WHITE);
            }
    }
    draw_text(cv, tx, ty, buf, 0, ink_on(rgb));
}

static void draw_colour_bar(struct pl_canvas *cv, const struct heat_layout *L)
{
    const struct pl_heatmap_geometry *g = &L->g;
    pl_canvas_fill(cv, g->bar_x, g->bar_y, g->bar_w, g->bar_h, FRAME);
    long inner = g->bar_h - 2;
    for (long y = 0; y < inner; y++) {
        unsigned char rgb[3];
        ramp(inner > 1 ? 1.0 - (double)y / (double)(inner - 1) : 0.0, rgb);
        pl_canvas_fill(cv, g->bar_x + 1, g->bar_y + 1 + y, g->bar_w - 2, 1, rgb);
    }
    if (!L->any_finite)
        return;
    char buf[VALUE_CHARS];
    long x = g->bar_x + g->bar_w + GAP;
    format_value(L, L->hi, buf);
    draw_text(cv, x, g->bar_y, buf, 0, BLACK);
    format_value(L, L->lo, buf);
    draw_text(cv, x, g->bar_y + g->bar_h - PL_FONT_CAP_H * TEXT_SCALE, buf, 0, BLACK);
}

static void draw_heatmap(struct pl_canvas *cv, const struct heat_layout *L)
{
    const struct pl_heatmap *h = L->h;
    const struct pl_heatmap_geometry *g = &L->g;
    const long row_off = (g->cell_h - PL_FONT_CAP_H * TEXT_SCALE) / 2; /* centres a label */
    pl_canvas_fill(cv, 0, 0, cv->w, cv->h, WHITE);
    if (L->title_y >= 0)
        draw_text(cv, L->title_x, L->title_y, h->title, 0, BLACK);
    if (L->col_title_y >= 0)
        draw_text(cv, L->col_title_x, L->col_title_y, h->col_title, 0, BLACK);
    for (int c = 0; L->col_label_y >= 0 && c < h->cols; c++) {
        const char *s = text_of(h->col_labels[c]);
        draw_text(cv, g->cell_x + c * g->pitch_x + (g->cell_w - text_w(s)) / 2, L->col_label_y,
                  s, 0, BLACK);
    }
    if (h->row_title && *h->row_title)
        draw_text(cv, L->row_title_x, L->row_title_y, h->row_title, L->row_title_up, BLACK);
    for (int r = 0; h->row_labels && r < h->rows; r++) {
        const char *s = text_of(h->row_labels[r]);
        draw_text(cv, L->row_label_right - text_w(s), g->cell_y + r * g->pitch_y + row_off, s, 0,
                  BLACK);
    }
    for (int r = 0; r < h->rows; r++)
        for (int c = 0; c < h->cols; c++)
            draw_cell(cv, L, r, c);
    draw_colour_bar(cv, L);
}

int pl_png_heatmap(const char *path, const struct pl_heatmap *h)
{
    if (!path || !*path) {
        pl_error_all("png: no output path given");
        return 1;
    }
    struct heat_layout L;
    char why[256];
    if (heat_layout(h, &L, why, sizeof why)) {
        pl_error_all("heatmap '%s': %s", path, why);
        return 1;
    }
    struct pl_canvas cv;
    pl_canvas_init(&cv, L.g.width, L.g.height, WHITE);
    draw_heatmap(&cv, &L);
    char msg[PL_PICTURE_WHY];
    int rc = pl_canvas_write(path, &cv, msg, sizeof msg);
    if (rc)
        pl_error_all("%s", msg);
    pl_canvas_free(&cv);
    return rc;
}
