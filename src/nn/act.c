/* Activations. Each function switches once and runs a plain loop per
 * activation, so the loops vectorise. NaN passes through every forward
 * (comparisons are written so that NaN takes the identity branch), so a
 * diverging network shows up as NaN rather than as a silent 0. */
#include "plastic/nn/act.h"

#include <math.h>
#include <string.h>

static const char *const names[PL_ACT_COUNT] = {
    [PL_ACT_LINEAR] = "linear", [PL_ACT_TANH] = "tanh",         [PL_ACT_RELU] = "relu",
    [PL_ACT_ELU] = "elu",       [PL_ACT_SIGN] = "sign",         [PL_ACT_LOGISTIC] = "logistic",
    [PL_ACT_CLIP] = "clip",     [PL_ACT_SOFTMAX] = "softmax",
};

const char *pl_act_name(pl_act a) { return a >= 0 && a < PL_ACT_COUNT ? names[a] : "?"; }

int pl_act_parse(const char *name)
{
    for (int a = 0; a < PL_ACT_COUNT; a++)
        if (strcmp(names[a], name) == 0)
            return a;
    return -1;
}

void pl_act_forward(pl_act a, const float *h, float *z, long n)
{
    switch (a) {
    case PL_ACT_LINEAR:
        if (z != h)
            memcpy(z, h, (size_t)n * sizeof *z);
        break;
    case PL_ACT_TANH:
        for (long i = 0; i < n; i++)
            z[i] = tanhf(h[i]);
        break;
    case PL_ACT_RELU:
        for (long i = 0; i < n; i++)
            z[i] = h[i] <= 0.0f ? 0.0f : h[i];
        break;
    case PL_ACT_ELU:
        for (long i = 0; i < n; i++)
            z[i] = h[i] > 0.0f ? h[i] : expm1f(h[i]);
        break;
    case PL_ACT_SIGN:
        for (long i = 0; i < n; i++)
            z[i] = h[i] > 0.0f ? 1.0f : h[i] < 0.0f ? -1.0f : h[i] == 0.0f ? 0.0f : h[i];
        break;
    case PL_ACT_LOGISTIC:
        for (long i = 0; i < n; i++)
            z[i] = 1.0f / (1.0f + expf(-h[i]));
        break;
    case PL_ACT_CLIP:
        for (long i = 0; i < n; i++)
            z[i] = h[i] < -1.0f ? -1.0f : h[i] > 1.0f ? 1.0f : h[i];
        break;
    default: break; /* softmax: row-wise, see loss.h */
    }
}

void pl_act_deriv(pl_act a, const float *h, const float *z, float *d, long n)
{
    switch (a) {
    case PL_ACT_LINEAR:
        for (long i = 0; i < n; i++)
            d[i] = 1.0f;
        break;
    case PL_ACT_TANH:
        for (long i = 0; i < n; i++)
            d[i] = 1.0f - z[i] * z[i];
        break;
    case PL_ACT_RELU:
        for (long i = 0; i < n; i++)
            d[i] = h[i] > 0.0f ? 1.0f : 0.0f;
        break;
    case PL_ACT_ELU: /* d/dh (e^h - 1) = e^h = z + 1 */
        for (long i = 0; i < n; i++)
            d[i] = h[i] > 0.0f ? 1.0f : z[i] + 1.0f;
        break;
    case PL_ACT_SIGN:
        for (long i = 0; i < n; i++)
            d[i] = 0.0f;
        break;
    case PL_ACT_LOGISTIC:
        for (long i = 0; i < n; i++)
            d[i] = z[i] * (1.0f - z[i]);
        break;
    case PL_ACT_CLIP:
        for (long i = 0; i < n; i++)
            d[i] = h[i] > -1.0f && h[i] < 1.0f ? 1.0f : 0.0f;
        break;
    default: break;
    }
}

void pl_act_backprop(pl_act a, const float *h, const float *z, float *g, long n)
{
    switch (a) {
    case PL_ACT_LINEAR: break;
    case PL_ACT_TANH:
        for (long i = 0; i < n; i++)
            g[i] *= 1.0f - z[i] * z[i];
        break;
    case PL_ACT_RELU:
        for (long i = 0; i < n; i++)
            g[i] = h[i] > 0.0f ? g[i] : 0.0f;
        break;
    case PL_ACT_ELU:
        for (long i = 0; i < n; i++)
            g[i] *= h[i] > 0.0f ? 1.0f : z[i] + 1.0f;
        break;
    case PL_ACT_SIGN:
        for (long i = 0; i < n; i++)
            g[i] = 0.0f;
        break;
    case PL_ACT_LOGISTIC:
        for (long i = 0; i < n; i++)
            g[i] *= z[i] * (1.0f - z[i]);
        break;
    case PL_ACT_CLIP:
        for (long i = 0; i < n; i++)
            g[i] = h[i] > -1.0f && h[i] < 1.0f ? g[i] : 0.0f;
        break;
    default: break;
    }
}
