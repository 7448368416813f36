/* The tile rule (gemm.h) that the layout independence rests on. A product
 * C = A B^T over K rows of B (hidden units) is computed the way the KH step
 * and the readout compute it, under many layouts: P "ranks" (pl_tile_range
 * of K) x T "threads" (pl_tile_range of each rank's block), each rank
 * holding its rows in its own buffer at the aligned stride, each thread
 * calling pl_sgemm_tile once per tile into its own buffer. Every layout
 * must give bitwise the result of 1 x 1, and that must match a naive double
 * reference within atol + rtol |ref|. A kernel that sums a row differently
 * depending on the shape of the call would fail here if the tiling let any
 * shape depend on the layout. OpenBLAS runs on one thread (tests/lib.sh;
 * set again here). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/gemm.h"
#include "plastic/par.h"

#include "support.h"

enum { MAX_RANKS = 4, MAX_THREADS = 3 };

/* A (m x k) and B (K x k), unpadded, as the callers hold them. */
typedef struct problem {
    int m, K, k;
    float *A, *B;
} problem;

static problem make_problem(int m, int K, int k, uint64_t seed)
{
    problem p = {m, K, k, alloc_uniform((long)m * k, seed, 1, 0.0, 1.0),
                 alloc_uniform((long)K * k, seed, 2, -0.5, 0.5)};
    return p;
}

static void free_problem(problem *p)
{
    pl_free(p->A);
    pl_free(p->B);
}

/* Rows of src (stride k) into a new 64-byte aligned buffer at stride
 * pl_gemm_ld(k), as kh.c keeps Wp and its minibatch, and readout.c W. */
static float *aligned_rows(const float *src, long rows, int k)
{
    const int ld = pl_gemm_ld(k);
    float *out = pl_calloc((size_t)(rows > 0 ? rows : 1) * (size_t)ld, sizeof *out);
    for (long r = 0; r < rows; r++)
        memcpy(out + (size_t)r * ld, src + (size_t)r * k, (size_t)k * sizeof *out);
    return out;
}

/* C (m x K) of the product under `ranks` x `threads` with tiles of `tile`. */
static void tiled_product(const problem *p, int tile, int ranks, int threads, float *C)
{
    float *A = aligned_rows(p->A, p->m, p->k);
    const int ld = pl_gemm_ld(p->k);
    long covered = 0;
    for (int r = 0; r < ranks; r++) {
        long r0, r1;
        pl_tile_range(p->K, tile, ranks, r, &r0, &r1);
        assert_int_equal(r0, covered); /* blocks are contiguous and in order */
        assert_true(r0 % tile == 0 || r0 == p->K); /* an empty block sits at K */
        covered = r1;
        float *local = aligned_rows(p->B + (size_t)r0 * p->k, r1 - r0, p->k);
        for (int t = 0; t < threads; t++) {
            long s0, s1;
            pl_tile_range(r1 - r0, tile, threads, t, &s0, &s1);
            float *ctile = pl_alloc((size_t)p->m * (size_t)tile * sizeof *ctile);
            for (long t0 = s0; t0 < s1; t0 += tile) {
                const int rows = (int)(s1 - t0 < tile ? s1 - t0 : tile);
                /* a tile ends on a global multiple of tile or at K */
                assert_true(rows == tile || r0 + t0 + rows == p->K);
                pl_sgemm_tile(p->m, rows, p->k, A, local + (size_t)t0 * ld, ctile);
                for (int i = 0; i < p->m; i++)
                    memcpy(C + (size_t)i * p->K + r0 + t0, ctile + (size_t)i * rows,
                           (size_t)rows * sizeof *C);
            }
            pl_free(ctile);
        }
        pl_free(local);
    }
    assert_int_equal(covered, p->K);
    pl_free(A);
}

/* Every layout of 1-4 ranks x 1-3 threads bitwise equal to 1 x 1, which is
 * within tolerance of the naive reference. */
static void check_layouts(int m, int K, int k, int tile)
{
    openblas_set_num_threads(1);
    problem p = make_problem(m, K, k, (uint64_t)(1000 * tile + K));
    const size_t count = (size_t)m * (size_t)K;
    float *one = pl_alloc(count * sizeof *one), *other = pl_alloc(count * sizeof *other);
    float *ref = pl_alloc(count * sizeof *ref);
    tiled_product(&p, tile, 1, 1, one);
    pl_sgemm_abt_ref(m, K, k, p.A, k, p.B, k, ref, K);
    for (size_t i = 0; i < count; i++)
        check_close(one[i], ref[i], 1e-5, 1e-5, "C", (long)i);
    for (int ranks = 1; ranks <= MAX_RANKS; ranks++)
        for (int threads = 1; threads <= MAX_THREADS; threads++) {
            memset(other, 0xff, count * sizeof *other); /* NaN: every element must be written */
            tiled_product(&p, tile, ranks, threads, other);
            if (memcmp(one, other, count * sizeof *one) != 0)
                fail_msg("m %d K %d k %d tile %d: %d ranks x %d threads differ from 1 x 1", m, K,
                         k, tile, ranks, threads);
        }
    pl_free(one);
    pl_free(other);
    pl_free(ref);
    free_problem(&p);
}

/* Tiles smaller than a BLAS micro-tile, with a last tile of one row. */
static void tiny_tiles(void **state)
{
    (void)state;
    check_layouts(16, 37, 24, 1); /* blocks and shards of single rows */
    check_layouts(16, 37, 24, 3); /* 12 tiles of 3, then 1 row */
    check_layouts(16, 101, 24, 5); /* 20 tiles of 5, then 1 row */
    check_layouts(7, 10, 50, 1);  /* 4 x 3 layouts hold one row per shard or none */
}

/* The minibatch shape of the KH step (B = 100, N = 784). */
static void minibatch_shape(void **state)
{
    (void)state;
    check_layouts(100, 101, 784, 16);
    check_layouts(100, 101, 784, 64); /* tiles of 64 and 37 */
    check_layouts(100, 37, 784, 5);
}

/* Ranks with no tile (37 rows in 3 tiles of 16 over 4 ranks), one example,
 * odd inner sizes that are not a multiple of 16. */
static void empty_ranks_and_odd_shapes(void **state)
{
    (void)state;
    check_layouts(1, 37, 300, 16);
    check_layouts(3, 101, 33, 64);
    check_layouts(5, 37, 17, 3);
}

/* pl_tile_range: contiguous whole tiles, spread as evenly as tiles allow,
 * some ranks empty when there are fewer tiles than ranks; tile 1 is
 * pl_block_range. */
static void tile_range_blocks(void **state)
{
    (void)state;
    for (long n = 0; n <= 70; n++)
        for (long tile = 1; tile <= 20; tile++)
            for (int size = 1; size <= 6; size++) {
                long next = 0, tiles = (n + tile - 1) / tile;
                for (int r = 0; r < size; r++) {
                    long lo, hi;
                    pl_tile_range(n, tile, size, r, &lo, &hi);
                    assert_int_equal(lo, next);
                    assert_true(hi >= lo);
                    assert_true(lo % tile == 0 || (lo == n && hi == n));
                    assert_true(hi % tile == 0 || hi == n);
                    long mine = (hi - lo + tile - 1) / tile;
                    assert_true(mine == tiles / size || mine == tiles / size + 1);
                    if (tile == 1) {
                        long blo, bhi;
                        pl_block_range(n, size, r, &blo, &bhi);
                        assert_int_equal(lo, blo);
                        assert_int_equal(hi, bhi);
                    }
                    next = hi;
                }
                assert_int_equal(next, n);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_tiles),
        cmocka_unit_test(minibatch_shape),
        cmocka_unit_test(empty_ranks_and_odd_shapes),
        cmocka_unit_test(tile_range_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
