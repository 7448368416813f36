/* Adam (Kingma & Ba 2015) with bias-corrected moments. Every parameter is
 * updated from its own gradient and the shared step count only, so a sharded
 * parameter vector evolves exactly as the unsharded one would. */
#include "plastic/adam.h"

#include <math.h>

#include "plastic/common.h"

void pl_adam_init(pl_adam *a, long n, float beta1, float beta2, float eps)
{
    a->n = n;
    a->m = pl_calloc((size_t)(n > 0 ? n : 0), sizeof *a->m);
    a->v = pl_calloc((size_t)(n > 0 ? n : 0), sizeof *a->v);
    a->t = 0;
    a->beta1 = beta1;
    a->beta2 = beta2;
    a->eps = eps;
}

void pl_adam_free(pl_adam *a)
{
    pl_free(a->m);
    pl_free(a->v);
    a->m = a->v = NULL;
    a->n = 0;
    a->t = 0;
}

void pl_adam_step(pl_adam *a, float *param, const float *grad, float lr)
{
    a->t++;
    /* Bias corrections 1 - beta^t, in double: beta2^t approaches 1 - 1e-3 t
     * for small t, where float would lose most of the digits. */
    double t = (double)a->t;
    double bc1 = 1.0 - pow((double)a->beta1, t);
    double bc2 = 1.0 - pow((double)a->beta2, t);
    float step = (float)((double)lr / bc1);     /* lr * mhat / m */
    float vscale = (float)(1.0 / sqrt(bc2));    /* sqrt(vhat) / sqrt(v) */
    float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    float *m = a->m, *v = a->v;
    long n = a->n;
    for (long i = 0; i < n; i++) {
        float g = grad[i];
        float mi = b1 * m[i] + c1 * g;
        float vi = b2 * v[i] + c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= step * mi / (sqrtf(vi) * vscale + eps);
    }
}
