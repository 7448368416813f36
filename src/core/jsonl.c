/* A reader for metrics.jsonl lines (see jsonl.h): a recursive-descent
 * parser over one flat object. Decoded strings are never longer than their
 * quoted form, so one buffer of the line's length holds every key and
 * string with its terminator. */
#include "plastic/jsonl.h"

#include "plastic/common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *s;
    size_t len, at;
    char *out; /* next free byte of the text buffer */
    char *why;
    size_t n;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->why, p->n, "column %zu: %s", p->at + 1, msg);
    return 1;
}

static int peek(const struct parser *p) { return p->at < p->len ? (unsigned char)p->s[p->at] : -1; }

static void skip_space(struct parser *p)
{
    while (p->at < p->len && strchr(" \t\r\n", p->s[p->at]) && p->s[p->at])
        p->at++;
}

/* What is at the current position, for messages. */
static const char *what(const struct parser *p)
{
    int c = peek(p);
    if (c < 0)
        return "the end of the line";
    static char buf[16];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, sizeof buf, "'%c'", c);
    else
        snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

static int hex4(struct parser *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = peek(p);
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(p, "expected 4 hex digits after \\u, found %s", what(p));
        *v = *v << 4 | d;
        p->at++;
    }
    return 0;
}

static void put_utf8(struct parser *p, unsigned cp)
{
    if (cp < 0x80) {
        *p->out++ = (char)cp;
    } else if (cp < 0x800) {
        *p->out++ = (char)(0xC0 | cp >> 6);
        *p->out++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *p->out++ = (char)(0xE0 | cp >> 12);
        *p->out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *p->out++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *p->out++ = (char)(0xF0 | cp >> 18);
        *p->out++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *p->out++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *p->out++ = (char)(0x80 | (cp & 0x3F));
    }
}

/* \uXXXX, the \u already read; a high surrogate must be followed by a low one. */
static int unicode_escape(struct parser *p)
{
    size_t start = p->at - 2;
    unsigned cp;
    if (hex4(p, &cp))
        return 1;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        p->at = start;
        return fail(p, "\\u%04X is the second half of a surrogate pair, alone", cp);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (peek(p) != '\\' || p->at + 1 >= p->len || p->s[p->at + 1] != 'u') {
            p->at = start;
            return fail(p, "\\u%04X is the first half of a surrogate pair, alone", cp);
        }
        p->at += 2;
        if (hex4(p, &lo))
            return 1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
            p->at = start;
            return fail(p, "\\u%04X is not followed by the second half of its surrogate pair",
                        cp);
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) {
        p->at = start;
        return fail(p, "\\u0000 (a NUL character) is not supported");
    }
    put_utf8(p, cp);
    return 0;
}

/* A quoted string, decoded into the text buffer; *s points at it. */
static int string(struct parser *p, const char **s)
{
    if (peek(p) != '"')
        return fail(p, "expected '\"', found %s", what(p));
    p->at++;
    *s = p->out;
    for (;;) {
        int c = peek(p);
        if (c < 0)
            return fail(p, "the string is not closed");
        if (c == '"') {
            p->at++;
            *p->out++ = '\0';
            return 0;
        }
        if (c < 0x20)
            return fail(p, "control character 0x%02x in a string (it must be escaped)", c);
        p->at++;
        if (c != '\\') {
            *p->out++ = (char)c;
            continue;
        }
        int e = peek(p);
        if (e < 0)
            return fail(p, "the string is not closed");
        p->at++;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = e > 0 ? strchr(from, e) : NULL; /* e = 0 would find the terminator */
        if (k) {
            *p->out++ = to[k - from];
        } else if (e == 'u') {
            if (unicode_escape(p))
                return 1;
        } else {
            p->at--;
            return fail(p, "unknown escape: backslash, then %s", what(p));
        }
    }
}

static int digits(struct parser *p)
{
    size_t from = p->at;
    while (peek(p) >= '0' && peek(p) <= '9')
        p->at++;
    return p->at > from;
}

/* JSON's number grammar, checked before strtod reads the same span. */
static int number(struct parser *p, double *v)
{
    size_t start = p->at;
    if (peek(p) == '-')
        p->at++;
    if (peek(p) == '0')
        p->at++;
    else if (!digits(p))
        return fail(p, "expected a digit, found %s", what(p));
    if (peek(p) == '.') {
        p->at++;
        if (!digits(p))
            return fail(p, "expected a digit after '.', found %s", what(p));
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->at++;
        if (peek(p) == '+' || peek(p) == '-')
            p->at++;
        if (!digits(p))
            return fail(p, "expected a digit in the exponent, found %s", what(p));
    }
    size_t end = p->at, span = end - start;
    char small[64], *buf = span < sizeof small ? small : pl_alloc(span + 1);
    memcpy(buf, p->s + start, span); /* the line need not be NUL-terminated */
    buf[span] = '\0';
    *v = strtod(buf, NULL);
    if (buf != small)
        pl_free(buf);
    return 0;
}

static int literal(struct parser *p, const char *word)
{
    size_t k = strlen(word);
    if (p->len - p->at < k || memcmp(p->s + p->at, word, k) != 0)
        return fail(p, "expected a value, found %s", what(p));
    p->at += k;
    return 0;
}

static int value(struct parser *p, struct pl_jsonl_field *f)
{
    int c = peek(p);
    f->string = NULL;
    f->number = NAN;
    if (c == '"') {
        f->kind = PL_JSONL_STRING;
        return string(p, &f->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        f->kind = PL_JSONL_NUMBER;
        return number(p, &f->number);
    }
    if (c == 't') {
        f->kind = PL_JSONL_TRUE;
        return literal(p, "true");
    }
    if (c == 'f') {
        f->kind = PL_JSONL_FALSE;
        return literal(p, "false");
    }
    if (c == 'n') {
        f->kind = PL_JSONL_NULL;
        return literal(p, "null");
    }
    if (c == '{' || c == '[')
        return fail(p, "nested objects and arrays are not read (records hold none)");
    return fail(p, "expected a value, found %s", what(p));
}

static struct pl_jsonl_field *add_field(struct pl_jsonl_object *o, int *cap)
{
    if (o->n == *cap) {
        int bigger = *cap ? 2 * *cap : 16;
        struct pl_jsonl_field *f = pl_alloc((size_t)bigger * sizeof *f);
        if (o->n)
            memcpy(f, o->fields, (size_t)o->n * sizeof *f);
        pl_free(o->fields);
        o->fields = f;
        *cap = bigger;
    }
    return &o->fields[o->n++];
}

static int object(struct parser *p, struct pl_jsonl_object *o)
{
    int cap = 0;
    skip_space(p);
    if (peek(p) != '{')
        return fail(p, "expected '{' (a record is one JSON object), found %s", what(p));
    p->at++;
    skip_space(p);
    if (peek(p) == '}') {
        p->at++;
    } else {
        for (;;) {
            struct pl_jsonl_field *f = add_field(o, &cap);
            if (peek(p) != '"')
                return fail(p, "expected a key in quotes, found %s", what(p));
            if (string(p, &f->key))
                return 1;
            skip_space(p);
            if (peek(p) != ':')
                return fail(p, "expected ':' after the key \"%.40s\", found %s", f->key, what(p));
            p->at++;
            skip_space(p);
            if (value(p, f))
                return 1;
            skip_space(p);
            if (peek(p) == '}') {
                p->at++;
                break;
            }
            if (peek(p) != ',')
                return fail(p, "expected ',' or '}', found %s", what(p));
            p->at++;
            skip_space(p);
        }
    }
    skip_space(p);
    if (p->at < p->len)
        return fail(p, "%s after the end of the object", what(p));
    return 0;
}

int pl_jsonl_parse(const char *line, size_t len, struct pl_jsonl_object *o, char *why, size_t n)
{
    memset(o, 0, sizeof *o);
    o->text = pl_alloc(len + 1);
    struct parser p = {line ? line : "", line ? len : 0, 0, o->text, why, n};
    if (object(&p, o) == 0)
        return 0;
    pl_jsonl_free(o);
    return 1;
}

void pl_jsonl_free(struct pl_jsonl_object *o)
{
    pl_free(o->fields);
    pl_free(o->text);
    memset(o, 0, sizeof *o);
}

const struct pl_jsonl_field *pl_jsonl_get(const struct pl_jsonl_object *o, const char *key)
{
    for (int i = o->n - 1; i >= 0; i--)
        if (!strcmp(o->fields[i].key, key))
            return &o->fields[i];
    return NULL;
}

double pl_jsonl_number(const struct pl_jsonl_object *o, const char *key)
{
    const struct pl_jsonl_field *f = pl_jsonl_get(o, key);
    return f && f->kind == PL_JSONL_NUMBER ? f->number : NAN;
}

const char *pl_jsonl_string(const struct pl_jsonl_object *o, const char *key)
{
    const struct pl_jsonl_field *f = pl_jsonl_get(o, key);
    return f && f->kind == PL_JSONL_STRING ? f->string : NULL;
}
