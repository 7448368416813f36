/* A run's learning curves from its metrics.jsonl (see curves.h), and its
 * curves.png. No MPI: rank 0 of `plastic train` calls this, and the
 * `curves` verb runs as one process. */
#include "plastic/curves.h"

#include "plastic/common.h"
#include "plastic/jsonl.h"
#include "plastic/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_PHASES 8
#define PHASE_CHARS 64
#define MAX_EPOCH 1e9

const char *const pl_curve_metric[PL_CURVE_METRICS] = {"train_error", "valid_error",
                                                       "test_error"};

int pl_curves_metric_index(const char *name)
{
    for (int m = 0; name && m < PL_CURVE_METRICS; m++)
        if (!strcmp(name, pl_curve_metric[m]))
            return m;
    return -1;
}

/* One supervised epoch record. */
struct rec {
    int phase;
    long epoch, line;
    double v[PL_CURVE_METRICS];
};

struct reader {
    const char *path;
    long line;
    char *why;
    size_t n;
    char phase[MAX_PHASES][PHASE_CHARS];
    long last_epoch[MAX_PHASES];
    int nphases;
    struct rec *recs;
    long nrecs, cap;
};

static int bad_line(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_line(struct reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->why, r->n, "%s:%ld: %s", r->path, r->line, msg);
    return 1;
}

static int phase_index(struct reader *r, const char *name)
{
    for (int p = 0; p < r->nphases; p++)
        if (!strcmp(r->phase[p], name))
            return p;
    if (strlen(name) >= PHASE_CHARS)
        return bad_line(r, "phase name \"%.40s...\" is longer than %d characters", name,
                        PHASE_CHARS - 1), -1;
    if (r->nphases == MAX_PHASES)
        return bad_line(r, "more than %d supervised phases", MAX_PHASES), -1;
    snprintf(r->phase[r->nphases], PHASE_CHARS, "%s", name);
    r->last_epoch[r->nphases] = 0;
    return r->nphases++;
}

static void add_rec(struct reader *r, const struct rec *x)
{
    if (r->nrecs == r->cap) {
        long bigger = r->cap ? 2 * r->cap : 64;
        struct rec *more = pl_alloc((size_t)bigger * sizeof *more);
        if (r->nrecs)
            memcpy(more, r->recs, (size_t)r->nrecs * sizeof *more);
        pl_free(r->recs);
        r->recs = more;
        r->cap = bigger;
    }
    r->recs[r->nrecs++] = *x;
}

/* An epoch record: kept if it is a supervised stage's. */
static int epoch_record(struct reader *r, const struct pl_jsonl_object *o)
{
    int supervised = 0;
    struct rec x = {.line = r->line};
    for (int m = 0; m < PL_CURVE_METRICS; m++) {
        const struct pl_jsonl_field *f = pl_jsonl_get(o, pl_curve_metric[m]);
        x.v[m] = NAN;
        if (!f)
            continue;
        supervised = 1;
        if (f->kind == PL_JSONL_NUMBER)
            x.v[m] = f->number;
        else if (f->kind != PL_JSONL_NULL)
            return bad_line(r, "\"%s\" is neither a number nor null", pl_curve_metric[m]);
    }
    if (!supervised)
        return 0;
    const char *phase = pl_jsonl_string(o, "phase");
    if (!phase)
        return bad_line(r, "an epoch record without a \"phase\" string");
    double e = pl_jsonl_number(o, "epoch");
    if (!(e >= 1 && e <= MAX_EPOCH && e == floor(e)))
        return bad_line(r, "an epoch record whose \"epoch\" is not a whole number from 1 to %.0e",
                        MAX_EPOCH);
    x.phase = phase_index(r, phase);
    if (x.phase < 0)
        return 1;
    x.epoch = (long)e;
    add_rec(r, &x);
    return 0;
}

static int one_line(struct reader *r, const char *text, size_t len, struct pl_curves *c)
{
    struct pl_jsonl_object o;
    char msg[256];
    if (pl_jsonl_parse(text, len, &o, msg, sizeof msg)) {
        pl_jsonl_free(&o);
        return bad_line(r, "not a JSON record: %s", msg);
    }
    int rc = 0;
    const char *event = pl_jsonl_string(&o, "event");
    const char *rule = pl_jsonl_string(&o, "rule");
    if (!event)
        rc = bad_line(r, "a record without an \"event\" string");
    else if ((!strcmp(event, "start") || !strcmp(event, "resume")) && rule)
        snprintf(c->rule, sizeof c->rule, "%s", rule);
    else if (!strcmp(event, "epoch"))
        rc = epoch_record(r, &o);
    else if (!strcmp(event, "done"))
        c->final_test = pl_jsonl_number(&o, "test_error");
    pl_jsonl_free(&o);
    return rc;
}

/* By phase, epoch, then line: the last of equal (phase, epoch) comes last. */
static int by_position(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->phase != y->phase)
        return x->phase < y->phase ? -1 : 1;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The last record of each (phase, epoch), in order, into c. */
static void collect(struct reader *r, struct pl_curves *c)
{
    if (r->nrecs)
        qsort(r->recs, (size_t)r->nrecs, sizeof *r->recs, by_position);
    long kept = 0;
    for (long i = 0; i < r->nrecs; i++) {
        const struct rec *x = &r->recs[i];
        if (i + 1 < r->nrecs && r->recs[i + 1].phase == x->phase &&
            r->recs[i + 1].epoch == x->epoch)
            continue;
        r->recs[kept++] = *x;
        if (x->epoch > r->last_epoch[x->phase])
            r->last_epoch[x->phase] = x->epoch;
    }
    c->n = kept;
    size_t bytes = (size_t)(kept ? kept : 1) * sizeof(double);
    c->epoch = pl_alloc(bytes);
    for (int m = 0; m < PL_CURVE_METRICS; m++)
        c->value[m] = pl_alloc(bytes);
    long offset[MAX_PHASES] = {0};
    for (int p = 1; p < r->nphases; p++)
        offset[p] = offset[p - 1] + r->last_epoch[p - 1];
    for (long i = 0; i < kept; i++) {
        const struct rec *x = &r->recs[i];
        c->epoch[i] = (double)(offset[x->phase] + x->epoch);
        for (int m = 0; m < PL_CURVE_METRICS; m++)
            c->value[m][i] = x->v[m];
    }
    c->nphases = r->nphases;
    size_t used = 0;
    for (int p = 0; p < r->nphases && used < sizeof c->phases; p++)
        used += (size_t)snprintf(c->phases + used, sizeof c->phases - used, "%s%s",
                                 p ? ", " : "", r->phase[p]);
}

int pl_curves_read(const char *path, struct pl_curves *c, char *why, size_t n)
{
    memset(c, 0, sizeof *c);
    c->final_test = NAN;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "cannot open '%s': %s", path, strerror(errno));
        return 1;
    }
    struct reader r = {.path = path, .why = why, .n = n};
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &size, f)) >= 0) {
        r.line++;
        rc = one_line(&r, line, (size_t)len, c);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(why, n, "cannot read '%s': %s", path, strerror(errno));
        rc = 1;
    }
    free(line); /* getline's, not pl_alloc's */
    fclose(f);
    if (rc == 0)
        collect(&r, c);
    pl_free(r.recs);
    return rc;
}

void pl_curves_free(struct pl_curves *c)
{
    pl_free(c->epoch);
    for (int m = 0; m < PL_CURVE_METRICS; m++)
        pl_free(c->value[m]);
    memset(c, 0, sizeof *c);
}

/* ---- a run's curves.png ------------------------------------------------------ */

/* The last component of dir, without trailing slashes, into buf. */
static void dir_name(const char *dir, char *buf, size_t size)
{
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    size_t len = end - start < size - 1 ? end - start : size - 1;
    memcpy(buf, dir + start, len);
    buf[len] = '\0';
}

int pl_curves_run_png(const char *run_dir, const char *out, char *why, size_t n)
{
    size_t plen = strlen(run_dir) + sizeof "/metrics.jsonl";
    char *path = pl_alloc(plen);
    snprintf(path, plen, "%s/metrics.jsonl", run_dir);
    struct pl_curves c;
    int rc = pl_curves_read(path, &c, why, n);
    pl_free(path);
    if (rc == 0 && c.n == 0)
        rc = -1;
    if (rc) {
        pl_curves_free(&c);
        return rc;
    }

    static const char *const names[PL_CURVE_METRICS] = {"train", "valid", "test"};
    struct pl_plot_series series[PL_CURVE_METRICS + 1];
    double *x = pl_alloc((size_t)(PL_CURVE_METRICS * c.n + 1) * sizeof *x);
    double *y = pl_alloc((size_t)(PL_CURVE_METRICS * c.n + 1) * sizeof *y);
    int ns = 0;
    long used = 0;
    for (int m = 0; m < PL_CURVE_METRICS; m++) {
        long k = 0; /* the epochs holding this metric: test_every's are joined up */
        for (long i = 0; i < c.n; i++)
            if (isfinite(c.value[m][i])) {
                x[used + k] = c.epoch[i];
                y[used + k] = c.value[m][i];
                k++;
            }
        if (k)
            series[ns++] = (struct pl_plot_series){names[m], x + used, y + used, k, m + 1};
        used += k;
    }
    int test_drawn = ns > 0 && !strcmp(series[ns - 1].label, "test");
    if (!test_drawn && isfinite(c.final_test)) {
        x[used] = c.epoch[c.n - 1];
        y[used] = c.final_test;
        series[ns++] = (struct pl_plot_series){"test (end)", x + used, y + used, 1,
                                               PL_CURVE_TEST + 1};
    }

    char name[128], title[256], x_label[200];
    dir_name(run_dir, name, sizeof name);
    if (c.rule[0])
        snprintf(title, sizeof title, "%s (%s)", name, c.rule);
    else
        snprintf(title, sizeof title, "%s", name);
    if (c.nphases == 1 && !strcmp(c.phases, "train"))
        snprintf(x_label, sizeof x_label, "epoch");
    else
        snprintf(x_label, sizeof x_label, "epoch (%s)", c.phases);
    struct pl_plot p = {.series = series, .nseries = ns, .title = title, .x_label = x_label,
                        .y_label = "error (%)"};
    rc = ns ? pl_png_plot(out, &p, why, n) : -1;
    pl_free(x);
    pl_free(y);
    pl_curves_free(&c);
    return rc;
}
