/* Sums of float tensors over parts (chunks of a minibatch) and ranks whose
 * result does not depend on how the parts are spread over ranks or in what
 * order they are added: bitwise the same on any rank count.
 *
 * Each value is rounded onto a fixed-point grid tied to a bound on its
 * tensor that every rank agrees on first (one small MAX all-reduce): with
 * |value| <= bound < 2^e, the value becomes the integer round(value 2^(b-e)),
 * held in a double. b = min(50, 52 - ceil(log2 parts)) keeps every partial
 * sum of every part below 2^53, so double additions of these integers are
 * exact in any order: locally, and in the SUM all-reduce. The result is the
 * exact sum of the rounded values, rounded once to float. Each value keeps
 * b bits below 2^e (about 45 for 100 parts), far finer than a float's 24
 * bits of the largest values.
 *
 * Protocol, per sum: begin; bound every part's tensors (or one bound per
 * tensor covering all parts); agree; add every part (several at once is
 * faster: the accumulator is then read and written once for them all);
 * finish. */
#ifndef PLASTIC_NN_EXACT_H
#define PLASTIC_NN_EXACT_H

#include "plastic/par.h"

typedef struct pl_exact {
    int ntensors;
    long *offset;  /* ntensors + 1: tensor t is values [offset[t], offset[t + 1]) */
    long n;        /* values summed */
    int nside;     /* extra doubles summed alongside the tensors (see side) */
    double *acc;   /* n integers on the grids, then the nside side values */
    double *bound; /* per tensor: this rank's, then (after agree) the global bound */
    double *scale; /* per tensor: 2^(b - e) */
    char *touched; /* per tensor: parts added since begin (else its sum is 0) */
    int bits;      /* b */
} pl_exact;

/* Tensors of counts[t] values; nside side values. */
void pl_exact_init(pl_exact *s, int ntensors, const long *counts, int nside);
void pl_exact_free(pl_exact *s);

/* The grid bits b for sums of at most parts parts: 52 - ceil(log2 parts),
 * at most 50, so that parts integers below 2^b sum below 2^52, exactly in
 * double in any order. */
int pl_exact_bits(long parts);

/* Starts a sum of at most parts parts over all ranks: zeroes the bounds
 * and side values (each tensor's accumulator is set by its first add). */
void pl_exact_begin(pl_exact *s, long parts);
/* Every value of tensor t in every part this rank adds is at most bound
 * in magnitude (a non-finite bound makes the tensor's result NaN). */
void pl_exact_bound(pl_exact *s, int t, double bound);
/* The bounds' maximum over ranks, and the grids: collective. */
void pl_exact_agree(pl_exact *s, const pl_comm *c);
/* Adds nparts parts of tensor t: counts[t] floats each, part p at
 * x + p stride. */
void pl_exact_add(pl_exact *s, int t, const float *x, int nparts, long stride);
/* The side values: nside doubles that the finish sums over ranks too.
 * Plain double sums, exact when each is set on one rank only (0 elsewhere),
 * e.g. one slot per part. */
static inline double *pl_exact_side(pl_exact *s) { return s->acc + s->n; }
/* Sums over ranks (one SUM all-reduce of n + nside doubles) and writes the
 * n sums, rounded to float, to out: collective. */
void pl_exact_finish(pl_exact *s, const pl_comm *c, float *out);
/* The same for this rank's block [lo, hi) = pl_block_range(n, ranks, rank)
 * of the n values only (a sharded optimiser step needs no more): a SUM
 * reduce-scatter of the n values into the blocks and an all-reduce of the
 * side values; out's other values are left as they were. The block's sums
 * are the bits pl_exact_finish gives. Collective. */
void pl_exact_finish_block(pl_exact *s, const pl_comm *c, float *out);

#endif
