/* Counter-based random numbers (Philox4x32-10). A value depends only on
 * (seed, stream, substream, position), never on how many draws happened
 * elsewhere, so row mu of an initial matrix is the same whichever rank
 * generates it. */
#ifndef PLASTIC_RNG_H
#define PLASTIC_RNG_H

#include <stdint.h>

/* Streams separate the independent uses of one seed. */
enum pl_stream {
    PL_STREAM_KH_INIT = 1,       /* substream: hidden unit mu */
    PL_STREAM_KH_ORDER = 2,      /* substream: epoch */
    PL_STREAM_VALID_SPLIT = 3,   /* substream: 0 */
    PL_STREAM_READOUT_INIT = 4,  /* substream: hidden unit mu (column of S) */
    PL_STREAM_READOUT_ORDER = 5, /* substream: epoch */
    PL_STREAM_SWEEP_SAMPLE = 6,  /* substream: trial (random search) */
    PL_STREAM_SWEEP_TPE = 7,     /* substream: proposal number (TPE) */
    PL_STREAM_NET_INIT = 8,      /* substream: layer of a network (nn/net.h) */
    PL_STREAM_DROPOUT = 9,       /* counters of its own: nn/dropout.c */
    PL_STREAM_NET_ORDER = 10,    /* substream: epoch (a layered rule's minibatch order) */
    PL_STREAM_LRA_INIT = 11,     /* substream: layer given a target (rec-LRA error synapses) */
    PL_STREAM_PCONV_NOISE = 12,  /* substream: layer of a network (a pconv layer's noise maps) */
    PL_STREAM_URFB_INIT = 13,    /* substream: layer (urfb's feedback weights R) */
    PL_STREAM_URFB_MASK = 14,    /* substream: 2 layer (W's sparsity mask), 2 layer + 1 (R's) */
    PL_STREAM_THEORY = 15,       /* substream: PL_THEORY_SUB_* (theory.h) */
    PL_STREAM_KHCONV_INIT = 16,  /* substream: layer << 32 | filter (khconv filters) */
    PL_STREAM_TEST = 99          /* unit tests */
};

typedef struct pl_rng {
    uint32_t key[2];
    uint32_t ctr[4];     /* ctr[0] counts blocks within the substream */
    uint32_t block[4];
    int used;            /* words of block already returned */
    int has_spare;       /* Box-Muller makes normals in pairs */
    double spare;
} pl_rng;

/* One Philox4x32-10 block: out = philox(key, ctr). */
void pl_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

void pl_rng_init(pl_rng *r, uint64_t seed, uint32_t stream, uint64_t substream);
uint32_t pl_rng_u32(pl_rng *r);
double pl_rng_uniform(pl_rng *r);          /* in (0, 1) */
double pl_rng_normal(pl_rng *r);           /* N(0, 1) */
uint32_t pl_rng_below(pl_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
/* perm = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void pl_rng_permutation(pl_rng *r, int *perm, int n);

#endif
