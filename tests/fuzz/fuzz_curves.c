/* Fuzz harness: metrics.jsonl read back for learning curves
 * (pl_jsonl_parse on each line, pl_curves_read on the file, and the run's
 * chart, pl_curves_run_png).
 *
 * Input: the file's bytes.
 * Properties:
 *   - a line is accepted or refused with a message naming its column, and
 *     a refused line leaves no fields;
 *   - an accepted line, written again as JSON from its fields, parses to
 *     the same fields (keys, kinds, strings, numbers bit for bit);
 *   - the file is read exactly when every line parses (an empty file too),
 *     else the message names the file and a line of it;
 *   - curves read hold at most 8 phases, epochs strictly increasing from 1
 *     (each phase's epochs once, counting on from the phase before);
 *   - the chart is drawn, or not drawn when there is nothing to draw, or
 *     refused with a message naming the picture. */
#include "support.h"

#include "plastic/common.h"
#include "plastic/curves.h"
#include "plastic/jsonl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A growing string. */
struct buf {
    char *s;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        b->s = realloc(b->s, b->cap);
        FUZZ_CHECK(b->s != NULL, "out of memory");
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void put_string(struct buf *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_value(struct buf *b, const struct pl_jsonl_field *f)
{
    char num[64];
    switch (f->kind) {
    case PL_JSONL_NULL: put(b, "null", 4); break;
    case PL_JSONL_TRUE: put(b, "true", 4); break;
    case PL_JSONL_FALSE: put(b, "false", 5); break;
    case PL_JSONL_STRING: put_string(b, f->string); break;
    case PL_JSONL_NUMBER:
        if (isinf(f->number))
            snprintf(num, sizeof num, "%s1e999", f->number < 0 ? "-" : "");
        else
            snprintf(num, sizeof num, "%.17g", f->number);
        put(b, num, strlen(num));
        break;
    }
}

static void check_line(const char *line, size_t len)
{
    struct pl_jsonl_object o;
    char why[512];
    if (pl_jsonl_parse(line, len, &o, why, sizeof why)) {
        FUZZ_CHECK(o.n == 0 && !o.fields && !o.text, "a refused line left fields");
        FUZZ_CHECK(!strncmp(why, "column ", 7), "a refusal without its column: %s", why);
        return;
    }
    struct buf b = {0};
    put(&b, "{", 1);
    for (int i = 0; i < o.n; i++) {
        if (i)
            put(&b, ",", 1);
        put_string(&b, o.fields[i].key);
        put(&b, ":", 1);
        put_value(&b, &o.fields[i]);
    }
    put(&b, "}", 1);
    struct pl_jsonl_object again;
    FUZZ_CHECK(pl_jsonl_parse(b.s, b.len, &again, why, sizeof why) == 0,
               "the line written again is refused: %s\n%s", why, b.s);
    FUZZ_CHECK(again.n == o.n, "%d fields, then %d", o.n, again.n);
    for (int i = 0; i < o.n; i++) {
        const struct pl_jsonl_field *x = &o.fields[i], *y = &again.fields[i];
        FUZZ_CHECK(!strcmp(x->key, y->key) && x->kind == y->kind, "field %d differs", i);
        FUZZ_CHECK(x->kind != PL_JSONL_STRING || !strcmp(x->string, y->string),
                   "string %d differs", i);
        FUZZ_CHECK(x->kind != PL_JSONL_NUMBER || !memcmp(&x->number, &y->number, sizeof x->number),
                   "number %d differs: %.17g, then %.17g", i, x->number, y->number);
    }
    pl_jsonl_free(&again);
    pl_jsonl_free(&o);
    free(b.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const char *text = (const char *)data;
    int lines_ok = 1;
    for (size_t at = 0; at < size;) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - text) + 1 : size;
        struct pl_jsonl_object o;
        char why[512];
        lines_ok &= pl_jsonl_parse(text + at, end - at, &o, why, sizeof why) == 0;
        pl_jsonl_free(&o);
        check_line(text + at, end - at);
        at = end;
    }

    fuzz_remove("run/metrics.jsonl");
    fuzz_remove("run/curves.png");
    fuzz_remove("run");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", fuzz_path("run"));
    FUZZ_CHECK(mkdir(dir, 0700) == 0, "cannot make %s", dir);
    const char *path = fuzz_write("run/metrics.jsonl", data, size);
    struct pl_curves c;
    char why[4096];
    int rc = pl_curves_read(path, &c, why, sizeof why);
    if (rc) {
        char head[1200];
        snprintf(head, sizeof head, "%s:", path);
        FUZZ_CHECK(!strncmp(why, head, strlen(head)), "a refusal not naming the file: %s", why);
        FUZZ_CHECK(!lines_ok || strstr(why, "epoch") || strstr(why, "event") ||
                       strstr(why, "phase") || strstr(why, "error"),
                   "every line parses, yet: %s", why);
    } else {
        FUZZ_CHECK(lines_ok, "a file with a malformed line was read");
        FUZZ_CHECK(c.nphases <= 8 && c.n >= 0, "%d phases, %ld epochs", c.nphases, c.n);
        for (long i = 0; i < c.n; i++)
            FUZZ_CHECK(c.epoch[i] >= 1 && (i == 0 || c.epoch[i] > c.epoch[i - 1]),
                       "epoch %ld is %g after %g", i, c.epoch[i], i ? c.epoch[i - 1] : 0.0);
    }
    pl_curves_free(&c);
    if (rc == 0) {
        const char *png = fuzz_path("run/curves.png");
        int drawn = pl_curves_run_png(dir, png, why, sizeof why);
        FUZZ_CHECK(drawn == 0 || drawn == -1 || (drawn == 1 && strstr(why, png)),
                   "the chart: %d, %s", drawn, why);
    }
    fuzz_remove("run/curves.png");
    fuzz_remove("run/metrics.jsonl");
    fuzz_remove("run");
    return 0;
}
