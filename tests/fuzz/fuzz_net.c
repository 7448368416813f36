/* Fuzz harness: the network description net.layers (src/nn/netspec.c):
 * pl_netspec_parse, pl_netspec_shapes and pl_netspec_canonical.
 *
 * Input: the description (up to its first NUL byte).
 * Properties:
 *   - parse, check and canonical agree on accepting the text, and a
 *     rejection gives the same message from each;
 *   - a rejection's message is clean: non-empty, shorter than the 512
 *     bytes it is read into, printable (bytes of the input aside, which it
 *     may quote) and either names an entry or a res block whose quoted
 *     text (whole, or its first 77 characters and "...") is part of the
 *     description and is followed by a reason, or says what is wrong in one
 *     of the parser's own phrases;
 *   - an accepted description is a well-formed layer list (counts, entries,
 *     blocks and add layers in range; each layer's fields within the
 *     grammar's bounds);
 *   - its canonical text is normalised (single spaces, none around the
 *     ends), parses to the same layer list and is a fixed point of
 *     canonicalisation; pl_netspec_canonical into the configuration's
 *     4096 bytes either gives the same text or says it is too long;
 *   - shapes, for the input geometries 1x28x28, 3x32x32, 2x4x4 and 1x1x1,
 *     both losses, and nclass 10 and the last layer's units (when 2..100):
 *     an accepted net chains its shapes (the first input is the geometry,
 *     each input the previous output, as each kind of layer computes it),
 *     its residual adds join equal shapes, softmax is only last, and the
 *     last layer is dense with nclass units suiting the loss; a rejected
 *     one names an entry or res block, as above. */
#include "support.h"

#include "plastic/nn/netspec.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages are read into 512 bytes, as the bp rule's check does; one must
 * fit there whole (quotes are cut to QUOTE_MAX characters for that). */
enum { ERR_SIZE = 512, QUOTE_MAX = 80, MAX_LAYERS = 4096, MAX_UNITS = 1 << 24, MAX_KERNEL = 1024,
       MAX_MAPS = 1024 };

/* Every byte of err is printable ASCII or occurs in the input. */
static void check_clean(const char *err, const char *input, const char *what)
{
    FUZZ_CHECK(err[0] != '\0', "%s: empty error message", what);
    FUZZ_CHECK(strlen(err) < ERR_SIZE - 1, "%s: the error message fills its %d bytes: '%s'", what,
               ERR_SIZE, err);
    for (const char *c = err; *c; c++)
        FUZZ_CHECK(isprint((unsigned char)*c) || strchr(input, *c),
                   "%s: byte 0x%02x in the error message '%s' is neither printable nor from "
                   "the input", what, (unsigned char)*c, err);
}

/* "entry N 'TEXT': why" or "res block 'TEXT': why": TEXT is part of the
 * normalised description, whole or, when longer than QUOTE_MAX, its first
 * QUOTE_MAX - 3 characters and "...". TEXT may itself hold "': ", so some
 * split of the message must fit. Returns 1 if err names an entry or block,
 * 0 if it does not start like one. */
static int names_part(const char *err, const char *normal, int nentries_max, const char *what)
{
    const char *quote;
    if (strncmp(err, "entry ", 6) == 0 && isdigit((unsigned char)err[6])) {
        int n = atoi(err + 6);
        FUZZ_CHECK(n >= 1 && n <= nentries_max, "%s: '%s' names entry %d of at most %d", what,
                   err, n, nentries_max);
        quote = err + 6 + strspn(err + 6, "0123456789");
        if (strncmp(quote, " is empty", 9) == 0)
            return 1;
        FUZZ_CHECK(strncmp(quote, " '", 2) == 0, "%s: no quoted entry in '%s'", what, err);
        quote += 2;
    } else if (strncmp(err, "res block '", 11) == 0) {
        quote = err + 11;
    } else {
        return 0;
    }
    for (const char *e = strstr(quote, "': "); e && e - quote <= QUOTE_MAX;
         e = strstr(e + 1, "': ")) {
        size_t len = (size_t)(e - quote);
        char *part = strndup(quote, len);
        FUZZ_CHECK(part != NULL, "out of memory");
        if (len == QUOTE_MAX && strcmp(part + len - 3, "...") == 0)
            part[len - 3] = '\0';
        int found = part[0] && strstr(normal, part) && e[3] != '\0';
        free(part);
        if (found)
            return 1;
    }
    FUZZ_CHECK(0, "%s: '%s' quotes no part of the description '%s' (of at most %d characters), "
               "or gives no reason after it", what, err, normal, QUOTE_MAX);
    return 0;
}

/* The parser's messages that name no entry. */
static int known_phrase(const char *err)
{
    static const char *const starts[] = {"no layers", "more than ", "unexpected '",
                                         "a res block after entry ", "expected '(' after 'res'",
                                         "res blocks nested more than ", "res block of entries "};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        if (strncmp(err, starts[i], strlen(starts[i])) == 0)
            return 1;
    return 0;
}

/* The text with runs of white space collapsed to one space, trimmed, as
 * the parser quotes it. */
static char *normalise(const char *text)
{
    char *out = malloc(strlen(text) + 1);
    FUZZ_CHECK(out != NULL, "out of memory");
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

static void check_well_formed(const pl_netspec *s, const char *what)
{
    FUZZ_CHECK(s->nlayers >= 1 && s->nlayers <= MAX_LAYERS, "%s: %d layers", what, s->nlayers);
    FUZZ_CHECK(s->nentries >= 1 && s->nentries <= s->nlayers, "%s: %d entries for %d layers",
               what, s->nentries, s->nlayers);
    size_t len = strlen(s->text);
    for (int e = 0; e < s->nentries; e++)
        FUZZ_CHECK(s->entries[e].start >= 0 && s->entries[e].len > 0 &&
                       (size_t)(s->entries[e].start + s->entries[e].len) <= len,
                   "%s: entry %d's span is outside the text", what, e + 1);
    for (int b = 0; b < s->nblocks; b++)
        FUZZ_CHECK(s->blocks[b].start >= 0 && s->blocks[b].len >= 4 &&
                       (size_t)(s->blocks[b].start + s->blocks[b].len) <= len &&
                       strncmp(s->text + s->blocks[b].start, "res", 3) == 0,
                   "%s: block %d's span is not a res block of the text", what, b);
    for (int i = 0; i < s->nlayers; i++) {
        const pl_layer_spec *l = &s->layers[i];
        FUZZ_CHECK(l->entry >= 1 && l->entry <= s->nentries, "%s: layer %d from entry %d", what,
                   i, l->entry);
        switch (l->kind) {
        case PL_LAYER_DENSE:
        case PL_LAYER_CONV:
            FUZZ_CHECK(l->units >= 1 && l->units <= MAX_UNITS, "%s: layer %d has %d units", what,
                       i, l->units);
            FUZZ_CHECK((int)l->act >= 0 && l->act < PL_ACT_COUNT, "%s: layer %d act %d", what, i,
                       (int)l->act);
            break;
        case PL_LAYER_PCONV:
            FUZZ_CHECK(l->units >= 1 && l->units <= MAX_UNITS && l->maps >= 1 &&
                           l->maps <= MAX_MAPS && l->noise > 0.0f && isfinite(l->noise),
                       "%s: pconv layer %d has %d units, %d maps, noise %g", what, i, l->units,
                       l->maps, (double)l->noise);
            FUZZ_CHECK((int)l->act >= 0 && l->act < PL_ACT_COUNT, "%s: layer %d act %d", what, i,
                       (int)l->act);
            break;
        case PL_LAYER_POOL:
        case PL_LAYER_DROPOUT:
            FUZZ_CHECK(l->act == PL_ACT_LINEAR, "%s: layer %d has an activation", what, i);
            break;
        case PL_LAYER_ADD:
            FUZZ_CHECK(l->act == PL_ACT_LINEAR, "%s: add layer %d has an activation", what, i);
            FUZZ_CHECK(l->from >= -1 && l->from < i - 1,
                       "%s: add layer %d adds layer %d's output", what, i, l->from);
            FUZZ_CHECK(l->block >= 0 && l->block < s->nblocks, "%s: add layer %d of block %d",
                       what, i, l->block);
            break;
        default: FUZZ_CHECK(0, "%s: layer %d has kind %d", what, i, (int)l->kind);
        }
        if (l->kind == PL_LAYER_CONV || l->kind == PL_LAYER_POOL)
            FUZZ_CHECK(l->k_h >= 1 && l->k_h <= MAX_KERNEL && l->k_w >= 1 &&
                           l->k_w <= MAX_KERNEL && l->stride >= 1 && l->stride <= MAX_KERNEL,
                       "%s: layer %d: kernel %dx%d stride %d", what, i, l->k_h, l->k_w,
                       l->stride);
        if (l->kind == PL_LAYER_DROPOUT)
            FUZZ_CHECK(l->p >= 0.0f && l->p < 1.0f, "%s: dropout %g", what, (double)l->p);
    }
    FUZZ_CHECK(s->layers[s->nlayers - 1].kind != PL_LAYER_ADD ||
                   s->layers[s->nlayers - 1].entry == s->nentries,
               "%s: the last add layer is not of the last entry", what);
}

static void check_same_layers(const pl_netspec *a, const pl_netspec *b, const char *what)
{
    FUZZ_CHECK(a->nlayers == b->nlayers && a->nentries == b->nentries &&
                   a->nblocks == b->nblocks,
               "%s: %d layers, %d entries, %d blocks become %d, %d, %d", what, a->nlayers,
               a->nentries, a->nblocks, b->nlayers, b->nentries, b->nblocks);
    for (int i = 0; i < a->nlayers; i++) {
        const pl_layer_spec *x = &a->layers[i], *y = &b->layers[i];
        FUZZ_CHECK(x->kind == y->kind && x->act == y->act && x->units == y->units &&
                       x->k_h == y->k_h && x->k_w == y->k_w && x->stride == y->stride &&
                       x->p == y->p && x->maps == y->maps && x->noise == y->noise &&
                       x->from == y->from && x->entry == y->entry &&
                       x->block == y->block,
                   "%s: layer %d differs", what, i);
    }
}

static int same_shape(pl_shape a, pl_shape b) { return a.c == b.c && a.h == b.h && a.w == b.w; }

static void check_shapes_ok(const pl_netspec *s, pl_shape input, int nclass, pl_loss_kind loss,
                            const char *what)
{
    pl_shape cur = input;
    for (int i = 0; i < s->nlayers; i++) {
        const pl_layer_spec *l = &s->layers[i];
        FUZZ_CHECK(same_shape(l->in, cur) && l->in.flat == cur.flat,
                   "%s: layer %d's input is not the previous output", what, i);
        pl_shape in = l->in, out = l->out;
        FUZZ_CHECK(out.c >= 1 && out.h >= 1 && out.w >= 1, "%s: layer %d's output %dx%dx%d",
                   what, i, out.c, out.h, out.w);
        switch (l->kind) {
        case PL_LAYER_DENSE:
            FUZZ_CHECK(out.c == l->units && out.h == 1 && out.w == 1 && out.flat,
                       "%s: dense layer %d's output", what, i);
            break;
        case PL_LAYER_CONV:
        case PL_LAYER_POOL:
            FUZZ_CHECK(l->k_h <= in.h && l->k_w <= in.w, "%s: layer %d's kernel exceeds its input",
                       what, i);
            FUZZ_CHECK(!in.flat || (l->k_h == 1 && l->k_w == 1),
                       "%s: layer %d slides a kernel over flat outputs", what, i);
            FUZZ_CHECK(out.c == (l->kind == PL_LAYER_CONV ? l->units : in.c) &&
                           out.h == (in.h + l->stride - 1) / l->stride &&
                           out.w == (in.w + l->stride - 1) / l->stride && !out.flat,
                       "%s: layer %d's output %dx%dx%d from %dx%dx%d", what, i, out.c, out.h,
                       out.w, in.c, in.h, in.w);
            break;
        case PL_LAYER_PCONV:
            FUZZ_CHECK(out.c == l->units && out.h == in.h && out.w == in.w && !out.flat,
                       "%s: pconv layer %d's output %dx%dx%d from %dx%dx%d", what, i, out.c,
                       out.h, out.w, in.c, in.h, in.w);
            break;
        case PL_LAYER_DROPOUT:
            FUZZ_CHECK(same_shape(out, in), "%s: dropout layer %d changes the shape", what, i);
            break;
        case PL_LAYER_ADD: {
            pl_shape from = l->from < 0 ? input : s->layers[l->from].out;
            FUZZ_CHECK(same_shape(out, in) && same_shape(in, from),
                       "%s: add layer %d joins different shapes", what, i);
            break;
        }
        }
        FUZZ_CHECK(l->act != PL_ACT_SOFTMAX || i == s->nlayers - 1,
                   "%s: softmax on layer %d of %d", what, i, s->nlayers);
        cur = out;
    }
    const pl_layer_spec *last = &s->layers[s->nlayers - 1];
    FUZZ_CHECK(last->kind == PL_LAYER_DENSE && last->units == nclass,
               "%s: the last layer is not dense with %d units", what, nclass);
    FUZZ_CHECK(loss == PL_LOSS_XENT ? last->act == PL_ACT_SOFTMAX || last->act == PL_ACT_LINEAR
                                    : last->act != PL_ACT_SOFTMAX,
               "%s: output activation %s with loss %d", what, pl_act_name(last->act), (int)loss);
    for (int i = 0; i < s->nlayers; i++) {
        char line[256];
        pl_netspec_describe(s, i, line, sizeof line);
        FUZZ_CHECK(line[0] != '\0' && strstr(line, "->"), "%s: layer %d described as '%s'", what,
                   i, line);
    }
}

static void check_shapes(pl_netspec *s, const char *input_text)
{
    static const pl_shape inputs[] = {{1, 28, 28, 0}, {3, 32, 32, 0}, {2, 4, 4, 0}, {1, 1, 1, 0}};
    const pl_layer_spec *last = &s->layers[s->nlayers - 1];
    int classes[2] = {10, last->kind == PL_LAYER_DENSE && last->units >= 2 && last->units <= 100
                              ? last->units
                              : 2};
    for (size_t g = 0; g < sizeof inputs / sizeof inputs[0]; g++)
        for (int loss = 0; loss < 2; loss++)
            for (int c = 0; c < 2; c++) {
                char what[128], err[ERR_SIZE] = "";
                snprintf(what, sizeof what, "shapes on %dx%dx%d, %d classes, loss %d",
                         inputs[g].c, inputs[g].h, inputs[g].w, classes[c], loss);
                if (pl_netspec_shapes(s, inputs[g], classes[c], (pl_loss_kind)loss, err,
                                      sizeof err) == 0) {
                    check_shapes_ok(s, inputs[g], classes[c], (pl_loss_kind)loss, what);
                } else {
                    check_clean(err, input_text, what);
                    FUZZ_CHECK(names_part(err, s->text, s->nentries, what),
                               "%s: '%s' names no entry or res block", what, err);
                }
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *text = fuzz_text(data, size);
    char *normal = normalise(text);
    pl_netspec s;
    char err[ERR_SIZE] = "", err2[ERR_SIZE] = "";
    int rc = pl_netspec_parse(&s, text, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "parse returned %d", rc);
    FUZZ_CHECK((pl_netspec_check(text, err2, sizeof err2) == 0) == (rc == 0) &&
                   (rc == 0 || strcmp(err, err2) == 0),
               "check and parse disagree: '%s' vs '%s'", err, err2);

    size_t cap = 2 * strlen(text) + 16;
    char *canon = malloc(cap), *again = malloc(cap);
    FUZZ_CHECK(canon && again, "out of memory");
    int crc = pl_netspec_canonical(text, canon, cap, err2, sizeof err2);
    if (rc != 0) {
        check_clean(err, text, "parse");
        /* entries are counted in the text: at most one per comma, plus one */
        int commas = 0;
        for (const char *c = normal; *c; c++)
            commas += *c == ',';
        FUZZ_CHECK(names_part(err, normal, commas + 1, "parse") || known_phrase(err),
                   "parse: '%s' neither names an entry nor says what is wrong", err);
        FUZZ_CHECK(crc == -1 && strcmp(err, err2) == 0,
                   "canonical accepts what parse rejects, or says otherwise: '%s' vs '%s'", err,
                   err2);
        goto out;
    }
    check_well_formed(&s, "parse");
    FUZZ_CHECK(strcmp(s.text, normal) == 0, "the parsed text '%s' is not the normalised input",
               s.text);

    /* the canonical spelling */
    FUZZ_CHECK(crc == 0, "canonical fails on an accepted description: %s", err2);
    FUZZ_CHECK(canon[0] != ' ' && canon[strlen(canon) - 1] != ' ' && !strstr(canon, "  "),
               "canonical text '%s' is not normalised", canon);
    pl_netspec back;
    FUZZ_CHECK(pl_netspec_parse(&back, canon, err2, sizeof err2) == 0,
               "canonical text '%s' does not parse: %s", canon, err2);
    check_same_layers(&s, &back, "canonical text");
    pl_netspec_free(&back);
    FUZZ_CHECK(pl_netspec_canonical(canon, again, cap, err2, sizeof err2) == 0 &&
                   strcmp(canon, again) == 0,
               "canonical text '%s' is not a fixed point: '%s'", canon, again);
    /* as the configuration stores it */
    char stored[4096];
    if (pl_netspec_canonical(text, stored, sizeof stored, err2, sizeof err2) == 0)
        FUZZ_CHECK(strcmp(stored, canon) == 0, "canonical into 4096 bytes differs");
    else
        FUZZ_CHECK(strlen(canon) > sizeof stored - 1 && strstr(err2, "longer than 4095"),
                   "canonical of %zu characters fails in 4096 bytes: %s", strlen(canon), err2);

    check_shapes(&s, text);
    pl_netspec_free(&s);
out:
    free(canon);
    free(again);
    free(normal);
    free(text);
    return 0;
}
