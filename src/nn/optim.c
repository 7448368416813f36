/* SGD, SGD with momentum, and Adam (adam.c) behind one interface. */
#include "plastic/nn/optim.h"

#include <string.h>

#include "plastic/common.h"

int pl_optim_parse(const char *name)
{
    if (strcmp(name, "sgd") == 0)
        return PL_OPTIM_SGD;
    if (strcmp(name, "momentum") == 0)
        return PL_OPTIM_MOMENTUM;
    if (strcmp(name, "adam") == 0)
        return PL_OPTIM_ADAM;
    return -1;
}

void pl_optim_init(pl_optim *o, pl_optim_method method, long n, float momentum, float beta1,
                   float beta2, float eps)
{
    memset(o, 0, sizeof *o);
    o->method = method;
    o->n = n;
    o->momentum = momentum;
    if (method == PL_OPTIM_MOMENTUM)
        o->velocity = pl_calloc((size_t)(n > 0 ? n : 0), sizeof *o->velocity);
    if (method == PL_OPTIM_ADAM)
        pl_adam_init(&o->adam, n, beta1, beta2, eps);
}

void pl_optim_init_config(pl_optim *o, const pl_config *cfg, long n)
{
    pl_optim_init(o, (pl_optim_method)pl_optim_parse(cfg->optim.method), n,
                  (float)cfg->optim.momentum, (float)cfg->optim.beta1, (float)cfg->optim.beta2,
                  (float)cfg->optim.eps);
}

void pl_optim_free(pl_optim *o)
{
    pl_free(o->velocity);
    if (o->method == PL_OPTIM_ADAM)
        pl_adam_free(&o->adam);
    memset(o, 0, sizeof *o);
}

void pl_optim_step(pl_optim *o, float *param, const float *grad, float lr)
{
    const long n = o->n;
    switch (o->method) {
    case PL_OPTIM_SGD:
        for (long i = 0; i < n; i++)
            param[i] -= lr * grad[i];
        break;
    case PL_OPTIM_MOMENTUM: {
        float *v = o->velocity, mu = o->momentum;
        for (long i = 0; i < n; i++) {
            v[i] = mu * v[i] + grad[i];
            param[i] -= lr * v[i];
        }
        break;
    }
    case PL_OPTIM_ADAM: pl_adam_step(&o->adam, param, grad, lr); break;
    }
}

int pl_optim_arrays(pl_optim *o, pl_optim_array out[2])
{
    switch (o->method) {
    case PL_OPTIM_MOMENTUM:
        out[0] = (pl_optim_array){"optim/velocity", o->velocity, o->n};
        return 1;
    case PL_OPTIM_ADAM:
        out[0] = (pl_optim_array){"optim/m", o->adam.m, o->n};
        out[1] = (pl_optim_array){"optim/v", o->adam.v, o->n};
        return 2;
    default: return 0;
    }
}
