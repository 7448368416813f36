/* The perturbative layer ("pconv"; Juefei-Xu et al., Perturbative Neural
 * Networks, CVPR 2018, as rec-LRA's image networks use it). Each of the C
 * input channels is perturbed by M fixed noise maps, drawn once and never
 * trained; a relu follows; a learned 1x1 mixing V makes K channels at the
 * input's resolution:
 *     a[c M + m](p) = relu(x[c](p) + N[c M + m](p))        C M maps of H x W
 *     y[k](p)       = sum_j V[k][j] a[j](p) + b[k]
 * Examples are CHW one after another; N is C M x H W and V is K x C M,
 * both row-major. Every product is one SGEMM per example, as conv.h's, so
 * its shape and the order of its sums do not depend on how the examples
 * are split over ranks. The scratch is pl_pconv_scratch_size floats. */
#ifndef PLASTIC_NN_PCONV_H
#define PLASTIC_NN_PCONV_H

typedef struct pl_pconv_geom {
    int in_c, h, w; /* the input's channels and resolution (the output's too) */
    int maps;       /* M: noise maps per input channel */
    int out_c;      /* K */
} pl_pconv_geom;

long pl_pconv_in_size(const pl_pconv_geom *g);      /* floats per example */
long pl_pconv_out_size(const pl_pconv_geom *g);
long pl_pconv_w_size(const pl_pconv_geom *g);       /* K C M */
long pl_pconv_noise_size(const pl_pconv_geom *g);   /* C M H W */
long pl_pconv_scratch_size(const pl_pconv_geom *g); /* C M H W */

/* a = relu(x + N) for one example (C M x H W). */
void pl_pconv_perturb(const pl_pconv_geom *g, const float *x, const float *noise, float *a);

/* y = V a + b for B examples. */
void pl_pconv_forward(const pl_pconv_geom *g, float *y, const float *x, const float *noise,
                      const float *V, const float *b, int B, float *scratch);

/* dV = beta dV + sum over examples of delta_b a_b^T, db likewise (db may be
 * NULL); examples are added in order. beta is 0 or 1. */
void pl_pconv_backward_weights(const pl_pconv_geom *g, float *dV, float *db, const float *delta,
                               const float *x, const float *noise, int B, float *scratch,
                               float beta);

/* dx = beta dx + the input gradient through M (V, or a matrix of its
 * shape): dx[c] = sum_m (M^T delta)[c M + m] where x[c] + N[c M + m] > 0. */
void pl_pconv_backward_input(const pl_pconv_geom *g, float *dx, const float *delta,
                             const float *M, const float *x, const float *noise, int B,
                             float *scratch, float beta);

/* Bounds on |dV| and |db| (see pl_dense_grad_bound): per example, the sum
 * over positions of max over channels |delta|, times max a for dV. */
void pl_pconv_grad_bound(const pl_pconv_geom *g, const float *delta, const float *x,
                         const float *noise, int B, double *bound_W, double *bound_b);

#endif
