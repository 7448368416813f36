/* Unit tests of the supervised readout: features, exact forward pass,
 * gradient, errors, training and the learning-rate schedule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"
#include "plastic/par.h"
#include "rules/kh/readout.h"
#include "plastic/rng.h"

#include "support.h"

/* ---- helpers -------------------------------------------------------------- */

enum { SEED = 1234 }; /* of every random array here, with its own substream */

static float *normal_array(long count, double std, uint64_t sub)
{
    pl_rng rng;
    pl_rng_init(&rng, SEED, PL_STREAM_TEST, sub);
    float *a = pl_alloc((size_t)count * sizeof *a);
    for (long i = 0; i < count; i++)
        a[i] = (float)(std * pl_rng_normal(&rng));
    return a;
}

/* a[b][c] = sum_j S[c][j] H[b][j] in double; umax[b][c] = max_j|S[c][j]| *
 * max_j|H[b][j]| (the scale of the terms) if umax != NULL. */
static double *naive_act(const float *S, const float *H, int C, long n, int B, double *umax)
{
    double *a = pl_alloc((size_t)B * (size_t)C * sizeof *a);
    for (int b = 0; b < B; b++) {
        double mh = 0.0;
        for (long j = 0; j < n; j++)
            mh = fmax(mh, fabs(H[(size_t)b * n + j]));
        for (int c = 0; c < C; c++) {
            double s = 0.0, ms = 0.0;
            for (long j = 0; j < n; j++) {
                s += (double)S[(size_t)c * n + j] * (double)H[(size_t)b * n + j];
                ms = fmax(ms, fabs(S[(size_t)c * n + j]));
            }
            a[(size_t)b * C + c] = s;
            if (umax)
                umax[(size_t)b * C + c] = ms * mh;
        }
    }
    return a;
}

static double naive_loss(const double *act, const uint8_t *y, int C, long B, double beta,
                         double m)
{
    double loss = 0.0;
    for (long b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double t = y[b] == c ? 1.0 : -1.0;
            loss += pow(fabs(tanh(beta * act[(size_t)b * C + c]) - t), m);
        }
    return loss;
}

/* A readout over all `hidden` units with S replaced by a copy of S. */
static void readout_with(pl_readout *r, int C, long hidden, double m, double beta,
                         const float *S)
{
    pl_readout_init(r, pl_comm_world(), C, hidden, 0, hidden, 1.0, m, beta, 7, 0.1f);
    if (S)
        memcpy(r->S, S, (size_t)C * (size_t)hidden * sizeof *S);
}

/* ---- features ------------------------------------------------------------- */

static void test_features_match_naive(void **state)
{
    (void)state;
    const int dim = 37;
    const long K = 13, N = 1100; /* more than one SGEMM chunk */
    float *W = normal_array(K * dim, 1.5 / sqrt(dim), 1);
    float *x = alloc_uniform(N * dim, SEED, 2, -1.0, 3.0);
    memset(x + 5 * dim, 0, dim * sizeof *x);      /* a zero example */
    for (int d = 0; d < dim; d++)                  /* a large-scale example */
        x[1050 * dim + d] *= 1000.0f;
    float *H = pl_alloc((size_t)(N * K) * sizeof *H);
    const double powers[] = {1.0, 2.0, 4.5, 3.3};
    for (size_t p = 0; p < sizeof powers / sizeof *powers; p++) {
        double n = powers[p];
        pl_readout_features(W, K, dim, x, N, n, 4, 1 + (int)p % 3, H);
        long positive = 0;
        for (long i = 0; i < N; i++) {
            double ss = 0.0;
            for (int d = 0; d < dim; d++)
                ss += (double)x[i * dim + d] * x[i * dim + d];
            for (long j = 0; j < K; j++) {
                double dot = 0.0;
                for (int d = 0; d < dim; d++)
                    dot += (double)W[j * dim + d] * x[i * dim + d];
                double ref = ss > 0.0 && dot > 0.0 ? pow(dot / sqrt(ss), n) : 0.0;
                positive += ref > 0.0;
                check_close(H[i * K + j], ref, 1e-6, 1e-4, "H", i * K + j);
            }
        }
        for (long j = 0; j < K; j++)
            assert_true(H[5 * K + j] == 0.0f);
        /* Both signs occur, so the relu is exercised. */
        assert_true(positive > N * K / 5 && positive < N * K * 4 / 5);
    }
    pl_free(W);
    pl_free(x);
    pl_free(H);
}

/* The features of any block of whole tiles of units (a rank's) on any
 * number of threads are the matching columns of the features of all units
 * on one thread, bitwise; with more examples than one SGEMM chunk, and
 * last tiles of one unit. OpenBLAS is left on 2 threads, which the features
 * must not use (it would sum in another order) and must restore. */
static void test_features_subset_of_units(void **state)
{
    (void)state;
    const int dim = 50;
    const long K = 10, N = 1100;
    float *W = normal_array(K * dim, 1.0 / sqrt(dim), 3);
    float *x = alloc_uniform(N * dim, SEED, 4, 0.0, 1.0);
    float *Hall = pl_alloc((size_t)(N * K) * sizeof *Hall);
    float *Hsub = pl_alloc((size_t)(N * K) * sizeof *Hsub);
    const int tiles[] = {1, 3, 4, 16};
    const int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(2);
    for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++) {
        const long T = tiles[t];
        pl_readout_features(W, K, dim, x, N, 4.5, (int)T, 1, Hall);
        for (long u0 = 0; u0 < K; u0 += T)
            for (long u1 = u0 + T < K ? u0 + T : K;; u1 = u1 + T < K ? u1 + T : K) {
                const long nu = u1 - u0;
                for (int threads = 1; threads <= 3; threads++) {
                    memset(Hsub, 0xff, (size_t)(N * nu) * sizeof *Hsub);
                    pl_readout_features(W + u0 * dim, nu, dim, x, N, 4.5, (int)T, threads, Hsub);
                    assert_int_equal(openblas_get_num_threads(), 2);
                    for (long i = 0; i < N; i++)
                        if (memcmp(Hsub + i * nu, Hall + i * K + u0, nu * sizeof *Hsub) != 0)
                            fail_msg("tile %ld, units [%ld, %ld) on %d threads: example %ld "
                                     "differs from all units",
                                     T, u0, u1, threads, i);
                }
                if (u1 == K)
                    break;
            }
    }
    openblas_set_num_threads(blas_threads);
    pl_free(W);
    pl_free(x);
    pl_free(Hall);
    pl_free(Hsub);
}

static void test_features_nan_propagates(void **state)
{
    (void)state;
    const int dim = 8;
    const long K = 3, N = 4;
    float *W = normal_array(K * dim, 1.0, 5);
    float *x = alloc_uniform(N * dim, SEED, 6, 0.1, 1.0);
    W[1 * dim + 2] = NAN;
    float H[12];
    pl_readout_features(W, K, dim, x, N, 3.0, 2, 2, H);
    for (long i = 0; i < N; i++) {
        assert_true(isnan(H[i * K + 1]));
        assert_false(isnan(H[i * K + 0]));
    }
    pl_free(W);
    pl_free(x);
}

/* ---- init ----------------------------------------------------------------- */

static void test_init_partition_independent(void **state)
{
    (void)state;
    const int C = 10;
    pl_readout all, part, other;
    pl_readout_init(&all, pl_comm_world(), C, 10, 0, 10, 4.5, 6, 0.1, 42, 0.3f);
    pl_readout_init(&part, pl_comm_world(), C, 10, 3, 4, 4.5, 6, 0.1, 42, 0.3f);
    pl_readout_init(&other, pl_comm_world(), C, 10, 0, 10, 4.5, 6, 0.1, 43, 0.3f);
    double sum2 = 0.0;
    long differ = 0;
    for (int c = 0; c < C; c++) {
        for (long j = 0; j < 4; j++)
            assert_true(part.S[c * 4 + j] == all.S[c * 10 + 3 + j]);
        for (long j = 0; j < 10; j++) {
            sum2 += (double)all.S[c * 10 + j] * all.S[c * 10 + j];
            differ += all.S[c * 10 + j] != other.S[c * 10 + j];
        }
    }
    /* Scaled normals (loose bounds on the sample std of 100 draws), and a
     * different seed gives a different S. */
    double std = sqrt(sum2 / (C * 10));
    assert_true(std > 0.2 && std < 0.4);
    assert_true(differ == C * 10);
    for (long i = 0; i < C * 4; i++) {
        assert_true(part.grad[i] == 0.0f);
        assert_true(part.adam.m[i] == 0.0f && part.adam.v[i] == 0.0f);
    }
    assert_int_equal(part.adam.n, C * 4);
    pl_readout_free(&all);
    pl_readout_free(&part);
    pl_readout_free(&other);
}

/* ---- forward -------------------------------------------------------------- */

static void test_forward_matches_naive(void **state)
{
    (void)state;
    const int C = 4, B = 300; /* more than one slice block */
    const long K = 50;
    const double beta = 0.7;
    float *S = normal_array(C * K, 0.5, 7);
    float *H = alloc_uniform(B * K, SEED, 8, -0.5, 1.0);
    /* Feature-like rows: zeros and a wide dynamic range. */
    for (long i = 0; i < B * K; i++)
        H[i] = H[i] <= 0.0f ? 0.0f : powf(H[i], 4.5f);
    memset(H + 17 * K, 0, K * sizeof *H);
    for (long j = 0; j < K; j++)
        H[40 * K + j] *= 1e6f;
    S[2 * K + 5] = 1e-30f; /* tiny entries are harmless */
    pl_readout r;
    readout_with(&r, C, K, 6, beta, S);
    float *c = pl_alloc((size_t)(B * C) * sizeof *c);
    pl_readout_forward(&r, H, B, c);
    double *umax = pl_alloc((size_t)(B * C) * sizeof *umax);
    double *ref = naive_act(S, H, C, K, B, umax);
    for (long i = 0; i < B * C; i++) {
        check_close(r.act[i], ref[i], 1e-11 * umax[i], 1e-13, "act", i);
        check_close(c[i], tanh(beta * ref[i]), 1e-7, 1e-6, "c", i);
    }
    for (int k = 0; k < C; k++)
        assert_true(r.act[17 * C + k] == 0.0);
    pl_readout_free(&r);
    pl_free(S);
    pl_free(H);
    pl_free(c);
    pl_free(umax);
    pl_free(ref);
}

/* The activations are exact sums, so reordering the units (as a different
 * partition over ranks would regroup them) leaves them bitwise unchanged. */
static void test_forward_order_independent(void **state)
{
    (void)state;
    const int C = 10, B = 64;
    const long K = 777;
    float *S = normal_array(C * K, 0.05, 9);
    float *H = alloc_uniform(B * K, SEED, 10, -1.0, 1.0);
    for (long i = 0; i < B * K; i++)
        H[i] = H[i] <= 0.0f ? 0.0f : powf(H[i], 3.0f);
    int *perm = pl_alloc(K * sizeof *perm);
    pl_rng rng;
    pl_rng_init(&rng, SEED, PL_STREAM_TEST, 11);
    pl_rng_permutation(&rng, perm, (int)K);
    float *Sp = pl_alloc((size_t)(C * K) * sizeof *Sp);
    float *Hp = pl_alloc((size_t)(B * K) * sizeof *Hp);
    for (long j = 0; j < K; j++) {
        for (int c = 0; c < C; c++)
            Sp[c * K + j] = S[c * K + perm[j]];
        for (int b = 0; b < B; b++)
            Hp[b * K + j] = H[b * K + perm[j]];
    }
    pl_readout r1, r2;
    readout_with(&r1, C, K, 6, 0.1, S);
    readout_with(&r2, C, K, 6, 0.1, Sp);
    pl_readout_forward(&r1, H, B, NULL);
    pl_readout_forward(&r2, Hp, B, NULL);
    assert_memory_equal(r1.act, r2.act, (size_t)(B * C) * sizeof(double));

    /* The same holds for the loss, the delta and, column by column, the
     * gradient. */
    uint8_t *y = alloc_labels(B, C, SEED, 12);
    double l1 = pl_readout_loss_grad(&r1, H, y, B);
    double l2 = pl_readout_loss_grad(&r2, Hp, y, B);
    assert_true(l1 == l2);
    assert_memory_equal(r1.delta, r2.delta, (size_t)(B * C) * sizeof(float));
    for (long j = 0; j < K; j++)
        for (int c = 0; c < C; c++)
            assert_true(r2.grad[c * K + j] == r1.grad[c * K + perm[j]]);
    pl_readout_free(&r1);
    pl_readout_free(&r2);
    pl_free(S);
    pl_free(H);
    pl_free(Sp);
    pl_free(Hp);
    pl_free(perm);
    pl_free(y);
}

/* A rank without units contributes nothing: a = 0, c = 0, loss = B C. */
static void test_forward_no_local_units(void **state)
{
    (void)state;
    pl_readout r;
    pl_readout_init(&r, pl_comm_world(), 3, 5, 5, 0, 1.0, 4, 0.5, 1, 0.1f);
    uint8_t y[4] = {0, 1, 2, 1};
    float H[1] = {0.0f}; /* zero columns */
    double loss = pl_readout_loss_grad(&r, H, y, 4);
    for (int i = 0; i < 12; i++)
        assert_true(r.act[i] == 0.0);
    check_close(loss, 12.0, 0.0, 1e-15, "loss", 0);
    pl_readout_free(&r);
}

/* ---- loss and gradient ---------------------------------------------------- */

static void test_loss_consistent_with_forward(void **state)
{
    (void)state;
    const int C = 5, B = 40;
    const long K = 30;
    const double m = 6, beta = 0.3;
    float *S = normal_array(C * K, 1.0, 13);
    float *H = alloc_uniform(B * K, SEED, 14, 0.0, 1.0);
    uint8_t *y = alloc_labels(B, C, SEED, 15);
    pl_readout r;
    readout_with(&r, C, K, m, beta, S);
    float *c = pl_alloc((size_t)(B * C) * sizeof *c);
    pl_readout_forward(&r, H, B, c);
    double by_hand = 0.0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < C; k++)
            by_hand += pow(fabs((double)c[b * C + k] - (y[b] == k ? 1.0 : -1.0)), m);
    double loss = pl_readout_loss_grad(&r, H, y, B);
    check_close(loss, by_hand, 0.0, 1e-5, "loss", 0);
    /* Labels matter: a loss of random predictions is well away from 0. */
    assert_true(loss > 1.0);

    /* The errors pass reports the same summed loss. */
    double eloss = -1.0;
    pl_readout_errors(&r, H, y, B, &eloss);
    check_close(eloss, loss, 0.0, 1e-12, "errors loss", 0);

    /* delta = dLoss/da, by hand from a. */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < C; k++) {
            double cc = tanh(beta * r.act[b * C + k]);
            double d = cc - (y[b] == k ? 1.0 : -1.0);
            double ref = m * pow(fabs(d), m - 1) * (d > 0 ? 1 : -1) * beta * (1 - cc * cc);
            check_close(r.delta[b * C + k], ref, 1e-12, 1e-6, "delta", b * C + k);
        }
    pl_readout_free(&r);
    pl_free(S);
    pl_free(H);
    pl_free(y);
    pl_free(c);
}

static void check_gradient_fd(double m, double beta)
{
    const int C = 3, B = 5;
    const long K = 7;
    float *S = normal_array(C * K, 0.6, 16);
    float *H = alloc_uniform(B * K, SEED, 17, 0.0, 1.0);
    uint8_t *y = alloc_labels(B, C, SEED, 18);
    pl_readout r;
    readout_with(&r, C, K, m, beta, S);
    pl_readout_loss_grad(&r, H, y, B);
    float *grad = pl_alloc((size_t)(C * K) * sizeof *grad);
    memcpy(grad, r.grad, (size_t)(C * K) * sizeof *grad);
    double gmax = 0.0;
    for (long i = 0; i < C * K; i++) {
        float s0 = S[i];
        float sp = s0 + 1e-3f, sm = s0 - 1e-3f;
        r.S[i] = sp;
        double lp = pl_readout_loss_grad(&r, H, y, B);
        r.S[i] = sm;
        double lm = pl_readout_loss_grad(&r, H, y, B);
        r.S[i] = s0;
        double fd = (lp - lm) / ((double)sp - (double)sm);
        check_close(grad[i], fd, 1e-5, 1e-4, "grad", i);
        gmax = fmax(gmax, fabs(fd));
    }
    assert_true(gmax > 1e-2); /* the comparison is not between zeros */
    pl_readout_free(&r);
    pl_free(S);
    pl_free(H);
    pl_free(y);
    pl_free(grad);
}

static void test_gradient_fd_m4(void **state)
{
    (void)state;
    check_gradient_fd(4.0, 0.5);
}

static void test_gradient_fd_m6(void **state)
{
    (void)state;
    check_gradient_fd(6.0, 0.5);
}

static void test_gradient_fd_m_fractional(void **state)
{
    (void)state;
    check_gradient_fd(2.5, 0.8);
}

/* ---- errors --------------------------------------------------------------- */

static void test_errors_match_naive(void **state)
{
    (void)state;
    const int C = 5;
    const long K = 20, N = 2345; /* several chunks */
    const double m = 4, beta = 0.2;
    float *S = normal_array(C * K, 1.0, 19);
    float *H = alloc_uniform(N * K, SEED, 20, 0.0, 1.0);
    uint8_t *y = alloc_labels(N, C, SEED, 21);
    pl_readout r;
    readout_with(&r, C, K, m, beta, S);
    double loss;
    long errors = pl_readout_errors(&r, H, y, N, &loss);
    double *act = naive_act(S, H, C, K, (int)N, NULL);
    long ref = 0;
    for (long b = 0; b < N; b++) {
        int best = 0;
        for (int k = 1; k < C; k++)
            if (act[b * C + k] > act[b * C + best])
                best = k;
        ref += best != y[b];
    }
    assert_int_equal(errors, ref);
    assert_true(errors > N / 2); /* random S: mostly wrong */
    check_close(loss, naive_loss(act, y, C, N, beta, m), 0.0, 1e-10, "loss", 0);
    assert_int_equal(pl_readout_errors(&r, H, y, N, NULL), errors);
    pl_readout_free(&r);
    pl_free(S);
    pl_free(H);
    pl_free(y);
    pl_free(act);
}

static void test_errors_ties_to_lower_class(void **state)
{
    (void)state;
    const int C = 4, N = 50;
    const long K = 6;
    float *H = alloc_uniform(N * K, SEED, 22, 0.1, 1.0);
    uint8_t *y = alloc_labels(N, C, SEED, 23);
    pl_readout r;
    readout_with(&r, C, K, 4, 1.0, NULL);
    /* S = 0: every class ties, so class 0 is predicted. */
    memset(r.S, 0, (size_t)(C * K) * sizeof *r.S);
    long wrong0 = 0, wrong1 = 0;
    for (int b = 0; b < N; b++) {
        wrong0 += y[b] != 0;
        wrong1 += y[b] != 1;
    }
    assert_int_equal(pl_readout_errors(&r, H, y, N, NULL), wrong0);
    /* Classes 1 and 3 tie above the others: class 1 is predicted. */
    for (long j = 0; j < K; j++) {
        r.S[1 * K + j] = 0.5f;
        r.S[3 * K + j] = 0.5f;
        r.S[2 * K + j] = 0.25f;
    }
    assert_int_equal(pl_readout_errors(&r, H, y, N, NULL), wrong1);
    pl_readout_free(&r);
    pl_free(H);
    pl_free(y);
}

/* ---- training ------------------------------------------------------------- */

static void test_training_separable(void **state)
{
    (void)state;
    const int C = 3, N = 20;
    const long K = 8;
    /* Class k lights up features 2k and 2k+1 on top of noise. */
    float *H = alloc_uniform(N * K, SEED, 24, 0.0, 0.4);
    uint8_t y[20];
    for (int b = 0; b < N; b++) {
        y[b] = (uint8_t)(b % C);
        H[b * K + 2 * y[b]] += 0.6f;
        H[b * K + 2 * y[b] + 1] += 0.6f;
    }
    pl_readout r;
    pl_readout_init(&r, pl_comm_world(), C, K, 0, K, 1.0, 4, 1.0, 5, 0.1f);
    double first = 0.0, last = 0.0;
    long rises = 0;
    for (int it = 0; it < 300; it++) {
        double loss = pl_readout_step(&r, H, y, N, 0.02f);
        assert_true(isfinite(loss));
        if (it == 0)
            first = loss;
        else if (loss > last)
            rises++;
        last = loss;
    }
    double final_loss;
    long errors = pl_readout_errors(&r, H, y, N, &final_loss);
    assert_int_equal(errors, 0);
    assert_true(final_loss < 0.1 * first);
    assert_true(rises < 30);
    assert_int_equal(r.adam.t, 300);
    pl_readout_free(&r);
    pl_free(H);
}

/* pl_readout_step = loss_grad + one Adam step: it returns the loss before
 * the update, and the first bias-corrected Adam step moves every parameter
 * by about lr against its gradient. */
static void test_step_is_loss_grad_plus_adam(void **state)
{
    (void)state;
    const int C = 3, B = 10;
    const long K = 12;
    const float lr = 1e-3f;
    float *H = alloc_uniform(B * K, SEED, 25, 0.0, 1.0);
    uint8_t *y = alloc_labels(B, C, SEED, 26);
    pl_readout r;
    pl_readout_init(&r, pl_comm_world(), C, K, 0, K, 1.0, 6, 0.5, 9, 0.2f);
    float *S0 = pl_alloc((size_t)(C * K) * sizeof *S0);
    memcpy(S0, r.S, (size_t)(C * K) * sizeof *S0);
    double loss = pl_readout_loss_grad(&r, H, y, B);
    double step_loss = pl_readout_step(&r, H, y, B, lr);
    assert_true(loss == step_loss);
    for (long i = 0; i < C * K; i++) {
        double g = r.grad[i];
        assert_true(fabs(g) > 1e-4);
        double expect = -(double)lr * (g > 0 ? 1 : -1);
        check_close((double)r.S[i] - S0[i], expect, 1e-7, 1e-3, "dS", i);
    }
    pl_readout_free(&r);
    pl_free(H);
    pl_free(y);
    pl_free(S0);
}

/* ---- learning rate -------------------------------------------------------- */

static void test_lr_paper_schedule(void **state)
{
    (void)state;
    const double lr0 = 1e-3;
    const int epochs[] = {0, 99, 100, 149, 150, 199, 200, 249, 250, 299};
    const double factor[] = {1, 1, 0.5, 0.5, 0.1, 0.1, 0.05, 0.05, 0.01, 0.01};
    for (size_t i = 0; i < sizeof epochs / sizeof *epochs; i++)
        check_close(pl_readout_lr(lr0, epochs[i], 300), lr0 * factor[i], 0.0, 1e-12, "lr",
                    epochs[i]);
    /* The paper's absolute values. */
    check_close(pl_readout_lr(1e-3, 120, 300), 5e-4, 0.0, 1e-12, "lr", 120);
    check_close(pl_readout_lr(1e-3, 180, 300), 1e-4, 0.0, 1e-12, "lr", 180);
    check_close(pl_readout_lr(1e-3, 220, 300), 5e-5, 0.0, 1e-12, "lr", 220);
    check_close(pl_readout_lr(1e-3, 280, 300), 1e-5, 0.0, 1e-12, "lr", 280);
}

static void test_lr_stretched(void **state)
{
    (void)state;
    const double lr0 = 0.1;
    /* 30 epochs: boundaries at 10, 15, 20, 25. */
    const int epochs[] = {0, 9, 10, 14, 15, 19, 20, 24, 25, 29};
    const double factor[] = {1, 1, 0.5, 0.5, 0.1, 0.1, 0.05, 0.05, 0.01, 0.01};
    for (size_t i = 0; i < sizeof epochs / sizeof *epochs; i++)
        check_close(pl_readout_lr(lr0, epochs[i], 30), lr0 * factor[i], 0.0, 1e-12, "lr",
                    epochs[i]);
    check_close(pl_readout_lr(lr0, 0, 1), lr0, 0.0, 0.0, "lr", 0);
    /* Any length: starts at lr0, never increases, ends at lr0 / 100 once the
     * run is long enough to reach the last phase. */
    for (int E = 1; E <= 400; E++) {
        double prev = pl_readout_lr(lr0, 0, E);
        assert_true(prev == lr0);
        for (int e = 1; e < E; e++) {
            double lr = pl_readout_lr(lr0, e, E);
            assert_true(lr <= prev);
            prev = lr;
        }
        if (E >= 6)
            check_close(prev, lr0 * 0.01, 0.0, 1e-12, "last lr", E);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_match_naive),
        cmocka_unit_test(test_features_subset_of_units),
        cmocka_unit_test(test_features_nan_propagates),
        cmocka_unit_test(test_init_partition_independent),
        cmocka_unit_test(test_forward_matches_naive),
        cmocka_unit_test(test_forward_order_independent),
        cmocka_unit_test(test_forward_no_local_units),
        cmocka_unit_test(test_loss_consistent_with_forward),
        cmocka_unit_test(test_gradient_fd_m4),
        cmocka_unit_test(test_gradient_fd_m6),
        cmocka_unit_test(test_gradient_fd_m_fractional),
        cmocka_unit_test(test_errors_match_naive),
        cmocka_unit_test(test_errors_ties_to_lower_class),
        cmocka_unit_test(test_training_separable),
        cmocka_unit_test(test_step_is_loss_grad_plus_adam),
        cmocka_unit_test(test_lr_paper_schedule),
        cmocka_unit_test(test_lr_stretched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
