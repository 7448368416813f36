/* The output circuit (circuit.h). */
#include "rules/urfb/circuit.h"

static float step_fn(float x) { return x > 0.0f ? 1.0f : 0.0f; }

/* The output unit's saturation, clip(h, -1, 1). */
static float saturate(float h) { return h < -1.0f ? -1.0f : h > 1.0f ? 1.0f : h; }

float urfb_supervisor(float o, int y, float mu)
{
    const float label = y ? 1.0f : 0.0f;
    return step_fn(2.0f * label - 1.0f - o) - mu * step_fn(o + 1.0f - 2.0f * label);
}

void urfb_circuit_step(urfb_circuit *c, float h, int y, float mu)
{
    c->t = step_fn(0.5f - c->t);
    c->o = saturate(h) + c->t * c->s;
    c->s = c->t * c->s + (1.0f - c->t) * urfb_supervisor(c->o, y, mu);
}
