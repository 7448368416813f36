/* Activations. Each function switches once and runs a plain loop per
 * activation, so the loops vectorise. NaN passes through every forward
 * (comparisons are written so that NaN takes the identity branch), so a
 * diverging network shows up as NaN rather than as a silent 0. */
#include "plastic/nn/act.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[PL_ACT_COUNT] = {
    [PL_ACT_LINEAR] = "linear", [PL_ACT_TANH] = "tanh",         [PL_ACT_RELU] = "relu",
    [PL_ACT_ELU] = "elu",       [PL_ACT_SIGN] = "sign",         [PL_ACT_LOGISTIC] = "logistic",
    [PL_ACT_CLIP] = "clip",     [PL_ACT_SOFTMAX] = "softmax",   [PL_ACT_REPU] = "relu^",
};

const char *pl_act_name(pl_act a) { return a >= 0 && a < PL_ACT_COUNT ? names[a] : "?"; }

int pl_act_parse(const char *name) { return pl_act_parse_power(name, NULL); }

int pl_act_parse_power(const char *name, float *power)
{
    if (strncmp(name, "relu^", 5) == 0) {
        char *end;
        double n = strtod(name + 5, &end);
        if (end == name + 5 || *end || !(n > 0.0 && n <= 64.0))
            return -1;
        if (power)
            *power = (float)n;
        return PL_ACT_REPU;
    }
    for (int a = 0; a < PL_ACT_COUNT; a++)
        if (a != PL_ACT_REPU && strcmp(names[a], name) == 0)
            return a;
    return -1;
}

const char *pl_act_text(pl_act a, float power, char *buf, size_t size)
{
    if (a == PL_ACT_REPU)
        snprintf(buf, size, "relu^%g", (double)power);
    else
        snprintf(buf, size, "%s", pl_act_name(a));
    return buf;
}

/* e^y - 1 for |y| <= 40, in float arithmetic that vectorises (libm's tanhf
 * and expm1f are scalar calls: a fifth of a tanh network's step). y = n ln2
 * + r with |r| <= ln2 / 2 (n rounded by adding and removing 1.5 * 2^23, ln2
 * in two parts so that n ln2 is exact), e^r - 1 by its Taylor series to r^7
 * (the next term is below 2e-8 of the sum), and e^y - 1 = 2^n (e^r - 1) +
 * (2^n - 1), which for n = 0 is the series alone: no cancellation near 0.
 * Within a few float ulp of expm1 (tests/unit/test_elementwise.c). */
static inline float expm1_kernel(float y)
{
    const float shift = 12582912.0f;
    const float n = (y * 1.44269504088896341f + shift) - shift;
    const float r = (y - n * 0.693145751953125f) - n * 1.42860682030941723e-06f;
    const float q =
        r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                   r * (1.0f / 720 + r * (1.0f / 5040)))))));
    union { int32_t i; float f; } two_n = {.i = ((int32_t)n + 127) << 23};
    return two_n.f * q + (two_n.f - 1.0f);
}

/* tanh x = E / (E + 2) with E = e^(2|x|) - 1, the sign of x; |x| >= 9 gives
 * 1 (as tanhf does in float), NaN stays NaN. */
static inline float tanh_kernel(float x)
{
    float a = fabsf(x);
    a = a > 9.0f ? 9.0f : a;
    a = a == a ? a : 0.0f; /* NaN: computed on 0, returned as x below */
    const float e = expm1_kernel(2.0f * a);
    const float t = copysignf(e / (e + 2.0f), x);
    return x == x ? t : x;
}

/* elu: h for h > 0, e^h - 1 below (e^-40 - 1 rounds to -1); NaN stays NaN. */
static inline float elu_kernel(float h)
{
    float y = h < -40.0f ? -40.0f : h;
    y = y <= 0.0f ? y : 0.0f; /* and NaN becomes 0 */
    const float e = expm1_kernel(y);
    return h > 0.0f || h != h ? h : e;
}

/* relu(h)^n, NaN passing through the power. */
static inline float repu_kernel(float h, float n) { return h <= 0.0f ? 0.0f : powf(h, n); }

/* d/dh relu(h)^n = n h^(n - 1) above 0, else 0. */
static inline float repu_deriv(float h, float n)
{
    return h > 0.0f ? n * powf(h, n - 1.0f) : (h == h ? 0.0f : h);
}

void pl_act_forward(pl_act a, const float *h, float *z, long n)
{
    pl_act_forward_p(a, 1.0f, h, z, n);
}

void pl_act_forward_p(pl_act a, float power, const float *h, float *z, long n)
{
    switch (a) {
    case PL_ACT_REPU:
        for (long i = 0; i < n; i++)
            z[i] = repu_kernel(h[i], power);
        break;
    case PL_ACT_LINEAR:
        if (z != h)
            memcpy(z, h, (size_t)n * sizeof *z);
        break;
    case PL_ACT_TANH:
        for (long i = 0; i < n; i++)
            z[i] = tanh_kernel(h[i]);
        break;
    case PL_ACT_RELU:
        for (long i = 0; i < n; i++)
            z[i] = h[i] <= 0.0f ? 0.0f : h[i];
        break;
    case PL_ACT_ELU:
        for (long i = 0; i < n; i++)
            z[i] = elu_kernel(h[i]);
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
    pl_act_deriv_p(a, 1.0f, h, z, d, n);
}

void pl_act_deriv_p(pl_act a, float power, const float *h, const float *z, float *d, long n)
{
    switch (a) {
    case PL_ACT_REPU:
        for (long i = 0; i < n; i++)
            d[i] = repu_deriv(h[i], power);
        break;
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
    pl_act_backprop_p(a, 1.0f, h, z, g, n);
}

void pl_act_backprop_p(pl_act a, float power, const float *h, const float *z, float *g, long n)
{
    switch (a) {
    case PL_ACT_REPU:
        for (long i = 0; i < n; i++)
            g[i] *= repu_deriv(h[i], power);
        break;
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
