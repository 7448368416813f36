/* Competing hidden units, slow ("biological") form (Krotov & Hopfield, PNAS
 * 2019, Eqs. 3, 8, 9), selected by kh.dynamics = slow. Per example v of a
 * minibatch, with the currents I_mu = <W_mu, v>_mu = sum_i sign(W_mui)
 * |W_mui|^(p-1) v_i of the fast step (the same tiled SGEMM, kh.c):
 *
 *   hidden dynamics (Eq. 8), Euler from h = 0 with a = dt/tau:
 *     h_mu += a (I_mu - w_inh sum_{nu != mu} relu(h_nu) - h_mu)
 *   until max |dh| over the minibatch < tol, or max_steps (then `capped`);
 *   learning activation (Eq. 9), at the steady state:
 *     g(h) = 0 for h <= 0, -delta for 0 < h < h*, 1 for h >= h*
 *   plasticity (Eq. 3 here; the rule of algorithms.md 1.1, R = 1), summed
 *   over the minibatch:
 *     dW_mu = sum_b g(h_mub) (v_b - I_mub W_mu)
 *     W += eps dW            (normalize = 0: Eq. 3 with 1/tau_L = eps)
 *     W += eps dW / max|dW|  (normalize = 1: the fast rule's step)
 *
 * Parallel layout: each rank owns the fast step's block of units (rows of
 * W). The inhibition needs S_b = sum_nu relu(h_nu,b) over all units, per
 * example and Euler step: each relu value is rounded onto a grid
 * 2^(bits - e_b), where 2^e_b bounds example b's largest positive current
 * (one MAX all-reduce per minibatch; h never exceeds it), and the integers
 * are added exactly in double. The stop test travels in the same SUM
 * all-reduce as a count of units with |dh| >= tol. So each Euler step costs
 * one all-reduce of B + 1 doubles, any partition of the units gives S_b and
 * the stop the same bits, and h, g and W are bitwise the same on any rank
 * count; everything else is per unit, on the calling thread. */
#ifndef PLASTIC_KH_SLOW_H
#define PLASTIC_KH_SLOW_H

#include "rules/kh/kh.h"

typedef struct pl_kh_slow_params {
    double w_inh;  /* strength of the lateral inhibition */
    double h_star; /* threshold of the Hebbian branch of g */
    double dt;     /* Euler step dt/tau of the hidden dynamics, in (0, 1] */
    double tol;    /* steady state: max |dh| over the minibatch below this */
    int max_steps; /* cap on Euler steps per minibatch */
    int normalize; /* 1: divide the update by its global max |dW| */
} pl_kh_slow_params;

typedef struct pl_kh_slow {
    pl_kh_slow_params prm;
    int bits;        /* grid bits of the inhibition sums: 52 - ceil(log2 K), at most 50 */
    float *scratch;  /* bmax x tile: one tile's currents */
    float *cur;      /* bmax x nrows: the currents I, example-major */
    double *h;       /* bmax x nrows: the hidden state, at the steady state after a step */
    double *inhib;   /* bmax: S_b, the sum of relu(h) over all units */
    double *red;     /* bmax + 1: the all-reduce buffer */
    double *scale;   /* bmax: each example's grid, 2^(bits - e_b) */
    float *dW;       /* nrows x dim: the pending update */
    float *coef;     /* nrows: sum_b g I per unit */
    int last_steps;  /* Euler steps of the last minibatch */
    long steps;      /* Euler steps since the last pl_kh_slow_take_counts */
    long minibatches;/* minibatches since then */
    long capped;     /* of them, those that hit max_steps */
} pl_kh_slow;

/* Work space for steps of kh's block with the given parameters. */
void pl_kh_slow_init(pl_kh_slow *s, const pl_kh *kh, const pl_kh_slow_params *prm);
void pl_kh_slow_free(pl_kh_slow *s);

/* g of Eq. 9. */
static inline float pl_kh_slow_g(double h, double h_star, float delta)
{
    return h <= 0.0 ? 0.0f : h < h_star ? -delta : 1.0f;
}

/* One minibatch (example b is row rows[b] of data, row b without rows) with
 * time step eps: currents, dynamics to the steady state (left in s->h), g,
 * the update; counts a win for every (unit, example) with g = 1. Collective.
 * Returns 0, or PL_EXIT_DIVERGED if h or the update is not finite on any
 * rank (then W is left unchanged). */
int pl_kh_slow_step(pl_kh *kh, pl_kh_slow *s, const float *data, const int *rows, int B,
                    float eps);

/* The literal reference of one step on the full K x N matrix: Wp by pow(),
 * currents rounded to float (as the fast path's), dense dynamics with plain
 * double sums, the same stopping rule, dense g and dW in double. Serial.
 * h (K x B, unit-major, may be NULL) receives the steady state, *steps
 * the Euler steps taken and *capped whether they hit max_steps first.
 * Returns 0 or PL_EXIT_DIVERGED. */
int pl_kh_slow_reference_step(float *W, long hidden, int dim, double p, float delta,
                              const pl_kh_slow_params *prm, const float *X, int B, float eps,
                              double *h, int *steps, int *capped);

#endif
