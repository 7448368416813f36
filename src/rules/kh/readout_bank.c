/* A bank of readouts trained together (readout_bank.h says what and why). */
#include "rules/kh/readout_bank.h"
#include "rules/kh/readout_exact.h"
#include "rules/kh/readout_simd.h"

#include <math.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/rng.h"

enum {
    SLICE = 128,        /* examples sliced at once in the forward pass */
    ERROR_CHUNK = 1000, /* examples per forward pass in pl_readout_bank_errors */
    KR = 4,             /* gradient kernel: class rows per register tile */
    JL = 4              /* and units per register tile */
};

void pl_readout_bank_init(pl_readout_bank *k, const pl_comm *comm, int nclass, long hidden,
                          long unit0, long nunits, double n, int members, const double *m_of,
                          const double *beta_of, uint64_t seed, float init_std)
{
    memset(k, 0, sizeof *k);
    k->members = members;
    k->ro = pl_calloc((size_t)members, sizeof *k->ro);
    k->dead = pl_calloc((size_t)members, 1);
    k->live = pl_alloc((size_t)(members ? members : 1) * sizeof *k->live);
    for (int i = 0; i < members; i++)
        k->live[i] = i;
    k->nlive = members;
    for (int i = 0; i < members; i++)
        pl_readout_init(&k->ro[i], comm, nclass, hidden, unit0, nunits, n, m_of[i], beta_of[i],
                        seed, init_std);
    const size_t rows = (size_t)members * (size_t)nclass, n2 = 2 * (size_t)(nunits ? nunits : 1);
    k->S2 = pl_alloc(rows * n2 * sizeof *k->S2);
    k->H2 = pl_alloc((size_t)SLICE * n2 * sizeof *k->H2);
    k->acc = pl_alloc(rows * (n2 / 2) * sizeof *k->acc);
    k->T = pl_alloc(pl_exact_t_size((int)rows, nunits) * sizeof *k->T);
}

void pl_readout_bank_free(pl_readout_bank *k)
{
    for (int i = 0; i < k->members; i++)
        pl_readout_free(&k->ro[i]);
    pl_free(k->ro);
    pl_free(k->dead);
    pl_free(k->live);
    pl_free(k->scale);
    pl_free(k->S2);
    pl_free(k->H2);
    pl_free(k->part);
    pl_free(k->hd);
    pl_free(k->dT);
    pl_free(k->acc);
    pl_free(k->T);
    memset(k, 0, sizeof *k);
}

void pl_readout_bank_kill(pl_readout_bank *k, int i)
{
    pl_readout *r = &k->ro[i];
    if (k->dead[i])
        return;
    k->dead[i] = 1;
    int L = 0;
    for (int li = 0; li < k->nlive; li++)
        if (k->live[li] != i)
            k->live[L++] = k->live[li];
    k->nlive = L;
    memset(r->S, 0, (size_t)r->nclass * (size_t)r->nunits * sizeof *r->S);
}

/* Work space for B examples. Each member gets act and delta of B x C only
 * and keeps cap 0, so pl_readout_forward on it would reallocate its full
 * work space first. */
static void reserve(pl_readout_bank *k, int B)
{
    if (B <= k->cap)
        return;
    const int C = k->ro[0].nclass;
    const size_t rows = (size_t)k->members * (size_t)C, n = (size_t)(k->ro[0].nunits ? k->ro[0].nunits : 1);
    pl_free(k->scale), pl_free(k->part), pl_free(k->hd), pl_free(k->dT);
    k->scale = pl_alloc((rows + (size_t)B) * sizeof *k->scale);
    k->part = pl_alloc(2 * (size_t)B * rows * sizeof *k->part);
    k->hd = pl_alloc((size_t)B * n * sizeof *k->hd);
    k->dT = pl_alloc(rows * (size_t)B * sizeof *k->dT);
    for (int i = 0; i < k->members; i++) {
        pl_readout *r = &k->ro[i];
        pl_free(r->act), pl_free(r->delta);
        r->act = pl_alloc((size_t)B * (size_t)C * sizeof *r->act);
        r->delta = pl_alloc((size_t)B * (size_t)C * sizeof *r->delta);
        r->cap = 0;
    }
    k->cap = B;
}

/* The live members' class rows sliced straight into the wide kernels'
 * layout (readout_simd.h), 16 rows at a time in unit order: the same
 * slice_one per element as slice_row, so the same hi and lo. */
static void slice_wide(pl_readout_bank *k, const int *idx, int L, int bits)
{
    enum { CB = 16 };
    const int C = k->ro[0].nclass, LC = L * C;
    const long n = k->ro[0].nunits;
    const double up = ldexp(1.0, bits);
    for (int c0 = 0; c0 < LC; c0 += CB) {
        const float *s[CB];
        double scale[CB];
        for (int u = 0; u < CB; u++) {
            const int c = c0 + u;
            s[u] = c < LC ? k->ro[idx[c / C]].S + (size_t)(c % C) * (size_t)n : NULL;
            scale[u] = c < LC ? ldexp(1.0, bits - (int)k->scale[c]) : 0.0;
        }
        /* 8 units of a row sliced at once (vectorised), stored into the
         * block's 8 unit lines (2 KB, in L1 while the 16 rows fill them) */
        double *t = k->T + (size_t)c0 * 2 * (size_t)n;
        long j0 = 0;
        for (; j0 + LANES <= n; j0 += LANES)
            for (int u = 0; u < CB; u++) {
                double hi[LANES], lo[LANES];
                if (s[u])
                    for (int v = 0; v < LANES; v++)
                        slice_one(s[u][j0 + v], scale[u], up, &hi[v], &lo[v]);
                else
                    for (int v = 0; v < LANES; v++)
                        hi[v] = lo[v] = 0.0;
                for (int v = 0; v < LANES; v++) {
                    t[(size_t)(j0 + v) * 2 * CB + (size_t)u] = hi[v];
                    t[(size_t)(j0 + v) * 2 * CB + CB + (size_t)u] = lo[v];
                }
            }
        for (; j0 < n; j0++)
            for (int u = 0; u < CB; u++) {
                double *tj = t + (size_t)j0 * 2 * CB;
                if (s[u])
                    slice_one(s[u][j0], scale[u], up, &tj[u], &tj[CB + u]);
                else
                    tj[u] = tj[CB + u] = 0.0;
            }
    }
}

/* The forward pass of pl_readout_forward for the L members in idx, whose
 * class rows are stacked: row li C + c of S2 is member idx[li]'s row c. */
static void forward(pl_readout_bank *k, const int *idx, int L, const float *H, int B)
{
    reserve(k, B);
    const pl_readout *r0 = &k->ro[0];
    const int C = r0->nclass, LC = L * C;
    const long n = r0->nunits;
    const size_t n2 = 2 * (size_t)n;
    const int bits = slice_bits(r0->hidden);
    double *scale = k->scale;

    /* global row maxima: the stacked class rows, then the examples */
    for (int li = 0; li < L; li++)
        for (int c = 0; c < C; c++)
            scale[li * C + c] = absmax(k->ro[idx[li]].S + (size_t)c * (size_t)n, n);
    for (int b = 0; b < B; b++)
        scale[LC + b] = absmax(H + (size_t)b * (size_t)n, n);
    pl_allreduce_max_double(r0->comm, scale, LC + B);
    for (int i = 0; i < LC + B; i++)
        scale[i] = (double)scale_exponent(scale[i]);

    const int wide = pl_exact_wide() && n > 0 && LC > 0;
    if (wide)
        slice_wide(k, idx, L, bits);
    else
        for (int li = 0; li < L; li++)
            for (int c = 0; c < C; c++) {
                double *row = k->S2 + (size_t)(li * C + c) * n2;
                slice_row(k->ro[idx[li]].S + (size_t)c * (size_t)n, n, (int)scale[li * C + c],
                          bits, row + n, row);
            }

    /* P1 = Hhi Shi^T, P2 = Hhi Slo^T + Hlo Shi^T over all stacked rows at once */
    double *P1 = k->part, *P2 = k->part + (size_t)B * (size_t)LC;
    if (n == 0 || LC == 0) {
        memset(k->part, 0, 2 * (size_t)B * (size_t)LC * sizeof *k->part);
    } else {
        for (int b0 = 0; b0 < B; b0 += SLICE) {
            int rows = B - b0 < SLICE ? B - b0 : SLICE;
            for (int i = 0; i < rows; i++) {
                double *row = k->H2 + (size_t)i * n2;
                slice_row(H + (size_t)(b0 + i) * (size_t)n, n, (int)scale[LC + b0 + i], bits, row,
                          row + n);
            }
            if (wide)
                pl_exact_products_t(k->H2, rows, n, k->T, LC, P1 + (size_t)b0 * LC,
                                    P2 + (size_t)b0 * LC, LC);
            else
                pl_exact_products(k->H2, rows, n, k->S2, LC, P1 + (size_t)b0 * LC,
                                  P2 + (size_t)b0 * LC, LC);
        }
    }
    pl_allreduce_sum_double(r0->comm, k->part, 2 * B * LC);

    /* each member's a, with pl_readout_forward's operations */
    const double down = ldexp(1.0, -bits);
    for (int li = 0; li < L; li++) {
        double *act = k->ro[idx[li]].act;
        for (int b = 0; b < B; b++) {
            int eh = (int)scale[LC + b];
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)b * LC + (size_t)(li * C + c);
                act[(size_t)b * C + c] =
                    ldexp(P1[i] + P2[i] * down, eh + (int)scale[li * C + c] - 2 * bits);
            }
        }
    }
}

void pl_readout_bank_forward(pl_readout_bank *k, const float *H, int B)
{
    if (B <= 0)
        return;
    forward(k, k->live, k->nlive, H, B);
}

/* ---- the gradient's sums ---------------------------------------------------- */

/* Rows [r0, r1) x units [j0, j1) element by element; h's rows are ldh apart. */
static void edge(const double *dT, long ldd, int r0, int r1, const double *h, long ldh, int B,
                 long j0, long j1, double *acc, long ldacc)
{
    for (int r = r0; r < r1; r++)
        for (long j = j0; j < j1; j++) {
            double s = 0.0;
            for (int b = 0; b < B; b++)
                s += dT[(size_t)r * ldd + b] * h[(size_t)b * ldh + j];
            acc[(size_t)r * ldacc + j] = s;
        }
}

void pl_readout_grad_sum_ref(const double *dT, long ldd, int rows, const double *h, int B,
                             long n, double *acc, long ldacc)
{
    edge(dT, ldd, 0, rows, h, n, B, 0, n, acc, ldacc);
}

/* A KR x JL tile of sums held in registers while b runs over the minibatch:
 * one load of h per b serves KR rows. Per element the operations are those
 * of the reference: s = 0, then s += d h for b = 0, 1, ... (the product of
 * two floats is exact in double, so a fused multiply-add could not differ
 * either). */
static void tile(const double *restrict dT, long ldd, const double *restrict h, int B, long n,
                 double *restrict acc, long ldacc)
{
    double s[KR][JL];
    for (int r = 0; r < KR; r++)
        for (int u = 0; u < JL; u++)
            s[r][u] = 0.0;
    for (int b = 0; b < B; b++) {
        const double *hb = h + (size_t)b * n;
        for (int r = 0; r < KR; r++) {
            double d = dT[(size_t)r * ldd + b];
            for (int u = 0; u < JL; u++)
                s[r][u] += d * hb[u];
        }
    }
    for (int r = 0; r < KR; r++)
        for (int u = 0; u < JL; u++)
            acc[(size_t)r * ldacc + u] = s[r][u];
}

void pl_readout_grad_sum(const double *dT, long ldd, int rows, const double *h, int B, long n,
                         double *acc, long ldacc)
{
    /* AVX-512 where the CPU has it, over the whole tiles of its shape */
    const long jwide = n - n % 8;
    if (rows > 0 && jwide > 0 && pl_readout_grad_sum_wide(dT, ldd, rows, h, B, n, jwide, acc, ldacc)) {
        edge(dT, ldd, 0, rows, h, n, B, jwide, n, acc, ldacc);
        return;
    }
    const int rfull = rows - rows % KR;
    const long jfull = n - n % JL;
    /* units outer, so a block of h (B x JL) stays in L1 while every row passes */
    for (long j = 0; j < jfull; j += JL)
        for (int r = 0; r < rfull; r += KR)
            tile(dT + (size_t)r * ldd, ldd, h + j, B, n, acc + (size_t)r * ldacc + j, ldacc);
    /* the edges, element by element in the same order */
    edge(dT, ldd, rfull, rows, h, n, B, 0, jfull, acc, ldacc);
    edge(dT, ldd, 0, rows, h, n, B, jfull, n, acc, ldacc);
}

/* ---- training ----------------------------------------------------------------- */

void pl_readout_bank_step(pl_readout_bank *k, const float *H, const uint8_t *y, int B, float lr,
                          double *loss, long *wrong)
{
    if (B <= 0)
        return;
    const int *idx = k->live, L = k->nlive;
    forward(k, idx, L, H, B);
    const int C = k->ro[0].nclass;
    const long n = k->ro[0].nunits;
    const size_t ldd = (size_t)k->cap;
    for (int li = 0; li < L; li++) {
        pl_readout *r = &k->ro[idx[li]];
        loss[idx[li]] = pl_readout_block_loss(r, y, B, r->delta);
        wrong[idx[li]] = pl_readout_act_errors(r, y, B); /* activations before the step */
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                k->dT[(size_t)(li * C + c) * ldd + (size_t)b] =
                    (double)r->delta[(size_t)b * C + (size_t)c];
    }
    /* the features in double once for every member */
    for (size_t i = 0; i < (size_t)B * (size_t)n; i++)
        k->hd[i] = (double)H[i];
    pl_readout_grad_sum(k->dT, (long)ldd, L * C, k->hd, B, n, k->acc, n);
    for (int li = 0; li < L; li++) {
        pl_readout *r = &k->ro[idx[li]];
        const double *a = k->acc + (size_t)li * (size_t)C * (size_t)n;
        for (size_t i = 0; i < (size_t)C * (size_t)n; i++)
            r->grad[i] = (float)a[i]; /* the one rounding, as pl_readout_loss_grad */
        pl_adam_step(&r->adam, r->S, r->grad, lr);
    }
}

void pl_readout_bank_epoch(pl_readout_bank *k, const float *H, const uint8_t *y, int n,
                           uint64_t seed, int epoch, float lr, pl_readout_batch *buf,
                           double *loss_sum, long *wrong)
{
    const int size = buf->size, R = k->members;
    double *loss = pl_calloc((size_t)R, sizeof *loss);
    long *bad = pl_calloc((size_t)R, sizeof *bad);
    pl_readout_batch_shuffle(buf, n, seed, epoch);
    for (int start = 0; start < n; start += size) {
        int B = n - start < size ? n - start : size;
        pl_readout_batch_fill(buf, H, y, k->ro[0].nunits, start, B);
        pl_readout_bank_step(k, buf->h, buf->y, B, lr, loss, bad);
        for (int i = 0; i < R; i++)
            if (!k->dead[i]) {
                loss_sum[i] += loss[i];
                wrong[i] += bad[i];
            }
    }
    pl_free(loss);
    pl_free(bad);
}

void pl_readout_bank_errors(pl_readout_bank *k, const float *H, const uint8_t *y,
                            long nexamples, long *errors)
{
    const int R = k->members;
    const long n = k->ro[0].nunits;
    const int *idx = k->live, L = k->nlive;
    for (int i = 0; i < R; i++)
        errors[i] = k->dead[i] ? -1 : 0;
    for (long i0 = 0; i0 < nexamples; i0 += ERROR_CHUNK) {
        int B = (int)(nexamples - i0 < ERROR_CHUNK ? nexamples - i0 : ERROR_CHUNK);
        forward(k, idx, L, H + (size_t)i0 * (size_t)n, B);
        for (int li = 0; li < L; li++)
            errors[idx[li]] += pl_readout_act_errors(&k->ro[idx[li]], y + i0, B);
    }
}
