/* Philox4x32-10 (Salmon et al., SC'11): ten rounds of a multiply-xor
 * bijection over a 128-bit counter under a 64-bit key. Counter layout:
 * ctr[0] block number, ctr[1..2] substream (64 bit), ctr[3] stream. */
#include "plastic/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void pl_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
    uint32_t k0 = key[0], k1 = key[1];
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void pl_rng_init(pl_rng *r, uint64_t seed, uint32_t stream, uint64_t substream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = (uint32_t)substream;
    r->ctr[2] = (uint32_t)(substream >> 32);
    r->ctr[3] = stream;
    r->used = 4;
    r->has_spare = 0;
    r->spare = 0.0;
}

uint32_t pl_rng_u32(pl_rng *r)
{
    if (r->used == 4) {
        pl_philox4x32(r->key, r->ctr, r->block);
        r->ctr[0]++;
        r->used = 0;
    }
    return r->block[r->used++];
}

double pl_rng_uniform(pl_rng *r)
{
    /* 53 random bits, offset by half a step so 0 and 1 never occur. */
    uint64_t hi = pl_rng_u32(r) >> 5, lo = pl_rng_u32(r) >> 6;
    return ((double)((hi << 26) | lo) + 0.5) * (1.0 / 9007199254740992.0);
}

double pl_rng_normal(pl_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = pl_rng_uniform(r), u2 = pl_rng_uniform(r);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 6.283185307179586476925 * u2;
    r->spare = radius * sin(angle);
    r->has_spare = 1;
    return radius * cos(angle);
}

uint32_t pl_rng_below(pl_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t m = (uint64_t)pl_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)pl_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void pl_rng_permutation(pl_rng *r, int *perm, int n)
{
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pl_rng_below(r, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
