/* Fuzz harness: CIFAR-10/100 binary batches (pl_cifar_load).
 *
 * Input: a flags byte, then a 2-byte big-endian length for each file but
 * the last, then the files' contents in order (the last takes the rest).
 *   flags  1 CIFAR-100 (else CIFAR-10); 2|4 (value 0-3): files - 1;
 *          8 compact records (below); 16 the last path is missing;
 *          32 the last path is a directory; 64 pass npaths = 0;
 *          128 pass an unsupported variant (7)
 * A real record is 3073 (CIFAR-10) or 3074 bytes, more than a fuzzer
 * mutates well, so in compact mode each group of (label bytes + 1) input
 * bytes becomes one whole record: its label bytes, then 3072 pixels
 * (b + j) mod 256 from the group's last byte b. A shorter group at the end
 * is copied as it is, making the file a size that is no multiple.
 * Properties:
 *   - a load succeeds if and only if every file exists, is regular, is not
 *     empty and holds whole records, and every label is below the variant;
 *   - a failed load leaves the dataset zeroed;
 *   - a successful load holds exactly the records' pixels / 255 and their
 *     (fine) labels, in file order. */
#include "support.h"

#include "plastic/common.h"
#include "plastic/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    VARIANT_100 = 1,
    COMPACT = 8,
    LAST_MISSING = 16,
    LAST_DIR = 32,
    NO_PATHS = 64,
    BAD_VARIANT = 128,
    PIXELS = 3072,
    MAX_FILES = 4,
};

typedef struct file {
    uint8_t *bytes;
    size_t len;
} file;

static void expand_compact(file *f, const uint8_t *in, size_t len, size_t nlabel)
{
    size_t record = nlabel + PIXELS, group = nlabel + 1;
    size_t whole = len / group, tail = len % group;
    f->len = whole * record + tail;
    f->bytes = malloc(f->len ? f->len : 1);
    for (size_t r = 0; r < whole; r++) {
        uint8_t *out = f->bytes + r * record;
        const uint8_t *g = in + r * group;
        memcpy(out, g, nlabel);
        for (size_t j = 0; j < PIXELS; j++)
            out[nlabel + j] = (uint8_t)(g[nlabel] + j);
    }
    if (tail)
        memcpy(f->bytes + whole * record, in + whole * group, tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 1)
        return 0;
    const int flags = data[0];
    const int variant = flags & VARIANT_100 ? 100 : 10;
    const size_t nlabel = variant == 10 ? 1 : 2, record = nlabel + PIXELS;
    const int nfiles = 1 + (flags >> 1 & 3);
    size_t at = 1;

    file files[MAX_FILES];
    for (int f = 0; f < nfiles; f++) {
        size_t len = size - at;
        if (f < nfiles - 1) {
            size_t want = at + 2 <= size ? (size_t)data[at] << 8 | data[at + 1] : 0;
            at = at + 2 <= size ? at + 2 : size;
            len = size - at < want ? size - at : want;
        }
        if (flags & COMPACT) {
            expand_compact(&files[f], data + at, len, nlabel);
        } else {
            files[f].len = len;
            files[f].bytes = malloc(len ? len : 1);
            if (len)
                memcpy(files[f].bytes, data + at, len);
        }
        at += len;
    }

    char names[MAX_FILES][32];
    const char *paths[MAX_FILES];
    int broken = 0;
    for (int f = 0; f < nfiles; f++) {
        snprintf(names[f], sizeof names[f], "batch%d.bin", f);
        paths[f] = fuzz_path(names[f]);
        if (f == nfiles - 1 && (flags & LAST_MISSING)) {
            broken = 1;
        } else if (f == nfiles - 1 && (flags & LAST_DIR)) {
            FUZZ_CHECK(mkdir(paths[f], 0700) == 0, "cannot make %s", paths[f]);
            broken = 1;
        } else {
            fuzz_write(names[f], files[f].bytes, files[f].len);
            broken |= files[f].len == 0 || files[f].len % record != 0;
        }
    }
    const int npaths = flags & NO_PATHS ? 0 : nfiles;
    broken |= npaths == 0 || (flags & BAD_VARIANT);
    for (int f = 0; f < nfiles && !broken; f++)
        for (size_t r = 0; r < files[f].len / record; r++)
            broken |= files[f].bytes[r * record + nlabel - 1] >= variant;

    pl_dataset d;
    memset(&d, 0xa5, sizeof d);
    int rc = pl_cifar_load(paths, npaths, flags & BAD_VARIANT ? 7 : variant, &d);
    for (int f = 0; f < nfiles; f++)
        fuzz_remove(names[f]);

    if (rc != 0) {
        FUZZ_CHECK(rc == ((flags & BAD_VARIANT) || npaths == 0 ? PL_EXIT_USAGE : PL_EXIT_DATA),
                   "exit code %d", rc);
        FUZZ_CHECK(broken, "valid CIFAR-%d files were rejected (rc %d)", variant, rc);
        FUZZ_CHECK(d.n == 0 && d.x == NULL && d.y == NULL && d.dim == 0,
                   "a failed load left data in the dataset");
    } else {
        FUZZ_CHECK(!broken, "invalid CIFAR-%d files were accepted", variant);
        FUZZ_CHECK(d.rows == 32 && d.cols == 32 && d.channels == 3 && d.dim == PIXELS &&
                       d.nclass == variant,
                   "bad geometry");
        long n = 0;
        for (int f = 0; f < nfiles; f++) {
            for (size_t r = 0; r < files[f].len / record; r++, n++) {
                const uint8_t *rec = files[f].bytes + r * record;
                FUZZ_CHECK(n < d.n, "fewer examples than records");
                FUZZ_CHECK(d.y[n] == rec[nlabel - 1], "label of example %ld", n);
                const float *x = d.x + (size_t)n * PIXELS;
                for (size_t j = 0; j < PIXELS; j++)
                    FUZZ_CHECK(x[j] == (float)rec[nlabel + j] / 255.0f, "pixel %zu of %ld", j,
                               n);
            }
        }
        FUZZ_CHECK(n == d.n, "%d examples from %ld records", d.n, n);
        pl_dataset_free(&d);
    }
    for (int f = 0; f < nfiles; f++)
        free(files[f].bytes);
    return 0;
}
