/* Helpers shared by the fuzz harnesses; see support.h. */
#include "support.h"

#include "plastic/common.h"
#include "plastic/config.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[1024];

static void remove_tmpdir(void);

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz property violated at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    remove_tmpdir(); /* abort() runs no atexit handler */
    abort();
}

void fuzz_init(void)
{
    static int done = 0;
    if (done)
        return;
    done = 1;
    pl_log_set_rank(0);
    if (getenv("FUZZ_VERBOSE"))
        return; /* messages on stderr, to see why an input is rejected */
    FILE *null = fopen("/dev/null", "w");
    FUZZ_CHECK(null != NULL, "cannot open /dev/null");
    pl_log_set_error_stream(null);
}

/* Removes everything directly inside tmpdir (the harnesses make no
 * subdirectories other than empty ones), then tmpdir itself. */
static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char path[sizeof tmpdir + 256];
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            if (remove(path) != 0)
                fprintf(stderr, "fuzz: cannot remove %s\n", path);
        }
        closedir(d);
    }
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    if (!base || !base[0])
        base = "/tmp";
    int n = snprintf(tmpdir, sizeof tmpdir, "%s/plastic-fuzz-XXXXXX", base);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof tmpdir && mkdtemp(tmpdir) != NULL,
               "cannot make a temporary directory under %s", base);
    atexit(remove_tmpdir);
    return tmpdir;
}

const char *fuzz_path(const char *name)
{
    static char ring[8][sizeof tmpdir + 256];
    static unsigned next = 0;
    char *p = ring[next++ % 8];
    int n = snprintf(p, sizeof ring[0], "%s/%s", fuzz_tmpdir(), name);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof ring[0], "path too long: %s", name);
    return p;
}

const char *fuzz_write(const char *name, const void *data, size_t size)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot create %s", path);
    int ok = size == 0 || fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    FUZZ_CHECK(ok, "cannot write %s", path);
    return path;
}

void fuzz_remove(const char *name)
{
    const char *path = fuzz_path(name);
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    FUZZ_CHECK(remove(path) == 0, "cannot remove %s", path);
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    const uint8_t *end = memchr(data, 0, size);
    size_t len = end ? (size_t)(end - data) : size;
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    if (len)
        memcpy(text, data, len);
    text[len] = '\0';
    return text;
}

char *fuzz_text_until_nul(const uint8_t *data, size_t size, const uint8_t **rest,
                          size_t *rest_size)
{
    const uint8_t *end = memchr(data, 0, size);
    *rest = end ? end + 1 : NULL;
    *rest_size = end ? size - (size_t)(end - data) - 1 : 0;
    return fuzz_text(data, size);
}

/* ---- the configuration's round trip ---- */

/* Every key set to something other than its default (net.layers over
 * several lines, as a file may spell it). */
static const char ALTERED[] = "[run]\nname = altered\ndir = altered/dir\nseed = 99\n"
                              "threads = 3\nresume = auto\n"
                              "[model]\nrule = bp\n"
                              "[data]\nset = cifar100\ndir = altered/data\nvalid = 7\n"
                              "train_limit = 70\ntest_limit = 71\n"
                              "[kh]\nhidden = 77\np = 7.5\nk = 5\ndelta = 0.75\nbatch = 7\n"
                              "epochs = 7\neps0 = 0.75\nimpl = naive\ninit = altered.h5\n"
                              "tile = 7\n"
                              "[readout]\nn = 7.5\nm = 7.5\nbeta = 7.5\nepochs = 7\n"
                              "batch = 7\nlr = 0.75\ninit_std = 0.75\n"
                              "[net]\nlayers = conv 7 3x3 s2 relu, pool 2,\n"
                              "  res( dense 7 tanh, dropout 0.5 ) x2,\n"
                              "\tdense 100 clip\n"
                              "init = normal\ninit_std = 0.75\nloss = hinge\nhinge_mu = 0.75\n"
                              "[optim]\nmethod = momentum\nlr = 0.75\nmomentum = 0.75\n"
                              "beta1 = 0.75\nbeta2 = 0.75\neps = 0.75\nschedule = poly\n"
                              "gamma = 0.75\nstep_every = 7\npower = 0.75\nwarmup = 0.75\n"
                              "epochs = 7\nbatch = 7\nchunk = 7\nsum = exact\n"
                              "[checkpoint]\nevery = 7\nminutes = 7.5\nkeep = 7\n"
                              "[log]\nprogress = 0\n";

void fuzz_check_config_roundtrip(const pl_config *cfg, const char *what)
{
    static pl_config altered;
    static int have_altered = 0;
    if (!have_altered) {
        pl_config_defaults(&altered);
        FUZZ_CHECK(pl_config_load_text(&altered, ALTERED, "altered") == 0,
                   "the harness's altered configuration does not load");
        have_altered = 1;
    }
    char *text = pl_config_text(cfg, NULL);
    pl_config back[2];
    pl_config_defaults(&back[0]);
    back[1] = altered;
    for (int i = 0; i < 2; i++) {
        FUZZ_CHECK(pl_config_load_text(&back[i], text, "written") == 0,
                   "%s: the written configuration does not load back:\n%s", what, text);
        char *again = pl_config_text(&back[i], NULL);
        FUZZ_CHECK(strcmp(text, again) == 0,
                   "%s: the written configuration loads back (over the %s) as another:\n"
                   "%s\n---- reloaded ----\n%s",
                   what, i == 0 ? "defaults" : "altered values", text, again);
        char diff[2048];
        FUZZ_CHECK(pl_config_diff(cfg, &back[i], NULL, diff, sizeof diff) == 0,
                   "%s: reloaded configuration differs: %s", what, diff);
        free(again);
    }
    free(text);
}
