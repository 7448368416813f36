/* Private to src/core: what the pictures of image.c and plot.c share.
 *
 * A picture is written to "<path>.tmp" through libpng as 8-bit RGB and
 * renamed over path once complete, so a reader sees the old picture or the
 * new one. Small pictures are painted into a canvas (a whole RGB frame)
 * first; large ones are rendered a row at a time. Errors come back as text
 * (naming path) so that the caller decides whether they are errors or
 * warnings, and on which rank they are printed. */
#ifndef PLASTIC_CORE_PICTURE_H
#define PLASTIC_CORE_PICTURE_H

#include <stddef.h>

/* libpng's default user limit for width and height (PNG_USER_WIDTH_MAX). */
#define PL_PICTURE_MAX_SIDE 1000000L
/* Room for a message naming a path and its temp file. */
#define PL_PICTURE_WHY 3072

/* Fills row y (0 <= y < height) of the picture into row (width * 3 bytes). */
typedef void (*pl_render_fn)(const void *ctx, long y, unsigned char *row);

/* Writes a width x height picture (1 .. PL_PICTURE_MAX_SIDE each) whose rows
 * render produces. Returns 0, or 1 with the reason in why (the temp file
 * removed, an existing path untouched). */
int pl_picture_write(const char *path, long width, long height, pl_render_fn render,
                     const void *ctx, char *why, size_t n);

/* A whole RGB frame, row-major, 3 bytes a pixel. */
struct pl_canvas {
    long w, h;
    unsigned char *px;
};

/* A w x h canvas filled with rgb (pl_alloc: aborts when out of memory). */
void pl_canvas_init(struct pl_canvas *cv, long w, long h, const unsigned char *rgb);
void pl_canvas_free(struct pl_canvas *cv);

/* Fills the part of the rectangle that lies inside the canvas. */
void pl_canvas_fill(struct pl_canvas *cv, long x, long y, long w, long h,
                    const unsigned char *rgb);

/* Draws s in the font of font.h at scale with its top-left corner at
 * (x, y); rotated (up != 0), the text reads bottom to top inside the box
 * x .. x + glyph height * scale, y .. y + its width. Clipped to the canvas. */
void pl_canvas_text(struct pl_canvas *cv, long x, long y, const char *s, int scale, int up,
                    const unsigned char *rgb);

/* pl_picture_write of the whole canvas. */
int pl_canvas_write(const char *path, const struct pl_canvas *cv, char *why, size_t n);

#endif
