/* The named global arrays a rule's state is made of (rule.h): one list
 * that checkpoints, model.h5 and `plastic info` read and write without
 * knowing the rule. */
#include "plastic/common.h"
#include "plastic/rule.h"

#include <stdlib.h>
#include <string.h>

static pl_array *add(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                     void *data, int stage)
{
    if (s->narrays == PL_STATE_MAX_ARRAYS || strlen(name) >= sizeof s->arrays[0].name) {
        pl_error_all("internal: the state list cannot take array '%s'", name);
        abort();
    }
    pl_array *a = &s->arrays[s->narrays++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->kind = kind;
    a->dtype = dtype;
    a->dims[0] = rows;
    a->dims[1] = cols;
    a->data = data;
    a->stage = stage;
    return a;
}

pl_array *pl_state_rows(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                        long row0, long nrows, void *data, int stage)
{
    pl_array *a = add(s, name, kind, dtype, rows, cols, data, stage);
    a->start[0] = row0;
    a->count[0] = nrows;
    a->count[1] = cols;
    return a;
}

pl_array *pl_state_cols(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                        long col0, long ncols, void *data, int stage)
{
    pl_array *a = add(s, name, kind, dtype, rows, cols, data, stage);
    a->start[1] = col0;
    a->count[0] = rows;
    a->count[1] = ncols;
    return a;
}

pl_array *pl_state_whole(pl_state *s, const char *name, int kind, int dtype, long rows, long cols,
                         void *data, int stage)
{
    pl_array *a = add(s, name, kind, dtype, rows, cols, data, stage);
    a->count[0] = rows;
    a->count[1] = cols;
    a->replicated = 1;
    return a;
}

void pl_state_scalar(pl_state *s, const char *group, const char *name, long *value)
{
    if (s->nscalars == PL_STATE_MAX_SCALARS) {
        pl_error_all("internal: the state list cannot take scalar '%s'", name);
        abort();
    }
    pl_scalar *x = &s->scalars[s->nscalars++];
    snprintf(x->group, sizeof x->group, "%s", group);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->value = value;
}

void pl_state_attr(pl_state *s, const char *group, const char *name, double value, int integer)
{
    if (s->nattrs == PL_STATE_MAX_ATTRS) {
        pl_error_all("internal: the state list cannot take attribute '%s'", name);
        abort();
    }
    pl_attr *x = &s->attrs[s->nattrs++];
    snprintf(x->group, sizeof x->group, "%s", group);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->value = value;
    x->integer = integer;
}

int pl_dtype_size(int dtype) { return dtype == PL_I64 ? 8 : 4; }

long pl_array_local_count(const pl_array *a) { return a->count[0] * a->count[1]; }
