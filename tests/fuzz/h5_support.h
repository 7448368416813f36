/* What the HDF5 harnesses (fuzz_h5_ckpt.c, fuzz_h5_model.c) share: MPI,
 * the rules' models they read into, capturing plastic's error messages,
 * and an independent reader of HDF5 files (the serial driver, not
 * plastic's code) that the properties compare plastic's results with.
 *
 * The scenarios are small models on 4x4x1 inputs and 10 classes, built as
 * src/run/ckpt_bench.c builds one (no data): KH with K = 8, and bp on a
 * two-layer net with Adam. A checkpoint or model file written by
 * `bin/plastic train` on their configurations (over a 4x4 IDX dataset)
 * reads back into them: tests/fuzz/make_h5_seeds.sh writes the seeds that
 * way, after the harness has written its configurations (FUZZ_H5_CONFIGS
 * below). */
#ifndef PLASTIC_FUZZ_H5_SUPPORT_H
#define PLASTIC_FUZZ_H5_SUPPORT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "plastic/ckpt.h"
#include "plastic/rule.h"

typedef struct fuzz_scenario {
    const char *name;  /* "kh", "bp" */
    const char *ini;   /* its configuration */
    pl_config cfg;
    const pl_rule *rule;
    pl_model *model;
    pl_state *state;
    char *config_text; /* as train stores it (unused by reads) */
    pl_ckpt_ctx ctx;
} fuzz_scenario;

enum { FUZZ_NSCENARIOS = 2 };

/* From LLVMFuzzerInitialize: starts MPI (a singleton without mpirun),
 * calls fuzz_init, builds the scenarios. With FUZZ_H5_CONFIGS=DIR in the
 * environment it also writes each scenario's configuration to
 * DIR/<name>.ini (for make_h5_seeds.sh). */
void fuzz_h5_init(int *argc, char ***argv);
fuzz_scenario *fuzz_h5_scenario(int i);

/* Messages plastic wrote with pl_error between begin and end (each one
 * line starting "plastic: error: "). end returns how many and their text
 * (valid until the next begin). */
void fuzz_h5_capture_begin(void);
int fuzz_h5_capture_end(const char **text);

/* rc != 0: exactly one message, naming path; rc == 0: none. what names
 * the call in a violation. */
void fuzz_h5_check_messages(int rc, int nmsg, const char *msgs, const char *path,
                            const char *what);

/* No HDF5 file or object is left open (plastic closes what it opens, also
 * on a damaged file). */
void fuzz_h5_check_closed(const char *what);

/* pl_h5_info into a buffer, with its properties: 0 or PL_EXIT_DATA with one
 * message naming path; on success the first line names path and the kind
 * of file and the version as the file stores it (a string of fixed length;
 * "(unknown version)" if it holds none),
 * and "datasets:" follows; every byte is printable, a newline, or occurs
 * in the file (data the file holds, e.g. its strings). */
void fuzz_h5_check_info(const char *path, const uint8_t *data, size_t size);

/* pl_model_read_array of the model arrays of every scenario (all of them,
 * or only each scenario's first), with its properties: 0 or PL_EXIT_DATA
 * with one message naming path; on success the array holds what the file
 * stores at /model/<name> (a checkpoint: the file has /model) or /<name>,
 * read again by the serial driver. */
void fuzz_h5_check_model_reads(const char *path, int all);

/* ---- the independent reader (serial HDF5, default property lists) ---- */

/* Opens path read-only; <0 if HDF5 cannot. Close with H5Fclose. */
hid_t fuzz_h5_open(const char *path);
/* The string attribute name of the object at obj_path as the file stores
 * it (malloc'ed; NULL if absent, not a string, or one of variable length,
 * which plastic does not read either). */
char *fuzz_h5_string_attr(hid_t file, const char *obj_path, const char *name);
/* An integer attribute of the object at obj_path; 0 if absent or not
 * readable as one. */
int fuzz_h5_long_attr(hid_t file, const char *obj_path, const char *name, long *value);
/* The whole 2-D dataset at path read as dtype (enum pl_dtype) into buf of
 * rows x cols elements; 0 if it is missing, not 2-D of that shape, or
 * unreadable. */
int fuzz_h5_read_2d(hid_t file, const char *path, int dtype, long rows, long cols, void *buf);
/* The checksum of docs/checkpoint-format.md §2, written from that text:
 * over a global rows x cols array of elements of size bytes. */
uint64_t fuzz_h5_checksum(const void *data, long rows, long cols, int size);

#endif
