/* Checkpoint files through parallel HDF5 (layout: docs/checkpoint-format.md),
 * written and read from the rule's list of named global arrays (rule.h):
 * nothing here knows which rule runs. Every array is global and every rank
 * writes and reads its own block, so a checkpoint written by N ranks resumes
 * on M. Each array carries a checksum that does not depend on the split
 * (h5io.c): HDF5 checksums its metadata in the newest format, but not raw
 * data, and a flipped byte in a weight must not pass unnoticed. */
#include "plastic/ckpt.h"
#include "plastic/common.h"
#include "comm_impl.h"
#include "h5io.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_prefix[] = {
    [PL_ARRAY_MODEL] = "/model/", [PL_ARRAY_STATE] = "/state/", [PL_ARRAY_OPTIM] = "/optim/"};

/* The dataset path of an array in a checkpoint. */
static void array_path(const pl_array *a, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", kind_prefix[a->kind], a->name);
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

/* ---- the cursor: attributes of /data ---- */

static int write_cursor(hid_t file, const pl_rule *rule, const pl_cursor *c)
{
    hid_t g = pl_h5_group(file, "/data");
    int ok = g >= 0 && pl_h5_attr_string(g, "phase", pl_rule_stage_name(rule, c->stage)) &&
             pl_h5_attr_long(g, "epoch", c->epoch) && pl_h5_attr_long(g, "batch", c->pos.batch) &&
             pl_h5_attr_long(g, "step", c->step) &&
             pl_h5_attr_double(g, "loss_sum", c->pos.loss_sum) &&
             pl_h5_attr_long(g, "wrong", c->pos.wrong) &&
             pl_h5_attr_double(g, "seconds", c->seconds) &&
             pl_h5_attr_long(g, "metrics_bytes", c->metrics_bytes) &&
             pl_h5_attr_double(g, "test_error", c->test_error) &&
             pl_h5_attr_double(g, "valid_error", c->valid_error) &&
             pl_h5_attr_double(g, "train_error", c->train_error);
    for (int s = 0; s < rule->nstages && ok; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s_seconds", rule->stages[s].name);
        ok = pl_h5_attr_double(g, name, c->stage_seconds[s]);
    }
    if (g >= 0)
        H5Gclose(g);
    return ok;
}

/* ---- writing ---- */

static int write_scalars(hid_t file, const pl_state *st)
{
    for (int i = 0; i < st->nscalars; i++) {
        char path[128];
        snprintf(path, sizeof path, "/optim/%s", st->scalars[i].group);
        hid_t g = pl_h5_group(file, path);
        int ok = g >= 0 && pl_h5_attr_long(g, st->scalars[i].name, *st->scalars[i].value);
        if (g >= 0)
            H5Gclose(g);
        if (!ok)
            return 0;
    }
    return 1;
}

static int write_arrays(hid_t file, const pl_comm *comm, const pl_state *st)
{
    for (int i = 0; i < st->narrays; i++) {
        const pl_array *a = &st->arrays[i];
        if (a->derived) /* regenerated at create */
            continue;
        char path[128];
        array_path(a, path, sizeof path);
        pl_h5_block b = pl_h5_array_block(a, comm, 0);
        int ok = pl_h5_write_block(file, path, pl_h5_type(a->dtype), &b, a->data);
        /* what follows is collective: every rank must take the same path */
        if (pl_allreduce_or(comm, !ok))
            return 0;
        uint64_t sum = pl_h5_array_checksum(a, comm);
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        ok = d >= 0 && attr_u64(d, "checksum", sum);
        if (d >= 0)
            H5Dclose(d);
        if (!ok)
            return 0;
    }
    return 1;
}

static int write_contents(hid_t file, const pl_comm *comm, const void *ctx)
{
    const void *const *parts = ctx;
    const pl_ckpt_ctx *c = parts[0];
    const pl_cursor *cur = parts[1];
    return pl_h5_attr_long(file, "format_version", PL_CKPT_FORMAT_VERSION) &&
           pl_h5_attr_string(file, "plastic_version", PLASTIC_VERSION) &&
           pl_h5_attr_string(file, "rule", c->rule->name) &&
           pl_h5_attr_long(file, "epoch", cur->epoch) &&
           pl_h5_attr_string(file, "phase", pl_rule_stage_name(c->rule, cur->stage)) &&
           pl_h5_attr_long(file, "step", cur->step) && attr_u64(file, "seed", c->cfg->run.seed) &&
           pl_h5_attr_long(file, "nranks_at_write", comm->size) &&
           pl_h5_write_text(file, "/config", c->config_text, comm) &&
           attr_u64(file, "config_checksum", text_checksum(c->config_text)) &&
           write_cursor(file, c->rule, cur) && write_scalars(file, c->state) &&
           write_arrays(file, comm, c->state);
}

int pl_ckpt_write(const char *path, const pl_ckpt_ctx *c, const pl_cursor *cur)
{
    const void *parts[2] = {c, cur};
    return pl_h5_write_atomic(path, c->comm, "checkpoint", write_contents, parts);
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

/* A string attribute of fixed length, the kind plastic writes, or NULL.
 * One of variable length (h5py's default) is not read, and sets *vlen
 * (when vlen is not NULL): HDF5 1.10 reads those from the file's global
 * heap trusting the sizes stored there, and a damaged size makes it copy
 * past its buffers (found by fuzz_h5_ckpt; docs/checkpoint-format.md). */
static char *get_string_attr(hid_t obj, const char *name, int *vlen)
{
    if (vlen)
        *vlen = 0;
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1;
    char *s = NULL;
    int is_string = type >= 0 && H5Tget_class(type) == H5T_STRING;
    if (is_string && H5Tis_variable_str(type) != 0) {
        if (vlen)
            *vlen = 1;
    } else if (is_string) {
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

/* Optional attributes (absent in files of earlier versions) read as 0. */
static double optional_double(hid_t g, const char *name, double fallback)
{
    double v = fallback;
    if (H5Aexists(g, name) > 0 && !pl_h5_get_double(g, name, &v))
        v = fallback;
    return v;
}

static void read_cursor(hid_t file, const pl_rule *rule, pl_cursor *c, problem *p)
{
    hid_t g = H5Lexists(file, "/data", H5P_DEFAULT) > 0 ? H5Gopen2(file, "/data", H5P_DEFAULT) : -1;
    long epoch = 0, batch = 0;
    int vlen = 0;
    char *phase = g >= 0 ? get_string_attr(g, "phase", &vlen) : NULL;
    int ok = g >= 0 && phase && pl_h5_get_long(g, "epoch", &epoch) &&
             pl_h5_get_long(g, "batch", &batch) && pl_h5_get_long(g, "step", &c->step) &&
             pl_h5_get_double(g, "loss_sum", &c->pos.loss_sum) &&
             pl_h5_get_long(g, "wrong", &c->pos.wrong) &&
             pl_h5_get_double(g, "seconds", &c->seconds) &&
             pl_h5_get_long(g, "metrics_bytes", &c->metrics_bytes) &&
             pl_h5_get_double(g, "test_error", &c->test_error) &&
             pl_h5_get_double(g, "valid_error", &c->valid_error);
    c->stage = phase && rule ? pl_rule_stage_index(rule, phase) : -1;
    c->epoch = (int)epoch;
    c->pos.batch = (int)batch;
    if (ok) {
        c->train_error = optional_double(g, "train_error", NAN);
        for (int s = 0; rule && s < rule->nstages; s++) {
            char name[64];
            snprintf(name, sizeof name, "%s_seconds", rule->stages[s].name);
            c->stage_seconds[s] = optional_double(g, name, 0.0);
        }
    }
    if (vlen)
        note(p, PL_EXIT_DATA, "the data cursor's phase (/data) is a string of variable length "
             "(as h5py writes them): plastic reads strings of fixed length only");
    /* counts an int holds, none negative (metrics_bytes cuts metrics.jsonl) */
    if (!ok || c->stage < 0 || epoch < 0 || epoch > INT_MAX || batch < 0 || batch > INT_MAX ||
        c->step < 0 || c->pos.wrong < 0 || c->metrics_bytes < 0)
        note(p, PL_EXIT_DATA, "the data cursor (/data attributes) is missing or damaged");
    pl_free(phase);
    if (g >= 0)
        H5Gclose(g);
}

/* The stored configuration must compute the same run as cfg. */
static void check_config(hid_t file, const pl_ckpt_ctx *c, const char *path, problem *p)
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
    else if (pl_config_diff(&stored, c->cfg, pl_rule_foreign_sections(c->rule), what,
                            sizeof what))
        note(p, PL_EXIT_USAGE, "it belongs to another configuration: %s", what);
    pl_free(text);
}

static void check_shapes(hid_t file, const pl_state *st, problem *p)
{
    for (int i = 0; i < st->narrays; i++) {
        const pl_array *a = &st->arrays[i];
        if (a->derived) /* regenerated at create */
            continue;
        char path[128];
        array_path(a, path, sizeof path);
        hsize_t dims[2];
        if (!pl_h5_shape(file, path, dims))
            note(p, PL_EXIT_DATA, "dataset %s is missing or damaged", path);
        else if ((long)dims[0] != a->dims[0] || (long)dims[1] != a->dims[1])
            note(p, PL_EXIT_USAGE, "%s is %llu x %llu, but this configuration needs %ld x %ld",
                 path, (unsigned long long)dims[0], (unsigned long long)dims[1], a->dims[0],
                 a->dims[1]);
    }
}

static void read_scalars(hid_t file, const pl_state *st, long *values, problem *p)
{
    for (int i = 0; i < st->nscalars && !p->code; i++) {
        char path[128];
        snprintf(path, sizeof path, "/optim/%s", st->scalars[i].group);
        hid_t g = H5Lexists(file, "/optim", H5P_DEFAULT) > 0 &&
                          H5Lexists(file, path, H5P_DEFAULT) > 0
                      ? H5Gopen2(file, path, H5P_DEFAULT)
                      : -1;
        if (g < 0 || !pl_h5_get_long(g, st->scalars[i].name, &values[i]))
            note(p, PL_EXIT_DATA, "the optimiser state (%s %s) is missing or damaged", path,
                 st->scalars[i].name);
        if (g >= 0)
            H5Gclose(g);
    }
}

static void read_arrays(hid_t file, const pl_comm *comm, const pl_state *st, problem *p)
{
    for (int i = 0; i < st->narrays; i++) {
        const pl_array *a = &st->arrays[i];
        if (a->derived) /* regenerated at create */
            continue;
        char path[128];
        array_path(a, path, sizeof path);
        pl_h5_block b = pl_h5_array_block(a, comm, 1);
        int ok = pl_h5_read_block(file, path, pl_h5_type(a->dtype), &b, a->data);
        if (pl_allreduce_or(comm, !ok)) {
            note(p, PL_EXIT_DATA, "dataset %s cannot be read", path);
            return;
        }
        long stored = 0;
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        int have = d >= 0 && pl_h5_get_long(d, "checksum", &stored);
        if (d >= 0)
            H5Dclose(d);
        uint64_t sum = pl_h5_array_checksum(a, comm);
        if (!have || (uint64_t)stored != sum)
            note(p, PL_EXIT_DATA, "dataset %s fails its checksum (the file is damaged)", path);
    }
}

int pl_ckpt_read(const char *path, const pl_ckpt_ctx *c, pl_cursor *cur)
{
    const pl_comm *comm = c->comm;
    char why[512];
    hid_t file = pl_h5_open_read(path, comm, why, sizeof why);
    if (pl_allreduce_or(comm, file < 0)) {
        pl_error("cannot open checkpoint '%s': %s", path,
                 why[0] ? why : "missing, truncated, damaged or not an HDF5 file");
        if (file >= 0)
            H5Fclose(file);
        return PL_EXIT_DATA;
    }
    problem p = {0};
    long version = 0, scalars[PL_STATE_MAX_SCALARS];
    if (!pl_h5_get_long(file, "format_version", &version))
        note(&p, PL_EXIT_DATA, "no format_version attribute: not a plastic checkpoint");
    else if (version != PL_CKPT_FORMAT_VERSION)
        note(&p, PL_EXIT_DATA, "format_version %ld, this plastic reads %d", version,
             PL_CKPT_FORMAT_VERSION);
    /* Every step below reads metadata all ranks see alike, so they agree on
     * p.code without communicating until the collective reads. The rule is
     * part of the configuration, so check_config catches another rule. */
    if (!p.code)
        check_config(file, c, path, &p);
    if (!p.code)
        read_cursor(file, c->rule, cur, &p);
    if (!p.code)
        check_shapes(file, c->state, &p);
    if (!p.code)
        read_scalars(file, c->state, scalars, &p);
    /* ranks read the same metadata, but agree anyway before the collective
     * reads: a damaged file must not leave some ranks waiting */
    if (!pl_allreduce_or(comm, p.code != 0))
        read_arrays(file, comm, c->state, &p);
    H5Fclose(file);
    if (pl_allreduce_or(comm, p.code != 0)) {
        if (p.code)
            pl_error("checkpoint '%s': %s", path, p.what);
        else
            pl_error("checkpoint '%s' is damaged (found by another rank)", path);
        return pl_allreduce_or(comm, p.code == PL_EXIT_USAGE) ? PL_EXIT_USAGE : PL_EXIT_DATA;
    }
    for (int i = 0; i < c->state->nscalars; i++)
        *c->state->scalars[i].value = scalars[i];
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

/* Prints the keys that define the run, a line per section, leaving out the
 * sections the run's rule does not read. */
static void print_config_summary(const pl_config *cfg, FILE *out)
{
    const pl_rule *rule = pl_rule_of(cfg);
    char *identity = pl_config_identity(cfg, rule ? pl_rule_foreign_sections(rule) : NULL);
    fprintf(out, "config (model.rule = %s%s%s):", cfg->model.rule, rule ? ": " : "",
            rule ? rule->title : "");
    char section[PL_NAME_MAX] = "";
    for (char *line = strtok(identity, "\n"); line; line = strtok(NULL, "\n")) {
        char *dot = strchr(line, '.');
        if (!dot)
            continue;
        *dot = '\0';
        if (strcmp(line, section) != 0) {
            snprintf(section, sizeof section, "%s", line);
            fprintf(out, "\n  %s:", section);
        }
        fprintf(out, " %s", dot + 1);
    }
    fputc('\n', out);
    free(identity);
}

int pl_h5_info(const char *path, FILE *out)
{
    char why[512];
    hid_t file = pl_h5_open_read(path, pl_comm_self(), why, sizeof why);
    if (file < 0) {
        pl_error("cannot open '%s': %s", path,
                 why[0] ? why : "missing, truncated or not an HDF5 file");
        return PL_EXIT_DATA;
    }
    long version = 0, nranks = 0, step = 0;
    char *phase = get_string_attr(file, "phase", NULL);
    char *made_by = get_string_attr(file, "plastic_version", NULL);
    int is_ckpt = H5Aexists(file, "phase") > 0;
    fprintf(out, "%s: plastic %s %s", path, is_ckpt ? "checkpoint" : "model",
            made_by ? made_by : "(unknown version)");
    if (pl_h5_get_long(file, "format_version", &version))
        fprintf(out, ", format %ld", version);
    if (pl_h5_get_long(file, is_ckpt ? "nranks_at_write" : "nranks", &nranks))
        fprintf(out, ", written by %ld rank(s)", nranks);
    fputc('\n', out);
    /* A stored configuration that does not parse (its error is the one
     * message) makes the file damaged: the rest is still described. */
    char *text = pl_h5_read_text(file, "/config");
    const pl_rule *rule = NULL;
    pl_config cfg;
    pl_config_defaults(&cfg);
    int config_ok = 0;
    if (text) {
        char name[PL_H5_PATH_MAX + 16];
        snprintf(name, sizeof name, "%s:/config", path);
        config_ok = pl_config_load_text(&cfg, text, name) == 0;
        if (config_ok)
            rule = pl_rule_of(&cfg);
    }
    if (is_ckpt) {
        pl_cursor c = {0};
        problem p = {0};
        read_cursor(file, rule, &c, &p);
        pl_h5_get_long(file, "step", &step);
        fprintf(out, "state: phase %s, %d epoch(s) of it done, %d minibatch(es) into the next; "
                     "%ld minibatches in all; %.1f s of training\n",
                phase ? phase : "(unreadable)", c.epoch, c.pos.batch, step, c.seconds);
        if (rule && c.stage == rule->nstages)
            fprintf(out, "result: test error %.2f%%, valid error %.2f%%\n", c.test_error,
                    c.valid_error);
    } else {
        double test = NAN;
        if (pl_h5_get_double(file, "test_error", &test))
            fprintf(out, "result: test error %.2f%%\n", test);
    }
    fprintf(out, "datasets:\n");
    H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, print_dataset, out, H5O_INFO_BASIC);
    if (config_ok)
        print_config_summary(&cfg, out);
    pl_free(phase);
    pl_free(made_by);
    H5Fclose(file);
    int rc = text && !config_ok ? PL_EXIT_DATA : 0;
    pl_free(text);
    return rc;
}
