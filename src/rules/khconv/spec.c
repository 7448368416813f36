/* The khconv.layers parser (spec.h): a small word grammar, errors naming
 * the entry and the word. */
#include "rules/khconv/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "AxB" with positive integers. */
static int parse_pair(const char *w, int *a, int *b)
{
    char *end;
    errno = 0;
    long x = strtol(w, &end, 10);
    if (end == w || *end != 'x' || x < 1 || x > 4096 || errno)
        return -1;
    const char *second = end + 1;
    long y = strtol(second, &end, 10);
    if (end == second || *end != '\0' || y < 1 || y > 4096 || errno)
        return -1;
    *a = (int)x;
    *b = (int)y;
    return 0;
}

static int parse_int(const char *w, int lo, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(w, &end, 10);
    if (end == w || *end != '\0' || x < lo || x > 1000000 || errno)
        return -1;
    *out = (int)x;
    return 0;
}

static int parse_double(const char *w, double lo, double *out)
{
    char *end;
    double x = strtod(w, &end);
    if (end == w || *end != '\0' || !(x >= lo) || x > 1e6)
        return -1;
    *out = x;
    return 0;
}

/* One entry's words (space separated, modified in place). */
static int parse_entry(char *text, int index, khconv_layer_spec *l, char *err, size_t size)
{
    char *words[32];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(text, " \t", &save); w && n < 32; w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    if (n < 3 || strcmp(words[0], "conv") != 0) {
        snprintf(err, size, "entry %d: expected 'conv KHxKW FILTERS ...'", index);
        return -1;
    }
    if (parse_pair(words[1], &l->k_h, &l->k_w)) {
        snprintf(err, size, "entry %d: kernel '%s' is not KHxKW", index, words[1]);
        return -1;
    }
    if (parse_int(words[2], 1, &l->filters)) {
        snprintf(err, size, "entry %d: filters '%s' is not a positive integer", index, words[2]);
        return -1;
    }
    for (int i = 3; i < n; i += 2) {
        const char *key = words[i], *val = i + 1 < n ? words[i + 1] : NULL;
        int bad = !val;
        if (!bad && !strcmp(key, "stride"))
            bad = parse_int(val, 1, &l->stride);
        else if (!bad && !strcmp(key, "pool"))
            bad = parse_pair(val, &l->pool_h, &l->pool_w);
        else if (!bad && !strcmp(key, "k"))
            bad = parse_int(val, 2, &l->k);
        else if (!bad && !strcmp(key, "p"))
            bad = parse_double(val, 1.0, &l->p);
        else if (!bad && !strcmp(key, "delta"))
            bad = parse_double(val, 0.0, &l->delta);
        else if (!bad) {
            snprintf(err, size, "entry %d: unknown word '%s' (stride, pool, k, p, delta)", index,
                     key);
            return -1;
        }
        if (bad) {
            snprintf(err, size, "entry %d: bad or missing value for '%s'", index, key);
            return -1;
        }
    }
    return 0;
}

int khconv_spec_parse(const char *text, int k, double p, double delta, khconv_spec *out,
                      char *err, size_t size)
{
    memset(out, 0, sizeof *out);
    char copy[1024];
    if (strlen(text) >= sizeof copy) {
        snprintf(err, size, "longer than %zu characters", sizeof copy - 1);
        return -1;
    }
    snprintf(copy, sizeof copy, "%s", text);
    char *rest = copy;
    for (int index = 1; rest; index++) {
        char *comma = strchr(rest, ',');
        if (comma)
            *comma = '\0';
        if (index > KHCONV_MAX_LAYERS) {
            snprintf(err, size, "at most %d layers", KHCONV_MAX_LAYERS);
            return -1;
        }
        khconv_layer_spec *l = &out->layer[index - 1];
        *l = (khconv_layer_spec){.stride = 1, .pool_h = 1, .pool_w = 1, .k = k, .p = p,
                                 .delta = delta};
        if (parse_entry(rest, index, l, err, size))
            return -1;
        out->nlayers = index;
        rest = comma ? comma + 1 : NULL;
    }
    return 0;
}

int khconv_spec_shapes(khconv_spec *s, int in_c, int in_h, int in_w, char *err, size_t size)
{
    for (int i = 0; i < s->nlayers; i++) {
        khconv_layer_spec *l = &s->layer[i];
        l->in_c = in_c;
        l->in_h = in_h;
        l->in_w = in_w;
        if (l->k_h > in_h || l->k_w > in_w) {
            snprintf(err, size, "entry %d: kernel %dx%d is larger than its input %dx%d", i + 1,
                     l->k_h, l->k_w, in_h, in_w);
            return -1;
        }
        l->out_h = (in_h - l->k_h) / l->stride + 1;
        l->out_w = (in_w - l->k_w) / l->stride + 1;
        l->q_h = l->out_h / l->pool_h;
        l->q_w = l->out_w / l->pool_w;
        if (l->q_h < 1 || l->q_w < 1) {
            snprintf(err, size, "entry %d: pool %dx%d is larger than the %dx%d positions", i + 1,
                     l->pool_h, l->pool_w, l->out_h, l->out_w);
            return -1;
        }
        if (l->k > l->filters) {
            snprintf(err, size, "entry %d: k = %d must be <= its %d filters", i + 1, l->k,
                     l->filters);
            return -1;
        }
        in_c = l->filters;
        in_h = l->q_h;
        in_w = l->q_w;
    }
    return 0;
}
