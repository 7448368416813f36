/* Datasets: IDX (MNIST, Fashion-MNIST) and CIFAR-10/100 binary loaders,
 * and the seeded train/validation split. */
#ifndef PLASTIC_DATA_H
#define PLASTIC_DATA_H

#include <stdint.h>
#include "plastic/config.h"

typedef struct pl_dataset {
    int n;                      /* examples */
    int rows, cols, channels;   /* image geometry */
    int dim;                    /* rows * cols * channels */
    int nclass;
    float *x;                   /* n x dim, row-major, pixel/255 in [0,1];
                                   CIFAR keeps its channel-major (CHW) order */
    uint8_t *y;                 /* n labels in [0, nclass) */
} pl_dataset;

/* IDX pair (images idx3, labels idx1); either may be gzip-compressed.
 * Errors (missing file, bad magic, truncation, count mismatch) name the file
 * and, for size problems, the expected and actual byte counts.
 * Returns 0 or PL_EXIT_DATA. */
int pl_idx_load(const char *images_path, const char *labels_path, pl_dataset *out);

/* CIFAR binary batches: variant 10 (label byte + 3072 pixels per record) or
 * 100 (coarse, fine label bytes + 3072; the fine label is used).
 * Concatenates the files in order. Returns 0 or PL_EXIT_DATA. */
int pl_cifar_load(const char *const *paths, int npaths, int variant, pl_dataset *out);

/* Scales every example of d to unit L2 norm (an all-zero one stays zero). */
void pl_dataset_normalize_unit(pl_dataset *d);

/* Loads cfg->data.set from its directory into train and test, applying
 * data.train_limit, data.test_limit and data.normalize. A missing file says how to fetch it.
 * Returns 0 or PL_EXIT_DATA. */
int pl_data_load(const pl_config *cfg, pl_dataset *train, pl_dataset *test);

/* The directory pl_data_load reads for cfg (data.dir, else $PLASTIC_DATA/<set>,
 * else data/<set>), written into buf. */
void pl_data_dir(const pl_config *cfg, char *buf, size_t size);

/* Seeded split: nvalid examples (chosen by a permutation keyed by seed)
 * go to valid, the rest to train, both keeping their original order.
 * nvalid = 0 gives an empty valid set. Returns 0 or PL_EXIT_USAGE if
 * nvalid >= all->n. */
int pl_dataset_split(const pl_dataset *all, int nvalid, uint64_t seed,
                     pl_dataset *train, pl_dataset *valid);

void pl_dataset_free(pl_dataset *d);

#endif
