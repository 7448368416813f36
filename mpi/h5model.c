/* model.h5 through parallel HDF5: every rank writes its own block of the
 * global arrays collectively (MPI-IO driver). See model.h for the layout. */
#include "plastic/model.h"
#include "plastic/common.h"
#include "comm_impl.h"
#include "h5io.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int write_contents(hid_t file, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                          const char *config_text, const pl_model_summary *summary)
{
    int ok = pl_h5_attr_long(file, "format_version", PL_MODEL_FORMAT_VERSION) &&
             pl_h5_attr_string(file, "plastic_version", PLASTIC_VERSION) &&
             pl_h5_attr_double(file, "test_error", summary ? summary->test_error : NAN) &&
             pl_h5_attr_double(file, "valid_error", summary ? summary->valid_error : NAN) &&
             pl_h5_attr_long(file, "nranks", comm->size) &&
             pl_h5_write_text(file, "config", config_text ? config_text : "", comm);

    hid_t g = H5Gcreate2(file, "kh", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    pl_h5_block wb = pl_kh_block(kh);
    ok = ok && g >= 0 && pl_h5_write_block(g, "W", H5T_NATIVE_FLOAT, &wb, kh->W) &&
         pl_h5_attr_long(g, "hidden", kh->hidden) && pl_h5_attr_long(g, "dim", kh->dim) &&
         pl_h5_attr_double(g, "p", kh->p) && pl_h5_attr_long(g, "k", kh->k) &&
         pl_h5_attr_double(g, "delta", kh->delta);
    if (g >= 0)
        H5Gclose(g);
    if (!ok || !ro)
        return ok;

    g = H5Gcreate2(file, "readout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    pl_h5_block sb = pl_readout_block(ro);
    ok = g >= 0 && pl_h5_write_block(g, "S", H5T_NATIVE_FLOAT, &sb, ro->S) &&
         pl_h5_attr_double(g, "n", ro->n) && pl_h5_attr_double(g, "m", ro->m) &&
         pl_h5_attr_double(g, "beta", ro->beta);
    if (g >= 0)
        H5Gclose(g);
    return ok;
}

typedef struct model_parts {
    const pl_kh *kh;
    const pl_readout *ro;
    const char *config_text;
    const pl_model_summary *summary;
} model_parts;

static int write_model(hid_t file, const pl_comm *comm, const void *ctx)
{
    const model_parts *m = ctx;
    return write_contents(file, comm, m->kh, m->ro, m->config_text, m->summary);
}

int pl_model_write(const char *path, const pl_comm *comm, const pl_kh *kh,
                   const pl_readout *ro, const char *config_text,
                   const pl_model_summary *summary)
{
    model_parts m = {kh, ro, config_text, summary};
    return pl_h5_write_atomic(path, comm, "model file", write_model, &m);
}

int pl_model_read_W(const char *path, const pl_comm *comm, pl_kh *kh)
{
    hid_t file = pl_h5_open_read(path, comm);
    /* agree before anything else: the file may be missing on some nodes only */
    if (pl_allreduce_or(comm, file < 0)) {
        pl_error("cannot open '%s' as an HDF5 file (missing, truncated or not HDF5) on "
                 "every rank", path);
        if (file >= 0)
            H5Fclose(file);
        return PL_EXIT_DATA;
    }
    int rc = PL_EXIT_DATA;
    hsize_t dims[2];
    pl_h5_block wb = pl_kh_block(kh);
    /* a model file keeps W at /kh/W, a checkpoint at /model/kh/W */
    const char *name = H5Lexists(file, "/model", H5P_DEFAULT) > 0 ? "/model/kh/W" : "/kh/W";
    if (!pl_h5_shape(file, name, dims))
        pl_error("'%s' has no 2-D dataset %s", path, name);
    else if (dims[0] != wb.dims[0] || dims[1] != wb.dims[1])
        pl_error("'%s': %s is %llu x %llu, but the config needs kh.hidden x input size = "
                 "%ld x %d", path, name, (unsigned long long)dims[0], (unsigned long long)dims[1],
                 kh->hidden, kh->dim);
    else if (!pl_h5_read_block(file, name, H5T_NATIVE_FLOAT, &wb, kh->W))
        pl_error_all("cannot read %s from '%s'", name, path);
    else
        rc = 0;
    H5Fclose(file);
    rc = pl_allreduce_or(comm, rc != 0) ? PL_EXIT_DATA : 0;
    if (rc == 0)
        pl_kh_refresh(kh);
    return rc;
}
