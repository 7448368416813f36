/* pl_sgemm_abt: the property the rank-count independence rests on. Every
 * block of rows of B, at any offset and of any size, gives bitwise the same
 * products as the whole matrix, and the values match a double reference. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/gemm.h"

#include "support.h"

static void check_blocks(int m, int n, int k)
{
    float *A = pl_alloc(sizeof(float) * m * k), *B = pl_alloc(sizeof(float) * n * k);
    float *whole = pl_alloc(sizeof(float) * m * n), *part = pl_alloc(sizeof(float) * m * n);
    fill_uniform(A, (long)m * k, 5, 1, 0.0, 1.0);
    fill_uniform(B, (long)n * k, 5, 2, 0.0, 1.0);
    for (long i = 0; i < (long)n * k; i++)
        B[i] -= 0.5f; /* in (-0.5, 0.5), rounded as this test's inputs always were */
    pl_gemm_scratch s = {0};
    pl_sgemm_abt(m, n, k, A, B, whole, n, &s);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double ref = 0;
            for (int l = 0; l < k; l++)
                ref += (double)A[(size_t)i * k + l] * B[(size_t)j * k + l];
            assert_true(fabs(whole[(size_t)i * n + j] - ref) <= 1e-5 + 1e-5 * fabs(ref));
        }
    /* blocks of every size from 1 up, at several offsets */
    for (int rows = 1; rows <= n; rows += rows < 16 ? 1 : 7)
        for (int off = 0; off + rows <= n; off += rows + 3) {
            pl_sgemm_abt(m, rows, k, A, B + (size_t)off * k, part, rows, &s);
            for (int i = 0; i < m; i++)
                if (memcmp(part + (size_t)i * rows, whole + (size_t)i * n + off,
                           sizeof(float) * rows) != 0)
                    fail_msg("m %d k %d: block of %d rows at %d differs from the whole", m, k,
                             rows, off);
        }
    pl_gemm_scratch_free(&s);
    pl_free(A);
    pl_free(B);
    pl_free(whole);
    pl_free(part);
}

static void blocks_equal_whole_minibatch_shape(void **state) { (void)state; check_blocks(100, 60, 784); }
static void blocks_equal_whole_tiny(void **state) { (void)state; check_blocks(16, 53, 24); }
static void blocks_equal_whole_one_example(void **state) { (void)state; check_blocks(1, 40, 300); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_equal_whole_minibatch_shape),
        cmocka_unit_test(blocks_equal_whole_tiny),
        cmocka_unit_test(blocks_equal_whole_one_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
