/* Reading the records of metrics.jsonl back (metrics.h writes them): one
 * flat JSON object per line, whose values are strings, numbers, true, false
 * or null. Nested objects and arrays, which no record holds, are refused,
 * as is anything that is not JSON. Strings are decoded (escapes, \uXXXX
 * with surrogate pairs, to UTF-8); other bytes of 0x80 and above pass
 * through unchecked. */
#ifndef PLASTIC_JSONL_H
#define PLASTIC_JSONL_H

#include <stddef.h>

enum pl_jsonl_kind { PL_JSONL_NULL, PL_JSONL_FALSE, PL_JSONL_TRUE, PL_JSONL_NUMBER, PL_JSONL_STRING };

struct pl_jsonl_field {
    const char *key;
    enum pl_jsonl_kind kind;
    double number;      /* PL_JSONL_NUMBER (a number too large for a double is +-Inf) */
    const char *string; /* PL_JSONL_STRING, decoded; else NULL */
};

struct pl_jsonl_object {
    int n;
    struct pl_jsonl_field *fields; /* in the order of the line */
    char *text;                    /* the decoded keys and strings */
};

/* Parses the len bytes at line (a trailing newline and spaces are allowed).
 * Returns 0, or 1 with the reason in why, naming the column (1-based), and
 * *o empty. Either way, release *o with pl_jsonl_free. */
int pl_jsonl_parse(const char *line, size_t len, struct pl_jsonl_object *o, char *why, size_t n);
void pl_jsonl_free(struct pl_jsonl_object *o);

/* The field called key (the last one, if the line repeats it), or NULL. */
const struct pl_jsonl_field *pl_jsonl_get(const struct pl_jsonl_object *o, const char *key);
/* Its number; NaN when absent or not a number (null included). */
double pl_jsonl_number(const struct pl_jsonl_object *o, const char *key);
/* Its string; NULL when absent or not a string. */
const char *pl_jsonl_string(const struct pl_jsonl_object *o, const char *key);

#endif
