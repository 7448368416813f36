/* Unit tests of src/data.c: IDX (plain and gzip) and CIFAR loaders, their
 * error messages, pl_data_dir / pl_data_load, and the seeded split. Every
 * test writes its own small files into a fresh temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/rng.h"

#include "support.h"

/* ------------------------------------------------------------------ */
/* Temporary directory, one per test (tmpdir, tmp_path: support.h)     */

/* Also drops the $PLASTIC_DATA a test may have set. */
static int teardown_dir(void **state)
{
    unsetenv("PLASTIC_DATA");
    return tmpdir_teardown(state);
}

static void make_subdir(const char *name) { assert_int_equal(mkdir(tmp_path(name), 0755), 0); }

/* ------------------------------------------------------------------ */
/* Writing test files                                                  */

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    if (len)
        assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

enum { N = 5, ROWS = 4, COLS = 3, DIM = ROWS * COLS };
#define IMG_BYTES (16 + N * DIM)
#define LBL_BYTES (8 + N)

/* pixel j of image i; covers 0 and 255 */
static unsigned char pixel(int i, int j, int salt) { return (unsigned char)((i * 53 + j * 23 + salt) % 256); }
static unsigned char label(int i, int salt) { return (unsigned char)((i * 3 + salt) % 10); }

/* Builds an IDX image file in buf (n images of rows x cols); returns size. */
static size_t idx_images(unsigned char *buf, int n, int rows, int cols, int salt)
{
    put_be32(buf, 0x00000803u);
    put_be32(buf + 4, (uint32_t)n);
    put_be32(buf + 8, (uint32_t)rows);
    put_be32(buf + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rows * cols; j++)
            buf[16 + (size_t)i * rows * cols + j] = pixel(i, j, salt);
    return 16 + (size_t)n * rows * cols;
}

static size_t idx_labels(unsigned char *buf, int n, int salt)
{
    put_be32(buf, 0x00000801u);
    put_be32(buf + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        buf[8 + i] = label(i, salt);
    return 8 + (size_t)n;
}

/* Checks d against the generated content, for the first n examples. */
static void check_idx(const pl_dataset *d, int n, int rows, int cols, int salt)
{
    assert_int_equal(d->n, n);
    assert_int_equal(d->rows, rows);
    assert_int_equal(d->cols, cols);
    assert_int_equal(d->channels, 1);
    assert_int_equal(d->dim, rows * cols);
    assert_int_equal(d->nclass, 10);
    assert_non_null(d->x);
    assert_non_null(d->y);
    assert_int_equal((uintptr_t)d->x % 64, 0);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < rows * cols; j++)
            assert_true(d->x[(size_t)i * rows * cols + j] == (float)pixel(i, j, salt) / 255.0f);
        assert_int_equal(d->y[i], label(i, salt));
    }
}

static void assert_zeroed(const pl_dataset *d)
{
    assert_int_equal(d->n, 0);
    assert_null(d->x);
    assert_null(d->y);
}

/* ------------------------------------------------------------------ */
/* Capturing stderr                                                    */

/* Ends the capture and returns what was written (also echoed to the real
 * stderr, so a failing test's log shows the message). */
static const char *capture_end(void)
{
    const char *captured = stderr_capture_end();
    fprintf(stderr, "[captured] %s", captured);
    return captured;
}

/* Loads an IDX pair expecting failure; returns the message. */
static const char *idx_fails(const char *images, const char *labels)
{
    pl_dataset d;
    memset(&d, 0x5a, sizeof d);
    stderr_capture_begin();
    int rc = pl_idx_load(images, labels, &d);
    const char *msg = capture_end();
    assert_int_equal(rc, PL_EXIT_DATA);
    assert_zeroed(&d);
    return msg;
}

/* ------------------------------------------------------------------ */
/* IDX                                                                 */

static void write_idx_pair(const char *img, const char *lbl, int gz_img, int gz_lbl, int n,
                           int salt)
{
    unsigned char ib[16 + 64 * DIM], lb[8 + 64];
    size_t isz = idx_images(ib, n, ROWS, COLS, salt), lsz = idx_labels(lb, n, salt);
    (gz_img ? write_gz : write_bytes)(img, ib, isz);
    (gz_lbl ? write_gz : write_bytes)(lbl, lb, lsz);
}

static void test_idx_plain(void **state)
{
    (void)state;
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_idx_pair(img, lbl, 0, 0, N, 0);
    pl_dataset d;
    assert_int_equal(pl_idx_load(img, lbl, &d), 0);
    check_idx(&d, N, ROWS, COLS, 0);
    pl_dataset_free(&d);
    assert_zeroed(&d);
    assert_int_equal(d.rows, 0);
    assert_int_equal(d.dim, 0);
    pl_dataset_free(&d); /* freeing a zeroed dataset is harmless */
}

static void test_idx_extremes(void **state)
{
    (void)state;
    unsigned char ib[16 + 2 * 2], lb[8 + 2];
    put_be32(ib, 0x803);
    put_be32(ib + 4, 2);
    put_be32(ib + 8, 1);
    put_be32(ib + 12, 2);
    ib[16] = 0;
    ib[17] = 255;
    ib[18] = 128;
    ib[19] = 1;
    put_be32(lb, 0x801);
    put_be32(lb + 4, 2);
    lb[8] = 9;
    lb[9] = 0;
    write_bytes(tmp_path("i"), ib, sizeof ib);
    write_bytes(tmp_path("l"), lb, sizeof lb);
    pl_dataset d;
    assert_int_equal(pl_idx_load(tmp_path("i"), tmp_path("l"), &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.rows, 1);
    assert_int_equal(d.cols, 2);
    assert_true(d.x[0] == 0.0f);
    assert_true(d.x[1] == 1.0f);
    assert_float_equal(d.x[2], 128.0f / 255.0f, 1e-7);
    assert_float_equal(d.x[3], 1.0f / 255.0f, 1e-9);
    assert_int_equal(d.y[0], 9);
    assert_int_equal(d.y[1], 0);
    pl_dataset_free(&d);
}

static void test_idx_gzip(void **state)
{
    (void)state;
    const char *img = tmp_path("img.gz"), *lbl = tmp_path("lbl.gz");
    write_idx_pair(img, lbl, 1, 1, N, 7);
    /* really compressed: the file starts with the gzip magic */
    FILE *f = fopen(img, "rb");
    assert_non_null(f);
    assert_int_equal(fgetc(f), 0x1f);
    assert_int_equal(fgetc(f), 0x8b);
    fclose(f);
    pl_dataset d;
    assert_int_equal(pl_idx_load(img, lbl, &d), 0);
    check_idx(&d, N, ROWS, COLS, 7);
    pl_dataset_free(&d);

    /* mixed: gzip images, plain labels */
    write_idx_pair(img, tmp_path("lbl-plain"), 1, 0, N, 3);
    assert_int_equal(pl_idx_load(img, tmp_path("lbl-plain"), &d), 0);
    check_idx(&d, N, ROWS, COLS, 3);
    pl_dataset_free(&d);
}

static void test_idx_missing(void **state)
{
    (void)state;
    const char *lbl = tmp_path("lbl");
    write_idx_pair(tmp_path("img"), lbl, 0, 0, N, 0);
    const char *missing = tmp_path("nothing-here");
    const char *msg = idx_fails(missing, lbl);
    assert_contains(msg, "cannot open '");
    assert_contains(msg, missing);
    assert_contains(msg, "No such file or directory");
    msg = idx_fails(tmp_path("img"), missing);
    assert_contains(msg, missing);
}

static void test_idx_bad_magic(void **state)
{
    (void)state;
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_idx_pair(img, lbl, 0, 0, N, 0);
    /* labels given as images, images as labels */
    const char *msg = idx_fails(lbl, img);
    assert_contains(msg, lbl);
    assert_contains(msg, "bad magic number 0x00000801");
    assert_contains(msg, "expected 0x00000803, an IDX image file");

    msg = idx_fails(img, img);
    assert_contains(msg, "bad magic number 0x00000803");
    assert_contains(msg, "expected 0x00000801");

    /* text where an IDX file should be (an HTML error page, say) */
    const char html[] = "<!DOCTYPE html><html>not found</html>";
    write_bytes(tmp_path("page"), html, sizeof html - 1);
    msg = idx_fails(tmp_path("page"), lbl);
    assert_contains(msg, tmp_path("page"));
    assert_contains(msg, "bad magic number 0x3c21444f");
}

static void test_idx_truncated(void **state)
{
    (void)state;
    unsigned char ib[IMG_BYTES], lb[LBL_BYTES];
    idx_images(ib, N, ROWS, COLS, 0);
    idx_labels(lb, N, 0);
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_bytes(lbl, lb, sizeof lb);

    write_bytes(img, ib, IMG_BYTES - 2);
    const char *msg = idx_fails(img, lbl);
    assert_contains(msg, img);
    assert_contains(msg, "is truncated");
    assert_contains(msg, "expected 76 bytes, found 74");

    /* the same content gzip-compressed: sizes are of the decompressed data */
    write_gz(tmp_path("img.gz"), ib, IMG_BYTES - 2);
    msg = idx_fails(tmp_path("img.gz"), lbl);
    assert_contains(msg, tmp_path("img.gz"));
    assert_contains(msg, "expected 76 bytes, found 74");
    assert_contains(msg, "decompressed");

    /* header cut short */
    write_bytes(img, ib, 10);
    msg = idx_fails(img, lbl);
    assert_contains(msg, img);
    assert_contains(msg, "truncated");
    assert_contains(msg, "found 10");

    /* empty file */
    write_bytes(img, ib, 0);
    msg = idx_fails(img, lbl);
    assert_contains(msg, img);
    assert_contains(msg, "found 0");

    /* truncated labels */
    write_bytes(img, ib, sizeof ib);
    write_bytes(lbl, lb, LBL_BYTES - 1);
    msg = idx_fails(img, lbl);
    assert_contains(msg, lbl);
    assert_contains(msg, "expected 13 bytes, found 12");
}

static void test_idx_gzip_damaged(void **state)
{
    (void)state;
    unsigned char ib[IMG_BYTES];
    idx_images(ib, N, ROWS, COLS, 0);
    const char *gz = tmp_path("img.gz"), *lbl = tmp_path("lbl");
    write_idx_pair(tmp_path("img"), lbl, 0, 0, N, 0);
    write_gz(gz, ib, sizeof ib);

    /* a download cut off in the middle of the gzip stream */
    FILE *f = fopen(gz, "rb");
    assert_non_null(f);
    unsigned char whole[512];
    size_t len = fread(whole, 1, sizeof whole, f);
    fclose(f);
    assert_true(len > 30 && len < sizeof whole);
    write_bytes(gz, whole, len - 12);
    const char *msg = idx_fails(gz, lbl);
    assert_contains(msg, gz);

    /* a flipped byte in the compressed data */
    whole[len / 2] ^= 0x55;
    write_bytes(gz, whole, len);
    msg = idx_fails(gz, lbl);
    assert_contains(msg, gz);
}

static void test_idx_trailing_byte(void **state)
{
    (void)state;
    unsigned char ib[IMG_BYTES + 1], lb[LBL_BYTES + 3];
    idx_images(ib, N, ROWS, COLS, 0);
    ib[IMG_BYTES] = 0;
    idx_labels(lb, N, 0);
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_bytes(lbl, lb, LBL_BYTES);
    write_bytes(img, ib, IMG_BYTES + 1);
    const char *msg = idx_fails(img, lbl);
    assert_contains(msg, img);
    assert_contains(msg, "expected 76 bytes, found 77");

    write_gz(tmp_path("img.gz"), ib, IMG_BYTES + 1);
    msg = idx_fails(tmp_path("img.gz"), lbl);
    assert_contains(msg, "expected 76 bytes, found 77");

    write_bytes(img, ib, IMG_BYTES);
    write_bytes(lbl, lb, LBL_BYTES + 3);
    msg = idx_fails(img, lbl);
    assert_contains(msg, lbl);
    assert_contains(msg, "expected 13 bytes, found 16");
}

static void test_idx_count_mismatch(void **state)
{
    (void)state;
    unsigned char ib[IMG_BYTES], lb[LBL_BYTES];
    idx_images(ib, N, ROWS, COLS, 0);
    size_t lsz = idx_labels(lb, N - 1, 0);
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_bytes(img, ib, sizeof ib);
    write_bytes(lbl, lb, lsz);
    const char *msg = idx_fails(img, lbl);
    assert_contains(msg, img);
    assert_contains(msg, lbl);
    assert_contains(msg, "5 images");
    assert_contains(msg, "4 labels");
}

static void test_idx_label_range(void **state)
{
    (void)state;
    unsigned char ib[IMG_BYTES], lb[LBL_BYTES];
    idx_images(ib, N, ROWS, COLS, 0);
    idx_labels(lb, N, 0);
    lb[8 + 3] = 10;
    const char *img = tmp_path("img"), *lbl = tmp_path("lbl");
    write_bytes(img, ib, sizeof ib);
    write_bytes(lbl, lb, sizeof lb);
    const char *msg = idx_fails(img, lbl);
    assert_contains(msg, lbl);
    assert_contains(msg, "label 10 of example 3");
    assert_contains(msg, "out of range");
}

static void test_idx_zero_images(void **state)
{
    (void)state;
    unsigned char ib[16], lb[8];
    idx_images(ib, 0, ROWS, COLS, 0);
    idx_labels(lb, 0, 0);
    write_bytes(tmp_path("img"), ib, sizeof ib);
    write_bytes(tmp_path("lbl"), lb, sizeof lb);
    const char *msg = idx_fails(tmp_path("img"), tmp_path("lbl"));
    assert_contains(msg, tmp_path("img"));
    assert_contains(msg, "no examples");
}

/* 8 images of 2147437309 x 1073764994 pixels: the product of the three
 * sizes is 2^64 + 537552, which wrapped around to a count that a
 * 537568-byte file satisfied (dim came out as 67194 with rows x cols far
 * larger). Found while writing the oracle of tests/fuzz/fuzz_idx.c. */
static void test_idx_size_overflow(void **state)
{
    (void)state;
    const size_t payload = 537552;
    unsigned char *ib = calloc(16 + payload, 1), lb[8 + 8] = {0};
    assert_non_null(ib);
    put_be32(ib, 0x803);
    put_be32(ib + 4, 8);
    put_be32(ib + 8, 2147437309u);
    put_be32(ib + 12, 1073764994u);
    put_be32(lb, 0x801);
    put_be32(lb + 4, 8);
    write_bytes(tmp_path("img"), ib, 16 + payload);
    write_bytes(tmp_path("lbl"), lb, sizeof lb);
    free(ib);
    const char *msg = idx_fails(tmp_path("img"), tmp_path("lbl"));
    assert_contains(msg, "implausible IDX header (8 images of 2147437309x1073764994 pixels)");
}

/* ------------------------------------------------------------------ */
/* CIFAR                                                               */

enum { CPIX = 3072 };

static unsigned char cpixel(int rec, int c, int pos) { return (unsigned char)((rec * 31 + c * 85 + pos * 7) % 256); }

/* Writes nrec records of the given variant, records numbered from first;
 * label of record r is labels_of(r). */
static void write_cifar(const char *path, int variant, int first, int nrec)
{
    size_t record = (variant == 10 ? 1 : 2) + CPIX;
    unsigned char *buf = malloc(record * (size_t)nrec);
    assert_non_null(buf);
    for (int k = 0; k < nrec; k++) {
        unsigned char *r = buf + record * (size_t)k;
        int rec = first + k;
        if (variant == 10) {
            r[0] = (unsigned char)(rec % 10);
        } else {
            r[0] = (unsigned char)(rec % 20);        /* coarse */
            r[1] = (unsigned char)((rec * 37) % 100); /* fine */
        }
        unsigned char *px = r + (variant == 10 ? 1 : 2);
        for (int c = 0; c < 3; c++)
            for (int pos = 0; pos < 1024; pos++)
                px[c * 1024 + pos] = cpixel(rec, c, pos);
    }
    write_bytes(path, buf, record * (size_t)nrec);
    free(buf);
}

static void check_cifar(const pl_dataset *d, int variant, int first, int n)
{
    assert_int_equal(d->n, n);
    assert_int_equal(d->rows, 32);
    assert_int_equal(d->cols, 32);
    assert_int_equal(d->channels, 3);
    assert_int_equal(d->dim, CPIX);
    assert_int_equal(d->nclass, variant);
    for (int i = 0; i < n; i++) {
        int rec = first + i;
        assert_int_equal(d->y[i], variant == 10 ? rec % 10 : (rec * 37) % 100);
        for (int c = 0; c < 3; c++)
            for (int pos = 0; pos < 1024; pos++)
                assert_true(d->x[(size_t)i * CPIX + c * 1024 + pos] ==
                            (float)cpixel(rec, c, pos) / 255.0f);
    }
}

static const char *cifar_fails(const char *path, int variant)
{
    pl_dataset d;
    memset(&d, 0x5a, sizeof d);
    const char *paths[] = {path};
    stderr_capture_begin();
    int rc = pl_cifar_load(paths, 1, variant, &d);
    const char *msg = capture_end();
    assert_int_equal(rc, PL_EXIT_DATA);
    assert_zeroed(&d);
    return msg;
}

static void test_cifar10(void **state)
{
    (void)state;
    write_cifar(tmp_path("a.bin"), 10, 0, 2);
    write_cifar(tmp_path("b.bin"), 10, 2, 3);
    const char *paths[] = {tmp_path("a.bin"), tmp_path("b.bin")};
    pl_dataset d;
    assert_int_equal(pl_cifar_load(paths, 2, 10, &d), 0);
    check_cifar(&d, 10, 0, 5);
    /* spot check of the CHW layout: red, green, blue planes of record 1 */
    assert_true(d.x[CPIX + 0] == (float)cpixel(1, 0, 0) / 255.0f);
    assert_true(d.x[CPIX + 1024] == (float)cpixel(1, 1, 0) / 255.0f);
    assert_true(d.x[CPIX + 2048 + 1023] == (float)cpixel(1, 2, 1023) / 255.0f);
    pl_dataset_free(&d);

    /* order of files is the order of records */
    const char *rev[] = {tmp_path("b.bin"), tmp_path("a.bin")};
    assert_int_equal(pl_cifar_load(rev, 2, 10, &d), 0);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.y[0], 2);
    assert_int_equal(d.y[3], 0);
    assert_true(d.x[3 * CPIX + 5] == (float)cpixel(0, 0, 5) / 255.0f);
    pl_dataset_free(&d);
}

static void test_cifar100(void **state)
{
    (void)state;
    write_cifar(tmp_path("train.bin"), 100, 0, 3);
    write_cifar(tmp_path("more.bin"), 100, 3, 1);
    const char *paths[] = {tmp_path("train.bin"), tmp_path("more.bin")};
    pl_dataset d;
    assert_int_equal(pl_cifar_load(paths, 2, 100, &d), 0);
    check_cifar(&d, 100, 0, 4);
    /* the fine label, not the coarse one */
    assert_int_equal(d.y[3], 3 * 37 % 100);
    assert_int_not_equal(d.y[3], 3 % 20);
    pl_dataset_free(&d);
}

static void test_cifar_bad_size(void **state)
{
    (void)state;
    const char *path = tmp_path("bad.bin");
    unsigned char *junk = calloc(3073 * 2 + 5, 1);
    assert_non_null(junk);
    write_bytes(path, junk, 3073 * 2 + 5);
    const char *msg = cifar_fails(path, 10);
    assert_contains(msg, path);
    assert_contains(msg, "size 6151 is not a multiple of the 3073-byte CIFAR-10 record");

    /* a CIFAR-10 file read as CIFAR-100 */
    write_bytes(path, junk, 3073 * 2);
    msg = cifar_fails(path, 100);
    assert_contains(msg, "size 6146 is not a multiple of the 3074-byte CIFAR-100 record");
    free(junk);

    write_bytes(path, "", 0);
    msg = cifar_fails(path, 10);
    assert_contains(msg, path);
    assert_contains(msg, "empty");

    /* a bad file after a good one: nothing is returned */
    write_cifar(tmp_path("good.bin"), 10, 0, 1);
    write_bytes(path, "xyz", 3);
    const char *paths[] = {tmp_path("good.bin"), path};
    pl_dataset d;
    stderr_capture_begin();
    int rc = pl_cifar_load(paths, 2, 10, &d);
    msg = capture_end();
    assert_int_equal(rc, PL_EXIT_DATA);
    assert_zeroed(&d);
    assert_contains(msg, path);

    msg = cifar_fails(tmp_path("absent.bin"), 10);
    assert_contains(msg, tmp_path("absent.bin"));
    assert_contains(msg, "No such file or directory");
}

static void test_cifar_bad_label(void **state)
{
    (void)state;
    const char *path = tmp_path("lab.bin");
    write_cifar(path, 10, 0, 4);
    /* record 2 gets label 10 */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 2 * 3073, SEEK_SET), 0);
    fputc(10, f);
    fclose(f);
    const char *msg = cifar_fails(path, 10);
    assert_contains(msg, path);
    assert_contains(msg, "record 2");
    assert_contains(msg, "label 10");

    /* CIFAR-100: fine label 100 in record 1; a coarse label of 99 is fine */
    write_cifar(path, 100, 0, 3);
    f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 3074, SEEK_SET), 0);
    fputc(99, f);
    fputc(100, f);
    fclose(f);
    msg = cifar_fails(path, 100);
    assert_contains(msg, path);
    assert_contains(msg, "record 1");
    assert_contains(msg, "label 100");
}

static void test_cifar_bad_variant(void **state)
{
    (void)state;
    write_cifar(tmp_path("a.bin"), 10, 0, 1);
    const char *paths[] = {tmp_path("a.bin")};
    pl_dataset d;
    stderr_capture_begin();
    int rc = pl_cifar_load(paths, 1, 20, &d);
    const char *msg = capture_end();
    assert_int_equal(rc, PL_EXIT_USAGE);
    assert_contains(msg, "20");
    assert_zeroed(&d);
}

/* ------------------------------------------------------------------ */
/* pl_data_dir and pl_data_load                                        */

static void config_for(pl_config *cfg, const char *set, const char *dir)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->data.set, sizeof cfg->data.set, "%s", set);
    snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s", dir);
}

static void test_data_dir(void **state)
{
    (void)state;
    pl_config cfg;
    char buf[PL_PATH_MAX];

    config_for(&cfg, "mnist", "/some/where");
    setenv("PLASTIC_DATA", "/scratch/ignored", 1);
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "/some/where");

    config_for(&cfg, "mnist", "");
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "/scratch/ignored/mnist");
    setenv("PLASTIC_DATA", "/scratch/d/", 1);
    config_for(&cfg, "cifar10", "");
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "/scratch/d/cifar-10-batches-bin");

    unsetenv("PLASTIC_DATA");
    config_for(&cfg, "fashion", "");
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "data/fashion");
    config_for(&cfg, "cifar100", "");
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "data/cifar-100-binary");
    config_for(&cfg, "mnist", "");
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "data/mnist");

    /* an empty PLASTIC_DATA counts as unset */
    setenv("PLASTIC_DATA", "", 1);
    pl_data_dir(&cfg, buf, sizeof buf);
    assert_string_equal(buf, "data/mnist");
}

/* dir/<prefix>-{images-idx3,labels-idx1}-ubyte[.gz] with n examples */
static void write_idx_named(const char *dir, const char *prefix, int n, int salt, int gz)
{
    char img[512], lbl[512];
    snprintf(img, sizeof img, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    snprintf(lbl, sizeof lbl, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_idx_pair(img, lbl, gz, gz, n, salt);
}

static void test_data_load_mnist(void **state)
{
    (void)state;
    make_subdir("mnist");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("mnist"));
    write_idx_named(dir, "train", 9, 1, 0);
    write_idx_named(dir, "t10k", 6, 2, 1);
    /* a stale .gz beside the plain file is ignored: plain wins */
    write_idx_named(dir, "train", 3, 5, 1);

    pl_config cfg;
    config_for(&cfg, "mnist", dir);
    cfg.data.train_limit = 4;
    cfg.data.test_limit = 100; /* more than there are: all */
    pl_dataset train, test;
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    check_idx(&train, 4, ROWS, COLS, 1);
    check_idx(&test, 6, ROWS, COLS, 2);
    pl_dataset_free(&train);
    pl_dataset_free(&test);

    cfg.data.train_limit = 0;
    cfg.data.test_limit = 6;
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    check_idx(&train, 9, ROWS, COLS, 1);
    check_idx(&test, 6, ROWS, COLS, 2);
    pl_dataset_free(&train);
    pl_dataset_free(&test);
}

static void test_data_load_plastic_data(void **state)
{
    (void)state;
    /* fashion found through $PLASTIC_DATA/fashion, all four files gzipped */
    make_subdir("root");
    make_subdir("root/fashion");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("root/fashion"));
    write_idx_named(dir, "train", 5, 3, 1);
    write_idx_named(dir, "t10k", 2, 4, 1);
    setenv("PLASTIC_DATA", tmp_path("root"), 1);
    pl_config cfg;
    config_for(&cfg, "fashion", "");
    pl_dataset train, test;
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    check_idx(&train, 5, ROWS, COLS, 3);
    check_idx(&test, 2, ROWS, COLS, 4);
    pl_dataset_free(&train);
    pl_dataset_free(&test);
}

static const char *data_load_fails(const pl_config *cfg, int expect_rc)
{
    pl_dataset train, test;
    stderr_capture_begin();
    int rc = pl_data_load(cfg, &train, &test);
    const char *msg = capture_end();
    assert_int_equal(rc, expect_rc);
    assert_zeroed(&train);
    assert_zeroed(&test);
    return msg;
}

static void test_data_load_missing(void **state)
{
    (void)state;
    make_subdir("mnist");
    pl_config cfg;
    config_for(&cfg, "mnist", tmp_path("mnist"));
    const char *msg = data_load_fails(&cfg, PL_EXIT_DATA);
    assert_contains(msg, tmp_path("mnist/train-images-idx3-ubyte"));
    assert_contains(msg, "No such file or directory");
    assert_contains(msg, "tools/fetch-data.sh");
    assert_contains(msg, "PLASTIC_DATA");

    /* training files present, test labels missing */
    write_idx_named(tmp_path("mnist"), "train", 3, 0, 0);
    write_idx_named(tmp_path("mnist"), "t10k", 3, 0, 0);
    assert_int_equal(unlink(tmp_path("mnist/t10k-labels-idx1-ubyte")), 0);
    msg = data_load_fails(&cfg, PL_EXIT_DATA);
    assert_contains(msg, tmp_path("mnist/t10k-labels-idx1-ubyte"));
    assert_contains(msg, "fetch-data.sh");

    /* a corrupt test file fails the whole load, with nothing left allocated */
    unsigned char lb[8];
    put_be32(lb, 0x801);
    put_be32(lb + 4, 3);
    write_bytes(tmp_path("mnist/t10k-labels-idx1-ubyte"), lb, sizeof lb);
    msg = data_load_fails(&cfg, PL_EXIT_DATA);
    assert_contains(msg, "truncated");

    config_for(&cfg, "cifar10", tmp_path("mnist"));
    msg = data_load_fails(&cfg, PL_EXIT_DATA);
    assert_contains(msg, tmp_path("mnist/data_batch_1.bin"));
    assert_contains(msg, "binary version");
    assert_contains(msg, "data.dir");

    config_for(&cfg, "cifar100", tmp_path("mnist"));
    msg = data_load_fails(&cfg, PL_EXIT_DATA);
    assert_contains(msg, tmp_path("mnist/train.bin"));
    assert_contains(msg, "CIFAR-100");

    config_for(&cfg, "svhn", tmp_path("mnist"));
    msg = data_load_fails(&cfg, PL_EXIT_USAGE);
    assert_contains(msg, "svhn");
}

/* tmpdir/c10: five training batches of 2 records (examples 0..9) and a test
 * batch of 3 (examples 100..102). */
static void write_cifar10_dir(void)
{
    make_subdir("c10");
    char name[64];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "c10/data_batch_%d.bin", b);
        write_cifar(tmp_path(name), 10, 2 * (b - 1), 2);
    }
    write_cifar(tmp_path("c10/test_batch.bin"), 10, 100, 3);
}

static void test_data_load_cifar(void **state)
{
    (void)state;
    write_cifar10_dir();
    pl_config cfg;
    config_for(&cfg, "cifar10", tmp_path("c10"));
    cfg.data.train_limit = 7;
    pl_dataset train, test;
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    check_cifar(&train, 10, 0, 7); /* batches 1..4 in order, limited */
    check_cifar(&test, 10, 100, 3);
    pl_dataset_free(&train);
    pl_dataset_free(&test);

    make_subdir("c100");
    write_cifar(tmp_path("c100/train.bin"), 100, 0, 4);
    write_cifar(tmp_path("c100/test.bin"), 100, 50, 2);
    config_for(&cfg, "cifar100", tmp_path("c100"));
    cfg.data.test_limit = 1;
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    check_cifar(&train, 100, 0, 4);
    check_cifar(&test, 100, 50, 1);
    pl_dataset_free(&train);
    pl_dataset_free(&test);
}

/* data.normalize = unit: every example of both sets at unit L2 norm, in
 * the direction it had; an all-zero example stays zero. */
static void test_data_load_normalize(void **state)
{
    (void)state;
    write_cifar10_dir();
    pl_config cfg;
    config_for(&cfg, "cifar10", tmp_path("c10"));
    pl_dataset raw_train, raw_test, train, test;
    assert_int_equal(pl_data_load(&cfg, &raw_train, &raw_test), 0);
    snprintf(cfg.data.normalize, sizeof cfg.data.normalize, "unit");
    assert_int_equal(pl_data_load(&cfg, &train, &test), 0);
    const pl_dataset *pairs[2][2] = {{&raw_train, &train}, {&raw_test, &test}};
    for (int k = 0; k < 2; k++) {
        const pl_dataset *raw = pairs[k][0], *d = pairs[k][1];
        assert_int_equal(d->n, raw->n);
        for (int i = 0; i < d->n; i++) {
            double sq = 0.0, rsq = 0.0;
            for (int j = 0; j < d->dim; j++) {
                sq += (double)d->x[(long)i * d->dim + j] * d->x[(long)i * d->dim + j];
                rsq += (double)raw->x[(long)i * d->dim + j] * raw->x[(long)i * d->dim + j];
            }
            check_close(sq, 1.0, 1e-5, 0, "squared norm", i);
            for (int j = 0; j < d->dim; j += 97) /* the same direction */
                check_close(d->x[(long)i * d->dim + j], raw->x[(long)i * d->dim + j] / sqrt(rsq),
                            1e-6, 1e-5, "normalised pixel", j);
            assert_int_equal(d->y[i], raw->y[i]);
        }
    }
    pl_dataset zero = {.n = 1, .dim = 4, .x = (float[4]){0}};
    pl_dataset_normalize_unit(&zero);
    for (int j = 0; j < 4; j++)
        assert_true(zero.x[j] == 0.0f);
    pl_dataset_free(&raw_train);
    pl_dataset_free(&raw_test);
    pl_dataset_free(&train);
    pl_dataset_free(&test);
}

/* ------------------------------------------------------------------ */
/* Split                                                               */

enum { SN = 40, SDIM = 3 };

/* example i: x = (i, 2i, 3i)/255, y = i % 10, so rows identify examples */
static void make_all(pl_dataset *all)
{
    memset(all, 0, sizeof *all);
    all->n = SN;
    all->rows = 1;
    all->cols = SDIM;
    all->channels = 1;
    all->dim = SDIM;
    all->nclass = 10;
    all->x = pl_alloc(SN * SDIM * sizeof(float));
    all->y = pl_alloc(SN);
    for (int i = 0; i < SN; i++) {
        for (int j = 0; j < SDIM; j++)
            all->x[i * SDIM + j] = (float)(i * (j + 1)) / 255.0f;
        all->y[i] = (uint8_t)(i % 10);
    }
}

/* original index of each example of d, checking its row and label */
static void ids_of(const pl_dataset *d, int *ids)
{
    for (int k = 0; k < d->n; k++) {
        int i = (int)(d->x[k * SDIM] * 255.0f + 0.5f);
        assert_true(i >= 0 && i < SN);
        for (int j = 0; j < SDIM; j++)
            assert_true(d->x[k * SDIM + j] == (float)(i * (j + 1)) / 255.0f);
        assert_int_equal(d->y[k], i % 10);
        ids[k] = i;
    }
}

static void test_split(void **state)
{
    (void)state;
    pl_dataset all, train, valid;
    make_all(&all);
    const int nvalid = 12;
    assert_int_equal(pl_dataset_split(&all, nvalid, 1234, &train, &valid), 0);
    assert_int_equal(train.n, SN - nvalid);
    assert_int_equal(valid.n, nvalid);
    assert_int_equal(train.dim, SDIM);
    assert_int_equal(valid.dim, SDIM);
    assert_int_equal(valid.nclass, 10);
    assert_int_equal(train.cols, SDIM);

    int tid[SN], vid[SN], seen[SN] = {0};
    ids_of(&train, tid);
    ids_of(&valid, vid);
    /* original order kept */
    for (int k = 1; k < train.n; k++)
        assert_true(tid[k - 1] < tid[k]);
    for (int k = 1; k < valid.n; k++)
        assert_true(vid[k - 1] < vid[k]);
    /* disjoint and covering */
    for (int k = 0; k < train.n; k++)
        seen[tid[k]]++;
    for (int k = 0; k < valid.n; k++)
        seen[vid[k]]++;
    for (int i = 0; i < SN; i++)
        assert_int_equal(seen[i], 1);

    /* the validation set is the first nvalid entries of the documented
     * permutation */
    int perm[SN], in_valid[SN] = {0};
    pl_rng r;
    pl_rng_init(&r, 1234, PL_STREAM_VALID_SPLIT, 0);
    pl_rng_permutation(&r, perm, SN);
    for (int k = 0; k < nvalid; k++)
        in_valid[perm[k]] = 1;
    for (int k = 0; k < valid.n; k++)
        assert_true(in_valid[vid[k]]);

    /* not simply the first or last examples */
    assert_false(vid[0] == 0 && vid[nvalid - 1] == nvalid - 1);
    assert_false(vid[0] == SN - nvalid);

    /* the parts own their memory */
    pl_dataset_free(&all);
    int again[SN];
    ids_of(&train, again);
    assert_memory_equal(again, tid, sizeof(int) * (size_t)train.n);
    pl_dataset_free(&train);
    pl_dataset_free(&valid);
    assert_zeroed(&train);
    assert_zeroed(&valid);
}

static void test_split_seeds(void **state)
{
    (void)state;
    pl_dataset all, t1, v1, t2, v2, t3, v3;
    make_all(&all);
    assert_int_equal(pl_dataset_split(&all, 10, 7, &t1, &v1), 0);
    assert_int_equal(pl_dataset_split(&all, 10, 7, &t2, &v2), 0);
    assert_int_equal(pl_dataset_split(&all, 10, 8, &t3, &v3), 0);
    int a[SN], b[SN], c[SN];
    ids_of(&v1, a);
    ids_of(&v2, b);
    ids_of(&v3, c);
    assert_memory_equal(a, b, sizeof(int) * 10);
    assert_memory_equal(t1.x, t2.x, sizeof(float) * (size_t)t1.n * SDIM);
    assert_memory_not_equal(a, c, sizeof(int) * 10);
    /* the input is untouched */
    int ids[SN];
    ids_of(&all, ids);
    for (int i = 0; i < SN; i++)
        assert_int_equal(ids[i], i);
    pl_dataset *ds[] = {&all, &t1, &v1, &t2, &v2, &t3, &v3};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++)
        pl_dataset_free(ds[k]);
}

static void test_split_zero(void **state)
{
    (void)state;
    pl_dataset all, train, valid;
    make_all(&all);
    assert_int_equal(pl_dataset_split(&all, 0, 1, &train, &valid), 0);
    assert_int_equal(valid.n, 0);
    assert_int_equal(valid.dim, SDIM);
    assert_int_equal(train.n, SN);
    assert_ptr_not_equal(train.x, all.x);
    assert_ptr_not_equal(train.y, all.y);
    assert_memory_equal(train.x, all.x, sizeof(float) * SN * SDIM);
    assert_memory_equal(train.y, all.y, SN);
    pl_dataset_free(&all);
    pl_dataset_free(&train);
    pl_dataset_free(&valid);

    /* nvalid = n - 1 leaves one training example */
    make_all(&all);
    assert_int_equal(pl_dataset_split(&all, SN - 1, 1, &train, &valid), 0);
    assert_int_equal(train.n, 1);
    assert_int_equal(valid.n, SN - 1);
    pl_dataset_free(&all);
    pl_dataset_free(&train);
    pl_dataset_free(&valid);
}

static void test_split_too_many(void **state)
{
    (void)state;
    pl_dataset all, train, valid;
    make_all(&all);
    const int bad[] = {SN, SN + 5, -1};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        stderr_capture_begin();
        int rc = pl_dataset_split(&all, bad[k], 1, &train, &valid);
        const char *msg = capture_end();
        assert_int_equal(rc, PL_EXIT_USAGE);
        assert_contains(msg, "data.valid");
        assert_contains(msg, "40");
        assert_zeroed(&train);
        assert_zeroed(&valid);
    }
    pl_dataset_free(&all);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_idx_plain),
        T(test_idx_extremes),
        T(test_idx_gzip),
        T(test_idx_missing),
        T(test_idx_bad_magic),
        T(test_idx_truncated),
        T(test_idx_gzip_damaged),
        T(test_idx_trailing_byte),
        T(test_idx_count_mismatch),
        T(test_idx_label_range),
        T(test_idx_zero_images),
        T(test_idx_size_overflow),
        T(test_cifar10),
        T(test_cifar100),
        T(test_cifar_bad_size),
        T(test_cifar_bad_label),
        T(test_cifar_bad_variant),
        T(test_data_dir),
        T(test_data_load_mnist),
        T(test_data_load_plastic_data),
        T(test_data_load_missing),
        T(test_data_load_cifar),
        T(test_data_load_normalize),
        T(test_split),
        T(test_split_seeds),
        T(test_split_zero),
        T(test_split_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
