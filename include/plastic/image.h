/* Pictures: receptive-field grids as PNG (libpng), as in Krotov & Hopfield
 * Fig. 3: red positive, blue negative, white zero, each unit scaled to its
 * own max |w|. */
#ifndef PLASTIC_IMAGE_H
#define PLASTIC_IMAGE_H

/* W holds nunits rows of rows*cols*channels weights (channel-major when
 * channels > 1: each channel is drawn as its own tile side by side).
 * Units are laid out in a grid of grid_cols columns, scale pixels per weight,
 * with a 1-pixel gray border between tiles. Returns 0, or nonzero after
 * printing an error naming path. */
int pl_png_weights(const char *path, const float *W, int nunits, int rows, int cols,
                   int channels, int grid_cols, int scale);

#endif
