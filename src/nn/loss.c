/* Losses. Sums over a row's classes are taken in double: C is small, and
 * the loss is what training curves report. */
#include "plastic/nn/loss.h"

#include <math.h>

void pl_softmax_rows(const float *h, float *p, int B, int C)
{
    for (int r = 0; r < B; r++) {
        const float *hr = h + (long)r * C;
        float *pr = p + (long)r * C;
        float m = hr[0];
        for (int c = 1; c < C; c++)
            m = hr[c] > m ? hr[c] : m;
        double s = 0.0;
        for (int c = 0; c < C; c++) {
            pr[c] = expf(hr[c] - m);
            s += pr[c];
        }
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++)
            pr[c] *= inv;
    }
}

double pl_xent_loss(const float *logits, const uint8_t *labels, int B, int C, float scale,
                    float *grad)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *h = logits + (long)r * C;
        float *g = grad + (long)r * C;
        int y = labels[r];
        float m = h[0];
        for (int c = 1; c < C; c++)
            m = h[c] > m ? h[c] : m;
        float hy = h[y];
        double s = 0.0;
        for (int c = 0; c < C; c++) {
            g[c] = expf(h[c] - m);
            s += g[c];
        }
        loss += log(s) + (double)m - (double)hy;
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++)
            g[c] = scale * (g[c] * inv - (c == y ? 1.0f : 0.0f));
    }
    return loss;
}

double pl_hinge_loss(const float *z, const uint8_t *labels, int B, int C, float mu, float scale,
                     float *grad)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *zr = z + (long)r * C;
        float *g = grad + (long)r * C;
        int y = labels[r];
        for (int c = 0; c < C; c++) {
            float v = zr[c];
            if (c == y) {
                float gap = 1.0f - v;
                loss += gap <= 0.0f ? 0.0 : (double)gap; /* NaN passes */
                g[c] = gap > 0.0f ? -scale : 0.0f;
            } else {
                float gap = 1.0f + v;
                loss += gap <= 0.0f ? 0.0 : (double)mu * gap;
                g[c] = gap > 0.0f ? scale * mu : 0.0f;
            }
        }
    }
    return loss;
}

double pl_power_loss(const float *z, const uint8_t *labels, int B, int C, double m, double beta,
                     float scale, float *grad)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        const float *zr = z + (long)r * C;
        float *g = grad + (long)r * C;
        for (int c = 0; c < C; c++) {
            double cc = tanh(beta * (double)zr[c]);
            double d = cc - (c == labels[r] ? 1.0 : -1.0), ad = fabs(d);
            loss += pow(ad, m);
            double dm = d == 0.0 ? 0.0 : copysign(pow(ad, m - 1.0), d);
            g[c] = (float)((double)scale * m * dm * beta * (1.0 - cc * cc));
        }
    }
    return loss;
}

long pl_count_errors(const float *out, const uint8_t *labels, int B, int C)
{
    long errors = 0;
    for (int r = 0; r < B; r++) {
        const float *o = out + (long)r * C;
        int best = 0, nan = 0;
        for (int c = 0; c < C; c++) {
            nan |= isnan(o[c]);
            if (o[c] > o[best])
                best = c;
        }
        errors += nan || best != labels[r];
    }
    return errors;
}
