/* Cutting a net into pipeline stages (net.parallel = blocks, nn/pipe.h).
 *
 * A net is cut only between units: a res( ) block is one unit (its add
 * needs the block's input, which must not live on another rank), every
 * other layer is one; a rule may merge units further (rec-LRA: a layer
 * whose target comes from a layer above, other than the output, stays on
 * that layer's stage). The units are then cut into S contiguous stages so
 * that the costliest stage is as cheap as possible (the pipeline runs at
 * the pace of its slowest stage). Costs are whole numbers of multiply-adds
 * per example held in doubles, so the sums and comparisons are exact and
 * the cut is the same on every rank and every run. */
#ifndef PLASTIC_NN_STAGES_H
#define PLASTIC_NN_STAGES_H

#include "plastic/nn/net.h"

/* start[l] = 1 where layer l begins a unit (res( ) blocks whole), else 0;
 * start[0] = 1. */
void pl_stage_units(const pl_net *net, char *start);

/* Keeps layers dst and src on one stage: no unit starts in (dst, src]. */
void pl_stage_join(char *start, int dst, int src);

/* Units marked in start. */
int pl_stage_count_units(int nlayers, const char *start);

/* Multiply-adds per example of layer l's forward: in x out for dense, the
 * im2col GEMM (out_c x in_c k_h k_w x out_h out_w) for conv, and the
 * outputs (a few operations each) for pool, dropout and add. */
double pl_layer_cost(const pl_net *net, int l);

/* Cuts the layers into S stages at unit starts: stage s holds layers
 * [first[s], first[s + 1]) (first has S + 1 entries, first[0] = 0,
 * first[S] = nlayers), every stage at least one unit, the largest stage
 * cost (the sum of cost[l] over its layers) as small as it can be; among
 * equal cuts, each boundary as early as it can be. 0, or -1 if there are
 * fewer units than stages. */
int pl_stage_cut(int nlayers, const char *start, const double *cost, int S, int *first);

#endif
