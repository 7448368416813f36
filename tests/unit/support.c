/* Helpers shared by the unit tests; see support.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/rng.h"

#include "support.h"

static void end_abandoned_capture(void);

/* ---- temporary directory ------------------------------------------------ */

char tmpdir[TMPDIR_MAX];

/* $TMPDIR, or /tmp if that is unset or empty. */
static const char *tmp_base(void)
{
    const char *base = getenv("TMPDIR");
    return base && base[0] ? base : "/tmp";
}

int tmpdir_setup(void **state)
{
    (void)state;
    int n = snprintf(tmpdir, sizeof tmpdir, "%s/plastic-test-XXXXXX", tmp_base());
    if (n < 0 || (size_t)n >= sizeof tmpdir || !mkdtemp(tmpdir)) {
        tmpdir[0] = '\0';
        return -1;
    }
    return 0;
}

int tmpdir_teardown(void **state)
{
    (void)state;
    end_abandoned_capture();
    if (!tmpdir[0])
        return -1;
    int rc = remove_tree(tmpdir);
    tmpdir[0] = '\0';
    return rc;
}

char *path_join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        fail_msg("path %s/%s is longer than %zu bytes", dir, name, size - 1);
    return buf;
}

const char *tmp_path(const char *name)
{
    static char ring[64][TMPDIR_MAX];
    static unsigned next = 0;
    char *p = ring[next++ % 64];
    return path_join(p, TMPDIR_MAX, tmpdir, name);
}

int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[TMPDIR_MAX + 256];
                int n = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                if (n > 0 && (size_t)n < sizeof child)
                    remove_tree(child);
            }
            closedir(d);
        }
        return rmdir(path);
    }
    return unlink(path);
}

/* ---- stderr capture ------------------------------------------------------ */

static char capture_path[TMPDIR_MAX]; /* where fd 2 points while capturing */
static int saved_stderr = -1;          /* the real stderr meanwhile */
static char captured[16384];

/* A capture still running here was left by a test that failed (or jumped
 * out) between begin and end: restore stderr and show what it swallowed,
 * which may include cmocka's report of that failure. */
static void end_abandoned_capture(void)
{
    if (saved_stderr < 0)
        return;
    const char *text = stderr_capture_end();
    fprintf(stderr, "[stderr of a capture left running]\n%s", text);
}

void stderr_capture_begin(void)
{
    static int registered = 0;
    if (!registered && atexit(end_abandoned_capture) == 0)
        registered = 1;
    end_abandoned_capture();
    captured[0] = '\0';
    int n = snprintf(capture_path, sizeof capture_path, "%s/plastic-test-stderr-XXXXXX",
                     tmp_base());
    if (n < 0 || (size_t)n >= sizeof capture_path)
        fail_msg("stderr capture: $TMPDIR is too long");
    int fd = mkstemp(capture_path);
    if (fd < 0)
        fail_msg("stderr capture: cannot create %s", capture_path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    if (saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        close(fd);
        unlink(capture_path);
        fail_msg("stderr capture: cannot redirect stderr");
    }
    close(fd);
    saved_stderr = saved;
}

const char *stderr_capture_end(void)
{
    if (saved_stderr < 0)
        return captured;
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    saved_stderr = -1;
    /* only now, with stderr back, may anything fail */
    size_t n = 0;
    FILE *f = fopen(capture_path, "rb");
    if (f) {
        n = fread(captured, 1, sizeof captured - 1, f);
        fclose(f);
    }
    captured[n] = '\0';
    unlink(capture_path);
    return captured;
}

const char *stderr_text(void) { return captured; }

int stderr_capture_end_with(int value)
{
    stderr_capture_end();
    return value;
}

/* ---- numbers ------------------------------------------------------------- */

void check_close(double got, double ref, double atol, double rtol, const char *what, long i)
{
    if (!(fabs(got - ref) <= atol + rtol * fabs(ref)))
        fail_msg("%s[%ld]: got %.17g, expected %.17g (atol %g, rtol %g)", what, i, got, ref,
                 atol, rtol);
}

void fill_uniform(float *x, long n, uint64_t seed, uint64_t substream, double lo, double hi)
{
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_TEST, substream);
    for (long i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * pl_rng_uniform(&r));
}

float *alloc_uniform(long n, uint64_t seed, uint64_t substream, double lo, double hi)
{
    float *x = pl_alloc((size_t)n * sizeof *x);
    fill_uniform(x, n, seed, substream, lo, hi);
    return x;
}

uint8_t *alloc_labels(long n, int nclass, uint64_t seed, uint64_t substream)
{
    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_TEST, substream);
    uint8_t *y = pl_alloc((size_t)n);
    for (long i = 0; i < n; i++)
        y[i] = (uint8_t)pl_rng_below(&rng, (uint32_t)nclass);
    return y;
}

struct rgb_image read_png(const char *path)
{
    struct rgb_image im = {0, 0, NULL};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, fp), 8);
    assert_int_equal(png_sig_cmp(sig, 0, 8), 0);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed reading %s", path);
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    im.w = png_get_image_width(png, info);
    im.h = png_get_image_height(png, info);
    im.px = malloc((size_t)im.w * im.h * 3);
    assert_non_null(im.px);
    for (unsigned y = 0; y < im.h; y++)
        png_read_row(png, im.px + (size_t)y * im.w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return im;
}

void make_blank_images(pl_dataset *d, int n, int side, int nclass)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->rows = d->cols = side;
    d->channels = 1;
    d->dim = side * side;
    d->nclass = nclass;
    d->x = pl_calloc((size_t)(n ? n : 1) * (size_t)d->dim, sizeof *d->x);
    d->y = pl_alloc((size_t)(n ? n : 1));
}

void make_prototypes(pl_dataset *d, int n, int side, int nclass, double lo, double hi,
                     double noise, uint64_t seed)
{
    make_blank_images(d, n, side, nclass);
    float *proto = alloc_uniform((long)nclass * d->dim, 99, 0, lo, hi);
    pl_rng rng;
    pl_rng_init(&rng, seed, PL_STREAM_TEST, 1);
    for (int e = 0; e < n; e++) {
        int c = e % nclass;
        d->y[e] = (uint8_t)c;
        for (int i = 0; i < d->dim; i++)
            d->x[(size_t)e * d->dim + i] =
                proto[(size_t)c * d->dim + i] + (float)(noise * pl_rng_normal(&rng));
    }
    pl_free(proto);
}

void rule_fixture_setup(rule_fixture *f, const char *rule, int n, const char *layers,
                        const char *const *overrides)
{
    pl_config_defaults(&f->cfg);
    char assign[300];
    snprintf(assign, sizeof assign, "model.rule=%s", rule);
    assert_int_equal(pl_config_override(&f->cfg, assign), 0);
    snprintf(assign, sizeof assign, "net.layers=%s", layers);
    assert_int_equal(pl_config_override(&f->cfg, assign), 0);
    for (int i = 0; overrides && overrides[i]; i++)
        if (pl_config_override(&f->cfg, overrides[i]))
            fail_msg("override %s", overrides[i]);
    f->cfg.optim.epochs = 1;
    make_prototypes(&f->train, n, 3, 3, -1.0, 1.0, 0.3, 1);
    make_prototypes(&f->valid, 60, 3, 3, -1.0, 1.0, 0.3, 2);
    make_prototypes(&f->test, 60, 3, 3, -1.0, 1.0, 0.3, 3);
}

void rule_fixture_teardown(rule_fixture *f)
{
    pl_dataset_free(&f->train);
    pl_dataset_free(&f->valid);
    pl_dataset_free(&f->test);
}
