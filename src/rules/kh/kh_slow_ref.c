/* Competing hidden units, slow form, literal reference: Eqs. 8, 9 and 3 of
 * kh_slow.h formed densely as written, in double where they sum, serial.
 * The yardstick of kh_slow.c, and `kh.impl = naive` with kh.dynamics = slow. */
#include "rules/kh/kh_slow.h"
#include "rules/kh/kh_ref.h"
#include "plastic/common.h"

#include <math.h>
#include <string.h>

static double relu(double x) { return x > 0.0 ? x : 0.0; }

/* Euler steps of tau dh/dt = I - w_inh sum_{nu != mu} r(h_nu) - h from
 * h = 0 for all K x B pairs at once; the stop and cap of kh_slow.h. Returns
 * the steps, or -1 if h is not finite. */
static int reference_settle(const double *I, double *h, long K, int B,
                            const pl_kh_slow_params *prm, int *capped)
{
    double *next = pl_alloc((size_t)K * (size_t)B * sizeof *next);
    memset(h, 0, (size_t)K * (size_t)B * sizeof *h);
    int steps = -1;
    *capped = 0;
    for (int step = 1; step <= prm->max_steps && steps < 0; step++) {
        double maxd = 0.0;
        int finite = 1;
        for (int b = 0; b < B; b++) {
            double total = 0.0; /* sum over all units of r(h) */
            for (long nu = 0; nu < K; nu++)
                total += relu(h[nu * B + b]);
            for (long mu = 0; mu < K; mu++) {
                double others = total - relu(h[mu * B + b]);
                double dh = prm->dt * (I[mu * B + b] - prm->w_inh * others - h[mu * B + b]);
                next[mu * B + b] = h[mu * B + b] + dh;
                if (!isfinite(dh))
                    finite = 0;
                else if (fabs(dh) > maxd)
                    maxd = fabs(dh);
            }
        }
        memcpy(h, next, (size_t)K * (size_t)B * sizeof *h);
        if (!finite) {
            pl_free(next);
            return -1;
        }
        if (maxd < prm->tol)
            steps = step;
    }
    pl_free(next);
    if (steps < 0) {
        *capped = 1;
        steps = prm->max_steps;
    }
    return steps;
}

int pl_kh_slow_reference_step(float *W, long hidden, int dim, double p, float delta,
                              const pl_kh_slow_params *prm, const float *X, int B, float eps,
                              double *h_out, int *steps_out, int *capped_out)
{
    const size_t K = (size_t)hidden, N = (size_t)dim;
    double *I = pl_alloc(K * (size_t)B * sizeof *I);
    double *h = pl_alloc(K * (size_t)B * sizeof *h);
    double *dW = pl_alloc(K * N * sizeof *dW);

    /* I_mu,b = sum_i sign(W_mu,i) |W_mu,i|^(p-1) x_b,i, rounded to float */
    pl_kh_reference_currents(W, K, N, p, X, B, I);

    int capped = 0;
    const int steps = reference_settle(I, h, (long)K, B, prm, &capped);
    int status = steps < 0 ? PL_EXIT_DIVERGED : 0;

    /* dW_mu,i = sum_b g(h_mu,b) (x_b,i - I_mu,b W_mu,i), nc = max |dW| */
    double nc = 0.0;
    for (size_t mu = 0; mu < K && status == 0; mu++)
        for (size_t i = 0; i < N; i++) {
            double d = 0.0;
            for (int b = 0; b < B; b++) {
                double g = pl_kh_slow_g(h[mu * B + b], prm->h_star, delta);
                d += g * (X[(size_t)b * N + i] - I[mu * B + b] * W[mu * N + i]);
            }
            dW[mu * N + i] = d;
            if (!isfinite(d))
                status = PL_EXIT_DIVERGED;
            else if (fabs(d) > nc)
                nc = fabs(d);
        }
    if (status == 0) {
        double scale = eps;
        if (prm->normalize)
            scale = eps / (nc > 1e-30 ? nc : 1e-30);
        for (size_t j = 0; j < K * N; j++)
            W[j] = (float)(W[j] + scale * dW[j]);
    }
    if (h_out)
        memcpy(h_out, h, K * (size_t)B * sizeof *h);
    if (steps_out)
        *steps_out = steps;
    if (capped_out)
        *capped_out = capped;
    pl_free(I);
    pl_free(h);
    pl_free(dW);
    return status;
}
