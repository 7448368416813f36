/* Receptive-field grids as 8-bit RGB PNG (libpng).
 *
 * Layout: every tile is rows*scale by cols*scale pixels; a unit occupies
 * `channels` tiles side by side, units fill a grid of grid_cols cells, and a
 * 1-pixel gray line separates and surrounds all tiles. So the image is
 *   width  = 1 + grid_cols * channels * (cols * scale + 1)
 *   height = 1 + grid_rows * (rows * scale + 1),  grid_rows = ceil(nunits / grid_cols).
 * Colours: each unit is divided by its own max |w|, then x in [-1, 1] goes
 * white -> red for x > 0 and white -> blue for x < 0. Non-finite weights are
 * drawn black so a diverged unit stands out.
 *
 * The image is rendered one row at a time (no full frame in memory), written
 * to "<path>.tmp" and renamed over path once complete. */
#include "plastic/image.h"

#include "plastic/common.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GRAY 128
/* libpng's default user limit for width and height (PNG_USER_WIDTH_MAX). */
#define MAX_SIDE 1000000L

struct layout {
    const float *W;
    const float *inv; /* per-unit 1 / max |w|, 0 for an all-zero unit */
    int nunits, rows, cols, channels, grid_cols, scale;
    size_t per_unit;     /* rows * cols * channels */
    long tile_w, tile_h; /* tile size in pixels, without border */
    long width, height;
};

struct png_err {
    jmp_buf jmp;
    char msg[256];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_err *e = png_get_error_ptr(png);
    int err = errno; /* cleared before writing: set only by a failed I/O call */
    if (err)
        snprintf(e->msg, sizeof e->msg, "libpng: %s (%s)", msg ? msg : "error", strerror(err));
    else
        snprintf(e->msg, sizeof e->msg, "libpng: %s", msg ? msg : "error");
    longjmp(e->jmp, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings do not affect the picture we write */
}

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

/* Fills row y of the image into out (width * 3 bytes). */
static void render_row(const struct layout *L, long y, unsigned char *out)
{
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

static void emit_rows(png_structp png, const struct layout *L, unsigned char *row)
{
    for (long y = 0; y < L->height; y++) {
        render_row(L, y, row);
        png_write_row(png, row);
    }
}

/* Writes the PNG stream to fp. Returns 0, or 1 with a message in e->msg.
 * Nothing here is modified between setjmp and a possible longjmp. */
static int write_png(FILE *fp, const struct layout *L, unsigned char *row, struct png_err *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, on_png_error,
                                              on_png_warning);
    if (!png) {
        snprintf(e->msg, sizeof e->msg, "cannot create libpng writer");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(e->msg, sizeof e->msg, "cannot create libpng info");
        return 1;
    }
    if (setjmp(e->jmp)) {
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_init_io(png, fp);
    errno = 0;
    png_set_IHDR(png, info, (png_uint_32)L->width, (png_uint_32)L->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    emit_rows(png, L, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
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
    unsigned char *row = pl_alloc((size_t)width * 3);

    size_t plen = strlen(path);
    char *tmp = pl_alloc(plen + 5);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    int rc = 1;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        pl_error("cannot write image '%s': cannot create '%s': %s", path, tmp, strerror(errno));
        goto out;
    }
    struct png_err e;
    e.msg[0] = '\0';
    int failed = write_png(fp, &L, row, &e);
    if (!failed && (fflush(fp) != 0 || ferror(fp))) {
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
        failed = 1;
    }
    if (fclose(fp) != 0 && !failed) {
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
        failed = 1;
    }
    if (failed) {
        pl_error("cannot write image '%s': %s", path, e.msg);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        pl_error("cannot write image '%s': rename from '%s' failed: %s", path, tmp,
                 strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    pl_free(tmp);
    pl_free(row);
    pl_free(inv);
    return rc;
}
