/* model.h5 through parallel HDF5: every rank writes its own block of the
 * rule's model arrays collectively (MPI-IO driver). See model.h for the
 * layout. */
#include "plastic/model.h"
#include "plastic/common.h"
#include "comm_impl.h"
#include "h5io.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int write_attrs(hid_t file, const pl_state *st)
{
    for (int i = 0; i < st->nattrs; i++) {
        const pl_attr *a = &st->attrs[i];
        char path[64];
        snprintf(path, sizeof path, "/%s", a->group);
        hid_t g = pl_h5_group(file, path);
        int ok = g >= 0 && (a->integer ? pl_h5_attr_long(g, a->name, (long)a->value)
                                       : pl_h5_attr_double(g, a->name, a->value));
        if (g >= 0)
            H5Gclose(g);
        if (!ok)
            return 0;
    }
    return 1;
}

typedef struct model_parts {
    const pl_state *st;
    const char *config_text;
    const pl_model_summary *summary;
} model_parts;

static int write_model(hid_t file, const pl_comm *comm, const void *ctx)
{
    const model_parts *m = ctx;
    const pl_model_summary *s = m->summary;
    int ok = pl_h5_attr_long(file, "format_version", PL_MODEL_FORMAT_VERSION) &&
             pl_h5_attr_string(file, "plastic_version", PLASTIC_VERSION) &&
             pl_h5_attr_string(file, "rule", s && s->rule ? s->rule : "") &&
             pl_h5_attr_double(file, "test_error", s ? s->test_error : NAN) &&
             pl_h5_attr_double(file, "valid_error", s ? s->valid_error : NAN) &&
             pl_h5_attr_long(file, "nranks", comm->size) &&
             pl_h5_write_text(file, "config", m->config_text ? m->config_text : "", comm);
    for (int i = 0; i < m->st->narrays && ok; i++) {
        const pl_array *a = &m->st->arrays[i];
        if (a->kind != PL_ARRAY_MODEL)
            continue;
        char path[80];
        snprintf(path, sizeof path, "/%s", a->name);
        pl_h5_block b = pl_h5_array_block(a, comm, 0);
        ok = pl_h5_write_block(file, path, pl_h5_type(a->dtype), &b, a->data);
    }
    return ok && write_attrs(file, m->st);
}

int pl_model_write(const char *path, const pl_comm *comm, const pl_state *st,
                   const char *config_text, const pl_model_summary *summary)
{
    model_parts m = {st, config_text, summary};
    return pl_h5_write_atomic(path, comm, "model file", write_model, &m);
}

int pl_model_read_array(const char *path, const pl_comm *comm, pl_array *a)
{
    char why[512];
    hid_t file = pl_h5_open_read(path, comm, why, sizeof why);
    /* agree before anything else: the file may be missing on some nodes only */
    if (pl_allreduce_or(comm, file < 0)) {
        if (why[0])
            pl_error("cannot open '%s': %s", path, why);
        else
            pl_error("cannot open '%s' as an HDF5 file (missing, truncated or not HDF5) on "
                     "every rank", path);
        if (file >= 0)
            H5Fclose(file);
        return PL_EXIT_DATA;
    }
    int rc = PL_EXIT_DATA;
    hsize_t dims[2];
    char name[96];
    /* a model file keeps an array at /<name>, a checkpoint at /model/<name> */
    snprintf(name, sizeof name, "%s%s",
             H5Lexists(file, "/model", H5P_DEFAULT) > 0 ? "/model/" : "/", a->name);
    pl_h5_block b = pl_h5_array_block(a, comm, 1);
    if (!pl_h5_shape(file, name, dims))
        pl_error("'%s' has no 2-D dataset %s", path, name);
    else if ((long)dims[0] != a->dims[0] || (long)dims[1] != a->dims[1])
        pl_error("'%s': %s is %llu x %llu, but this configuration needs %ld x %ld", path, name,
                 (unsigned long long)dims[0], (unsigned long long)dims[1], a->dims[0],
                 a->dims[1]);
    else if (!pl_h5_read_block(file, name, pl_h5_type(a->dtype), &b, a->data))
        pl_error_all("cannot read %s from '%s'", name, path);
    else
        rc = 0;
    H5Fclose(file);
    return pl_allreduce_or(comm, rc != 0) ? PL_EXIT_DATA : 0;
}
