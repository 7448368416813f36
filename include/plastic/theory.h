/* The linear theory of updated random feedback (Amit, Section 3;
 * algorithms.md §8.1): a linear network y = W_2 W_1 W_0 x trained on a
 * linear teacher t = T x, x ~ N(0, I), with the squared error, by SGD
 * (errors down through Wᵀ) or through feedback matrices R that get ε times
 * W's increment, transposed (ε = 1: URFB; ε = 0: FRFB).
 *
 * Orientation: column vectors. Layer l maps dim[l] units to dim[l + 1]:
 * h_{l+1} = W_l h_l, W_l is dim[l + 1] x dim[l], row-major, and R_l, which
 * carries layer l's error to its input, is dim[l] x dim[l + 1] (in x out;
 * SGD's R_l is W_lᵀ). The paper's y = x W1 W2 W3 with row vectors is the
 * same map: its W1 is our W_0ᵀ, and its T = W1*·W2*·W3* is our
 * (A_2 A_1 A_0)ᵀ. Layer 0 needs no R: nothing below it learns.
 *
 * Everything is double and plain loops, so a run is the same bits on any
 * machine; random numbers come from Philox (PL_STREAM_THEORY) keyed by the
 * seed, so every rule run with one seed sees the same teacher, the same
 * initial W and R and the same inputs. */
#ifndef PLASTIC_THEORY_H
#define PLASTIC_THEORY_H

#include <stdint.h>

enum { PL_THEORY_LAYERS = 3 };

/* Substreams of PL_STREAM_THEORY, one per use of the seed (+ l: layer l). */
enum {
    PL_THEORY_SUB_TEACHER = 0, /* + l: the teacher's factor A_l */
    PL_THEORY_SUB_W = 10,      /* + l: the initial W_l */
    PL_THEORY_SUB_R = 20,      /* + l: the initial R_l */
    PL_THEORY_SUB_INPUTS = 30  /* the inputs x, drawn in order */
};

typedef struct pl_theory_net {
    int dim[PL_THEORY_LAYERS + 1];
    double *W[PL_THEORY_LAYERS]; /* dim[l + 1] x dim[l] */
    double *R[PL_THEORY_LAYERS]; /* dim[l] x dim[l + 1]; NULL for l = 0 */
    double *act;                 /* pl_theory_increments' scratch: every layer's activity
                                    and error of one example (2 x the widths' sum) */
} pl_theory_net;

/* Allocates W and R (zeroed) for the widths dim[0] .. dim[3], each >= 1. */
void pl_theory_net_create(pl_theory_net *n, const int dim[PL_THEORY_LAYERS + 1]);
void pl_theory_net_free(pl_theory_net *n);
/* dst (created with src's widths) = src. */
void pl_theory_net_copy(pl_theory_net *dst, const pl_theory_net *src);

/* The teacher T = A_2 A_1 A_0 (dim[3] x dim[0]), A_l shaped as W_l with
 * entries N(0, 1/dim[l]), so T x keeps x's scale per unit. */
void pl_theory_teacher(const int dim[PL_THEORY_LAYERS + 1], uint64_t seed, double *T);

/* W_l and R_l drawn independently, entries N(0, 1/dim[l]) (R_l the
 * same law as W_lᵀ); zero_w: W = 0, R still drawn. */
void pl_theory_init(pl_theory_net *n, uint64_t seed, int zero_w);

/* The increments of a minibatch of B examples (x: B x dim[0], t: B x
 * dim[3], row by row): with e = y - t and the error of layer l+1's output
 * d_{l+1} (d_3 = e), d_l = B_l d_{l+1} with B_l = W_lᵀ when sgd and R_l
 * otherwise, and G_l = (1/B) Σ d_{l+1} h_lᵀ (W_l's shape). With sgd, G_l
 * is the gradient of the loss L = (1/B) Σ ½|y - t|², which is returned.
 * W and R are only read; the activities go through n->act, so one net is
 * not used by two calls at once. */
double pl_theory_increments(const pl_theory_net *n, int sgd, const double *x, const double *t,
                            int B, double *const G[PL_THEORY_LAYERS]);

/* W_l -= lr G_l; unless sgd, also R_l -= (eps lr) G_lᵀ for l >= 1 (R is
 * not touched when eps = 0). */
void pl_theory_apply(pl_theory_net *n, int sgd, double eps, double lr,
                     double *const G[PL_THEORY_LAYERS]);

/* The expected squared error relative to the target's:
 * E|Mx - Tx|² / E|Tx|² = |M - T|²_F / |T|²_F, M = W_2 W_1 W_0. */
double pl_theory_error(const pl_theory_net *n, const double *T);

/* |a - b|_F / |b|_F over n values. */
double pl_theory_rel_diff(const double *a, const double *b, long n);

/* ---- runs ---------------------------------------------------------------- */

typedef struct pl_theory_setting {
    int dim[PL_THEORY_LAYERS + 1];
    long iters; /* SGD steps */
    double lr;
    int batch;  /* examples per step */
    long every; /* the error is recorded at iterations 0, every, 2 every, ... */
} pl_theory_setting;

/* The setting of `plastic theory` (40 -> 100 -> 100 -> 10; docs/results.md). */
pl_theory_setting pl_theory_default_setting(void);

/* One way of training: sgd, or feedback with eps; from the random initial
 * W or from W = 0. */
typedef struct pl_theory_method {
    const char *name;
    int sgd;
    double eps;
    int zero_w;
} pl_theory_method;

/* Points recorded: iters / every + 1 (iteration 0 first). */
long pl_theory_points(const pl_theory_setting *s);

/* Trains m with seed: err[k] = pl_theory_error after k * every steps. If
 * net is not NULL it is created and holds the final weights (free it).
 * Returns 0, or 1 if the error stopped being finite (diverged: the rest of
 * err is NaN). */
int pl_theory_train(const pl_theory_setting *s, const pl_theory_method *m, uint64_t seed,
                    double *err, pl_theory_net *net);

/* The first recorded iteration whose error is below thr, or -1. */
long pl_theory_first_below(const pl_theory_setting *s, const double *err, double thr);

/* `plastic theory`: argv[0] is "theory". Returns the exit code. */
int pl_theory_verb(int argc, char **argv);

#endif
