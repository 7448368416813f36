/* The khconv.layers grammar: one or two convolutional competing-units
 * layers, separated by commas, each
 *     conv KHxKW FILTERS [stride S] [pool PHxPW] [k K] [p P] [delta D]
 * e.g. "conv 5x5 32 pool 2x2, conv 3x3 64 pool 2x2". The convolution is
 * "valid" (no padding: every patch lies inside its input); pooling is max
 * pooling over non-overlapping PHxPW windows, the remainder dropped
 * (default 1x1: none). k, p and delta default to khconv.k, .p and .delta.
 * The shapes follow from the input's (khconv_spec_shapes). */
#ifndef PLASTIC_KHCONV_SPEC_H
#define PLASTIC_KHCONV_SPEC_H

#include <stddef.h>

#define KHCONV_MAX_LAYERS 2

typedef struct khconv_layer_spec {
    int k_h, k_w, filters, stride, pool_h, pool_w;
    int k;         /* rank of the filter that gets the anti-Hebbian push */
    double p;      /* Lebesgue norm */
    double delta;  /* strength of the anti-Hebbian push */
    /* shapes (khconv_spec_shapes) */
    int in_c, in_h, in_w;   /* the layer's input maps */
    int out_h, out_w;       /* positions of the convolution */
    int q_h, q_w;           /* pooled positions */
} khconv_layer_spec;

typedef struct khconv_spec {
    int nlayers;
    khconv_layer_spec layer[KHCONV_MAX_LAYERS];
} khconv_spec;

/* Parses text with the shared k, p, delta as defaults. Returns 0, or -1
 * with the reason ("entry 2: ...") in err. */
int khconv_spec_parse(const char *text, int k, double p, double delta, khconv_spec *out,
                      char *err, size_t size);

/* Fills the shapes for an input of in_c maps of in_h x in_w; each layer's
 * input is the previous layer's pooled maps. Returns 0, or -1 with the
 * entry that does not fit (or whose k exceeds its filters) in err. */
int khconv_spec_shapes(khconv_spec *s, int in_c, int in_h, int in_w, char *err, size_t size);

#endif
