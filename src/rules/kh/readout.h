/* Supervised top layer on frozen hidden weights (Krotov & Hopfield Eq. 10-11):
 *   h = relu(W v)^n   (v normalised to unit length; computed once per split)
 *   c = tanh(beta * S h),   loss = sum_examples sum_classes |c - t|^m,  t in {-1,+1}
 * S (C x K) is sharded by hidden unit like W: each rank holds the columns of
 * its own units, and S h is the sum over ranks of S_local h_local. */
#ifndef PLASTIC_READOUT_H
#define PLASTIC_READOUT_H

#include <stdint.h>
#include "plastic/adam.h"
#include "plastic/par.h"

typedef struct pl_readout {
    const pl_comm *comm;
    int nclass;          /* C */
    long hidden;         /* K, global */
    long unit0, nunits;  /* this rank's units [unit0, unit0 + nunits) */
    double n, m, beta;
    float *S;            /* nclass x nunits, row-major */
    float *grad;         /* same shape: dLoss/dS of the last step */
    pl_adam adam;
    /* work space, sized for the largest minibatch seen */
    int cap;
    double *act;         /* B x C: S h summed over ranks */
    float *delta;        /* B x C: dLoss/d(S h) */
} pl_readout;

/* Hidden features of every example of a split for this rank's units:
 * H[i * nunits + j] = relu(<W_j, v_i / |v_i|>)^n.  W_local is nunits x dim,
 * the rank's block of whole tiles of `tile` units (kh.h), which `threads`
 * threads share out tile by tile, each calling BLAS on one thread; OpenBLAS's
 * thread count is restored on return. H is bitwise the same for any block of
 * whole tiles and any thread count. */
void pl_readout_features(const float *W_local, long nunits, int dim, const float *x,
                         long nexamples, double n, int tile, int threads, float *H);

/* S columns from N(0, init_std^2), column mu keyed by (seed, mu) so S does not
 * depend on the rank count. */
void pl_readout_init(pl_readout *r, const pl_comm *comm, int nclass, long hidden,
                     long unit0, long nunits, double n, double m, double beta,
                     uint64_t seed, float init_std);
void pl_readout_free(pl_readout *r);

/* Forward pass for B examples with features H (B x nunits): fills r->act
 * (B x C, summed over ranks; collective) and c (B x C, may be NULL). */
void pl_readout_forward(pl_readout *r, const float *H, int B, float *c);

/* Loss of a minibatch (sum over examples and classes, identical on every
 * rank) and its gradient into r->grad. Collective. */
double pl_readout_loss_grad(pl_readout *r, const float *H, const uint8_t *y, int B);

/* For a bank of readouts (readout_bank.c), which runs the forward pass
 * itself and fills r->act: the loss of B examples from r->act (sum over
 * examples and classes) and, if delta != NULL, dLoss/da, the same on every
 * rank; the examples whose argmax of r->act (ties to the lower class) is
 * not y. */
double pl_readout_block_loss(const pl_readout *r, const uint8_t *y, int B, float *delta);
long pl_readout_act_errors(const pl_readout *r, const uint8_t *y, int B);

/* One Adam step on a minibatch; returns the minibatch loss. Collective. */
double pl_readout_step(pl_readout *r, const float *H, const uint8_t *y, int B, float lr);

/* Misclassified examples (argmax of S h, ties to the lower class) over a
 * whole split, processed in chunks; and the summed loss if loss != NULL.
 * Collective; identical on every rank. */
long pl_readout_errors(pl_readout *r, const float *H, const uint8_t *y, long nexamples,
                       double *loss);

/* The paper's schedule (1e-3 for 100 epochs, then 5e-4, 1e-4, 5e-5, 1e-5
 * every 50 epochs of 300) stretched to `epochs`, scaled so epoch 0 has lr0. */
double pl_readout_lr(double lr0, int epoch, int epochs);

/* Buffers of one readout epoch (pl_readout_epoch_buf_*). */
typedef struct pl_readout_batch {
    int size;            /* minibatch size */
    float *h;            /* size x nunits */
    uint8_t *y;          /* size */
    int *order;          /* n: the epoch's permutation */
} pl_readout_batch;

void pl_readout_batch_init(pl_readout_batch *b, int size, long nunits, int n);
void pl_readout_batch_free(pl_readout_batch *b);
/* b->order becomes the permutation of n examples keyed by (seed, epoch). */
void pl_readout_batch_shuffle(pl_readout_batch *b, int n, uint64_t seed, int epoch);
/* The minibatch of examples b->order[start .. start + B) into b->h (their
 * rows of H, nunits wide) and b->y (their labels). */
void pl_readout_batch_fill(pl_readout_batch *b, const float *H, const uint8_t *y, long nunits,
                           int start, int B);

/* One readout epoch over n examples with features H (n x nunits) and labels
 * y: minibatches in the order keyed by (seed, epoch), learning rate lr,
 * starting after the *batch minibatches already done and counting them.
 * Adds the minibatch losses to *loss_sum and the examples misclassified
 * (by the activations before each step) to *wrong. poll (may be NULL) runs
 * after every minibatch but the last; nonzero stops the epoch early and is
 * returned. Returns 0 when the epoch is complete. Collective. */
int pl_readout_epoch(pl_readout *r, const float *H, const uint8_t *y, int n, uint64_t seed,
                     int epoch, float lr, int *batch, pl_readout_batch *buf, double *loss_sum,
                     long *wrong, int (*poll)(void *), void *ctx);

#endif
