/* Recursive local representation alignment (rec-LRA; Ororbia, Mali, Kifer
 * and Giles, AAAI 2023): the error pathway of a network and the kernels of
 * one minibatch. docs/algorithms.md §7 has the equations and our choices.
 *
 * Every hidden layer l with weights (dense, conv or pconv, not the
 * output; pool, dropout and residual adds have none) gets a target from
 * one error e_s through an error synapse E (out_l x out_s):
 *     d_l = E e_s,   y_l = f_l(h_l - beta d_l),   e_l = z_l - y_l,
 * from the top down, starting at the output's e_L = z_L - onehot. The
 * source s is the output (a skip-error synapse) for a layer ending a
 * res( ) block or starting a group of lra.gap layers of a plain MLP, and
 * the next hidden layer above otherwise (lra.pathway = chain: always the
 * layer above). Then every layer's increment is local:
 *     dW_l = sum_rows e_l z_{l-1}^T,   db_l = sum_rows e_l
 * (the net's delta buffers hold e_l, so pl_net_layer_grads computes them:
 * a conv layer's with its im2col'd input, a pconv layer's as dV = e_l a^T
 * with a = relu(z_{l-1} + N) its perturbed maps, summed over positions),
 * and each synapse's increment is an outer product with e_s:
 *     transpose: dE = sum_rows z_l e_s^T  (the increment a forward synapse
 *                from l to s would get, transposed: E follows W^T)
 *     eq6:       dE = sum_rows d_l e_s^T  (Eq. 6 as printed, E -= gamma dE)
 *     fixed:     no increment.
 * No derivative of f appears anywhere: f may be sign.
 *
 * A synapse whose source is a conv layer reading dst's output directly
 * (conv inside a res( ) block, or any conv-on-conv chain) is itself
 * convolutional: E has the shape of the source's filter bank and d = E e_s
 * is the source's transposed convolution with E in place of W (a dense
 * out(dst) x out(src) matrix would be (C H W)^2 floats). Its increments are
 * the source's weight product with e_s against z_l (transpose: exactly
 * dW_s, so E follows W) or d_l (eq6).
 *
 * The kernels work on rows [row0, row0 + rows) of the net's buffers after
 * a forward and pl_net_loss (scale 1) of those rows; lra_ref.c holds the
 * naive references they are tested against. */
#ifndef PLASTIC_RULES_RECLRA_LRA_H
#define PLASTIC_RULES_RECLRA_LRA_H

#include <stddef.h>
#include <stdint.h>

#include "plastic/nn/net.h"

typedef enum lra_pathway { LRA_PATH_OUTPUT, LRA_PATH_CHAIN } lra_pathway;
typedef enum lra_e_rule { LRA_E_TRANSPOSE, LRA_E_EQ6, LRA_E_FIXED } lra_e_rule;
typedef enum lra_e_init { LRA_E_INIT_NORMAL, LRA_E_INIT_XAVIER } lra_e_init;

typedef struct lra_synapse {
    int dst;       /* the net layer given a target */
    int src;       /* the net layer whose error drives it (above dst) */
    int rows, cols; /* out(dst), out(src): the widths of d and e_s */
    int conv;      /* E is a filter bank of src's W's shape (below) */
    int e_rows, e_cols; /* E's shape: rows x cols, or src's W's */
    int taps;      /* conv: the filters' k_h k_w; else 1 */
    long offset;   /* of E in lra->E, of its increment in lra->dE */
    long d_offset; /* of d's row 0 in lra->d (capacity x rows floats) */
    char name[32]; /* "lra/E3" (dst's layer number from 1) */
} lra_synapse;

typedef struct lra {
    int n;              /* synapses, from the top layer down */
    lra_synapse *syn;
    int *syn_of;        /* per net layer: its synapse, or -1 */
    long nE;            /* floats of all synapses */
    float *E, *dE;      /* the synapses and their increments */
    float *d;           /* per synapse, the rows' d = E e_s */
    float beta;
    lra_e_rule e_rule;
} lra;

/* The pathway of net: one synapse per hidden dense, conv or pconv layer. gap
 * (>= 1) groups a net's hidden layers from the top; it must divide their
 * number, and be 1 for a net with res( ) blocks (the blocks are the
 * groups). 0, or -1 with the reason in err (naming the key). */
int lra_create(lra *a, const pl_net *net, lra_pathway pathway, int gap, float beta,
               lra_e_rule e_rule, char *err, size_t errsize);
void lra_free(lra *a);

/* E drawn from Philox keyed by (seed, synapse), element by element:
 * normal N(0, std^2), or xavier U(-s, s), s = sqrt(6 / (rows + cols)). */
void lra_init(lra *a, lra_e_init kind, double std, uint64_t seed);

/* Targets from the top down: for every synapse, d = E e_s into a->d and
 * e_l = z_l - f_l(h_l - beta d) into layer dst's delta, for the rows. The
 * output layer's delta must hold e_L (pl_net_loss with scale 1). */
void lra_targets(lra *a, pl_net *net, int row0, int rows);
/* The same for synapses [i0, i1) only (a pipeline stage's: its sources'
 * errors must be ready, its own or the output's). */
void lra_targets_range(lra *a, pl_net *net, int i0, int i1, int row0, int rows);

/* Synapse i's increment over the rows: out = beta_acc out + (z or d)^T e_s
 * (E's shape; beta_acc 0 or 1); zero for the fixed rule. */
void lra_synapse_increment(const lra *a, const pl_net *net, int i, int row0, int rows, float *out,
                           float beta_acc);
/* Multiply-adds per example of synapse i's d = E e_s. */
double lra_synapse_cost(const lra *a, const pl_net *net, int i);
/* A bound on the |values| of lra_synapse_increment (exact sums). */
double lra_synapse_increment_bound(const lra *a, const pl_net *net, int i, int row0, int rows);

/* References: double-precision loops of the same equations. */
void lra_ref_targets(const lra *a, pl_net *net, int row0, int rows);
void lra_ref_synapse_increment(const lra *a, const pl_net *net, int i, int row0, int rows,
                               float *out);

#endif
