/* model.h5: the trained model as global arrays, written collectively with
 * parallel HDF5 (mpi/h5model.c). Readable by h5py and h5dump:
 *   /kh/W        float32 K x N   hidden weights
 *   /readout/S   float32 C x K   readout weights (absent if no readout)
 *   /config      string          the resolved configuration
 *   attributes: format_version, plastic_version, test_error, valid_error,
 *   nranks (ranks that wrote the file);
 *   on /kh: hidden, dim, p, k, delta; on /readout: n, m, beta. */
#ifndef PLASTIC_MODEL_H
#define PLASTIC_MODEL_H

#include "rules/kh/kh.h"
#include "rules/kh/readout.h"

#define PL_MODEL_FORMAT_VERSION 1

typedef struct pl_model_summary {
    double test_error;  /* percent, or NaN if not measured */
    double valid_error; /* percent, or NaN */
} pl_model_summary;

/* Collective. Writes path.tmp, then renames it to path once every rank has
 * finished, so a reader never sees a partial file. ro may be NULL.
 * Returns 0, or PL_EXIT_DATA after an error naming the file. */
int pl_model_write(const char *path, const pl_comm *comm, const pl_kh *kh,
                   const pl_readout *ro, const char *config_text,
                   const pl_model_summary *summary);

/* Collective. Fills kh->W (this rank's rows) from /kh/W of a model or
 * checkpoint file and refreshes Wp. The stored shape must be hidden x dim.
 * Returns 0, or PL_EXIT_DATA after an error naming the file and, for a shape
 * mismatch, both shapes. */
int pl_model_read_W(const char *path, const pl_comm *comm, pl_kh *kh);

#endif
