/* Units of a net and their balanced cut into pipeline stages (stages.h). */
#include "plastic/nn/stages.h"

#include "plastic/common.h"

void pl_stage_units(const pl_net *net, char *start)
{
    for (int l = 0; l < net->nlayers; l++)
        start[l] = 1;
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].spec.kind == PL_LAYER_ADD) /* its block: layers from + 1 .. l */
            pl_stage_join(start, net->layers[l].spec.from < 0 ? 0 : net->layers[l].spec.from + 1,
                          l);
}

void pl_stage_join(char *start, int dst, int src)
{
    for (int k = dst + 1; k <= src; k++)
        start[k] = 0;
}

int pl_stage_count_units(int nlayers, const char *start)
{
    int n = 0;
    for (int l = 0; l < nlayers; l++)
        n += start[l] != 0 || l == 0;
    return n;
}

double pl_layer_cost(const pl_net *net, int l)
{
    const pl_layer *L = &net->layers[l];
    if (L->spec.kind == PL_LAYER_DENSE)
        return (double)L->in_size * (double)L->out_size;
    if (L->spec.kind == PL_LAYER_CONV) {
        const pl_conv_geom *g = &L->conv;
        return (double)g->out_c * g->in_c * g->k_h * g->k_w * (double)g->out_h * g->out_w;
    }
    if (L->spec.kind == PL_LAYER_PCONV) { /* the mixing's multiply-adds, and building a */
        const pl_pconv_geom *g = &L->pconv;
        return (double)(g->out_c + 1) * g->in_c * g->maps * (double)g->h * g->w;
    }
    return (double)L->out_size;
}

int pl_stage_cut(int nlayers, const char *start, const double *cost, int S, int *first)
{
    const int U = pl_stage_count_units(nlayers, start);
    if (S < 1 || U < S)
        return -1;
    /* unit u holds layers [at[u], at[u + 1]); pre[u] = cost of units < u */
    int *at = pl_alloc((size_t)(U + 1) * sizeof *at);
    double *pre = pl_alloc((size_t)(U + 1) * sizeof *pre);
    pre[0] = 0.0;
    for (int l = 0, u = -1; l < nlayers; l++) {
        if (l == 0 || start[l]) {
            at[++u] = l;
            pre[u + 1] = pre[u];
        }
        pre[u + 1] += cost[l];
    }
    at[U] = nlayers;
    /* best[k][j]: the smallest largest-stage cost of units [0, j) in k
     * stages; arg[k][j]: where its last stage starts (the earliest such) */
    const size_t w = (size_t)U + 1;
    double *best = pl_alloc((size_t)(S + 1) * w * sizeof *best);
    int *arg = pl_alloc((size_t)(S + 1) * w * sizeof *arg);
    for (int j = 0; j <= U; j++)
        best[w + (size_t)j] = pre[j];
    for (int k = 2; k <= S; k++)
        for (int j = k; j <= U; j++) {
            double b = -1.0;
            int a = k - 1;
            for (int i = k - 1; i < j; i++) {
                double prev = best[(size_t)(k - 1) * w + (size_t)i], last = pre[j] - pre[i];
                double m = prev > last ? prev : last;
                if (b < 0.0 || m < b) {
                    b = m;
                    a = i;
                }
            }
            best[(size_t)k * w + (size_t)j] = b;
            arg[(size_t)k * w + (size_t)j] = a;
        }
    first[S] = nlayers;
    for (int k = S, j = U; k >= 1; k--) {
        int i = k == 1 ? 0 : arg[(size_t)k * w + (size_t)j];
        first[k - 1] = at[i];
        j = i;
    }
    pl_free(at);
    pl_free(pre);
    pl_free(best);
    pl_free(arg);
    return 0;
}
