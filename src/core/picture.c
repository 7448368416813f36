/* The PNG writer and the canvas that image.c and plot.c draw with (see
 * picture.h). */
#include "core/picture.h"

#include "plastic/common.h"
#include "plastic/font.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the writer ------------------------------------------------------------ */

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

struct picture {
    long width, height;
    pl_render_fn render;
    const void *ctx;
};

static void emit_rows(png_structp png, const struct picture *pic, unsigned char *row)
{
    for (long y = 0; y < pic->height; y++) {
        pic->render(pic->ctx, y, row);
        png_write_row(png, row);
    }
}

/* Writes the PNG stream to fp. Returns 0, or 1 with a message in e->msg.
 * Nothing here is modified between setjmp and a possible longjmp. */
static int write_png(FILE *fp, const struct picture *pic, unsigned char *row, struct png_err *e)
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
    png_set_IHDR(png, info, (png_uint_32)pic->width, (png_uint_32)pic->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    emit_rows(png, pic, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int pl_picture_write(const char *path, long width, long height, pl_render_fn render,
                     const void *ctx, char *why, size_t n)
{
    if (width < 1 || height < 1 || width > PL_PICTURE_MAX_SIDE || height > PL_PICTURE_MAX_SIDE) {
        snprintf(why, n, "cannot write image '%s': %ld x %ld pixels (each side 1..%ld)", path,
                 width, height, PL_PICTURE_MAX_SIDE);
        return 1;
    }
    struct picture pic = {width, height, render, ctx};
    unsigned char *row = pl_alloc((size_t)width * 3);
    size_t plen = strlen(path);
    char *tmp = pl_alloc(plen + 5);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    int rc = 1;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        snprintf(why, n, "cannot write image '%s': cannot create '%s': %s", path, tmp,
                 strerror(errno));
        goto out;
    }
    struct png_err e;
    e.msg[0] = '\0';
    int failed = write_png(fp, &pic, row, &e);
    if (!failed && (fflush(fp) != 0 || ferror(fp))) {
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
        failed = 1;
    }
    if (fclose(fp) != 0 && !failed) {
        snprintf(e.msg, sizeof e.msg, "%s", strerror(errno));
        failed = 1;
    }
    if (failed) {
        snprintf(why, n, "cannot write image '%s': %s", path, e.msg);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        snprintf(why, n, "cannot write image '%s': rename from '%s' failed: %s", path, tmp,
                 strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    pl_free(tmp);
    pl_free(row);
    return rc;
}

/* ---- the canvas ------------------------------------------------------------ */

void pl_canvas_init(struct pl_canvas *cv, long w, long h, const unsigned char *rgb)
{
    cv->w = w;
    cv->h = h;
    cv->px = pl_alloc((size_t)w * (size_t)h * 3);
    pl_canvas_fill(cv, 0, 0, w, h, rgb);
}

void pl_canvas_free(struct pl_canvas *cv)
{
    pl_free(cv->px);
    cv->px = NULL;
}

void pl_canvas_fill(struct pl_canvas *cv, long x, long y, long w, long h,
                    const unsigned char *rgb)
{
    long x1 = x + w, y1 = y + h;
    x = x > 0 ? x : 0;
    y = y > 0 ? y : 0;
    x1 = x1 < cv->w ? x1 : cv->w;
    y1 = y1 < cv->h ? y1 : cv->h;
    for (long yy = y; yy < y1; yy++)
        for (long xx = x; xx < x1; xx++)
            memcpy(cv->px + ((size_t)yy * (size_t)cv->w + (size_t)xx) * 3, rgb, 3);
}

void pl_canvas_text(struct pl_canvas *cv, long x, long y, const char *s, int scale, int up,
                    const unsigned char *rgb)
{
    const long k = scale, w = pl_font_text_width(s, scale);
    for (size_t i = 0; s && s[i]; i++)
        for (int gy = 0; gy < PL_FONT_GLYPH_H; gy++)
            for (int gx = 0; gx < PL_FONT_GLYPH_W; gx++) {
                if (!pl_font_ink((unsigned char)s[i], gx, gy))
                    continue;
                long along = (long)i * PL_FONT_ADVANCE + gx;
                if (up)
                    pl_canvas_fill(cv, x + gy * k, y + w - (along + 1) * k, k, k, rgb);
                else
                    pl_canvas_fill(cv, x + along * k, y + gy * k, k, k, rgb);
            }
}

/* Copies row y of the frame; a pl_render_fn. */
static void canvas_row(const void *ctx, long y, unsigned char *row)
{
    const struct pl_canvas *cv = ctx;
    memcpy(row, cv->px + (size_t)y * (size_t)cv->w * 3, (size_t)cv->w * 3);
}

int pl_canvas_write(const char *path, const struct pl_canvas *cv, char *why, size_t n)
{
    return pl_picture_write(path, cv->w, cv->h, canvas_row, cv, why, n);
}
