/* Adam (Kingma & Ba 2015) for float parameters, with bias correction. */
#ifndef PLASTIC_ADAM_H
#define PLASTIC_ADAM_H

typedef struct pl_adam {
    long n;        /* parameters */
    float *m, *v;  /* first and second moments */
    long t;        /* steps taken */
    float beta1, beta2, eps;
} pl_adam;

void pl_adam_init(pl_adam *a, long n, float beta1, float beta2, float eps);
void pl_adam_free(pl_adam *a);
/* param -= lr * mhat / (sqrt(vhat) + eps), moments updated from grad. */
void pl_adam_step(pl_adam *a, float *param, const float *grad, float lr);

#endif
