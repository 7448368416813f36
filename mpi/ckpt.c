/* Checkpoint files through parallel HDF5 (layout: docs/checkpoint-format.md).
 * Every array is global and every rank writes and reads its own block, so a
 * checkpoint written by N ranks resumes on M. Each array carries a checksum
 * that does not depend on the split (h5io.c): HDF5 checksums its metadata in
 * the newest format, but not raw data, and a flipped byte in W must not pass
 * unnoticed. */
#include "plastic/ckpt.h"
#include "plastic/common.h"
#include "comm_impl.h"
#include "h5io.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[] = {"kh", "readout", "done"};

typedef struct array {
    const char *name;   /* dataset path */
    hid_t type;
    int elem_size;
    pl_h5_block block;
    void *data;
} array;

/* The arrays of a checkpoint, as (name, type, block, this rank's data). */
static int list_arrays(const pl_kh *kh, const pl_readout *ro, array *out)
{
    pl_h5_block w = pl_kh_block(kh), s = pl_readout_block(ro);
    pl_h5_block wins = {{(hsize_t)kh->hidden, 1}, {(hsize_t)kh->row0, 0}, {(hsize_t)kh->nrows, 1}};
    int n = 0;
    out[n++] = (array){"/model/kh/W", H5T_NATIVE_FLOAT, 4, w, kh->W};
    out[n++] = (array){"/state/kh/wins", H5T_NATIVE_INT64, 8, wins, kh->wins};
    out[n++] = (array){"/model/readout/S", H5T_NATIVE_FLOAT, 4, s, ro->S};
    out[n++] = (array){"/optim/readout/adam_m", H5T_NATIVE_FLOAT, 4, s, ro->adam.m};
    out[n++] = (array){"/optim/readout/adam_v", H5T_NATIVE_FLOAT, 4, s, ro->adam.v};
    return n;
}
enum { MAX_ARRAYS = 8 };

static uint64_t global_checksum(const pl_comm *comm, const array *a)
{
    uint64_t sum = pl_h5_checksum_block(&a->block, a->data, a->elem_size);
    MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_UINT64_T, MPI_SUM, comm->comm);
    return sum;
}

static uint64_t text_checksum(const char *text)
{
    hsize_t n = strlen(text);
    pl_h5_block bytes = {{1, n}, {0, 0}, {1, n}};
    return pl_h5_checksum_block(&bytes, text, 1);
}

static int attr_u64(hid_t obj, const char *name, uint64_t v)
{
    return pl_h5_attr_long(obj, name, (long)v);
}

static int make_groups(hid_t file)
{
    const char *groups[] = {"/model", "/model/kh", "/model/readout", "/state", "/state/kh",
                            "/optim", "/optim/readout", "/data"};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        hid_t g = H5Gcreate2(file, groups[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0)
            return 0;
        H5Gclose(g);
    }
    return 1;
}

static int write_cursor(hid_t file, const pl_cursor *c)
{
    hid_t g = H5Gopen2(file, "/data", H5P_DEFAULT);
    int ok = g >= 0 && pl_h5_attr_string(g, "phase", phase_names[c->phase]) &&
             pl_h5_attr_long(g, "epoch", c->epoch) && pl_h5_attr_long(g, "batch", c->batch) &&
             pl_h5_attr_long(g, "step", c->step) && pl_h5_attr_double(g, "loss_sum", c->loss_sum) &&
             pl_h5_attr_long(g, "wrong", c->wrong) && pl_h5_attr_double(g, "seconds", c->seconds) &&
             pl_h5_attr_double(g, "kh_seconds", c->kh_seconds) &&
             pl_h5_attr_long(g, "metrics_bytes", c->metrics_bytes) &&
             pl_h5_attr_double(g, "test_error", c->test_error) &&
             pl_h5_attr_double(g, "valid_error", c->valid_error);
    if (g >= 0)
        H5Gclose(g);
    return ok;
}

static int write_contents(hid_t file, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                          const pl_cursor *cur, const char *config_text, const pl_config *cfg)
{
    array arrays[MAX_ARRAYS];
    int n = list_arrays(kh, ro, arrays);
    int ok = make_groups(file) &&
             pl_h5_attr_long(file, "format_version", PL_CKPT_FORMAT_VERSION) &&
             pl_h5_attr_string(file, "plastic_version", PLASTIC_VERSION) &&
             pl_h5_attr_long(file, "epoch", cur->epoch) &&
             pl_h5_attr_string(file, "phase", phase_names[cur->phase]) &&
             pl_h5_attr_long(file, "step", cur->step) &&
             attr_u64(file, "seed", cfg->run.seed) &&
             pl_h5_attr_long(file, "nranks_at_write", comm->size) &&
             pl_h5_write_text(file, "/config", config_text, comm) &&
             attr_u64(file, "config_checksum", text_checksum(config_text)) &&
             write_cursor(file, cur);
    hid_t g = ok ? H5Gopen2(file, "/optim/readout", H5P_DEFAULT) : -1;
    ok = ok && g >= 0 && pl_h5_attr_long(g, "adam_t", ro->adam.t);
    if (g >= 0)
        H5Gclose(g);
    for (int i = 0; i < n && ok; i++) {
        ok = pl_h5_write_block(file, arrays[i].name, arrays[i].type, &arrays[i].block,
                               arrays[i].data);
        /* what follows is collective: every rank must take the same path */
        ok = pl_allreduce_or(comm, !ok) == 0;
        if (!ok)
            break;
        uint64_t sum = global_checksum(comm, &arrays[i]);
        hid_t d = ok ? H5Dopen2(file, arrays[i].name, H5P_DEFAULT) : -1;
        ok = ok && d >= 0 && attr_u64(d, "checksum", sum);
        if (d >= 0)
            H5Dclose(d);
    }
    return ok;
}

typedef struct ckpt_parts {
    const pl_kh *kh;
    const pl_readout *ro;
    const pl_cursor *cur;
    const char *config_text;
    const pl_config *cfg;
} ckpt_parts;

static int write_ckpt(hid_t file, const pl_comm *comm, const void *ctx)
{
    const ckpt_parts *c = ctx;
    return write_contents(file, comm, c->kh, c->ro, c->cur, c->config_text, c->cfg);
}

int pl_ckpt_write(const char *path, const pl_comm *comm, const pl_kh *kh, const pl_readout *ro,
                  const pl_cursor *cur, const char *config_text, const pl_config *cfg)
{
    ckpt_parts c = {kh, ro, cur, config_text, cfg};
    return pl_h5_write_atomic(path, comm, "checkpoint", write_ckpt, &c);
}

/* ---- reading ---- */

/* The first problem found, for the one error message of a failed read. */
typedef struct problem {
    int code;
    char what[768];
} problem;

__attribute__((format(printf, 3, 4))) static void note(problem *p, int code, const char *fmt, ...)
{
    if (p->code)
        return;
    p->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
}

static int phase_of(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, phase_names[i]))
            return i;
    return -1;
}

static char *get_string_attr(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1;
    char *s = NULL;
    if (type >= 0 && H5Tget_class(type) == H5T_STRING) {
        size_t size = H5Tget_size(type);
        s = pl_calloc(size + 1, 1);
        if (H5Aread(attr, type, s) < 0) {
            pl_free(s);
            s = NULL;
        }
    }
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    return s;
}

static void read_cursor(hid_t file, pl_cursor *c, problem *p)
{
    hid_t g = H5Lexists(file, "/data", H5P_DEFAULT) > 0 ? H5Gopen2(file, "/data", H5P_DEFAULT) : -1;
    long epoch = 0, batch = 0, wrong = 0, bytes = 0;
    char *phase = g >= 0 ? get_string_attr(g, "phase") : NULL;
    int ok = g >= 0 && phase && pl_h5_get_long(g, "epoch", &epoch) &&
             pl_h5_get_long(g, "batch", &batch) && pl_h5_get_long(g, "step", &c->step) &&
             pl_h5_get_double(g, "loss_sum", &c->loss_sum) && pl_h5_get_long(g, "wrong", &wrong) &&
             pl_h5_get_double(g, "seconds", &c->seconds) &&
             pl_h5_get_double(g, "kh_seconds", &c->kh_seconds) &&
             pl_h5_get_long(g, "metrics_bytes", &bytes) &&
             pl_h5_get_double(g, "test_error", &c->test_error) &&
             pl_h5_get_double(g, "valid_error", &c->valid_error);
    c->phase = phase ? phase_of(phase) : -1;
    c->epoch = (int)epoch;
    c->batch = (int)batch;
    c->wrong = wrong;
    c->metrics_bytes = bytes;
    if (!ok || c->phase < 0 || epoch < 0 || batch < 0)
        note(p, PL_EXIT_DATA, "the data cursor (/data attributes) is missing or damaged");
    pl_free(phase);
    if (g >= 0)
        H5Gclose(g);
}

/* The stored configuration must compute the same run as cfg. */
static void check_config(hid_t file, const pl_config *cfg, const char *path, problem *p)
{
    char *text = pl_h5_read_text(file, "/config");
    long stored_sum = 0;
    if (!text || !pl_h5_get_long(file, "config_checksum", &stored_sum) ||
        (uint64_t)stored_sum != text_checksum(text)) {
        note(p, PL_EXIT_DATA, "the stored configuration (/config) is missing or damaged");
        pl_free(text);
        return;
    }
    pl_config stored;
    pl_config_defaults(&stored);
    char what[512];
    if (pl_config_load_text(&stored, text, path) != 0)
        note(p, PL_EXIT_DATA, "the stored configuration (/config) does not parse");
    else if (pl_config_diff(&stored, cfg, what, sizeof what))
        note(p, PL_EXIT_USAGE, "it belongs to another configuration: %s", what);
    pl_free(text);
}

static void check_shapes(hid_t file, array *arrays, int n, problem *p)
{
    for (int i = 0; i < n; i++) {
        hsize_t dims[2];
        if (!pl_h5_shape(file, arrays[i].name, dims)) {
            note(p, PL_EXIT_DATA, "dataset %s is missing or damaged", arrays[i].name);
        } else if (dims[0] != arrays[i].block.dims[0] || dims[1] != arrays[i].block.dims[1]) {
            note(p, PL_EXIT_USAGE, "%s is %llu x %llu, but this configuration needs %llu x %llu",
                 arrays[i].name, (unsigned long long)dims[0], (unsigned long long)dims[1],
                 (unsigned long long)arrays[i].block.dims[0],
                 (unsigned long long)arrays[i].block.dims[1]);
        }
    }
}

static void read_arrays(hid_t file, const pl_comm *comm, array *arrays, int n, problem *p)
{
    for (int i = 0; i < n; i++) {
        int ok = pl_h5_read_block(file, arrays[i].name, arrays[i].type, &arrays[i].block,
                                  arrays[i].data);
        if (pl_allreduce_or(comm, !ok)) {
            note(p, PL_EXIT_DATA, "dataset %s cannot be read", arrays[i].name);
            return;
        }
        long stored = 0;
        hid_t d = H5Dopen2(file, arrays[i].name, H5P_DEFAULT);
        int have = d >= 0 && pl_h5_get_long(d, "checksum", &stored);
        if (d >= 0)
            H5Dclose(d);
        uint64_t sum = global_checksum(comm, &arrays[i]);
        if (!have || (uint64_t)stored != sum)
            note(p, PL_EXIT_DATA, "dataset %s fails its checksum (the file is damaged)",
                 arrays[i].name);
    }
}

int pl_ckpt_read(const char *path, const pl_comm *comm, const pl_config *cfg, pl_kh *kh,
                 pl_readout *ro, pl_cursor *cur)
{
    hid_t file = pl_h5_open_read(path, comm);
    if (pl_allreduce_or(comm, file < 0)) {
        pl_error("cannot open checkpoint '%s': missing, truncated, damaged or not an HDF5 file", path);
        if (file >= 0)
            H5Fclose(file);
        return PL_EXIT_DATA;
    }
    problem p = {0};
    long version = 0, adam_t = 0;
    if (!pl_h5_get_long(file, "format_version", &version))
        note(&p, PL_EXIT_DATA, "no format_version attribute: not a plastic checkpoint");
    else if (version != PL_CKPT_FORMAT_VERSION)
        note(&p, PL_EXIT_DATA, "format_version %ld, this plastic reads %d", version,
             PL_CKPT_FORMAT_VERSION);
    array arrays[MAX_ARRAYS];
    int n = list_arrays(kh, ro, arrays);
    /* Every step below reads metadata all ranks see alike, so they agree on
     * p.code without communicating until the collective reads. */
    if (!p.code)
        check_config(file, cfg, path, &p);
    if (!p.code)
        read_cursor(file, cur, &p);
    if (!p.code)
        check_shapes(file, arrays, n, &p);
    if (!p.code) {
        hid_t g = H5Gopen2(file, "/optim/readout", H5P_DEFAULT);
        if (g < 0 || !pl_h5_get_long(g, "adam_t", &adam_t))
            note(&p, PL_EXIT_DATA, "the optimiser state (/optim/readout) is missing or damaged");
        if (g >= 0)
            H5Gclose(g);
    }
    /* ranks read the same metadata, but agree anyway before the collective
     * reads: a damaged file must not leave some ranks waiting */
    if (!pl_allreduce_or(comm, p.code != 0))
        read_arrays(file, comm, arrays, n, &p);
    H5Fclose(file);
    if (pl_allreduce_or(comm, p.code != 0)) {
        if (p.code)
            pl_error("checkpoint '%s': %s", path, p.what);
        else
            pl_error("checkpoint '%s' is damaged (found by another rank)", path);
        return pl_allreduce_or(comm, p.code == PL_EXIT_USAGE) ? PL_EXIT_USAGE : PL_EXIT_DATA;
    }
    ro->adam.t = adam_t;
    pl_kh_refresh(kh);
    return 0;
}

/* ---- plastic info ---- */

static herr_t print_dataset(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    FILE *out = data;
    if (info->type != H5O_TYPE_DATASET || !strcmp(name, "."))
        return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    hid_t space = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[2] = {0, 0};
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd > 0 && nd <= 2)
        H5Sget_simple_extent_dims(space, dims, NULL);
    if (nd == 2)
        fprintf(out, "  /%-26s %llu x %llu\n", name, (unsigned long long)dims[0],
                (unsigned long long)dims[1]);
    else if (nd == 1)
        fprintf(out, "  /%-26s %llu\n", name, (unsigned long long)dims[0]);
    else
        fprintf(out, "  /%-26s scalar\n", name);
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    return 0;
}

/* Prints the configuration keys that define the run. */
static void print_config_summary(const char *text, const char *path, FILE *out)
{
    pl_config c;
    pl_config_defaults(&c);
    if (pl_config_load_text(&c, text, path) != 0)
        return;
    fprintf(out, "config: data.set=%s data.valid=%d run.seed=%llu\n", c.data.set, c.data.valid,
            (unsigned long long)c.run.seed);
    fprintf(out, "        kh: hidden=%d p=%g k=%d delta=%g batch=%d epochs=%d eps0=%g\n",
            c.kh.hidden, c.kh.p, c.kh.k, c.kh.delta, c.kh.batch, c.kh.epochs, c.kh.eps0);
    fprintf(out, "        readout: n=%g m=%g beta=%g epochs=%d lr=%g\n", c.readout.n, c.readout.m,
            c.readout.beta, c.readout.epochs, c.readout.lr);
}

int pl_h5_info(const char *path, FILE *out)
{
    hid_t file = pl_h5_open_read(path, pl_comm_self());
    if (file < 0) {
        pl_error("cannot open '%s': missing, truncated or not an HDF5 file", path);
        return PL_EXIT_DATA;
    }
    long version = 0, nranks = 0, step = 0, epoch = 0;
    char *phase = get_string_attr(file, "phase");
    char *made_by = get_string_attr(file, "plastic_version");
    int is_ckpt = phase != NULL;
    fprintf(out, "%s: plastic %s %s", path, is_ckpt ? "checkpoint" : "model",
            made_by ? made_by : "(unknown version)");
    if (pl_h5_get_long(file, "format_version", &version))
        fprintf(out, ", format %ld", version);
    if (pl_h5_get_long(file, is_ckpt ? "nranks_at_write" : "nranks", &nranks))
        fprintf(out, ", written by %ld rank(s)", nranks);
    fputc('\n', out);
    if (is_ckpt) {
        pl_cursor c = {0};
        problem p = {0};
        read_cursor(file, &c, &p);
        pl_h5_get_long(file, "epoch", &epoch);
        pl_h5_get_long(file, "step", &step);
        fprintf(out, "state: phase %s, %d epoch(s) of it done, %d minibatch(es) into the next; "
                     "%ld minibatches in all; %.1f s of training\n",
                phase, c.epoch, c.batch, step, c.seconds);
        if (c.phase == PL_PHASE_DONE)
            fprintf(out, "result: test error %.2f%%, valid error %.2f%%\n", c.test_error,
                    c.valid_error);
    } else {
        double test = NAN;
        if (pl_h5_get_double(file, "test_error", &test))
            fprintf(out, "result: test error %.2f%%\n", test);
    }
    fprintf(out, "datasets:\n");
    H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, print_dataset, out, H5O_INFO_BASIC);
    char *text = pl_h5_read_text(file, "/config");
    if (text)
        print_config_summary(text, path, out);
    pl_free(text);
    pl_free(phase);
    pl_free(made_by);
    H5Fclose(file);
    return 0;
}
