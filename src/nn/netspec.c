/* net.layers: parser, shape inference and checks. The grammar is in
 * netspec.h. The parser is recursive descent over tokens "(", ")", "," and
 * words (runs of other non-space characters); a res block becomes its
 * layers followed by an add layer. */
#include "plastic/nn/netspec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plastic/common.h"

enum {
    MAX_LAYERS = 4096, /* after repeats */
    MAX_UNITS = 1 << 24,
    MAX_KERNEL = 1024,
    MAX_MAPS = 1024,   /* pconv's noise maps per input channel */
    MAX_DEPTH = 32,    /* nested res blocks */
    WORD_MAX = 32,
    MAX_WORDS = 8,     /* of one entry */
    QUOTE_MAX = 80     /* characters of the text an error message quotes */
};

#define KINDS "dense|conv|pool|dropout|pconv|res( ... )"
#define PCONV_NOISE 0.1f /* pconv's noise std unless "nS" says */

struct parser {
    pl_netspec *s;
    const char *text;
    int pos;
    char *err;
    size_t errsize;
    int cap_layers, cap_entries, cap_blocks;
};

struct token {
    int start, len; /* len 0: end of text */
};

/* The user's text in quotes for an error message: 'dense 5 tanh', cut to
 * QUOTE_MAX characters and marked ...' when longer, so that the reason
 * after it still fits the caller's buffer. The struct is a temporary that
 * lives until the end of the printf call it is passed to. */
struct quoted {
    char s[QUOTE_MAX + 8];
};

static struct quoted quote(const char *text, int len)
{
    struct quoted q;
    if (len <= QUOTE_MAX)
        snprintf(q.s, sizeof q.s, "'%.*s'", len, text);
    else
        snprintf(q.s, sizeof q.s, "'%.*s...'", QUOTE_MAX - 3, text);
    return q;
}

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errsize, fmt, ap);
    va_end(ap);
    return -1;
}

static struct token peek(const struct parser *p)
{
    int i = p->pos;
    while (p->text[i] == ' ')
        i++;
    struct token t = {i, 0};
    if (p->text[i] == '\0')
        return t;
    if (strchr("(),", p->text[i])) {
        t.len = 1;
        return t;
    }
    while (p->text[i + t.len] != '\0' && !strchr(" (),", p->text[i + t.len]))
        t.len++;
    return t;
}

static struct token next(struct parser *p)
{
    struct token t = peek(p);
    p->pos = t.start + t.len;
    return t;
}

static int is(const struct parser *p, struct token t, const char *word)
{
    return t.len == (int)strlen(word) && strncmp(p->text + t.start, word, (size_t)t.len) == 0;
}

static int is_word(const struct parser *p, struct token t)
{
    return t.len > 0 && !strchr("(),", p->text[t.start]);
}

/* ---- growing arrays ---- */

static void *grow(void *old, int count, int *cap, size_t size)
{
    if (count < *cap)
        return old;
    int ncap = *cap ? 2 * *cap : 16;
    void *fresh = pl_alloc((size_t)ncap * size);
    if (old)
        memcpy(fresh, old, (size_t)*cap * size);
    pl_free(old);
    *cap = ncap;
    return fresh;
}

static int add_layer(struct parser *p, const pl_layer_spec *l)
{
    pl_netspec *s = p->s;
    if (s->nlayers >= MAX_LAYERS)
        return fail(p, "more than %d layers", MAX_LAYERS);
    s->layers = grow(s->layers, s->nlayers, &p->cap_layers, sizeof *s->layers);
    s->layers[s->nlayers++] = *l;
    return 0;
}

static int add_span(struct pl_span **spans, int *n, int *cap, int start, int len)
{
    *spans = grow(*spans, *n, cap, sizeof **spans);
    (*spans)[*n] = (struct pl_span){start, len};
    return (*n)++;
}

/* ---- numbers ---- */

/* A whole word of decimal digits in [1, max]; -1 otherwise. */
static long word_int(const char *w, long max)
{
    if (!isdigit((unsigned char)w[0]))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(w, &end, 10);
    if (*end != '\0' || errno == ERANGE || v < 1 || v > max)
        return -1;
    return v;
}

/* "x4": a repeat count. */
static long repeat_count(const char *w)
{
    return w[0] == 'x' ? word_int(w + 1, MAX_LAYERS) : -1;
}

/* "5x5" or "5": a kernel. */
static int kernel(const char *w, int *kh, int *kw)
{
    char a[WORD_MAX];
    snprintf(a, sizeof a, "%s", w);
    char *x = strchr(a, 'x');
    if (x)
        *x = '\0';
    long h = word_int(a, MAX_KERNEL), v = x ? word_int(x + 1, MAX_KERNEL) : h;
    if (h < 0 || v < 0)
        return -1;
    *kh = (int)h;
    *kw = (int)v;
    return 0;
}

/* "s" and a digit: meant as a stride. */
static int looks_like_stride(const char *w)
{
    return w[0] == 's' && isdigit((unsigned char)w[1]);
}

/* ---- one layer entry ---- */

/* "n0.1": a pconv's noise std, > 0 and finite as a float; -1 otherwise. */
static double noise_std(const char *w)
{
    if (w[0] != 'n' || w[1] == '\0' || isspace((unsigned char)w[1]))
        return -1.0;
    char *end;
    double v = strtod(w + 1, &end);
    float f = (float)v;
    return *end == '\0' && f > 0.0f && isfinite(f) ? v : -1.0;
}

/* "m" and a digit: meant as a number of noise maps. */
static int looks_like_maps(const char *w)
{
    return w[0] == 'm' && isdigit((unsigned char)w[1]);
}

/* The words of a pconv entry after its kind: "K mM [nS] [ACT]". */
static int parse_pconv(struct parser *p, const char *name, char words[][WORD_MAX], int nwords,
                       pl_layer_spec *l)
{
    int w = 1;
    l->kind = PL_LAYER_PCONV;
    l->noise = PCONV_NOISE;
    long units = w < nwords ? word_int(words[w], MAX_UNITS) : -1;
    if (units < 0)
        return fail(p, "%s: expected the number of channels after 'pconv' (1 to %d), got '%s'",
                    name, MAX_UNITS, w < nwords ? words[w] : "");
    l->units = (int)units;
    w++;
    if (w >= nwords || words[w][0] != 'm')
        return fail(p, "%s: expected the noise maps per input channel, such as m8, after the "
                    "channels, got '%s'", name, w < nwords ? words[w] : "");
    l->maps = (int)word_int(words[w] + 1, MAX_MAPS);
    if (l->maps < 0)
        return fail(p, "%s: bad number of noise maps '%s' (m1 to m%d)", name, words[w],
                    MAX_MAPS);
    int have_act = 0, have_noise = 0;
    for (w++; w < nwords; w++) {
        int a = pl_act_parse_power(words[w], &l->power);
        if (a >= 0) {
            if (have_act)
                return fail(p, "%s: 'activation' given twice", name);
            l->act = (pl_act)a;
            have_act = 1;
        } else if (words[w][0] == 'n') {
            double v = noise_std(words[w]);
            if (v < 0.0)
                return fail(p, "%s: bad noise std '%s' (n and a number > 0, e.g. n0.1)", name,
                            words[w]);
            if (have_noise)
                return fail(p, "%s: 'noise std' given twice", name);
            l->noise = (float)v;
            have_noise = 1;
        } else if (looks_like_maps(words[w])) {
            return fail(p, "%s: 'noise maps' given twice", name);
        } else if (isalpha((unsigned char)words[w][0]) && !isdigit((unsigned char)words[w][1])) {
            return fail(p, "%s: unknown activation '%s' (%s)", name, words[w], PL_ACT_NAMES);
        } else {
            return fail(p, "%s: unexpected '%s'", name, words[w]);
        }
    }
    return 0;
}

/* The words of entry e (after its kind) fill l; errors name the entry. */
static int parse_layer(struct parser *p, int e, char words[][WORD_MAX], int nwords,
                       pl_layer_spec *l)
{
    const struct pl_span *sp = &p->s->entries[e];
    char name[QUOTE_MAX + 32];
    snprintf(name, sizeof name, "entry %d %s", e + 1, quote(p->text + sp->start, sp->len).s);
    memset(l, 0, sizeof *l);
    l->act = PL_ACT_LINEAR;
    l->stride = 1;
    l->entry = e + 1;
    l->from = -1;
    const char *kind = words[0];
    int w = 1;
    if (strcmp(kind, "pconv") == 0)
        return parse_pconv(p, name, words, nwords, l);
    if (strcmp(kind, "dense") == 0 || strcmp(kind, "conv") == 0) {
        int conv = kind[0] == 'c';
        l->kind = conv ? PL_LAYER_CONV : PL_LAYER_DENSE;
        long units = w < nwords ? word_int(words[w], MAX_UNITS) : -1;
        if (units < 0)
            return fail(p, "%s: expected the number of %s after '%s' (1 to %d), got '%s'", name,
                        conv ? "channels" : "units", kind, MAX_UNITS, w < nwords ? words[w] : "");
        l->units = (int)units;
        w++;
        if (conv) {
            if (w >= nwords || kernel(words[w], &l->k_h, &l->k_w))
                return fail(p, "%s: expected a kernel such as 5x5 or 3 after the channels, got '%s'",
                            name, w < nwords ? words[w] : "");
            w++;
        }
        int have_act = 0, have_stride = 0;
        for (; w < nwords; w++) {
            if (conv && looks_like_stride(words[w]) && word_int(words[w] + 1, MAX_KERNEL) < 0)
                return fail(p, "%s: bad stride '%s' (s1 to s%d)", name, words[w], MAX_KERNEL);
            int a = pl_act_parse_power(words[w], &l->power);
            long stride = words[w][0] == 's' ? word_int(words[w] + 1, MAX_KERNEL) : -1;
            if (a >= 0 && !have_act) {
                l->act = (pl_act)a;
                have_act = 1;
            } else if (conv && stride > 0 && !have_stride) {
                l->stride = (int)stride;
                have_stride = 1;
            } else if (a >= 0 || (conv && stride > 0)) {
                return fail(p, "%s: '%s' given twice", name, a >= 0 ? "activation" : "stride");
            } else if (isalpha((unsigned char)words[w][0])) {
                return fail(p, "%s: unknown activation '%s' (%s)", name, words[w], PL_ACT_NAMES);
            } else {
                return fail(p, "%s: unexpected '%s'", name, words[w]);
            }
        }
        return 0;
    }
    if (strcmp(kind, "pool") == 0) {
        l->kind = PL_LAYER_POOL;
        if (w >= nwords || kernel(words[w], &l->k_h, &l->k_w))
            return fail(p, "%s: expected a window such as 2 or 2x2 after 'pool', got '%s'", name,
                        w < nwords ? words[w] : "");
        l->stride = l->k_h < l->k_w ? l->k_h : l->k_w;
        w++;
        if (w < nwords && looks_like_stride(words[w]) && word_int(words[w] + 1, MAX_KERNEL) < 0)
            return fail(p, "%s: bad stride '%s' (s1 to s%d)", name, words[w], MAX_KERNEL);
        if (w < nwords && words[w][0] == 's' && word_int(words[w] + 1, MAX_KERNEL) > 0)
            l->stride = (int)word_int(words[w++] + 1, MAX_KERNEL);
        if (w < nwords)
            return fail(p, "%s: unexpected '%s' (pool takes a window and a stride sN)", name,
                        words[w]);
        return 0;
    }
    if (strcmp(kind, "dropout") == 0) {
        l->kind = PL_LAYER_DROPOUT;
        char *end = NULL;
        double v = w < nwords ? strtod(words[w], &end) : -1.0;
        if (w >= nwords || *end != '\0' || !(v >= 0.0 && v < 1.0))
            return fail(p, "%s: expected a probability 0 <= p < 1 after 'dropout', got '%s'", name,
                        w < nwords ? words[w] : "");
        l->p = (float)v;
        if (++w < nwords)
            return fail(p, "%s: unexpected '%s'", name, words[w]);
        return 0;
    }
    return fail(p, "%s: unknown layer '%s' (%s)", name, kind, KINDS);
}

/* Appends copies 2..n of layers [first, end): add layers refer to layers
 * inside their copy. */
static int repeat_layers(struct parser *p, int first, long n)
{
    int end = p->s->nlayers;
    for (long r = 1; r < n; r++) {
        int shift = p->s->nlayers - first;
        for (int i = first; i < end; i++) {
            pl_layer_spec l = p->s->layers[i];
            if (l.kind == PL_LAYER_ADD)
                l.from += shift;
            if (add_layer(p, &l))
                return -1;
        }
    }
    return 0;
}

/* A repeat count "xN" right after an item, if any: 1 otherwise. */
static long optional_repeat(struct parser *p, const char *what)
{
    struct token t = peek(p);
    if (!is_word(p, t) || p->text[t.start] != 'x')
        return 1;
    char w[WORD_MAX];
    snprintf(w, sizeof w, "%.*s", t.len < WORD_MAX ? t.len : WORD_MAX - 1, p->text + t.start);
    long n = repeat_count(w);
    if (n < 0 || t.len >= WORD_MAX)
        return fail(p, "%s: bad repeat count %s (x1 to x%d)", what,
                    quote(p->text + t.start, t.len).s, MAX_LAYERS);
    next(p);
    return n;
}

static int parse_list(struct parser *p, int depth);

static int unexpected(struct parser *p, struct token t)
{
    if (p->s->nentries == 0)
        return fail(p, "unexpected %s at the start", quote(p->text + t.start, t.len).s);
    return fail(p, "unexpected %s after entry %d", quote(p->text + t.start, t.len).s,
                p->s->nentries);
}

static int parse_block(struct parser *p, int depth, struct token res)
{
    if (depth >= MAX_DEPTH)
        return fail(p, "res blocks nested more than %d deep", MAX_DEPTH);
    if (!is(p, next(p), "("))
        return fail(p, "expected '(' after 'res' (res( layers ), as in res( dense 256 tanh ))");
    int first = p->s->nlayers, entries0 = p->s->nentries;
    if (parse_list(p, depth + 1))
        return -1;
    struct token close = next(p);
    if (!is(p, close, ")"))
        return fail(p, "a res block after entry %d lacks its ')'", p->s->nentries);
    int b = add_span(&p->s->blocks, &p->s->nblocks, &p->cap_blocks, res.start,
                     close.start + 1 - res.start);
    char what[64];
    snprintf(what, sizeof what, "res block of entries %d-%d", entries0 + 1, p->s->nentries);
    long n = optional_repeat(p, what);
    if (n < 0)
        return -1;
    if (n > 1) /* the block's text includes its repeat count */
        p->s->blocks[b].len = p->pos - res.start;
    pl_layer_spec add = {.kind = PL_LAYER_ADD, .act = PL_ACT_LINEAR, .from = first - 1,
                         .entry = p->s->nentries, .block = b, .stride = 1};
    if (add_layer(p, &add))
        return -1;
    return repeat_layers(p, first, n);
}

static int parse_entry(struct parser *p)
{
    char words[MAX_WORDS][WORD_MAX];
    int nwords = 0;
    int start = peek(p).start, end = start;
    for (struct token t = peek(p); is_word(p, t); t = peek(p)) {
        next(p);
        end = t.start + t.len;
        if (nwords == MAX_WORDS || t.len >= WORD_MAX) {
            nwords = -1; /* reported below, once the entry's text is known */
            continue;
        }
        if (nwords >= 0)
            snprintf(words[nwords++], WORD_MAX, "%.*s", t.len, p->text + t.start);
    }
    int e = add_span(&p->s->entries, &p->s->nentries, &p->cap_entries, start, end - start);
    if (nwords == 0)
        return fail(p, "entry %d is empty (a comma too many?)", e + 1);
    if (nwords < 0)
        return fail(p, "entry %d %s: too long (at most %d words of at most %d characters)",
                    e + 1, quote(p->text + start, end - start).s, MAX_WORDS, WORD_MAX - 1);
    long n = 1;
    if (nwords > 1 && repeat_count(words[nwords - 1]) > 0)
        n = repeat_count(words[--nwords]);
    else if (nwords > 1 && words[nwords - 1][0] == 'x' && isdigit((unsigned char)words[nwords - 1][1]))
        return fail(p, "entry %d %s: bad repeat count '%s' (x1 to x%d)", e + 1,
                    quote(p->text + start, end - start).s, words[nwords - 1], MAX_LAYERS);
    pl_layer_spec l;
    if (parse_layer(p, e, words, nwords, &l))
        return -1;
    int first = p->s->nlayers;
    if (add_layer(p, &l))
        return -1;
    return repeat_layers(p, first, n);
}

static int parse_list(struct parser *p, int depth)
{
    for (;;) {
        struct token t = peek(p);
        if (is(p, t, "res")) {
            next(p);
            if (parse_block(p, depth, t))
                return -1;
        } else if (is(p, t, "(")) {
            return unexpected(p, t);
        } else if (parse_entry(p)) { /* also reports an empty one, as in "res()" */
            return -1;
        }
        t = peek(p);
        if (!is(p, t, ","))
            return 0;
        next(p);
    }
}

/* Collapses runs of white space into one space and trims both ends. */
static char *normalise(const char *text)
{
    char *out = pl_alloc(strlen(text) + 1);
    size_t n = 0;
    for (const char *c = text; *c; c++) {
        if (isspace((unsigned char)*c)) {
            if (n > 0 && out[n - 1] != ' ')
                out[n++] = ' ';
        } else {
            out[n++] = *c;
        }
    }
    if (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

int pl_netspec_parse(pl_netspec *s, const char *text, char *err, size_t errsize)
{
    memset(s, 0, sizeof *s);
    s->text = normalise(text);
    struct parser p = {.s = s, .text = s->text, .err = err, .errsize = errsize};
    if (s->text[0] == '\0') {
        snprintf(err, errsize, "no layers");
        pl_netspec_free(s);
        return -1;
    }
    int rc = parse_list(&p, 0);
    if (rc == 0 && peek(&p).len > 0)
        rc = unexpected(&p, peek(&p));
    if (rc)
        pl_netspec_free(s);
    return rc;
}

int pl_netspec_check(const char *text, char *err, size_t errsize)
{
    pl_netspec s;
    if (pl_netspec_parse(&s, text, err, errsize))
        return -1;
    pl_netspec_free(&s);
    return 0;
}

int pl_netspec_canonical(const char *text, char *out, size_t size, char *err, size_t errsize)
{
    pl_netspec s;
    if (pl_netspec_parse(&s, text, err, errsize))
        return -1;
    struct parser p = {.s = &s, .text = s.text};
    size_t n = 0;
    int glue = 1; /* no space before the first token */
    for (struct token t = next(&p); t.len > 0; t = next(&p)) {
        int sticks = glue || is(&p, t, ",") || (is(&p, t, "(") && n >= 3 &&
                                                 strncmp(out + n - 3, "res", 3) == 0);
        glue = 0;
        if (n + (size_t)t.len + 2 > size) {
            snprintf(err, errsize, "the description is longer than %zu characters", size - 1);
            pl_netspec_free(&s);
            return -1;
        }
        if (!sticks)
            out[n++] = ' ';
        memcpy(out + n, s.text + t.start, (size_t)t.len);
        n += (size_t)t.len;
    }
    out[n] = '\0';
    pl_netspec_free(&s);
    return 0;
}

void pl_netspec_free(pl_netspec *s)
{
    pl_free(s->text);
    pl_free(s->layers);
    pl_free(s->entries);
    pl_free(s->blocks);
    memset(s, 0, sizeof *s);
}

/* ---- shapes ---- */

static void shape_text(pl_shape s, char *buf, size_t size)
{
    if (s.flat)
        snprintf(buf, size, "%d", s.c);
    else
        snprintf(buf, size, "%dx%dx%d", s.c, s.h, s.w);
}

static int same_shape(pl_shape a, pl_shape b) { return a.c == b.c && a.h == b.h && a.w == b.w; }

/* "entry 3 'conv 32 5x5'" or "res block 'res( ... )'" into buf. */
static void layer_name(const pl_netspec *s, const pl_layer_spec *l, char *buf, size_t size)
{
    if (l->kind == PL_LAYER_ADD) {
        const struct pl_span *b = &s->blocks[l->block];
        snprintf(buf, size, "res block %s", quote(s->text + b->start, b->len).s);
    } else {
        const struct pl_span *e = &s->entries[l->entry - 1];
        snprintf(buf, size, "entry %d %s", l->entry, quote(s->text + e->start, e->len).s);
    }
}

struct shape_err {
    char *buf;
    size_t size;
};

/* err = "<layer name>: <why>"; returns -1. */
__attribute__((format(printf, 4, 5))) static int shape_fail(const pl_netspec *s,
                                                            const pl_layer_spec *l,
                                                            struct shape_err err, const char *fmt,
                                                            ...)
{
    layer_name(s, l, err.buf, err.size);
    size_t used = strlen(err.buf);
    snprintf(err.buf + used, err.size - used, ": ");
    used = strlen(err.buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.buf + used, err.size - used, fmt, ap);
    va_end(ap);
    return -1;
}

/* Output of a conv or pool layer on an image input; -1 with err otherwise. */
static int spatial(const pl_netspec *s, pl_layer_spec *l, pl_shape in, char *buf, size_t size)
{
    char text[64];
    shape_text(in, text, sizeof text);
    const char *what = l->kind == PL_LAYER_CONV ? "kernel" : "window";
    if (in.flat && (in.h > 1 || in.w > 1 || l->k_h > 1 || l->k_w > 1)) {
        snprintf(buf, size, "needs an image input, but gets the %d flat outputs of a dense layer",
                 in.c);
        return -1;
    }
    if (l->k_h > in.h || l->k_w > in.w) {
        snprintf(buf, size, "the %dx%d %s is larger than its %s input", l->k_h, l->k_w, what,
                 text);
        return -1;
    }
    (void)s;
    l->out = (pl_shape){l->kind == PL_LAYER_CONV ? l->units : in.c,
                        (in.h + l->stride - 1) / l->stride, (in.w + l->stride - 1) / l->stride, 0};
    return 0;
}

int pl_netspec_shapes(pl_netspec *s, pl_shape input, int nclass, pl_loss_kind loss, char *err,
                      size_t errsize)
{
    char why[512], a[64], b[64];
    struct shape_err full = {err, errsize};
    int rc = 0;
    pl_shape cur = input;
    for (int i = 0; i < s->nlayers && rc == 0; i++) {
        pl_layer_spec *l = &s->layers[i];
        l->in = cur;
        switch (l->kind) {
        case PL_LAYER_DENSE: l->out = (pl_shape){l->units, 1, 1, 1}; break;
        case PL_LAYER_CONV:
        case PL_LAYER_POOL:
            if (spatial(s, l, cur, why, sizeof why))
                rc = shape_fail(s, l, full, "%s", why);
            break;
        case PL_LAYER_PCONV: /* per position: any input, flat ones as 1x1 images */
            l->out = (pl_shape){l->units, cur.h, cur.w, 0};
            break;
        case PL_LAYER_DROPOUT: l->out = cur; break;
        case PL_LAYER_ADD: {
            pl_shape start = l->from < 0 ? input : s->layers[l->from].out;
            if (!same_shape(start, cur)) {
                shape_text(cur, a, sizeof a);
                shape_text(start, b, sizeof b);
                rc = shape_fail(s, l, full, "its output (%s) must have the shape of its input (%s)",
                                a, b);
            }
            l->out = cur;
            break;
        }
        }
        if (rc == 0 && l->act == PL_ACT_SOFTMAX && i != s->nlayers - 1)
            rc = shape_fail(s, l, full, "softmax belongs to the output layer only");
        cur = l->out;
    }
    if (rc == 0) {
        const pl_layer_spec *last = &s->layers[s->nlayers - 1];
        if (last->kind != PL_LAYER_DENSE)
            rc = shape_fail(s, last, full,
                            "the last layer must be dense, with one unit per class (%d)", nclass);
        else if (last->units != nclass)
            rc = shape_fail(s, last, full,
                            "the output layer has %d units, but the data has %d classes: shapes "
                            "do not match", last->units, nclass);
        else if (loss == PL_LOSS_XENT && last->act != PL_ACT_SOFTMAX && last->act != PL_ACT_LINEAR)
            rc = shape_fail(s, last, full,
                            "net.loss = xent needs a softmax (or linear) output layer, not %s",
                            pl_act_name(last->act));
        else if (loss == PL_LOSS_POWER && last->act != PL_ACT_LINEAR)
            rc = shape_fail(s, last, full,
                            "net.loss = power applies tanh(beta z) itself: it needs a linear "
                            "output layer, not %s", pl_act_name(last->act));
        else if (loss == PL_LOSS_HINGE && last->act == PL_ACT_SOFTMAX)
            rc = shape_fail(s, last, full,
                            "net.loss = hinge needs an elementwise output (e.g. linear or clip), "
                            "not softmax");
    }
    return rc;
}

void pl_netspec_describe(const pl_netspec *s, int i, char *buf, size_t size)
{
    const pl_layer_spec *l = &s->layers[i];
    char in[64], out[64], what[128], act[32];
    pl_act_text(l->act, l->power, act, sizeof act);
    shape_text(l->in, in, sizeof in);
    shape_text(l->out, out, sizeof out);
    switch (l->kind) {
    case PL_LAYER_DENSE: snprintf(what, sizeof what, "dense %d %s", l->units, act); break;
    case PL_LAYER_CONV:
        snprintf(what, sizeof what, "conv %d %dx%d s%d %s", l->units, l->k_h, l->k_w, l->stride,
                 act);
        break;
    case PL_LAYER_PCONV:
        snprintf(what, sizeof what, "pconv %d m%d n%g %s", l->units, l->maps, (double)l->noise,
                 act);
        break;
    case PL_LAYER_POOL: snprintf(what, sizeof what, "pool %dx%d s%d", l->k_h, l->k_w, l->stride); break;
    case PL_LAYER_DROPOUT: snprintf(what, sizeof what, "dropout %g", (double)l->p); break;
    case PL_LAYER_ADD:
        if (l->from < 0)
            snprintf(what, sizeof what, "add the input");
        else
            snprintf(what, sizeof what, "add the output of layer %d", l->from + 1);
        break;
    }
    snprintf(buf, size, "%-28s %s -> %s", what, in, out);
}
