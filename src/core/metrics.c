/* metrics.jsonl records and duration strings.
 *
 * A record is built field by field in a fixed buffer. Each field is appended
 * whole or not at all: when one does not fit, the buffer is rolled back to
 * the end of the previous field and the record is marked overflowed, so the
 * buffer always holds a valid prefix of a JSON object. Room for the closing
 * "}\n" is always kept, so pl_json_end cannot fail. */
#include "plastic/metrics.h"

#include "plastic/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

/* Bytes kept free for "}\n" and the terminating NUL. */
#define TAIL 3
#define LIMIT ((int)sizeof(((pl_json *)0)->buf) - TAIL)

static int put(pl_json *j, const char *s, size_t n)
{
    if (j->overflow || n > (size_t)(LIMIT - j->len)) {
        j->overflow = 1;
        return -1;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += (int)n;
    j->buf[j->len] = '\0';
    return 0;
}

static int putf(pl_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int putf(pl_json *j, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof tmp) {
        j->overflow = 1;
        return -1;
    }
    return put(j, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7Fu >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the NUL terminator */
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Appends s as a quoted JSON string. Bytes that are not valid UTF-8 become
 * U+FFFD so the line stays parseable. */
static int put_string(pl_json *j, const char *str)
{
    if (!str)
        return put(j, "null", 4);
    if (put(j, "\"", 1))
        return -1;
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        const unsigned char *run = s;
        /* copy plain runs in one go */
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        if (s > run && put(j, (const char *)run, (size_t)(s - run)))
            return -1;
        if (!*s)
            break;
        unsigned char c = *s;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\t': esc = "\\t"; break;
        case '\r': esc = "\\r"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        int rc;
        if (esc) {
            rc = put(j, esc, 2);
            s++;
        } else if (c < 0x20) {
            rc = putf(j, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_len(s);
            if (n) {
                rc = put(j, (const char *)s, (size_t)n);
                s += n;
            } else {
                rc = put(j, "\\ufffd", 6);
                s++;
            }
        }
        if (rc)
            return -1;
    }
    return put(j, "\"", 1);
}

/* Starts a field: returns the rollback mark, or -1 if the record already
 * overflowed (later fields are dropped too; the record will not be written). */
static int field_begin(pl_json *j, const char *key)
{
    if (j->overflow)
        return -1;
    int mark = j->len;
    if (put(j, ",", 1) || put_string(j, key ? key : "") || put(j, ":", 1)) {
        j->len = mark;
        j->buf[mark] = '\0';
        return -1;
    }
    return mark;
}

static void field_end(pl_json *j, int mark, int rc)
{
    if (rc) {
        j->len = mark;
        j->buf[mark] = '\0';
        j->overflow = 1;
    }
}

void pl_json_begin(pl_json *j, const char *event)
{
    j->len = 0;
    j->overflow = 0;
    j->buf[0] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* "{" is always kept; if even the event name does not fit, the record
     * is "{" plus overflow, which pl_json_end turns into "{}\n". */
    put(j, "{", 1);
    int mark = j->len;
    int rc = put(j, "\"event\":", 8) || put_string(j, event) ||
             putf(j, ",\"time\":%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000L);
    field_end(j, mark, rc);
}

void pl_json_str(pl_json *j, const char *key, const char *value)
{
    int mark = field_begin(j, key);
    if (mark >= 0)
        field_end(j, mark, put_string(j, value));
}

void pl_json_int(pl_json *j, const char *key, long value)
{
    int mark = field_begin(j, key);
    if (mark >= 0)
        field_end(j, mark, putf(j, "%ld", value));
}

void pl_json_num(pl_json *j, const char *key, double value)
{
    int mark = field_begin(j, key);
    if (mark < 0)
        return;
    if (isfinite(value))
        field_end(j, mark, putf(j, "%.10g", value));
    else
        field_end(j, mark, put(j, "null", 4));
}

void pl_json_end(pl_json *j)
{
    /* TAIL bytes are reserved, so this always fits. */
    if (j->len > 0 && j->buf[j->len - 1] == '\n')
        return; /* already closed */
    memcpy(j->buf + j->len, "}\n", 3);
    j->len += 2;
}

int pl_metrics_open(pl_metrics *m, const char *path)
{
    m->file = NULL;
    if (!path || !*path) {
        pl_error("metrics: no file name given");
        return 1;
    }
    /* "a+": every write goes to the end, and the last byte can be read. */
    FILE *f = fopen(path, "a+");
    if (!f) {
        pl_error("cannot open metrics file '%s': %s", path, strerror(errno));
        return 1;
    }
    /* A record cut short by a crash (for instance disk full) must not glue
     * itself to the first record of this run: end it with a newline. */
    if (fseek(f, -1, SEEK_END) == 0) {
        int last = fgetc(f);
        if (last != EOF && last != '\n') {
            fseek(f, 0, SEEK_END);
            if (fputc('\n', f) == EOF || fflush(f) != 0) {
                pl_error("cannot write metrics file '%s': %s", path, strerror(errno));
                fclose(f);
                return 1;
            }
        }
    }
    fseek(f, 0, SEEK_END);
    m->file = f;
    return 0;
}

void pl_metrics_write(pl_metrics *m, const pl_json *j)
{
    if (!m || !m->file)
        return;
    if (j->overflow) {
        pl_error("metrics record too long (over %d bytes), not written: %.60s",
                 (int)sizeof j->buf, j->buf);
        return;
    }
    if (j->len < 2 || j->buf[j->len - 1] != '\n') {
        pl_error("metrics record not closed with pl_json_end, not written: %.60s", j->buf);
        return;
    }
    size_t n = fwrite(j->buf, 1, (size_t)j->len, m->file);
    if (n != (size_t)j->len || fflush(m->file) != 0)
        pl_error("cannot write metrics record: %s", strerror(errno));
}

void pl_metrics_close(pl_metrics *m)
{
    if (!m || !m->file)
        return;
    if (fclose(m->file) != 0)
        pl_error("cannot close metrics file: %s", strerror(errno));
    m->file = NULL;
}

void pl_format_duration(double seconds, char *buf, int size)
{
    if (!buf || size <= 0)
        return;
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, (size_t)size, "?");
        return;
    }
    seconds += 0.0; /* -0.0 -> 0.0, so it prints as "0.0s" */
    if (seconds < 59.95) { /* below this, "%.1f" does not round up to 60.0 */
        snprintf(buf, (size_t)size, "%.1fs", seconds);
        return;
    }
    double whole = floor(seconds + 0.5);
    if (whole < 3600) {
        int s = (int)whole;
        snprintf(buf, (size_t)size, "%dm%02ds", s / 60, s % 60);
        return;
    }
    double minutes = floor(seconds / 60 + 0.5);
    double rest = fmod(minutes, 60); /* exact, in [0, 60) */
    snprintf(buf, (size_t)size, "%.0fh%02dm", (minutes - rest) / 60, (int)rest);
}
