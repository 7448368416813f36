/* model.h5: the trained model as the rule's model arrays (rule.h), written
 * collectively with parallel HDF5 (mpi/h5model.c). Readable by h5py and
 * h5dump:
 *   /<name>      every model array at its name (KH: /kh/W, /readout/S)
 *   /<group>     attributes the rule describes its model with (KH: /kh p)
 *   /config      string: the resolved configuration
 *   attributes: format_version, plastic_version, rule, test_error,
 *   valid_error, nranks (ranks that wrote the file). */
#ifndef PLASTIC_MODEL_H
#define PLASTIC_MODEL_H

#include "plastic/par.h"
#include "plastic/rule.h"

#define PL_MODEL_FORMAT_VERSION 1

typedef struct pl_model_summary {
    const char *rule;   /* model.rule */
    double test_error;  /* percent, or NaN if not measured */
    double valid_error; /* percent, or NaN */
} pl_model_summary;

/* Collective. Writes the model arrays and attributes of st to path.tmp,
 * then renames it to path once every rank has finished, so a reader never
 * sees a partial file. Returns 0, or PL_EXIT_DATA after an error naming the
 * file. */
int pl_model_write(const char *path, const pl_comm *comm, const pl_state *st,
                   const char *config_text, const pl_model_summary *summary);

/* Collective. Fills this rank's block of a from /<name> of a model file, or
 * /model/<name> of a checkpoint. The stored shape must be a's, and the file
 * in HDF5's newest format, as plastic writes it (docs/checkpoint-format.md
 * §1). Returns 0, or PL_EXIT_DATA after an error naming the file and, for a
 * shape mismatch, both shapes. */
int pl_model_read_array(const char *path, const pl_comm *comm, pl_array *a);

#endif
