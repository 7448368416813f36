/* Output losses over a minibatch of B rows of C class outputs, with integer
 * labels. Each returns the loss summed over the rows (in double) and writes
 * scale * dL/d(outputs), scale being e.g. 1/B for the mean over a minibatch. */
#ifndef PLASTIC_NN_LOSS_H
#define PLASTIC_NN_LOSS_H

#include <stdint.h>

typedef enum pl_loss_kind { PL_LOSS_XENT, PL_LOSS_HINGE } pl_loss_kind;

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

/* Rows whose largest output (the first of equal ones) is not the label; a
 * row holding NaN counts as an error. */
long pl_count_errors(const float *out, const uint8_t *labels, int B, int C);

#endif
