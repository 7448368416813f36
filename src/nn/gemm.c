/* Tile products (gemm.h). The checks are cheap next to a tile's
 * B x tile x N multiply-adds and catch a caller that would make the bits
 * depend on the layout. */
#include "plastic/gemm.h"
#include "plastic/common.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int aligned64(const void *p) { return ((uintptr_t)p & 63u) == 0; }

void pl_sgemm_tile(int m, int rows, int k, const float *A, const float *B, float *C)
{
    if (m <= 0 || rows <= 0)
        return;
    if (!aligned64(A) || !aligned64(B) || !aligned64(C) || openblas_get_num_threads() != 1) {
        pl_error_all("pl_sgemm_tile: operands not 64-byte aligned, or OpenBLAS on %d threads",
                     openblas_get_num_threads());
        abort();
    }
    const int ld = pl_gemm_ld(k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, rows, k, 1.0f, A, ld, B, ld, 0.0f, C,
                rows);
}

void pl_sgemm_abt_ref(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++)
                s += (double)A[(size_t)i * lda + l] * (double)B[(size_t)j * ldb + l];
            C[(size_t)i * ldc + j] = (float)s;
        }
}

void pl_blas_check_kernel(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && set[0])
        return; /* the user (or the site) chose */
    const char *core = openblas_get_corename();
    static const char *const generic[] = {"prescott", "core2", "nehalem", "atom", NULL};
    int is_generic = 0;
    for (int i = 0; core && generic[i]; i++)
        is_generic |= strcasecmp(core, generic[i]) == 0;
    __builtin_cpu_init();
    const char *better = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                         : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                           : NULL;
    /* on stderr: stdout may be a config (plastic sweep --show) */
    if (is_generic && better && pl_log_rank() == 0)
        fprintf(stderr,
                "plastic: note: OpenBLAS runs its generic %s kernel on this CPU, which has %s; "
                "OPENBLAS_CORETYPE=%s makes the GEMMs about 3x faster (results stay "
                "independent of the ranks x threads layout under any kernel)\n",
                core, strcmp(better, "SkylakeX") == 0 ? "AVX-512" : "AVX2", better);
}
