/* Parallel-HDF5 building blocks shared by model.h5 and checkpoints: files
 * opened with the MPI-IO driver on a communicator, 2-D blocks of global
 * arrays written and read collectively, scalar attributes, and a checksum
 * of a global array that does not depend on how it is split over ranks. */
#ifndef PLASTIC_H5IO_H
#define PLASTIC_H5IO_H

#include <hdf5.h>
#include <stdint.h>

#include "plastic/par.h"
#include "plastic/rule.h"

#define PL_H5_PATH_MAX 4096

/* A block of a 2-D global array: rows [start[0], +count[0]) and columns
 * [start[1], +count[1]) of a dims[0] x dims[1] array; data is count[0] x
 * count[1], row-major. */
typedef struct pl_h5_block {
    hsize_t dims[2], start[2], count[2];
} pl_h5_block;

/* This rank's block of a rule's array: its own block, except for a
 * replicated array, which rank 0 alone writes and every rank reads whole,
 * and a copy, which its rank reads but does not write. */
pl_h5_block pl_h5_array_block(const pl_array *a, const pl_comm *comm, int reading);
hid_t pl_h5_type(int dtype); /* of enum pl_dtype */

/* The group at path (e.g. "/optim/readout"), created with any missing
 * parents if it does not exist; <0 on error. Close with H5Gclose. */
hid_t pl_h5_group(hid_t file, const char *path);

hid_t pl_h5_create(const char *path, const pl_comm *comm);   /* collective; <0 on error */

/* Fills an open file; returns 1 on success on this rank. Collective. */
typedef int (*pl_h5_writer)(hid_t file, const pl_comm *comm, const void *ctx);

/* Collective. Creates path.tmp, lets write fill it, closes it, and once
 * every rank has succeeded renames it to path, so a reader never sees a
 * partial file. On failure path.tmp is removed and an error naming `what`
 * and the file is printed. Returns 0 or PL_EXIT_DATA. */
int pl_h5_write_atomic(const char *path, const pl_comm *comm, const char *what,
                       pl_h5_writer write, const void *ctx);
/* Collective; <0 on error. A file in an older HDF5 format than plastic
 * writes (superblock version below 2) is not opened, and why (size bytes)
 * says so; for other failures why is "". Its metadata has no checksums, so
 * HDF5 1.10 would decode damaged metadata, and copies past its buffers on
 * some (found by fuzz_h5_ckpt): the newest format's checksums catch damage
 * before HDF5 decodes anything. */
hid_t pl_h5_open_read(const char *path, const pl_comm *comm, char *why, size_t size);

/* Collective; ranks with an empty block still take part; missing parent
 * groups of name are created. Return 1 on success. */
int pl_h5_write_block(hid_t parent, const char *name, hid_t type, const pl_h5_block *b,
                      const void *data);
int pl_h5_read_block(hid_t parent, const char *name, hid_t type, const pl_h5_block *b,
                     void *data);
/* The stored shape of a 2-D dataset; 0 if it is missing or not 2-D. */
int pl_h5_shape(hid_t parent, const char *name, hsize_t dims[2]);

int pl_h5_attr_double(hid_t obj, const char *name, double value);
int pl_h5_attr_long(hid_t obj, const char *name, long value);
int pl_h5_attr_string(hid_t obj, const char *name, const char *value);
int pl_h5_get_double(hid_t obj, const char *name, double *value);
int pl_h5_get_long(hid_t obj, const char *name, long *value);

/* A scalar string dataset; every rank passes the same text. */
int pl_h5_write_text(hid_t file, const char *name, const char *text, const pl_comm *comm);
/* The text of a scalar string dataset (caller frees), or NULL. */
char *pl_h5_read_text(hid_t file, const char *name);

/* Sum over elements of mix(global index, element bits), mod 2^64: the same
 * for any split of the array, and changed by any flipped bit. Local part of
 * a block of elements of elem_size bytes (1 to 8); the caller sums the parts
 * over ranks. */
uint64_t pl_h5_checksum_block(const pl_h5_block *b, const void *data, int elem_size);
/* The whole checksum of an array as this rank holds it (collective). */
uint64_t pl_h5_array_checksum(const pl_array *a, const pl_comm *comm);

#endif
