/* Shared definitions: exit codes, error reporting, allocation, clocks. */
#ifndef PLASTIC_COMMON_H
#define PLASTIC_COMMON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define PLASTIC_VERSION "0.1.0"

/* Process exit codes; scripts and Slurm jobs rely on these values. */
enum pl_exit {
    PL_EXIT_OK = 0,
    PL_EXIT_USAGE = 1,        /* bad command line or configuration */
    PL_EXIT_DATA = 2,         /* missing, corrupt or mismatched data / checkpoint */
    PL_EXIT_DIVERGED = 3,     /* NaN or Inf detected in the model */
    PL_EXIT_CHECKPOINTED = 85 /* stopped on a signal after checkpointing */
};

/* Errors that every rank hits alike (config, data) are printed once, by the
 * rank set with pl_log_set_rank(0); pl_error_all() is for rank-local faults. */
void pl_log_set_rank(int rank);
int pl_log_rank(void);
/* Where pl_error writes (NULL, the default: stderr). The fuzz harnesses
 * send it to /dev/null: messages are still formatted, just not shown.
 * pl_error_all, which reports faults such as a failed allocation before an
 * abort, always writes to stderr. */
void pl_log_set_error_stream(FILE *stream);
void pl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pl_error_all(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A problem that does not fail the run (a picture not drawn): printed by
 * the same rank as pl_error, to the same stream, as "plastic: warning: ...". */
void pl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A verb's bad command line: "plastic: error: VERB: message", then its
 * usage on stderr. Returns PL_EXIT_USAGE. */
int pl_usage_error(const char *verb, void (*usage)(FILE *out), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation that reports and aborts on failure: training cannot continue
 * without its buffers, and every caller would do the same. Memory is
 * 64-byte aligned so BLAS and vector loops see aligned rows. */
void *pl_alloc(size_t bytes);
void *pl_calloc(size_t count, size_t size);
void pl_free(void *p);

double pl_now(void); /* monotonic seconds */

/* Strips surrounding whitespace in place; returns the first kept char. */
char *pl_trim(char *s);

/* A FILE that writes into a growing string (open_memstream); aborts with a
 * message if none can be made. After fclose, *text holds the text (caller
 * frees). */
FILE *pl_text_stream(char **text, size_t *size);

/* mkdir -p. Returns 0, or -1 with errno set. */
int pl_mkdir_p(const char *path);

/* Writes text to path through path.tmp and rename(), so a reader sees the
 * old file or the new one, never half of one. Returns 0, or -1 with errno
 * set (path.tmp removed). */
int pl_write_text_atomic(const char *path, const char *text);

#endif
