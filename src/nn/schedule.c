/* Learning-rate schedules (the formulas are in schedule.h). */
#include "plastic/nn/schedule.h"

#include <math.h>
#include <string.h>

int pl_schedule_parse(const char *name)
{
    static const char *const names[] = {"const", "step", "linear", "poly"};
    for (int i = 0; i < 4; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

void pl_schedule_from_config(pl_schedule *s, const pl_config *cfg)
{
    s->kind = (pl_schedule_kind)pl_schedule_parse(cfg->optim.schedule);
    s->lr = cfg->optim.lr;
    s->gamma = cfg->optim.gamma;
    s->every = cfg->optim.step_every;
    s->power = cfg->optim.power;
    s->warmup = cfg->optim.warmup;
    s->epochs = cfg->optim.epochs;
}

double pl_schedule_lr(const pl_schedule *s, int epoch, int batch, int nbatches)
{
    double before = epoch + (double)batch / nbatches;
    double after = epoch + (double)(batch + 1) / nbatches;
    double warm = s->warmup > 0.0 && after < s->warmup ? after / s->warmup : 1.0;
    double decay = 1.0;
    if (s->kind == PL_SCHEDULE_STEP) {
        decay = pow(s->gamma, (double)(epoch / (s->every > 0 ? s->every : 1)));
    } else if (s->kind == PL_SCHEDULE_LINEAR || s->kind == PL_SCHEDULE_POLY) {
        double span = s->epochs - s->warmup;
        double u = span > 0.0 ? (before - s->warmup) / span : 0.0;
        u = u < 0.0 ? 0.0 : u > 1.0 ? 1.0 : u;
        decay = s->kind == PL_SCHEDULE_LINEAR ? 1.0 - u : pow(1.0 - u, s->power);
    }
    return s->lr * warm * decay;
}
