/* Fuzz harness: IDX image and label files, plain or gzipped (pl_idx_load).
 *
 * Input: a 5-byte header, then the images file's content, then the labels
 * file's.
 *   byte 0   flags: 1 gzip the images, 2 gzip the labels, 4/8 cut the
 *            images'/labels' gzip stream short, 16/32 damage one byte of
 *            the images'/labels' gzip stream (after its 10-byte header),
 *            64 the labels file is missing, 128 the images path is a
 *            directory
 *   byte 1-2 length of the images content (big-endian; the rest, if
 *            shorter), the labels content is what follows
 *   byte 3-4 where the images'/labels' stream is cut or damaged, in
 *            256ths of its length
 * The harness writes the files (compressing with zlib where asked) into
 * its temporary directory.
 * Properties:
 *   - a load fails if and only if the files break the IDX rules (an
 *     independent check below), a gzip stream was cut or damaged, or a
 *     file is missing or a directory;
 *   - a failed load leaves the dataset zeroed;
 *   - a successful load holds exactly the files' pixels / 255 and labels,
 *     with geometry rows x cols = dim and one channel. */
#include "support.h"

#include "plastic/data.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum {
    GZ_IMAGES = 1,
    GZ_LABELS = 2,
    CUT_IMAGES = 4,
    CUT_LABELS = 8,
    FLIP_IMAGES = 16,
    FLIP_LABELS = 32,
    NO_LABELS = 64,
    IMAGES_DIR = 128,
    HEADER = 5,
    GZIP_HEADER = 10,
};

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* gzip of data (malloc'ed, *out_len bytes). */
static uint8_t *gzip(const uint8_t *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    FUZZ_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                            Z_DEFAULT_STRATEGY) == Z_OK,
               "deflateInit2");
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* Writes one file as the flags say; returns 1 if its gzip stream was cut
 * or damaged (then the load must fail). */
static int write_file(const char *name, const uint8_t *data, size_t len, int gz, int cut,
                      int flip, uint8_t where)
{
    if (!gz) {
        fuzz_write(name, data, len);
        return 0;
    }
    size_t zlen;
    uint8_t *z = gzip(data, len, &zlen);
    int damaged = 0;
    if (flip && zlen > GZIP_HEADER) {
        size_t at = GZIP_HEADER + (size_t)where * (zlen - GZIP_HEADER) / 256;
        z[at] ^= 0xff;
        damaged = 1;
    }
    if (cut) {
        zlen = (size_t)where * zlen / 256;
        damaged = 1;
    }
    fuzz_write(name, z, zlen);
    free(z);
    return damaged;
}

/* The IDX rules, checked independently of data.c: the magic number, a
 * header of ndims sizes, at least one example, a size per example from 1
 * to INT_MAX, and exactly the promised payload. Returns the count of
 * examples (0: the file breaks the rules); *dim gets the per-example size. */
static uint64_t idx_valid(const uint8_t *data, size_t len, uint32_t magic, int ndims,
                          uint64_t *dim, uint32_t dims[3])
{
    size_t header = 4 + 4 * (size_t)ndims;
    if (len < header || be32(data) != magic)
        return 0;
    *dim = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(data + 4 + 4 * i);
        if (dims[i] > INT_MAX)
            return 0;
        if (i > 0)
            *dim *= dims[i];
    }
    uint64_t n = dims[0];
    if (n == 0 || *dim == 0 || *dim > INT_MAX)
        return 0;
    if ((uint64_t)(len - header) != n * *dim) /* both factors < 2^31: no overflow */
        return 0;
    return n;
}

static int is_gzip_magic(const uint8_t *data, size_t len)
{
    return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < HEADER)
        return 0;
    const int flags = data[0];
    size_t ilen = (size_t)data[1] << 8 | data[2];
    const uint8_t *images = data + HEADER;
    size_t rest = size - HEADER;
    if (ilen > rest)
        ilen = rest;
    const uint8_t *labels = images + ilen;
    size_t llen = rest - ilen;

    int broken = 0;
    const char *ipath, *lpath;
    if (flags & IMAGES_DIR) {
        ipath = fuzz_path("images");
        FUZZ_CHECK(mkdir(ipath, 0700) == 0, "cannot make %s", ipath);
        broken = 1;
    } else {
        broken |= write_file("images", images, ilen, flags & GZ_IMAGES, flags & CUT_IMAGES,
                             flags & FLIP_IMAGES, data[3]);
        ipath = fuzz_path("images");
    }
    if (flags & NO_LABELS) {
        broken = 1;
    } else {
        broken |= write_file("labels", labels, llen, flags & GZ_LABELS, flags & CUT_LABELS,
                             flags & FLIP_LABELS, data[4]);
    }
    lpath = fuzz_path("labels");

    pl_dataset d;
    memset(&d, 0xa5, sizeof d);
    int rc = pl_idx_load(ipath, lpath, &d);
    fuzz_remove("images");
    fuzz_remove("labels");

    /* What the rules say; a plain file that starts like gzip is read as
     * gzip by zlib, so it is left out of the comparison. */
    uint64_t idim = 0, ldim = 0;
    uint32_t idims[3] = {0}, ldims[3] = {0};
    uint64_t n = idx_valid(images, ilen, 0x803, 3, &idim, idims);
    uint64_t nl = idx_valid(labels, llen, 0x801, 1, &ldim, ldims);
    int ok = !broken && n > 0 && nl == n;
    for (uint64_t i = 0; ok && i < n; i++)
        ok = labels[8 + i] < 10;
    int comparable = broken || (((flags & GZ_IMAGES) || !is_gzip_magic(images, ilen)) &&
                            ((flags & GZ_LABELS) || !is_gzip_magic(labels, llen)));

    if (rc != 0) {
        FUZZ_CHECK(!ok || !comparable, "valid IDX files were rejected (rc %d)", rc);
        FUZZ_CHECK(d.n == 0 && d.x == NULL && d.y == NULL && d.dim == 0 && d.rows == 0,
                   "a failed load left data in the dataset");
        return 0;
    }
    FUZZ_CHECK(!broken, "a damaged, missing or cut file was accepted");
    FUZZ_CHECK(ok || !comparable, "files that break the IDX rules were accepted");
    FUZZ_CHECK(d.n >= 1 && d.channels == 1 && d.nclass == 10 && d.rows >= 1 && d.cols >= 1 &&
                   (int64_t)d.rows * d.cols == d.dim,
               "bad geometry: n %d, %dx%dx%d, dim %d", d.n, d.rows, d.cols, d.channels, d.dim);
    if (comparable) {
        FUZZ_CHECK((uint64_t)d.n == n && (uint64_t)d.dim == idim, "n %d dim %d, expected %llu %llu",
                   d.n, d.dim, (unsigned long long)n, (unsigned long long)idim);
        for (size_t i = 0; i < (size_t)n * idim; i++)
            FUZZ_CHECK(d.x[i] == (float)images[16 + i] / 255.0f, "pixel %zu differs", i);
        for (size_t i = 0; i < (size_t)n; i++)
            FUZZ_CHECK(d.y[i] == labels[8 + i], "label %zu differs", i);
    }
    for (size_t i = 0; i < (size_t)d.n * (size_t)d.dim; i++)
        FUZZ_CHECK(d.x[i] >= 0.0f && d.x[i] <= 1.0f, "pixel %zu = %g", i, (double)d.x[i]);
    for (int i = 0; i < d.n; i++)
        FUZZ_CHECK(d.y[i] < 10, "label %d = %u", i, d.y[i]);
    pl_dataset_free(&d);
    return 0;
}
