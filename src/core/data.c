/* Dataset loading: IDX files (MNIST, Fashion-MNIST; plain or gzip, read
 * through zlib, which passes plain files through unchanged), CIFAR-10/100
 * binary batches, and the seeded train/validation split.
 *
 * Every failure is reported once with pl_error, names the file, and leaves
 * the output dataset zeroed with nothing allocated. */
#include "plastic/data.h"

#include "plastic/common.h"
#include "plastic/rng.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_NCLASS 10

#define CIFAR_SIDE 32
#define CIFAR_CHANNELS 3
#define CIFAR_PIXELS (CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS) /* 3072 */

static const char IDX_FETCH_HINT[] =
    "run tools/fetch-data.sh (or make data), or set data.dir / PLASTIC_DATA "
    "to a directory holding the IDX files";

typedef unsigned long long ull;

/* ------------------------------------------------------------------ */
/* Reading through zlib                                                */

typedef struct reader {
    const char *path;
    gzFile gz;
    int compressed; /* known after the first read */
} reader;

static int reader_open(reader *r, const char *path)
{
    r->path = path;
    r->compressed = 0;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        pl_error("cannot open '%s': %s", path, strerror(errno ? errno : ENOMEM));
        return PL_EXIT_DATA;
    }
    return 0;
}

static void reader_close(reader *r)
{
    if (r->gz)
        gzclose_r(r->gz);
    r->gz = NULL;
}

/* Reads up to len bytes; a short count means end of file. Returns -1 on a
 * read or decompression error (reported). */
static long long reader_read(reader *r, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t want = len - done;
        if (want > (1u << 30))
            want = 1u << 30;
        int got = gzread(r->gz, p + done, (unsigned)want);
        if (got < 0) {
            int err = 0;
            const char *msg = gzerror(r->gz, &err);
            size_t plen = strlen(r->path);
            if (strncmp(msg, r->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
                msg += plen + 2; /* zlib prefixes the path, which we print anyway */
            pl_error("cannot read '%s': %s", r->path,
                     err == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        done += (size_t)got;
        if (got == 0)
            break;
    }
    r->compressed = !gzdirect(r->gz);
    return (long long)done;
}

/* After end of file: did a gzip stream stop in the middle? */
static int reader_cut_short(reader *r)
{
    int err = 0;
    gzerror(r->gz, &err);
    return err == Z_BUF_ERROR;
}

/* Counts the bytes left before end of file; -1 on error (reported). */
static long long reader_count_rest(reader *r)
{
    unsigned char scratch[65536];
    long long total = 0;
    for (;;) {
        long long got = reader_read(r, scratch, sizeof scratch);
        if (got < 0)
            return -1;
        total += got;
        if ((size_t)got < sizeof scratch)
            return total;
    }
}

static const char *size_note(const reader *r)
{
    return r->compressed ? " (sizes of the decompressed content)" : "";
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* ------------------------------------------------------------------ */
/* IDX                                                                 */

/* Reads one IDX file: checks the magic number, reads the header
 * (ndims sizes after the magic), then exactly the payload the header
 * promises, and rejects short files and trailing bytes.
 * On success *payload is malloc'ed and dims[] holds the sizes. */
static int idx_read(const char *path, uint32_t magic, const char *what, int ndims,
                    uint32_t dims[3], unsigned char **payload)
{
    *payload = NULL;
    reader r;
    if (reader_open(&r, path))
        return PL_EXIT_DATA;

    const size_t header = 4 + 4 * (size_t)ndims;
    unsigned char head[16];
    long long got = reader_read(&r, head, header);
    if (got < 0)
        goto fail;
    if (got >= 4 && be32(head) != magic) {
        pl_error("'%s': bad magic number 0x%08x (expected 0x%08x, an IDX %s file)",
                 path, (unsigned)be32(head), (unsigned)magic, what);
        goto fail;
    }
    if ((size_t)got < header) {
        pl_error("'%s' is truncated: expected at least %zu bytes (the IDX %s header), "
                 "found %lld%s%s",
                 path, header, what, got, size_note(&r),
                 reader_cut_short(&r) ? "; the gzip stream also ends early" : "");
        goto fail;
    }

    /* Bytes per example: at most two 32-bit sizes, so no overflow. The
     * product of all three could wrap around 64 bits to a small count. */
    uint64_t per_example = 1;
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(head + 4 + 4 * i);
        if (i > 0)
            per_example *= dims[i];
    }
    if (dims[0] == 0) {
        pl_error("'%s' holds no examples (its header gives a count of 0)", path);
        goto fail;
    }
    const uint64_t count = dims[0] * per_example; /* < 2^64 when both are checked below */
    if (dims[0] > INT_MAX || per_example == 0 || per_example > INT_MAX ||
        count > SIZE_MAX / sizeof(float)) {
        if (ndims == 3)
            pl_error("'%s': implausible IDX header (%u images of %ux%u pixels)", path,
                     (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2]);
        else
            pl_error("'%s': implausible IDX header (%u labels)", path, (unsigned)dims[0]);
        goto fail;
    }

    /* Grow the buffer as data arrives, so a corrupt header promising
     * gigabytes costs no more memory than the file actually holds. */
    size_t want = (size_t)count;
    size_t cap = want < ((size_t)1 << 20) ? want : ((size_t)1 << 20);
    unsigned char *buf = malloc(cap);
    if (!buf) {
        pl_error_all("out of memory reading '%s'", path);
        abort();
    }
    size_t have = 0;
    while (have < want) {
        if (have == cap) {
            cap = cap > want / 2 ? want : cap * 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                pl_error_all("out of memory reading '%s'", path);
                abort();
            }
            buf = nb;
        }
        got = reader_read(&r, buf + have, cap - have);
        if (got < 0) {
            free(buf);
            goto fail;
        }
        have += (size_t)got;
        if (have < cap)
            break; /* end of file */
    }

    const ull expected = (ull)header + (ull)want;
    if (have < want) {
        pl_error("'%s' is truncated: expected %llu bytes, found %llu%s%s", path, expected,
                 (ull)header + (ull)have, size_note(&r),
                 reader_cut_short(&r) ? "; the gzip stream also ends early" : "");
        free(buf);
        goto fail;
    }
    long long extra = reader_count_rest(&r);
    if (extra < 0) {
        free(buf);
        goto fail;
    }
    if (extra > 0) {
        pl_error("'%s' is longer than its header says: expected %llu bytes, found %llu%s",
                 path, expected, expected + (ull)extra, size_note(&r));
        free(buf);
        goto fail;
    }
    if (reader_cut_short(&r)) {
        pl_error("'%s': the gzip stream ends early (the file is damaged; fetch it again)",
                 path);
        free(buf);
        goto fail;
    }
    reader_close(&r);
    *payload = buf;
    return 0;

fail:
    reader_close(&r);
    return PL_EXIT_DATA;
}

int pl_idx_load(const char *images_path, const char *labels_path, pl_dataset *out)
{
    memset(out, 0, sizeof *out);
    uint32_t idim[3], ldim[3];
    unsigned char *pixels = NULL, *labels = NULL;

    if (idx_read(images_path, IDX_MAGIC_IMAGES, "image", 3, idim, &pixels))
        return PL_EXIT_DATA;
    if (idx_read(labels_path, IDX_MAGIC_LABELS, "label", 1, ldim, &labels)) {
        free(pixels);
        return PL_EXIT_DATA;
    }
    if (idim[0] != ldim[0]) {
        pl_error("'%s' holds %u images but '%s' holds %u labels", images_path,
                 (unsigned)idim[0], labels_path, (unsigned)ldim[0]);
        free(pixels);
        free(labels);
        return PL_EXIT_DATA;
    }
    const int n = (int)idim[0];
    for (int i = 0; i < n; i++) {
        if (labels[i] >= IDX_NCLASS) {
            pl_error("'%s': label %u of example %d (counting from 0) is out of range 0..%d",
                     labels_path, (unsigned)labels[i], i, IDX_NCLASS - 1);
            free(pixels);
            free(labels);
            return PL_EXIT_DATA;
        }
    }

    const size_t dim = (size_t)idim[1] * idim[2];
    const size_t total = (size_t)n * dim;
    float *x = pl_alloc(total * sizeof *x);
    for (size_t i = 0; i < total; i++)
        x[i] = (float)pixels[i] / 255.0f;
    uint8_t *y = pl_alloc((size_t)n);
    memcpy(y, labels, (size_t)n);
    free(pixels);
    free(labels);

    out->n = n;
    out->rows = (int)idim[1];
    out->cols = (int)idim[2];
    out->channels = 1;
    out->dim = (int)dim;
    out->nclass = IDX_NCLASS;
    out->x = x;
    out->y = y;
    return 0;
}

/* ------------------------------------------------------------------ */
/* CIFAR                                                               */

int pl_cifar_load(const char *const *paths, int npaths, int variant, pl_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (variant != 10 && variant != 100) {
        pl_error("CIFAR variant %d is not supported (expected 10 or 100)", variant);
        return PL_EXIT_USAGE;
    }
    if (npaths <= 0) {
        pl_error("no CIFAR-%d files given", variant);
        return PL_EXIT_USAGE;
    }
    const size_t nlabel = variant == 10 ? 1 : 2; /* CIFAR-100: coarse, fine */
    const size_t record = nlabel + CIFAR_PIXELS;
    const int nclass = variant;

    /* First pass: sizes, so the output is allocated once. */
    long long total = 0;
    for (int f = 0; f < npaths; f++) {
        struct stat st;
        if (stat(paths[f], &st) != 0) {
            pl_error("cannot open '%s': %s", paths[f], strerror(errno));
            return PL_EXIT_DATA;
        }
        if (!S_ISREG(st.st_mode)) {
            pl_error("'%s' is not a regular file", paths[f]);
            return PL_EXIT_DATA;
        }
        if (st.st_size == 0) {
            pl_error("'%s' is empty (expected %zu-byte CIFAR-%d records)", paths[f], record,
                     variant);
            return PL_EXIT_DATA;
        }
        if ((ull)st.st_size % record != 0) {
            pl_error("'%s': size %llu is not a multiple of the %zu-byte CIFAR-%d record",
                     paths[f], (ull)st.st_size, record, variant);
            return PL_EXIT_DATA;
        }
        total += (long long)((ull)st.st_size / record);
        if (total > INT_MAX) {
            pl_error("'%s': too many CIFAR records in total (%lld)", paths[f], total);
            return PL_EXIT_DATA;
        }
    }

    const int n = (int)total;
    float *x = pl_alloc((size_t)n * CIFAR_PIXELS * sizeof *x);
    uint8_t *y = pl_alloc((size_t)n);
    enum { CHUNK = 256 };
    unsigned char *buf = malloc(CHUNK * record);
    if (!buf) {
        pl_error_all("out of memory reading CIFAR data");
        abort();
    }

    /* Second pass: read records in chunks, keeping the CHW byte order. */
    int at = 0;
    for (int f = 0; f < npaths; f++) {
        FILE *fp = fopen(paths[f], "rb");
        if (!fp) {
            pl_error("cannot open '%s': %s", paths[f], strerror(errno));
            goto fail;
        }
        struct stat st;
        if (fstat(fileno(fp), &st) != 0 || (ull)st.st_size % record != 0) {
            pl_error("'%s' changed while it was being read", paths[f]);
            fclose(fp);
            goto fail;
        }
        long long nrec = (long long)((ull)st.st_size / record);
        if (nrec > n - at) {
            pl_error("'%s' changed while it was being read", paths[f]);
            fclose(fp);
            goto fail;
        }
        long long rec = 0;
        while (rec < nrec) {
            size_t want = (size_t)(nrec - rec < CHUNK ? nrec - rec : CHUNK);
            size_t got = fread(buf, record, want, fp);
            if (got != want) {
                if (ferror(fp))
                    pl_error("cannot read '%s': %s", paths[f], strerror(errno));
                else
                    pl_error("'%s' is truncated: expected %llu bytes, found %llu", paths[f],
                             (ull)nrec * record, (ull)(rec + (long long)got) * record);
                fclose(fp);
                goto fail;
            }
            for (size_t k = 0; k < want; k++, rec++, at++) {
                const unsigned char *r = buf + k * record;
                unsigned label = r[nlabel - 1];
                if (label >= (unsigned)nclass) {
                    pl_error("'%s': record %lld (counting from 0) has label %u, "
                             "out of range 0..%d for CIFAR-%d",
                             paths[f], rec, label, nclass - 1, variant);
                    fclose(fp);
                    goto fail;
                }
                y[at] = (uint8_t)label;
                float *xi = x + (size_t)at * CIFAR_PIXELS;
                const unsigned char *px = r + nlabel;
                for (int j = 0; j < CIFAR_PIXELS; j++)
                    xi[j] = (float)px[j] / 255.0f;
            }
        }
        fclose(fp);
    }
    free(buf);

    out->n = n;
    out->rows = CIFAR_SIDE;
    out->cols = CIFAR_SIDE;
    out->channels = CIFAR_CHANNELS;
    out->dim = CIFAR_PIXELS;
    out->nclass = nclass;
    out->x = x;
    out->y = y;
    return 0;

fail:
    free(buf);
    pl_free(x);
    pl_free(y);
    return PL_EXIT_DATA;
}

/* ------------------------------------------------------------------ */
/* Sets and directories                                                */

static const char *set_dirname(const char *set)
{
    if (strcmp(set, "cifar10") == 0)
        return "cifar-10-batches-bin";
    if (strcmp(set, "cifar100") == 0)
        return "cifar-100-binary";
    return set; /* mnist, fashion */
}

void pl_data_dir(const pl_config *cfg, char *buf, size_t size)
{
    if (size == 0)
        return;
    if (cfg->data.dir[0] != '\0') {
        snprintf(buf, size, "%s", cfg->data.dir);
        return;
    }
    const char *root = getenv("PLASTIC_DATA");
    if (!root || root[0] == '\0')
        root = "data";
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/')
        len--; /* "/scratch/data/" and "/scratch/data" give the same path */
    snprintf(buf, size, "%.*s/%s", (int)len, root, set_dirname(cfg->data.set));
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir/name, else dir/name.gz; the error says how to fetch the IDX files. */
static int idx_path(const char *dir, const char *name, char *buf, size_t size)
{
    int len = snprintf(buf, size, "%s/%s", dir, name);
    if (len < 0 || (size_t)len + 4 > size) {
        pl_error("data path '%s/%s' is too long", dir, name);
        return PL_EXIT_DATA;
    }
    if (exists(buf))
        return 0;
    int err = errno;
    strcat(buf, ".gz");
    if (exists(buf))
        return 0;
    buf[len] = '\0';
    pl_error("cannot open '%s': %s (nor '%s.gz'); %s", buf, strerror(err), buf,
             IDX_FETCH_HINT);
    return PL_EXIT_DATA;
}

static int cifar_path(const char *dir, const char *name, int variant, char *buf, size_t size)
{
    int len = snprintf(buf, size, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= size) {
        pl_error("data path '%s/%s' is too long", dir, name);
        return PL_EXIT_DATA;
    }
    if (exists(buf))
        return 0;
    int err = errno;
    pl_error("cannot open '%s': %s; CIFAR-%d is not fetched automatically: download its "
             "binary version (cifar-%d-binary.tar.gz, "
             "https://www.cs.toronto.edu/~kriz/cifar.html) yourself, unpack it under "
             "data/ or $PLASTIC_DATA, or point data.dir at the directory holding %s",
             buf, strerror(err), variant, variant,
             variant == 10 ? "data_batch_1.bin" : "train.bin");
    return PL_EXIT_DATA;
}

/* Keeps the first limit examples (limit <= 0 or >= n: all), releasing the
 * memory of the rest. */
static void dataset_limit(pl_dataset *d, int limit)
{
    if (limit <= 0 || limit >= d->n)
        return;
    float *x = pl_alloc((size_t)limit * (size_t)d->dim * sizeof *x);
    uint8_t *y = pl_alloc((size_t)limit);
    memcpy(x, d->x, (size_t)limit * (size_t)d->dim * sizeof *x);
    memcpy(y, d->y, (size_t)limit);
    pl_free(d->x);
    pl_free(d->y);
    d->x = x;
    d->y = y;
    d->n = limit;
}

static int load_idx_set(const char *dir, pl_dataset *train, pl_dataset *test)
{
    char ti[PL_PATH_MAX + 64], tl[PL_PATH_MAX + 64], vi[PL_PATH_MAX + 64],
        vl[PL_PATH_MAX + 64];
    if (idx_path(dir, "train-images-idx3-ubyte", ti, sizeof ti) ||
        idx_path(dir, "train-labels-idx1-ubyte", tl, sizeof tl) ||
        idx_path(dir, "t10k-images-idx3-ubyte", vi, sizeof vi) ||
        idx_path(dir, "t10k-labels-idx1-ubyte", vl, sizeof vl))
        return PL_EXIT_DATA;
    if (pl_idx_load(ti, tl, train))
        return PL_EXIT_DATA;
    if (pl_idx_load(vi, vl, test)) {
        pl_dataset_free(train);
        return PL_EXIT_DATA;
    }
    if (train->rows != test->rows || train->cols != test->cols) {
        pl_error("'%s' holds %dx%d images but '%s' holds %dx%d images", ti, train->rows,
                 train->cols, vi, test->rows, test->cols);
        pl_dataset_free(train);
        pl_dataset_free(test);
        return PL_EXIT_DATA;
    }
    return 0;
}

static int load_cifar_set(const char *dir, int variant, pl_dataset *train, pl_dataset *test)
{
    static const char *const names10[] = {"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin"};
    static const char *const names100[] = {"train.bin"};
    const char *const *names = variant == 10 ? names10 : names100;
    const int ntrain = variant == 10 ? 5 : 1;
    const char *test_name = variant == 10 ? "test_batch.bin" : "test.bin";

    char paths[6][PL_PATH_MAX + 64];
    const char *ptrs[6];
    for (int i = 0; i < ntrain; i++) {
        if (cifar_path(dir, names[i], variant, paths[i], sizeof paths[i]))
            return PL_EXIT_DATA;
        ptrs[i] = paths[i];
    }
    if (cifar_path(dir, test_name, variant, paths[ntrain], sizeof paths[ntrain]))
        return PL_EXIT_DATA;
    ptrs[ntrain] = paths[ntrain];

    if (pl_cifar_load(ptrs, ntrain, variant, train))
        return PL_EXIT_DATA;
    if (pl_cifar_load(ptrs + ntrain, 1, variant, test)) {
        pl_dataset_free(train);
        return PL_EXIT_DATA;
    }
    return 0;
}

int pl_data_load(const pl_config *cfg, pl_dataset *train, pl_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    char dir[PL_PATH_MAX];
    pl_data_dir(cfg, dir, sizeof dir);

    const char *set = cfg->data.set;
    int rc;
    if (strcmp(set, "mnist") == 0 || strcmp(set, "fashion") == 0)
        rc = load_idx_set(dir, train, test);
    else if (strcmp(set, "cifar10") == 0)
        rc = load_cifar_set(dir, 10, train, test);
    else if (strcmp(set, "cifar100") == 0)
        rc = load_cifar_set(dir, 100, train, test);
    else {
        pl_error("unknown data.set '%s' (expected mnist, fashion, cifar10 or cifar100)", set);
        return PL_EXIT_USAGE;
    }
    if (rc)
        return rc;
    dataset_limit(train, cfg->data.train_limit);
    dataset_limit(test, cfg->data.test_limit);
    if (strcmp(cfg->data.normalize, "unit") == 0) {
        pl_dataset_normalize_unit(train);
        pl_dataset_normalize_unit(test);
    }
    return 0;
}

void pl_dataset_normalize_unit(pl_dataset *d)
{
    for (long i = 0; i < d->n; i++) {
        float *x = d->x + i * (long)d->dim;
        double sq = 0.0; /* in double, then one rounding per value: the same on every rank */
        for (int j = 0; j < d->dim; j++)
            sq += (double)x[j] * x[j];
        if (sq == 0.0)
            continue;
        const double inv = 1.0 / sqrt(sq);
        for (int j = 0; j < d->dim; j++)
            x[j] = (float)(x[j] * inv);
    }
}

/* ------------------------------------------------------------------ */
/* Split                                                               */

static void copy_shape(const pl_dataset *from, pl_dataset *to, int n)
{
    to->n = n;
    to->rows = from->rows;
    to->cols = from->cols;
    to->channels = from->channels;
    to->dim = from->dim;
    to->nclass = from->nclass;
}

int pl_dataset_split(const pl_dataset *all, int nvalid, uint64_t seed, pl_dataset *train,
                     pl_dataset *valid)
{
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    if (nvalid < 0 || nvalid >= all->n) {
        pl_error("data.valid = %d must be at least 0 and less than the %d training examples",
                 nvalid, all->n);
        return PL_EXIT_USAGE;
    }

    const int n = all->n;
    const size_t dim = (size_t)all->dim;
    unsigned char *is_valid = pl_calloc((size_t)n, 1);
    if (nvalid > 0) {
        int *perm = pl_alloc((size_t)n * sizeof *perm);
        pl_rng r;
        pl_rng_init(&r, seed, PL_STREAM_VALID_SPLIT, 0);
        pl_rng_permutation(&r, perm, n);
        for (int i = 0; i < nvalid; i++)
            is_valid[perm[i]] = 1;
        pl_free(perm);
    }

    copy_shape(all, train, n - nvalid);
    copy_shape(all, valid, nvalid);
    train->x = pl_alloc((size_t)train->n * dim * sizeof(float));
    train->y = pl_alloc((size_t)train->n);
    if (nvalid > 0) {
        valid->x = pl_alloc((size_t)nvalid * dim * sizeof(float));
        valid->y = pl_alloc((size_t)nvalid);
    }

    /* Walking the examples in order keeps both parts in the original order. */
    int it = 0, iv = 0;
    for (int i = 0; i < n; i++) {
        pl_dataset *to = is_valid[i] ? valid : train;
        int *at = is_valid[i] ? &iv : &it;
        memcpy(to->x + (size_t)*at * dim, all->x + (size_t)i * dim, dim * sizeof(float));
        to->y[*at] = all->y[i];
        (*at)++;
    }
    pl_free(is_valid);
    return 0;
}

void pl_dataset_free(pl_dataset *d)
{
    if (!d)
        return;
    pl_free(d->x);
    pl_free(d->y);
    memset(d, 0, sizeof *d);
}
