/* Learning-rate schedules. With E = epochs, w = warm-up epochs, and the
 * position in training before a step s = epoch + batch / nbatches and after
 * it t = s + 1 / nbatches, the rate of that step is
 *     lr * warm * decay
 *     warm  = t / w while t < w, else 1          (linear warm-up)
 *     const:  decay = 1
 *     step:   decay = gamma ^ floor(epoch / every)
 *     linear: decay = 1 - u
 *     poly:   decay = (1 - u) ^ power,    u = clamp((s - w) / (E - w), 0, 1)
 * Warm-up looks after the step and decay before it, so neither the first
 * step nor the last has a zero rate. */
#ifndef PLASTIC_NN_SCHEDULE_H
#define PLASTIC_NN_SCHEDULE_H

#include "plastic/config.h"

typedef enum pl_schedule_kind {
    PL_SCHEDULE_CONST,
    PL_SCHEDULE_STEP,
    PL_SCHEDULE_LINEAR,
    PL_SCHEDULE_POLY
} pl_schedule_kind;

typedef struct pl_schedule {
    pl_schedule_kind kind;
    double lr, gamma, power, warmup;
    int every, epochs;
} pl_schedule;

/* "const" | "step" | "linear" | "poly", or -1. */
int pl_schedule_parse(const char *name);
/* From [optim]: lr, schedule, gamma, step_every, power, warmup, epochs. */
void pl_schedule_from_config(pl_schedule *s, const pl_config *cfg);
/* The rate of minibatch `batch` (0-based) of `nbatches` in epoch `epoch`. */
double pl_schedule_lr(const pl_schedule *s, int epoch, int batch, int nbatches);

#endif
