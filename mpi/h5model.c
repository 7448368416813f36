/* model.h5 through parallel HDF5: every rank writes its own block of the
 * global arrays collectively (MPI-IO driver). See model.h for the layout. */
#include "plastic/model.h"
#include "plastic/common.h"
#include "comm_impl.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PL_H5_PATH_MAX 4096

/* Writes the block [start, start+count) of a 2-D float dataset of shape
 * dims; ranks with an empty block still take part in the collective. */
static int write_block(hid_t parent, const char *name, const hsize_t dims[2],
                       const hsize_t start[2], const hsize_t count[2], const float *data)
{
    int ok = 0;
    hid_t fspace = H5Screate_simple(2, dims, NULL);
    hid_t dset = H5Dcreate2(parent, name, H5T_NATIVE_FLOAT, fspace, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT);
    hid_t mspace = H5Screate_simple(2, count, NULL);
    hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
    if (dset < 0 || mspace < 0 || xfer < 0)
        goto done;
    H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
    if (count[0] * count[1] == 0) {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    }
    ok = H5Dwrite(dset, H5T_NATIVE_FLOAT, mspace, fspace, xfer, data) >= 0;
done:
    if (xfer >= 0)
        H5Pclose(xfer);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (dset >= 0)
        H5Dclose(dset);
    H5Sclose(fspace);
    return ok;
}

static int attr_double(hid_t obj, const char *name, double value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, H5T_NATIVE_DOUBLE, &value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return ok;
}

static int attr_long(hid_t obj, const char *name, long value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, H5T_NATIVE_LONG, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, H5T_NATIVE_LONG, &value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return ok;
}

static int attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, type, value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return ok;
}

/* A scalar string dataset; every rank passes the same text, rank 0 writes. */
static int string_dataset(hid_t file, const char *name, const char *text, int rank)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(text) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = dset >= 0;
    if (ok && rank == 0) {
        hid_t xfer = H5Pcreate(H5P_DATASET_XFER); /* independent: one writer */
        ok = H5Dwrite(dset, type, H5S_ALL, H5S_ALL, xfer, text) >= 0;
        H5Pclose(xfer);
    }
    if (dset >= 0)
        H5Dclose(dset);
    H5Sclose(space);
    H5Tclose(type);
    return ok;
}

static int write_contents(hid_t file, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                          const char *config_text, const pl_model_summary *summary)
{
    int ok = attr_long(file, "format_version", PL_MODEL_FORMAT_VERSION) &&
             attr_string(file, "plastic_version", PLASTIC_VERSION) &&
             attr_double(file, "test_error", summary ? summary->test_error : NAN) &&
             attr_double(file, "valid_error", summary ? summary->valid_error : NAN) &&
             attr_long(file, "nranks", comm->size) &&
             string_dataset(file, "config", config_text ? config_text : "", comm->rank);

    hid_t g = H5Gcreate2(file, "kh", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t wdims[2] = {(hsize_t)kh->hidden, (hsize_t)kh->dim};
    hsize_t wstart[2] = {(hsize_t)kh->row0, 0}, wcount[2] = {(hsize_t)kh->nrows, (hsize_t)kh->dim};
    ok = ok && g >= 0 && write_block(g, "W", wdims, wstart, wcount, kh->W) &&
         attr_long(g, "hidden", kh->hidden) && attr_long(g, "dim", kh->dim) &&
         attr_double(g, "p", kh->p) && attr_long(g, "k", kh->k) &&
         attr_double(g, "delta", kh->delta);
    if (g >= 0)
        H5Gclose(g);
    if (!ok || !ro)
        return ok;

    g = H5Gcreate2(file, "readout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t sdims[2] = {(hsize_t)ro->nclass, (hsize_t)ro->hidden};
    hsize_t sstart[2] = {0, (hsize_t)ro->unit0}, scount[2] = {(hsize_t)ro->nclass, (hsize_t)ro->nunits};
    ok = g >= 0 && write_block(g, "S", sdims, sstart, scount, ro->S) &&
         attr_double(g, "n", ro->n) && attr_double(g, "m", ro->m) &&
         attr_double(g, "beta", ro->beta);
    if (g >= 0)
        H5Gclose(g);
    return ok;
}

int pl_model_write(const char *path, const pl_comm *comm, const pl_kh *kh,
                   const pl_readout *ro, const char *config_text,
                   const pl_model_summary *summary)
{
    char tmp[PL_H5_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        pl_error("model path too long: '%s'", path);
        return PL_EXIT_DATA;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm->comm, MPI_INFO_NULL);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int ok = file >= 0;
    ok = pl_allreduce_or(comm, !ok) == 0;
    if (ok)
        ok = write_contents(file, comm, kh, ro, config_text, summary);
    if (file >= 0 && H5Fclose(file) < 0)
        ok = 0;
    ok = pl_allreduce_or(comm, !ok) == 0;
    if (!ok) {
        pl_error("cannot write model file '%s'", tmp);
        if (comm->rank == 0)
            remove(tmp);
        return PL_EXIT_DATA;
    }
    int renamed = 1;
    if (comm->rank == 0 && rename(tmp, path) != 0) {
        pl_error("cannot rename '%s' to '%s'", tmp, path);
        renamed = 0;
    }
    return pl_allreduce_or(comm, !renamed) ? PL_EXIT_DATA : 0;
}

int pl_model_read_W(const char *path, const pl_comm *comm, pl_kh *kh)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm->comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    /* agree before anything else: the file may be missing on some nodes only */
    if (pl_allreduce_or(comm, file < 0)) {
        pl_error("cannot open '%s' as an HDF5 file (missing, truncated or not HDF5) on "
                 "every rank", path);
        if (file >= 0)
            H5Fclose(file);
        return PL_EXIT_DATA;
    }
    int rc = PL_EXIT_DATA;
    hid_t dset = H5Dopen2(file, "/kh/W", H5P_DEFAULT);
    hid_t fspace = dset >= 0 ? H5Dget_space(dset) : -1;
    hsize_t dims[2] = {0, 0};
    if (fspace < 0 || H5Sget_simple_extent_ndims(fspace) != 2) {
        pl_error("'%s' has no 2-D dataset /kh/W", path);
        goto out;
    }
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    if (dims[0] != (hsize_t)kh->hidden || dims[1] != (hsize_t)kh->dim) {
        pl_error("'%s': /kh/W is %llu x %llu, but the config needs kh.hidden x input size = "
                 "%ld x %d", path, (unsigned long long)dims[0], (unsigned long long)dims[1],
                 kh->hidden, kh->dim);
        goto out;
    }
    hsize_t start[2] = {(hsize_t)kh->row0, 0}, count[2] = {(hsize_t)kh->nrows, (hsize_t)kh->dim};
    hid_t mspace = H5Screate_simple(2, count, NULL);
    hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
    if (kh->nrows == 0) {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    }
    herr_t err = H5Dread(dset, H5T_NATIVE_FLOAT, mspace, fspace, xfer, kh->W);
    H5Pclose(xfer);
    H5Sclose(mspace);
    if (err < 0)
        pl_error_all("cannot read /kh/W from '%s'", path);
    else
        rc = 0;
out:
    if (fspace >= 0)
        H5Sclose(fspace);
    if (dset >= 0)
        H5Dclose(dset);
    H5Fclose(file);
    rc = pl_allreduce_or(comm, rc != 0) ? PL_EXIT_DATA : 0;
    if (rc == 0)
        pl_kh_refresh(kh);
    return rc;
}
