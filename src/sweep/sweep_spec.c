/* Sweep files: the [sweep] section, the runs it expands to, their ids, the
 * schedule order and the slices. See sweep.h. */
#include "plastic/sweep.h"
#include "plastic/common.h"
#include "plastic/rng.h"
#include "plastic/rule.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_CHARS 4096

/* Cuts a comment: a line starting with ; or #, or " ;" inside a line (as
 * inih does for the configuration part). */
static void strip_comment(char *line)
{
    char *t = line;
    while (isspace((unsigned char)*t))
        t++;
    if (*t == ';' || *t == '#') {
        *line = '\0';
        return;
    }
    for (char *c = line + 1; *c; c++)
        if (*c == ';' && isspace((unsigned char)c[-1])) {
            *c = '\0';
            return;
        }
}

static int read_file(const char *path, char **text)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pl_error("cannot open sweep file '%s': %s", path, strerror(errno));
        return PL_EXIT_USAGE;
    }
    size_t cap = 4096, len = 0;
    char *buf = pl_alloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *bigger = pl_alloc(2 * cap);
            memcpy(bigger, buf, len);
            pl_free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    buf[len] = '\0';
    if (bad) {
        pl_error("cannot read sweep file '%s'", path);
        pl_free(buf);
        return PL_EXIT_USAGE;
    }
    if (strlen(buf) != len) { /* the text would end at the NUL */
        pl_error("sweep file '%s' holds a NUL byte (is it a text file?)", path);
        pl_free(buf);
        return PL_EXIT_USAGE;
    }
    *text = buf;
    return 0;
}

/* ---- the [sweep] settings ---- */

static int parse_int(const char *text, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *pl_trim(end) != '\0' || v < lo || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int setting(pl_sweep *sw, const char *name, const char *value, char *err, size_t size)
{
    int *target = NULL, lo = 0;
    if (!strcmp(name, "repeats"))
        target = &sw->repeats, lo = 1;
    else if (!strcmp(name, "final_repeats"))
        target = &sw->final_repeats, lo = 0;
    else if (!strcmp(name, "trials"))
        target = &sw->trials, lo = 0;
    else if (!strcmp(name, "tpe_startup"))
        target = &sw->tpe_startup, lo = 1;
    else if (!strcmp(name, "group_size"))
        target = &sw->group_size, lo = 1;
    else if (!strcmp(name, "batch"))
        target = &sw->batch, lo = 1;
    if (target) {
        if (target == &sw->batch && parse_int(value, lo, target) == 0 &&
            sw->batch > PL_SWEEP_MAX_BATCH) {
            snprintf(err, size, "sweep.batch = '%s': expected an integer in 1..%d", value,
                     PL_SWEEP_MAX_BATCH);
            return -1;
        }
        if (parse_int(value, lo, target)) {
            snprintf(err, size, "sweep.%s = '%s': expected an integer >= %d", name, value, lo);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "strategy")) {
        static const char *const names[] = {"grid", "random", "tpe"};
        for (int i = 0; i < 3; i++)
            if (!strcmp(value, names[i])) {
                sw->strategy = i;
                return 0;
            }
        snprintf(err, size, "sweep.strategy = '%s': expected grid, random or tpe", value);
        return -1;
    }
    if (!strcmp(name, "converge_tol")) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *pl_trim(end) != '\0' || !(v > 0)) {
            snprintf(err, size, "sweep.converge_tol = '%s': expected a number > 0", value);
            return -1;
        }
        sw->converge_tol = v;
        return 0;
    }
    if (!strcmp(name, "tune")) {
        if (strlen(value) >= sizeof sw->tune) {
            snprintf(err, size, "sweep.tune is too long");
            return -1;
        }
        /* a comma or space separated list of sections or keys, kept space separated */
        snprintf(sw->tune, sizeof sw->tune, "%s", value);
        for (char *c = sw->tune; *c; c++)
            if (*c == ',')
                *c = ' ';
        return 0;
    }
    if (!strcmp(name, "dir")) {
        if (strlen(value) >= sizeof sw->dir - 40) {
            snprintf(err, size, "sweep.dir is too long");
            return -1;
        }
        /* each run's run.dir is <dir>/runs/<shared key> (pl_sweep_config):
         * it must be a value config.ini can hold */
        pl_config scratch = sw->base;
        char run_dir[PL_PATH_MAX], why[1024];
        snprintf(run_dir, sizeof run_dir, "%s/runs/%016x", value, 0);
        if (pl_config_set(&scratch, "run.dir", run_dir, why, sizeof why)) {
            snprintf(err, size, "sweep.dir = '%s' cannot hold the runs' directories: %s", value,
                     why);
            return -1;
        }
        snprintf(sw->dir, sizeof sw->dir, "%s", value);
        return 0;
    }
    snprintf(err, size,
             "unknown sweep setting '%s' (known: repeats, final_repeats, strategy, trials, "
             "tpe_startup, group_size, batch, converge_tol, tune, dir; an axis is "
             "section.key = v1,v2,...)",
             name);
    return -1;
}

/* ---- axes ---- */

static int add_value(pl_sweep_axis *ax, const pl_config *base, const char *text, char *err,
                     size_t size)
{
    pl_config scratch = *base;
    char why[1024], value[PL_PATH_MAX + 1];
    if (pl_config_set(&scratch, ax->key, text, why, sizeof why)) {
        snprintf(err, size, "%s value '%s': %s", ax->key, text, why);
        return -1;
    }
    pl_config_get(&scratch, ax->key, value, sizeof value);
    for (int i = 0; i < ax->nvalues; i++)
        if (!strcmp(ax->values[i], value)) {
            snprintf(err, size, "%s lists the value %s twice", ax->key, value);
            return -1;
        }
    if (ax->nvalues >= PL_SWEEP_MAX_VALUES) {
        snprintf(err, size, "%s has more than %d values", ax->key, PL_SWEEP_MAX_VALUES);
        return -1;
    }
    ax->values[ax->nvalues] = strdup(value);
    ax->nvalues++;
    return 0;
}

/* "a..b": every integer from a to b. */
static int add_range(pl_sweep_axis *ax, const pl_config *base, const char *item, char *err,
                     size_t size)
{
    const char *dots = strstr(item, "..");
    char lo_text[64], *end;
    size_t n = (size_t)(dots - item);
    int ok = n < sizeof lo_text; /* cutting the text would change the number */
    long lo = 0, hi = -1;
    if (ok) {
        memcpy(lo_text, item, n);
        lo_text[n] = '\0';
        errno = 0;
        lo = strtol(pl_trim(lo_text), &end, 10);
        ok = end != lo_text && *end == '\0';
        hi = strtol(dots + 2, &end, 10);
        ok = ok && errno == 0 && end != dots + 2 && *pl_trim(end) == '\0';
    }
    /* ints, so that neither hi - lo nor v++ below can overflow */
    ok = ok && lo >= INT_MIN && hi <= INT_MAX && lo <= hi &&
         (unsigned long)hi - (unsigned long)lo < PL_SWEEP_MAX_VALUES;
    if (!ok) {
        snprintf(err, size, "%s: bad range '%s' (expected a..b, integers, a <= b)", ax->key,
                 item);
        return -1;
    }
    for (long v = lo; v <= hi; v++) {
        char text[32];
        snprintf(text, sizeof text, "%ld", v);
        if (add_value(ax, base, text, err, size))
            return -1;
    }
    return 0;
}

static int add_axis(pl_sweep *sw, const char *key, char *list, char *err, size_t size)
{
    int runtime = pl_config_is_runtime(key);
    if (runtime < 0) {
        char why[1024];
        pl_config scratch = sw->base;
        pl_config_set(&scratch, key, "", why, sizeof why);
        snprintf(err, size, "axis %s: %s", key, why);
        return -1;
    }
    if (runtime) {
        snprintf(err, size, "%s says where or how a run executes, not what it computes: it "
                 "cannot be an axis", key);
        return -1;
    }
    if (!strcmp(key, "run.seed")) {
        snprintf(err, size, "run.seed cannot be an axis: use repeats (seeds run.seed + 0, 1, ...)");
        return -1;
    }
    if (!strcmp(key, "model.rule")) {
        snprintf(err, size, "model.rule cannot be an axis: a sweep file sweeps one rule");
        return -1;
    }
    /* a key the rule does not read leaves every run the same run */
    char section[PL_NAME_MAX];
    snprintf(section, sizeof section, "%.*s", (int)strcspn(key, "."), key);
    if (sw->rule && pl_config_section_in(section, pl_rule_foreign_sections(sw->rule))) {
        snprintf(err, size, "axis %s: model.rule = %s does not read [%s]", key, sw->rule->name,
                 section);
        return -1;
    }
    for (int a = 0; a < sw->naxes; a++)
        if (!strcmp(sw->axes[a].key, key)) {
            snprintf(err, size, "axis %s is given twice", key);
            return -1;
        }
    if (sw->naxes >= PL_SWEEP_MAX_AXES) {
        snprintf(err, size, "more than %d axes", PL_SWEEP_MAX_AXES);
        return -1;
    }
    pl_sweep_axis *ax = &sw->axes[sw->naxes++];
    snprintf(ax->key, sizeof ax->key, "%s", key);
    ax->values = pl_calloc(PL_SWEEP_MAX_VALUES, sizeof *ax->values);
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        item = pl_trim(item);
        int rc = strstr(item, "..") ? add_range(ax, &sw->base, item, err, size)
                                    : add_value(ax, &sw->base, item, err, size);
        if (rc)
            return -1;
    }
    if (ax->nvalues == 0) {
        snprintf(err, size, "axis %s has no values", key);
        return -1;
    }
    return 0;
}

/* Splits the file into its configuration part, with the [sweep] lines
 * blanked so configuration errors keep their line numbers, and the [sweep]
 * lines themselves, which are parsed here. */
static int parse(pl_sweep *sw, const char *text, int with_sweep, char **config_part, char *err,
                 size_t size, int *err_line)
{
    char *out = pl_alloc(strlen(text) + 1);
    size_t used = 0;
    int in_sweep = 0, line_no = 0;
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        line_no++;
        char buf[LINE_MAX_CHARS];
        if (len >= sizeof buf) {
            *err_line = line_no;
            snprintf(err, size, "line is longer than %d characters", LINE_MAX_CHARS - 1);
            pl_free(out);
            return -1;
        }
        memcpy(buf, line, len);
        buf[len] = '\0';
        strip_comment(buf);
        char *t = pl_trim(buf);
        if (*t == '[') {
            char *close = strchr(t, ']');
            in_sweep = close && close - t == 6 && !strncmp(t + 1, "sweep", 5);
        }
        if (in_sweep) {
            if (with_sweep && *t && *t != '[') {
                char *eq = strchr(t, '=');
                if (!eq) {
                    *err_line = line_no;
                    snprintf(err, size, "expected key = value in [sweep]");
                    pl_free(out);
                    return -1;
                }
                *eq = '\0';
                char *key = pl_trim(t), *value = pl_trim(eq + 1);
                int rc = strchr(key, '.') ? add_axis(sw, key, value, err, size)
                                          : setting(sw, key, value, err, size);
                if (rc) {
                    *err_line = line_no;
                    pl_free(out);
                    return -1;
                }
            }
        } else {
            memcpy(out + used, line, len);
            used += len;
        }
        if (nl)
            out[used++] = '\n';
        line = nl ? nl + 1 : line + len;
    }
    out[used] = '\0';
    *config_part = out;
    return 0;
}

/* Whether a key belongs to one of the space-separated sections. */
/* 1 if key is one of the entries of the space-separated list: a section
 * ("readout": any of its keys) or a whole key ("readout.beta"). */
static int in_sections(const char *key, const char *sections)
{
    size_t len = strcspn(key, "."), whole = strlen(key);
    for (const char *p = sections; *p;) {
        size_t n = strcspn(p, " ");
        if ((n == len || n == whole) && !strncmp(p, key, n))
            return 1;
        p += n;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* The default tuned sections: those of the rule's stages after its shared
 * ones (KH: readout); none for a rule without shared stages. */
static void default_tune(pl_sweep *sw)
{
    const pl_rule *rule = sw->rule;
    sw->tune[0] = '\0';
    for (int s = rule->shared_stages; rule->shared_stages > 0 && s < rule->nstages; s++) {
        size_t used = strlen(sw->tune);
        snprintf(sw->tune + used, sizeof sw->tune - used, "%s%s", used ? " " : "",
                 rule->stages[s].sections);
    }
}

/* The base with the first value of every axis must finalize (that derives
 * run.name, kept for the sweep's directory), and the rule's constraints
 * between keys must hold for every point of the grid (or, for a grid too
 * large to walk, they are checked as each run is configured). */
static int check_runs(pl_sweep *sw)
{
    pl_config first = sw->base;
    char err[1024];
    for (int a = 0; a < sw->naxes; a++)
        pl_config_set(&first, sw->axes[a].key, sw->axes[a].values[0], err, sizeof err);
    if (pl_config_finalize(&first))
        return -1;
    snprintf(sw->base.run.name, sizeof sw->base.run.name, "%s", first.run.name);
    snprintf(sw->base.run.dir, sizeof sw->base.run.dir, "%s", first.run.dir);
    double grid = 1.0;
    for (int a = 0; a < sw->naxes; a++)
        grid *= sw->axes[a].nvalues;
    if (!sw->rule->check || grid > 1e6)
        return 0;
    int choice[PL_SWEEP_MAX_AXES] = {0};
    for (long i = 0; i < (long)grid; i++) {
        pl_config cfg = sw->base;
        for (int a = 0; a < sw->naxes; a++)
            pl_config_set(&cfg, sw->axes[a].key, sw->axes[a].values[choice[a]], err, sizeof err);
        if (sw->rule->check(&cfg, sw->group_size, err, sizeof err) != 0) {
            char point[512] = "";
            for (int a = 0; a < sw->naxes; a++) {
                size_t used = strlen(point);
                snprintf(point + used, sizeof point - used, "%s%s=%s", a ? ", " : "",
                         sw->axes[a].key, sw->axes[a].values[choice[a]]);
            }
            pl_error("%s: some runs would fail: %s (at %s)", sw->path, err, point);
            return -1;
        }
        for (int a = sw->naxes - 1; a >= 0 && ++choice[a] == sw->axes[a].nvalues; a--)
            choice[a] = 0;
    }
    return 0;
}

int pl_sweep_load(pl_sweep *sw, const char *path, char **overrides, int noverrides)
{
    memset(sw, 0, sizeof *sw);
    sw->repeats = 1;
    sw->final_repeats = -1;
    sw->tpe_startup = 10;
    sw->group_size = 1;
    sw->batch = 16;
    sw->converge_tol = 0.1;
    sw->tune[0] = '\1'; /* unset: the rule's default, once the rule is known */
    snprintf(sw->path, sizeof sw->path, "%s", path);
    char *text;
    int rc = read_file(path, &text);
    if (rc)
        return rc;
    sw->text = text;

    /* The configuration part first, so axis values are checked against the
     * final base; then the [sweep] lines. */
    char *config_part = NULL, err[2048];
    int err_line = 0;
    rc = parse(sw, text, 0, &config_part, err, sizeof err, &err_line);
    if (rc == 0) {
        pl_config_defaults(&sw->base);
        rc = pl_config_load_text(&sw->base, config_part, path);
        snprintf(sw->base.source, sizeof sw->base.source, "%s", path);
        for (int i = 0; i < noverrides && rc == 0; i++)
            if (strncmp(overrides[i], "sweep.", 6) != 0)
                rc = pl_config_override(&sw->base, overrides[i]);
        pl_free(config_part);
        config_part = NULL;
        if (rc)
            return PL_EXIT_USAGE;
        sw->rule = pl_rule_of(&sw->base);
        rc = parse(sw, text, 1, &config_part, err, sizeof err, &err_line);
        pl_free(config_part);
    }
    if (rc) {
        pl_error("%s:%d: %s", path, err_line, err);
        return PL_EXIT_USAGE;
    }
    /* sweep.setting=value on the command line, after the file */
    for (int i = 0; i < noverrides; i++) {
        if (strncmp(overrides[i], "sweep.", 6) != 0)
            continue;
        char buf[PL_PATH_MAX + 64];
        snprintf(buf, sizeof buf, "%s", overrides[i] + 6);
        char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
        if (!eq || (dot && dot < eq)) {
            pl_error("override '%s': expected sweep.setting=value (axes are set in the file)",
                     overrides[i]);
            return PL_EXIT_USAGE;
        }
        *eq = '\0';
        if (setting(sw, pl_trim(buf), pl_trim(eq + 1), err, sizeof err)) {
            pl_error("override '%s': %s", overrides[i], err);
            return PL_EXIT_USAGE;
        }
    }
    if (sw->naxes == 0) {
        pl_error("%s: the [sweep] section lists no axis (e.g. kh.p = 2,3,4)", path);
        return PL_EXIT_USAGE;
    }
    if (sw->tune[0] == '\1')
        default_tune(sw);
    for (int a = 0; a < sw->naxes; a++)
        sw->axes[a].tuned = in_sections(sw->axes[a].key, sw->tune);
    if (check_runs(sw))
        return PL_EXIT_USAGE;
    if (sw->strategy != PL_STRATEGY_GRID && sw->trials < 1) {
        pl_error("%s: sweep.strategy = %s needs sweep.trials >= 1", path,
                 sw->strategy == PL_STRATEGY_RANDOM ? "random" : "tpe");
        return PL_EXIT_USAGE;
    }
    if (sw->final_repeats < 0)
        sw->final_repeats = sw->repeats;
    double points = sw->strategy == PL_STRATEGY_GRID ? 1 : sw->trials;
    for (int a = 0; a < sw->naxes && sw->strategy == PL_STRATEGY_GRID; a++)
        points *= sw->axes[a].nvalues;
    int most = sw->repeats > sw->final_repeats ? sw->repeats : sw->final_repeats;
    if (points * most > PL_SWEEP_MAX_RUNS) {
        pl_error("%s: %.0f points x %d repeats is more than the %d runs a sweep may have", path,
                 points, most, PL_SWEEP_MAX_RUNS);
        return PL_EXIT_USAGE;
    }
    if (sw->dir[0] == '\0')
        snprintf(sw->dir, sizeof sw->dir, "sweeps/%s", sw->base.run.name);
    return 0;
}

void pl_sweep_free(pl_sweep *sw)
{
    for (int a = 0; a < sw->naxes; a++) {
        for (int v = 0; v < sw->axes[a].nvalues; v++)
            free(sw->axes[a].values[v]);
        pl_free(sw->axes[a].values);
    }
    pl_free(sw->text);
    memset(sw, 0, sizeof *sw);
}

/* ---- ids ---- */

/* FNV-1a, 64 bits: ids only need to be stable and, over a sweep's few
 * thousand runs, distinct (collision odds ~1e-12). */
static uint64_t fnv1a(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t identity_hash(const pl_config *cfg, const char *const *skip)
{
    char *text = pl_config_identity(cfg, skip);
    uint64_t h = fnv1a(text);
    free(text);
    return h;
}

uint64_t pl_sweep_run_id(const pl_config *cfg)
{
    const pl_rule *rule = pl_rule_of(cfg);
    return identity_hash(cfg, pl_rule_foreign_sections(rule));
}

uint64_t pl_sweep_shared_key(const pl_config *cfg)
{
    const pl_rule *rule = pl_rule_of(cfg);
    if (rule->shared_stages == 0)
        return pl_sweep_run_id(cfg);
    return identity_hash(cfg, pl_rule_sections_from(rule, rule->shared_stages));
}

void pl_sweep_shared_config(const pl_config *cfg, pl_config *shared)
{
    const pl_rule *rule = pl_rule_of(cfg);
    *shared = *cfg;
    if (rule->shared_stages > 0)
        pl_config_reset_sections(shared, pl_rule_sections_from(rule, rule->shared_stages));
}

void pl_sweep_hex(uint64_t id, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)id); }

void pl_sweep_run_hex(const pl_sweep *sw, const pl_sweep_run *run, char out[17])
{
    pl_config cfg;
    pl_sweep_config(sw, run, &cfg); /* cannot fail: pl_sweep_load checked every value */
    pl_sweep_hex(pl_sweep_run_id(&cfg), out);
}

int pl_sweep_config(const pl_sweep *sw, const pl_sweep_run *run, pl_config *cfg)
{
    *cfg = sw->base;
    char err[1024];
    for (int a = 0; a < sw->naxes; a++) {
        const pl_sweep_axis *ax = &sw->axes[a];
        if (pl_config_set(cfg, ax->key, ax->values[run->choice[a]], err, sizeof err)) {
            pl_error("%s: %s", sw->path, err);
            return PL_EXIT_USAGE;
        }
    }
    cfg->run.seed = sw->base.run.seed + (uint64_t)run->repeat;
    /* a sweep's parallelism is its ranks: one BLAS/KH thread per rank
     * unless run.threads asks for more (it is not part of the run's id) */
    if (cfg->run.threads == 0)
        cfg->run.threads = 1;
    if (run->stage == PL_STAGE_FINAL)
        cfg->data.valid = 0;
    if (sw->rule->check && sw->rule->check(cfg, sw->group_size, err, sizeof err) != 0) {
        pl_error("%s: a run fails: %s", sw->path, err);
        return PL_EXIT_USAGE;
    }
    char hex[17];
    pl_sweep_hex(pl_sweep_shared_key(cfg), hex);
    snprintf(cfg->run.name, sizeof cfg->run.name, "run-%s", hex);
    snprintf(cfg->run.dir, sizeof cfg->run.dir, "%.960s/runs/%s", sw->dir, hex);
    snprintf(cfg->run.resume, sizeof cfg->run.resume, "auto");
    return 0;
}

/* ---- expansion ---- */

static int same_point(const int *a, const int *b, int naxes)
{
    return memcmp(a, b, (size_t)naxes * sizeof *a) == 0;
}

long pl_sweep_expand(const pl_sweep *sw, pl_sweep_run **runs)
{
    *runs = NULL;
    if (sw->strategy == PL_STRATEGY_TPE)
        return 0;
    double grid = 1.0;
    for (int a = 0; a < sw->naxes; a++)
        grid *= sw->axes[a].nvalues;
    long npoints = sw->strategy == PL_STRATEGY_RANDOM && sw->trials < grid ? sw->trials
                                                                             : (long)grid;
    int *points = pl_calloc((size_t)(npoints ? npoints : 1) * PL_SWEEP_MAX_AXES, sizeof *points);
    if (npoints == (long)grid) {
        for (long i = 0; i < npoints; i++) {
            long rest = i;
            for (int a = sw->naxes - 1; a >= 0; a--) {
                points[i * PL_SWEEP_MAX_AXES + a] = (int)(rest % sw->axes[a].nvalues);
                rest /= sw->axes[a].nvalues;
            }
        }
    } else {
        /* draw points until npoints distinct ones; draw d is keyed by d */
        long have = 0;
        for (uint64_t d = 0; have < npoints; d++) {
            pl_rng rng;
            pl_rng_init(&rng, sw->base.run.seed, PL_STREAM_SWEEP_SAMPLE, d);
            int *p = points + have * PL_SWEEP_MAX_AXES;
            for (int a = 0; a < sw->naxes; a++)
                p[a] = (int)pl_rng_below(&rng, (uint32_t)sw->axes[a].nvalues);
            int seen = 0;
            for (long j = 0; j < have && !seen; j++)
                seen = same_point(points + j * PL_SWEEP_MAX_AXES, p, sw->naxes);
            have += !seen;
        }
    }
    long n = npoints * sw->repeats;
    pl_sweep_run *r = pl_calloc((size_t)(n ? n : 1), sizeof *r);
    for (long i = 0; i < npoints; i++)
        for (int rep = 0; rep < sw->repeats; rep++) {
            pl_sweep_run *run = &r[i * sw->repeats + rep];
            run->stage = PL_STAGE_SEARCH;
            run->repeat = rep;
            memcpy(run->choice, points + i * PL_SWEEP_MAX_AXES, sizeof run->choice);
        }
    pl_free(points);
    pl_sweep_schedule(sw, r, n);
    *runs = r;
    return n;
}

/* ---- schedule order ---- */

enum { MAX_REUSE = 4 };

typedef struct keyed {
    long first;     /* position where this run's shared key first appears */
    double reuse[MAX_REUSE]; /* values of the rule's reuse_keys */
    long index;
} keyed;

static int by_schedule(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    for (int i = 0; i < MAX_REUSE; i++)
        if (a->reuse[i] != b->reuse[i])
            return a->reuse[i] < b->reuse[i] ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

typedef struct shared_entry {
    uint64_t key;
    long first;
} shared_entry;

/* Open-addressing map shared key -> first position; returns the position
 * (inserting pos if absent) and counts distinct keys in *distinct. */
static long first_seen(shared_entry *table, long cap, uint64_t key, long pos, long *distinct)
{
    for (long i = (long)(key % (uint64_t)cap);; i = (i + 1) % cap) {
        if (table[i].first < 0) {
            table[i].key = key;
            table[i].first = pos;
            ++*distinct;
            return pos;
        }
        if (table[i].key == key)
            return table[i].first;
    }
}

/* A reuse key's value as a number to order by (its text's first number;
 * reuse keys are numeric in practice, and only the grouping matters). */
static double reuse_value(const pl_config *cfg, const char *key)
{
    char text[PL_PATH_MAX + 1];
    if (pl_config_get(cfg, key, text, sizeof text) != 0)
        return 0.0;
    return strtod(text, NULL);
}

/* Shared key and reuse values of every run, into ks; returns distinct keys. */
static long key_runs(const pl_sweep *sw, const pl_sweep_run *runs, long nruns, keyed *ks)
{
    long cap = 2 * nruns + 1, distinct = 0;
    shared_entry *table = pl_alloc((size_t)cap * sizeof *table);
    for (long i = 0; i < cap; i++)
        table[i].first = -1;
    for (long i = 0; i < nruns; i++) {
        pl_config cfg;
        if (pl_sweep_config(sw, &runs[i], &cfg) != 0)
            abort(); /* every value was validated at load */
        ks[i].first = first_seen(table, cap, pl_sweep_shared_key(&cfg), i, &distinct);
        for (int k = 0; k < MAX_REUSE; k++)
            ks[i].reuse[k] = k < 4 && sw->rule->reuse_keys[k]
                                 ? reuse_value(&cfg, sw->rule->reuse_keys[k])
                                 : 0.0;
        ks[i].index = i;
    }
    pl_free(table);
    return distinct;
}

void pl_sweep_schedule(const pl_sweep *sw, pl_sweep_run *runs, long nruns)
{
    if (nruns < 2)
        return;
    keyed *ks = pl_alloc((size_t)nruns * sizeof *ks);
    key_runs(sw, runs, nruns, ks);
    qsort(ks, (size_t)nruns, sizeof *ks, by_schedule);
    pl_sweep_run *copy = pl_alloc((size_t)nruns * sizeof *copy);
    memcpy(copy, runs, (size_t)nruns * sizeof *copy);
    for (long i = 0; i < nruns; i++)
        runs[i] = copy[ks[i].index];
    pl_free(copy);
    pl_free(ks);
}

long pl_sweep_count_shared(const pl_sweep *sw, const pl_sweep_run *runs, long nruns)
{
    if (nruns == 0)
        return 0;
    keyed *ks = pl_alloc((size_t)nruns * sizeof *ks);
    long distinct = key_runs(sw, runs, nruns, ks);
    pl_free(ks);
    return distinct;
}

void pl_sweep_slice(long nruns, int slice, int nslices, long *lo, long *hi)
{
    long base = nruns / nslices, extra = nruns % nslices;
    *lo = slice * base + (slice < extra ? slice : extra);
    *hi = *lo + base + (slice < extra ? 1 : 0);
}

int pl_sweep_parse_slice(const char *text, int *slice, int *nslices)
{
    char *end;
    errno = 0;
    long i = strtol(text, &end, 10);
    if (errno || end == text || *end != '/')
        return -1;
    const char *rest = end + 1;
    long n = strtol(rest, &end, 10);
    if (errno || end == rest || *end != '\0' || n < 1 || n > INT_MAX || i < 0 || i >= n)
        return -1;
    *slice = (int)i;
    *nslices = (int)n;
    return 0;
}
