/* Parallel-HDF5 helpers; see h5io.h. Errors are reported by the callers,
 * who know which file and which object they were after. */
#include "h5io.h"
#include "comm_impl.h"
#include "plastic/common.h"

#include <stdio.h>
#include <string.h>

pl_h5_block pl_h5_array_block(const pl_array *a, const pl_comm *comm, int reading)
{
    pl_h5_block b = {{(hsize_t)a->dims[0], (hsize_t)a->dims[1]},
                     {(hsize_t)a->start[0], (hsize_t)a->start[1]},
                     {(hsize_t)a->count[0], (hsize_t)a->count[1]}};
    if (!reading && (a->replicated ? comm->rank != 0 : a->copy))
        b.count[0] = b.count[1] = 0;
    return b;
}

hid_t pl_h5_type(int dtype) { return dtype == PL_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT; }

hid_t pl_h5_group(hid_t file, const char *path)
{
    if (H5Lexists(file, path, H5P_DEFAULT) > 0)
        return H5Gopen2(file, path, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return g;
}

hid_t pl_h5_create(const char *path, const pl_comm *comm)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm->comm, MPI_INFO_NULL);
    /* the newest format checksums its metadata, so damage is detected */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return file;
}

int pl_h5_write_atomic(const char *path, const pl_comm *comm, const char *what,
                       pl_h5_writer write, const void *ctx)
{
    char tmp[PL_H5_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        pl_error("%s path too long: '%s'", what, path);
        return PL_EXIT_DATA;
    }
    hid_t file = pl_h5_create(tmp, comm);
    int ok = pl_allreduce_or(comm, file < 0) == 0;
    if (ok)
        ok = write(file, comm, ctx);
    if (file >= 0 && H5Fclose(file) < 0)
        ok = 0;
    if (pl_allreduce_or(comm, !ok)) {
        pl_error("cannot write %s '%s'", what, tmp);
        if (comm->rank == 0)
            remove(tmp);
        return PL_EXIT_DATA;
    }
    int renamed = comm->rank != 0 || rename(tmp, path) == 0;
    if (!renamed)
        pl_error("cannot rename '%s' to '%s'", tmp, path);
    return pl_allreduce_or(comm, !renamed) ? PL_EXIT_DATA : 0;
}

/* The superblock version of the HDF5 file at path, where HDF5 looks for its
 * signature (offset 0, 512, 1024, 2048, ...), or -1 if it has none or
 * cannot be read. */
static int superblock_version(const char *path)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int version = -1;
    for (long at = 0; at >= 0 && at < (1L << 50); at = at ? 2 * at : 512) {
        unsigned char head[9];
        if (fseek(f, at, SEEK_SET) != 0 || fread(head, 1, sizeof head, f) != sizeof head)
            break;
        if (memcmp(head, signature, sizeof signature) == 0) {
            version = head[8];
            break;
        }
    }
    fclose(f);
    return version;
}

hid_t pl_h5_open_read(const char *path, const pl_comm *comm, char *why, size_t size)
{
    why[0] = '\0';
    int version = superblock_version(path);
    if (version >= 0 && version < 2) {
        snprintf(why, size,
                 "it is in an older HDF5 format (superblock version %d), whose metadata has no "
                 "checksums: plastic reads the newest format, which it writes (h5repack -L "
                 "rewrites a file in it)", version);
        return -1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm->comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return file;
}

/* Selects the block in the file space and builds the matching memory space. */
static hid_t select_block(hid_t fspace, const pl_h5_block *b)
{
    hid_t mspace = H5Screate_simple(2, b->count, NULL);
    if (b->count[0] * b->count[1] == 0) {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, b->start, NULL, b->count, NULL);
    }
    return mspace;
}

static hid_t collective(void)
{
    hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
    return xfer;
}

int pl_h5_write_block(hid_t parent, const char *name, hid_t type, const pl_h5_block *b,
                      const void *data)
{
    hid_t fspace = H5Screate_simple(2, b->dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dset = H5Dcreate2(parent, name, type, fspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    int ok = 0;
    if (dset >= 0) {
        hid_t mspace = select_block(fspace, b), xfer = collective();
        ok = H5Dwrite(dset, type, mspace, fspace, xfer, data) >= 0;
        H5Pclose(xfer);
        H5Sclose(mspace);
        H5Dclose(dset);
    }
    H5Sclose(fspace);
    return ok;
}

int pl_h5_read_block(hid_t parent, const char *name, hid_t type, const pl_h5_block *b, void *data)
{
    hid_t dset = H5Dopen2(parent, name, H5P_DEFAULT);
    if (dset < 0)
        return 0;
    hid_t fspace = H5Dget_space(dset);
    hid_t mspace = select_block(fspace, b), xfer = collective();
    int ok = H5Dread(dset, type, mspace, fspace, xfer, data) >= 0;
    H5Pclose(xfer);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    return ok;
}

int pl_h5_shape(hid_t parent, const char *name, hsize_t dims[2])
{
    if (H5Lexists(parent, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t dset = H5Dopen2(parent, name, H5P_DEFAULT);
    if (dset < 0)
        return 0;
    hid_t space = H5Dget_space(dset);
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 2 &&
             H5Sget_simple_extent_dims(space, dims, NULL) == 2;
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(dset);
    return ok;
}

static int put_attr(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Awrite(attr, type, value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return ok;
}

int pl_h5_attr_double(hid_t obj, const char *name, double value)
{
    return put_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int pl_h5_attr_long(hid_t obj, const char *name, long value)
{
    return put_attr(obj, name, H5T_NATIVE_LONG, &value);
}

int pl_h5_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    int ok = put_attr(obj, name, type, value);
    H5Tclose(type);
    return ok;
}

static int get_attr(hid_t obj, const char *name, hid_t type, void *value)
{
    if (H5Aexists(obj, name) <= 0)
        return 0;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    int ok = attr >= 0 && H5Aread(attr, type, value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    return ok;
}

int pl_h5_get_double(hid_t obj, const char *name, double *value)
{
    return get_attr(obj, name, H5T_NATIVE_DOUBLE, value);
}

int pl_h5_get_long(hid_t obj, const char *name, long *value)
{
    return get_attr(obj, name, H5T_NATIVE_LONG, value);
}

int pl_h5_write_text(hid_t file, const char *name, const char *text, const pl_comm *comm)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(text) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = dset >= 0;
    if (ok && comm->rank == 0) {
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

char *pl_h5_read_text(hid_t file, const char *name)
{
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return NULL;
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dset < 0)
        return NULL;
    hid_t type = H5Dget_type(dset);
    char *text = NULL;
    if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
        size_t size = H5Tget_size(type);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, size);
        text = pl_calloc(size + 1, 1);
        if (H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) < 0) {
            pl_free(text);
            text = NULL;
        }
        H5Tclose(mem);
    }
    H5Tclose(type);
    H5Dclose(dset);
    return text;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* One element's bits, widened; a fixed-size copy per width compiles to a
 * plain load (a variable-size memcpy would be a library call per element). */
static inline uint64_t element_bits(const char *p, int size)
{
    switch (size) {
    case 1:
        return (unsigned char)*p;
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case 8: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    default: {
        uint64_t v = 0;
        memcpy(&v, p, (size_t)size);
        return v;
    }
    }
}

uint64_t pl_h5_checksum_block(const pl_h5_block *b, const void *data, int elem_size)
{
    uint64_t sum = 0;
    const char *p = data;
    for (hsize_t r = 0; r < b->count[0]; r++) {
        uint64_t global = (b->start[0] + r) * b->dims[1] + b->start[1];
        for (hsize_t c = 0; c < b->count[1]; c++, global++, p += elem_size)
            sum += mix64(global * 0x9E3779B97F4A7C15ULL ^ mix64(element_bits(p, elem_size)));
    }
    return sum;
}

uint64_t pl_h5_array_checksum(const pl_array *a, const pl_comm *comm)
{
    /* a replicated array counts once: rank 0's copy */
    pl_h5_block b = pl_h5_array_block(a, comm, 0);
    uint64_t sum = pl_h5_checksum_block(&b, a->data, pl_dtype_size(a->dtype));
    MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_UINT64_T, MPI_SUM, comm->comm);
    return sum;
}
