/* Pictures as 8-bit RGB PNG (libpng), each written to "<path>.tmp" and
 * renamed over path once complete:
 *  - receptive-field grids, as in Krotov & Hopfield Fig. 3: red positive,
 *    blue negative, white zero, each unit scaled to its own max |w|;
 *  - heatmaps of a sweep's mean test error over a grid of two
 *    hyperparameters, as in Krotov & Hopfield Fig. 6. */
#ifndef PLASTIC_IMAGE_H
#define PLASTIC_IMAGE_H

/* W holds nunits rows of rows*cols*channels weights (channel-major when
 * channels > 1: each channel is drawn as its own tile side by side).
 * Units are laid out in a grid of grid_cols columns, scale pixels per weight,
 * with a 1-pixel gray border between tiles. Returns 0, or nonzero after
 * printing an error naming path. */
int pl_png_weights(const char *path, const float *W, int nunits, int rows, int cols,
                   int channels, int grid_cols, int scale);

/* ---- heatmap ------------------------------------------------------------- */

/* What a heatmap shows. Fill it with a designated initializer; members left
 * out are 0 / NULL, which means "none" (or the default) where allowed.
 *
 *   values[r * cols + c]  the cell in row r, column c (rows x cols, both
 *                         positive). NaN = no data: drawn light gray
 *                         (PL_HEATMAP_NODATA) with no number.
 *   mark                  NULL, or rows x cols flags: cells with
 *                         mark[r * cols + c] != 0 (runs that did not
 *                         converge) get a black diagonal cross-hatch over
 *                         their colour (on dark cells each line has a white
 *                         edge); the number stays, in a clear box.
 *   row_labels[r]         NULL, or one label per row, drawn left of the
 *                         row; a NULL entry is an empty label. Likewise
 *                         col_labels[c], drawn above each column.
 *   row_title             left of the row labels: horizontal when at most
 *                         4 characters, else rotated to read bottom to top.
 *   col_title             above the column labels, centred on the grid.
 *   title                 at the top, centred on the grid.
 *   format                printf conversion for one double, e.g. "%.2f"
 *                         (NULL = "%.2f"): one of f F e E g G a A, with
 *                         optional flags, width and precision (at most 2
 *                         digits each) and 'l'; other text and "%%" are
 *                         allowed around it.
 *
 * Colour: [lo, hi] is the range of the finite values; a value maps to
 * t = (v - lo) / (hi - lo) (t = 0 when hi == lo; +-Inf clamp to 1 and 0)
 * on a sequential scale from pale cream (t = 0, low value = good) through
 * orange and red to dark maroon (t = 1), every channel non-increasing, so
 * darker always means higher. Each cell shows its value printed with format,
 * centred, in black or white, whichever contrasts with the cell. A vertical
 * colour bar right of the grid runs from lo (bottom) to hi (top), with lo
 * and hi printed beside it (left out when no value is finite).
 *
 * All text uses the built-in bitmap font of font.h at twice its size. */
struct pl_heatmap {
    int rows, cols;
    const double *values;
    const unsigned char *mark;
    const char *const *row_labels;
    const char *const *col_labels;
    const char *row_title;
    const char *col_title;
    const char *title;
    const char *format;
};

#define PL_HEATMAP_NODATA 204 /* NaN cells are (204, 204, 204) */

/* Where things land, in pixels from the top-left corner of the image.
 * Cell (r, c) covers x in [cell_x + c * pitch_x, ... + cell_w) and
 * y in [cell_y + r * pitch_y, ... + cell_h); the gaps between cells are
 * white, like the background. The colour bar covers
 * [bar_x, bar_x + bar_w) x [bar_y, bar_y + bar_h), frame included.
 * The layout depends on rows, cols, the lengths of the labels and titles
 * and the widths of the printed values (cells widen to fit them). */
struct pl_heatmap_geometry {
    long width, height;
    long cell_x, cell_y, cell_w, cell_h, pitch_x, pitch_y;
    long bar_x, bar_y, bar_w, bar_h;
};

/* The layout pl_png_heatmap would use for h. Returns 0, or nonzero (and
 * prints nothing) if h is invalid; pl_png_heatmap says why. */
int pl_heatmap_geometry(const struct pl_heatmap *h, struct pl_heatmap_geometry *g);

/* Draws h (see above) into path. Returns 0, or nonzero after printing an
 * error naming path (pl_error_all: whichever rank calls it reports). */
int pl_png_heatmap(const char *path, const struct pl_heatmap *h);

#endif
