/* What the HDF5 harnesses share; see h5_support.h. */
#include "h5_support.h"
#include "support.h"

#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/model.h"
#include "plastic/par.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scenarios' configurations. checkpoint.* and log.* do not take part
 * in the comparison with a checkpoint's configuration; the seeds are
 * trained with checkpoints kept at every epoch. */
static const char KH_INI[] = "[run]\nname = fuzz-kh\nseed = 5\n"
                             "[model]\nrule = kh\n"
                             "[data]\nset = mnist\nvalid = 8\n"
                             "[kh]\nhidden = 8\nk = 3\nbatch = 8\nepochs = 2\ntile = 4\n"
                             "[readout]\nepochs = 2\nbatch = 8\n"
                             "[checkpoint]\nevery = 1\nkeep = 100\n"
                             "[log]\nprogress = 0\n";

static const char BP_INI[] = "[run]\nname = fuzz-bp\nseed = 5\n"
                             "[model]\nrule = bp\n"
                             "[data]\nset = mnist\nvalid = 8\n"
                             "[net]\nlayers = dense 3 tanh, dense 10 softmax\n"
                             "[optim]\nmethod = adam\nepochs = 2\nbatch = 8\nchunk = 4\n"
                             "[checkpoint]\nevery = 1\nkeep = 100\n"
                             "[log]\nprogress = 0\n";

static fuzz_scenario scenarios[FUZZ_NSCENARIOS] = {{.name = "kh", .ini = KH_INI},
                                                   {.name = "bp", .ini = BP_INI}};

/* 4x4 grey images, 10 classes, no examples: only the shapes matter. */
static const pl_dataset geometry = {.rows = 4, .cols = 4, .channels = 1, .dim = 16, .nclass = 10};

static void finalize_mpi(void) { pl_par_finalize(); }

static void write_config(const char *dir, const fuzz_scenario *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.ini", dir, s->name);
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f && fputs(s->ini, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

void fuzz_h5_init(int *argc, char ***argv)
{
    /* Open MPI catches SIGABRT, SIGBUS, SIGFPE and SIGSEGV to print a trace,
     * and libFuzzer does not replace a handler it finds: a finding would die
     * without its input saved. So Open MPI catches none. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    FUZZ_CHECK(pl_par_init(argc, argv) == 0, "MPI does not start");
    atexit(finalize_mpi);
    fuzz_init();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *dir = getenv("FUZZ_H5_CONFIGS");
    for (int i = 0; i < FUZZ_NSCENARIOS; i++) {
        fuzz_scenario *s = &scenarios[i];
        pl_config_defaults(&s->cfg);
        FUZZ_CHECK(pl_config_load_text(&s->cfg, s->ini, s->name) == 0 &&
                       pl_config_finalize(&s->cfg) == 0,
                   "the %s scenario's configuration does not load", s->name);
        s->rule = pl_rule_of(&s->cfg);
        FUZZ_CHECK(s->rule && pl_rule_check(&s->cfg, 1) == 0, "no rule for scenario %s",
                   s->name);
        s->model = s->rule->create(&s->cfg, pl_comm_world(), &geometry, &geometry, &geometry);
        FUZZ_CHECK(s->model != NULL, "the %s scenario's model cannot be made", s->name);
        s->state = pl_calloc(1, sizeof *s->state);
        s->rule->state(s->model, s->state);
        /* as pl_run_config_text (src/run/train.c, not linked here) */
        s->config_text = pl_config_text(&s->cfg, pl_rule_foreign_sections(s->rule));
        s->ctx = (pl_ckpt_ctx){pl_comm_world(), s->rule, &s->cfg, s->config_text, s->state,
                               s->rule->nstages};
        if (dir)
            write_config(dir, s);
    }
}

fuzz_scenario *fuzz_h5_scenario(int i) { return &scenarios[i]; }

/* ---- messages ---- */

static FILE *capture;
static char *captured;
static size_t captured_size;

void fuzz_h5_capture_begin(void)
{
    if (capture)
        fclose(capture);
    free(captured);
    captured = NULL;
    capture = open_memstream(&captured, &captured_size);
    FUZZ_CHECK(capture != NULL, "open_memstream fails");
    pl_log_set_error_stream(capture);
}

int fuzz_h5_capture_end(const char **text)
{
    fflush(capture);
    if (getenv("FUZZ_VERBOSE"))
        fputs(captured, stderr);
    /* lines that start so (a message may quote the file's text) */
    int n = 0;
    for (const char *c = captured; (c = strstr(c, "plastic: error: ")) != NULL; c++)
        n += c == captured || c[-1] == '\n';
    *text = captured;
    return n;
}

void fuzz_h5_check_messages(int rc, int nmsg, const char *msgs, const char *path,
                            const char *what)
{
    if (rc == 0) {
        FUZZ_CHECK(nmsg == 0, "%s succeeded with a message: %s", what, msgs);
        return;
    }
    FUZZ_CHECK(nmsg == 1, "%s failed (%d) with %d messages, not one: %s", what, rc, nmsg, msgs);
    FUZZ_CHECK(strstr(msgs, path) != NULL, "%s: the message does not name %s: %s", what, path,
               msgs);
    size_t len = strlen(msgs);
    FUZZ_CHECK(len > 0 && msgs[len - 1] == '\n' && strchr(msgs, '\n') == msgs + len - 1,
               "%s: the message is not one line: %s", what, msgs);
}

void fuzz_h5_check_closed(const char *what)
{
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    FUZZ_CHECK(open == 0, "%s left %zd HDF5 file(s) or object(s) open", what, open);
}

/* ---- the independent reader ---- */

hid_t fuzz_h5_open(const char *path) { return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }

char *fuzz_h5_string_attr(hid_t file, const char *obj_path, const char *name)
{
    /* HDF5 1.10.8 may fail the first lookup in a damaged object header and
     * succeed on the next (the header is cached by then): look twice */
    hid_t attr = H5Aopen_by_name(file, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        attr = H5Aopen_by_name(file, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0)
        return NULL;
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : -1;
    char *s = NULL;
    /* not one of variable length: reading those trusts the file's global
     * heap (see get_string_attr in mpi/ckpt.c) */
    if (type >= 0 && space >= 0 && H5Tget_class(type) == H5T_STRING &&
        H5Tis_variable_str(type) == 0 && H5Sget_simple_extent_npoints(space) == 1) {
        size_t size = H5Tget_size(type);
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, size);
        H5Tset_cset(mem, H5Tget_cset(type));
        s = calloc(size + 1, 1);
        if (s && H5Aread(attr, mem, s) < 0) {
            free(s);
            s = NULL;
        }
        H5Tclose(mem);
    }
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    return s;
}

int fuzz_h5_long_attr(hid_t file, const char *obj_path, const char *name, long *value)
{
    hid_t attr = H5Aopen_by_name(file, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) /* looking twice, as above */
        attr = H5Aopen_by_name(file, obj_path, name, H5P_DEFAULT, H5P_DEFAULT);
    int ok = attr >= 0 && H5Aread(attr, H5T_NATIVE_LONG, value) >= 0;
    if (attr >= 0)
        H5Aclose(attr);
    return ok;
}

int fuzz_h5_read_2d(hid_t file, const char *path, int dtype, long rows, long cols, void *buf)
{
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t space = H5Dget_space(d);
    hsize_t dims[2];
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 2 &&
             H5Sget_simple_extent_dims(space, dims, NULL) == 2 && dims[0] == (hsize_t)rows &&
             dims[1] == (hsize_t)cols &&
             H5Dread(d, dtype == PL_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                     H5P_DEFAULT, buf) >= 0;
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return ok;
}

/* SplitMix64's finaliser (checkpoint-format.md §2). */
static uint64_t mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

uint64_t fuzz_h5_checksum(const void *data, long rows, long cols, int size)
{
    const unsigned char *p = data;
    uint64_t sum = 0;
    for (uint64_t g = 0; g < (uint64_t)(rows * cols); g++) {
        uint64_t bits = 0;
        memcpy(&bits, p + g * (uint64_t)size, (size_t)size);
        sum += mix(g * 0x9E3779B97F4A7C15ULL ^ mix(bits));
    }
    return sum;
}

/* ---- model arrays ---- */

void fuzz_h5_check_model_reads(const char *path, int all)
{
    for (int i = 0; i < FUZZ_NSCENARIOS; i++) {
        const fuzz_scenario *s = &scenarios[i];
        for (int j = 0; j < s->state->narrays; j++) {
            pl_array *a = &s->state->arrays[j];
            if (a->kind != PL_ARRAY_MODEL)
                continue;
            char what[128];
            snprintf(what, sizeof what, "pl_model_read_array (%s %s)", s->name, a->name);
            fuzz_h5_capture_begin();
            int rc = pl_model_read_array(path, pl_comm_world(), a);
            const char *msgs;
            int nmsg = fuzz_h5_capture_end(&msgs);
            fuzz_h5_check_closed(what);
            FUZZ_CHECK(rc == 0 || rc == PL_EXIT_DATA, "%s returned %d", what, rc);
            fuzz_h5_check_messages(rc, nmsg, msgs, path, what);
            if (rc == 0) {
                hid_t file = fuzz_h5_open(path);
                FUZZ_CHECK(file >= 0, "%s: plastic read the file, serial HDF5 cannot open it",
                           what);
                char name[128];
                snprintf(name, sizeof name, "%s%s",
                         H5Lexists(file, "/model", H5P_DEFAULT) > 0 ? "/model/" : "/", a->name);
                size_t bytes = (size_t)(a->dims[0] * a->dims[1]) * (size_t)pl_dtype_size(a->dtype);
                void *stored = malloc(bytes ? bytes : 1);
                FUZZ_CHECK(stored != NULL, "out of memory");
                FUZZ_CHECK(fuzz_h5_read_2d(file, name, a->dtype, a->dims[0], a->dims[1], stored),
                           "%s: plastic read %s, serial HDF5 cannot", what, name);
                FUZZ_CHECK(memcmp(stored, a->data, bytes) == 0, "%s: %s read differs from the file",
                           what, name);
                free(stored);
                H5Fclose(file);
            }
            if (!all)
                break;
        }
    }
}

/* ---- plastic info ---- */

void fuzz_h5_check_info(const char *path, const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t out_size = 0;
    FILE *f = open_memstream(&out, &out_size);
    FUZZ_CHECK(f != NULL, "open_memstream fails");
    fuzz_h5_capture_begin();
    int rc = pl_h5_info(path, f);
    const char *msgs;
    int nmsg = fuzz_h5_capture_end(&msgs);
    fclose(f);
    fuzz_h5_check_closed("pl_h5_info");
    FUZZ_CHECK(rc == 0 || rc == PL_EXIT_DATA, "pl_h5_info returned %d", rc);
    fuzz_h5_check_messages(rc, nmsg, msgs, path, "pl_h5_info");
    if (rc != 0) {
        free(out);
        return;
    }
    /* text: printable, newlines, or bytes the file holds */
    int seen[256] = {0};
    for (size_t i = 0; i < size; i++)
        seen[data[i]] = 1;
    for (size_t i = 0; i < out_size; i++) {
        unsigned char c = (unsigned char)out[i];
        FUZZ_CHECK(isprint(c) || c == '\n' || seen[c],
                   "pl_h5_info printed byte 0x%02x (offset %zu), which the file does not hold:\n%s",
                   c, i, out);
    }
    /* the first line: "PATH: plastic checkpoint|model VERSION..." */
    size_t plen = strlen(path);
    FUZZ_CHECK(strncmp(out, path, plen) == 0 && strncmp(out + plen, ": plastic ", 10) == 0,
               "pl_h5_info's first line does not name the file: %s", out);
    const char *kind = out + plen + 10;
    int ckpt = strncmp(kind, "checkpoint ", 11) == 0;
    FUZZ_CHECK(ckpt || strncmp(kind, "model ", 6) == 0, "pl_h5_info: neither checkpoint nor "
               "model: %s", out);
    const char *version = kind + (ckpt ? 11 : 6);
    hid_t file = fuzz_h5_open(path);
    if (file >= 0) {
        char *stored = fuzz_h5_string_attr(file, "/", "plastic_version");
        H5Fclose(file);
        const char *unknown = "(unknown version)";
        const char *want = stored ? stored : unknown;
        size_t n = strlen(want);
        FUZZ_CHECK(strncmp(version, want, n) == 0 && version[n] && strchr(",\n", version[n]),
                   "pl_h5_info gives version '%.40s', but the file holds %s%s%s", version,
                   stored ? "'" : "", stored ? stored : "none", stored ? "'" : "");
        free(stored);
    }
    FUZZ_CHECK(strstr(out, "\ndatasets:\n") != NULL, "pl_h5_info lists no datasets:\n%s", out);
    free(out);
}
