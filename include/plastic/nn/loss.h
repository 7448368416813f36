/* Output losses over a minibatch of B rows of C class outputs, with integer
 * labels. Each returns the loss summed over the rows (in double) and writes
 * scale * dL/d(outputs), scale being e.g. 1/B for the mean over a minibatch. */
#ifndef PLASTIC_NN_LOSS_H
#define PLASTIC_NN_LOSS_H

#include <stdint.h>

typedef enum pl_loss_kind { PL_LOSS_XENT, PL_LOSS_HINGE, PL_LOSS_POWER } pl_loss_kind;

/* p = softmax(h) per row, computed stably (the row maximum subtracted).
 * p may be h. */
void pl_softmax_rows(const float *h, float *p, int B, int C);

/* Cross-entropy of softmax(logits) against the labels:
 * L = sum_rows (logsumexp(h) - h_y); grad = scale (softmax(h) - onehot(y)),
 * the gradient with respect to the logits. grad may be logits. */
double pl_xent_loss(const float *logits, const uint8_t *labels, int B, int C, float scale,
                    float *grad);

/* Multi-class hinge: the target output is pushed above +1 and every other
 * below -1, the non-targets weighted by mu:
 * L = sum_rows [ max(0, 1 - z_y) + mu sum_{c != y} max(0, 1 + z_c) ];
 * grad = scale dL/dz (0 at the kinks). grad may be z. */
double pl_hinge_loss(const float *z, const uint8_t *labels, int B, int C, float mu, float scale,
                     float *grad);

/* Krotov & Hopfield's readout loss (PNAS 2019, Eq. 11) on linear outputs z:
 * c = tanh(beta z), t = +1 for the label and -1 for the other classes,
 * L = sum_rows sum_c |c - t|^m (m >= 1); grad = scale dL/dz
 *   = scale m |c - t|^(m-1) sign(c - t) beta (1 - c^2). grad may be z. */
double pl_power_loss(const float *z, const uint8_t *labels, int B, int C, double m, double beta,
                     float scale, float *grad);

/* Rows whose largest output (the first of equal ones) is not the label; a
 * row holding NaN counts as an error. */
long pl_count_errors(const float *out, const uint8_t *labels, int B, int C);

#endif
