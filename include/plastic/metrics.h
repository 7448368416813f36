/* Run records: metrics.jsonl (one JSON object per line, rank 0 only) and
 * human progress lines. A line is built with pl_json_* and written whole
 * with one write, so a crash never leaves half a record before a newline. */
#ifndef PLASTIC_METRICS_H
#define PLASTIC_METRICS_H

#include <stdio.h>

typedef struct pl_json {
    char buf[4096];
    int len;
    int overflow;
} pl_json;

void pl_json_begin(pl_json *j, const char *event); /* {"event":"...","time":<unix s> */
void pl_json_str(pl_json *j, const char *key, const char *value);
void pl_json_int(pl_json *j, const char *key, long value);
void pl_json_num(pl_json *j, const char *key, double value); /* NaN/Inf become null */
void pl_json_end(pl_json *j);                               /* closes with "}\n" */

typedef struct pl_metrics {
    FILE *file; /* NULL on ranks other than 0, or when disabled */
} pl_metrics;

/* Opens path for appending (creating it). Returns 0 or nonzero after an error. */
int pl_metrics_open(pl_metrics *m, const char *path);
void pl_metrics_write(pl_metrics *m, const pl_json *j); /* no-op if not open; flushes */
void pl_metrics_close(pl_metrics *m);

/* "1h02m", "3m05s", "12.3s" */
void pl_format_duration(double seconds, char *buf, int size);

#endif
