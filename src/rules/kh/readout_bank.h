/* A bank of R readouts on the same features (a sweep's runs that share the
 * hidden layer, n and the seed, and differ only in m and beta), trained
 * together: one pass over each minibatch's features for all of them, their
 * S matrices stacked into one (R C) x nunits GEMM. Every member computes
 * bitwise what it would alone (pl_readout_step, pl_readout_errors):
 *   - the activations a = S h are exact integer sums (readout_exact.h) with
 *     a scale per class row of S and per example row of H, so stacking rows
 *     changes no entry;
 *   - the gradient dS = delta^T H is summed over the minibatch in the same
 *     order (b ascending from 0) per element, by a register-tiled kernel;
 *   - loss, delta, Adam are per member, elementwise.
 * A member whose epoch loss is not finite is killed (pl_readout_bank_kill):
 * left out of the GEMM from then on, its S zeroed, so it cannot reach the
 * others (within an epoch its NaNs stay in its own rows and columns). */
#ifndef PLASTIC_READOUT_BANK_H
#define PLASTIC_READOUT_BANK_H

#include "rules/kh/readout.h"

typedef struct pl_readout_bank {
    int members;          /* R */
    pl_readout *ro;       /* R readouts: own S, grad, Adam, m, beta, act, delta */
    char *dead;           /* R: diverged, frozen */
    int *live;            /* the live members' indices, ascending (kept by kill) */
    int nlive;
    /* shared work space, sized for cap examples */
    int cap;
    double *scale;        /* R C + cap: row maxima, then exponents */
    double *S2;           /* R C x 2 nunits: [lo | hi] slices of the live members' S */
    double *T;            /* the same slices in the wide kernels' layout (readout_simd.h) */
    double *H2;           /* SLICE rows x 2 nunits: [hi | lo] slices of H */
    double *part;         /* 2 x cap x R C: the exact partial sums */
    double *hd;           /* cap x nunits: the minibatch's features in double */
    double *dT;           /* R C x cap: the live members' deltas, class row by example */
    double *acc;          /* R C x nunits: the gradients' double sums */
} pl_readout_bank;

/* R members with m_of[i], beta_of[i]; the rest as pl_readout_init (every
 * member starts from the same S, keyed by seed). */
void pl_readout_bank_init(pl_readout_bank *k, const pl_comm *comm, int nclass, long hidden,
                          long unit0, long nunits, double n, int members, const double *m_of,
                          const double *beta_of, uint64_t seed, float init_std);
void pl_readout_bank_free(pl_readout_bank *k);

/* Forward pass of every live member on B examples (B x nunits): fills each
 * live member's act. Collective. */
void pl_readout_bank_forward(pl_readout_bank *k, const float *H, int B);

/* One Adam step of every live member on a minibatch; loss[i] gets member
 * i's minibatch loss and wrong[i] its examples misclassified before the
 * step (both untouched for dead members). Collective. */
void pl_readout_bank_step(pl_readout_bank *k, const float *H, const uint8_t *y, int B, float lr,
                          double *loss, long *wrong);

/* One epoch (pl_readout_epoch's order, from minibatch 0, no poll): adds
 * each live member's minibatch losses to loss_sum[i] and misclassified
 * examples to wrong[i]. Collective. */
void pl_readout_bank_epoch(pl_readout_bank *k, const float *H, const uint8_t *y, int n,
                           uint64_t seed, int epoch, float lr, pl_readout_batch *buf,
                           double *loss_sum, long *wrong);

/* Misclassified examples of a split per live member (-1 for dead ones), as
 * pl_readout_errors. Collective. */
void pl_readout_bank_errors(pl_readout_bank *k, const float *H, const uint8_t *y,
                            long nexamples, long *errors);

/* Freezes member i: out of every later pass, S zeroed. */
void pl_readout_bank_kill(pl_readout_bank *k, int i);

/* acc[r ldacc + j] = sum_{b < B} dT[r ldd + b] h[b n + j] for r < rows,
 * j < n, each element summed in b order from 0 (what pl_readout_loss_grad
 * does per class row): the tiled kernel and its naive reference. */
void pl_readout_grad_sum(const double *dT, long ldd, int rows, const double *h, int B, long n,
                         double *acc, long ldacc);
void pl_readout_grad_sum_ref(const double *dT, long ldd, int rows, const double *h, int B,
                             long n, double *acc, long ldacc);

#endif
