/* Naive references of rec-LRA's kernels (lra.h): the same equations as
 * loops in double precision, element by element, for the tests. */
#include "rules/reclra/lra.h"

#include <string.h>

#include "plastic/common.h"
#include "plastic/nn/nn_ref.h"

void lra_ref_targets(const lra *a, pl_net *net, int row0, int rows)
{
    for (int i = 0; i < a->n; i++) {
        const lra_synapse *s = &a->syn[i];
        pl_layer *D = &net->layers[s->dst];
        const pl_layer *S = &net->layers[s->src];
        const float *E = a->E + s->offset;
        if (s->conv)
            pl_ref_conv_backward_input(&S->conv, a->d + s->d_offset + (size_t)row0 * s->rows,
                                       S->delta + (size_t)row0 * s->cols, E, rows);
        for (int r = row0; r < row0 + rows; r++) {
            const float *es = S->delta + (size_t)r * s->cols;
            for (int u = 0; u < s->rows; u++) {
                const size_t k = (size_t)r * s->rows + u;
                double d = 0.0;
                if (s->conv)
                    d = a->d[s->d_offset + k];
                else
                    for (int v = 0; v < s->cols; v++)
                        d += (double)E[(size_t)u * s->cols + v] * es[v];
                a->d[s->d_offset + k] = (float)d;
                double y = pl_ref_act(D->spec.act, D->h[k] - (double)a->beta * d);
                D->delta[k] = (float)(D->z[k] - y);
            }
        }
    }
}

void lra_ref_synapse_increment(const lra *a, const pl_net *net, int i, int row0, int rows,
                               float *out)
{
    const lra_synapse *s = &a->syn[i];
    memset(out, 0, (size_t)s->e_rows * (size_t)s->e_cols * sizeof *out);
    if (a->e_rule == LRA_E_FIXED)
        return;
    if (s->conv) {
        const size_t at = (size_t)row0 * s->rows;
        const float *f = a->e_rule == LRA_E_EQ6 ? a->d + s->d_offset + at
                                                : net->layers[s->dst].z + at;
        float *db = pl_alloc((size_t)s->e_rows * sizeof *db); /* unused */
        pl_ref_conv_backward_weights(&net->layers[s->src].conv, out, db,
                                     net->layers[s->src].delta + (size_t)row0 * s->cols, f, rows);
        pl_free(db);
        return;
    }
    for (int u = 0; u < s->rows; u++)
        for (int v = 0; v < s->cols; v++) {
            double sum = 0.0;
            for (int r = row0; r < row0 + rows; r++) {
                const size_t k = (size_t)r * s->rows + u;
                double f = a->e_rule == LRA_E_EQ6 ? a->d[s->d_offset + k] : net->layers[s->dst].z[k];
                sum += f * net->layers[s->src].delta[(size_t)r * s->cols + v];
            }
            out[(size_t)u * s->cols + v] = (float)sum;
        }
}
