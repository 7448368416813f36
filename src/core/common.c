/* Error reporting, aligned allocation and the clock. */
#include "plastic/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int log_rank = 0;
static FILE *error_stream = NULL; /* NULL: stderr */

void pl_log_set_rank(int rank) { log_rank = rank; }
int pl_log_rank(void) { return log_rank; }
void pl_log_set_error_stream(FILE *stream) { error_stream = stream; }

static void vreport(FILE *out, const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(out, "plastic: %s%s\n", prefix, line);
    fflush(out);
}

void pl_error(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport(error_stream ? error_stream : stderr, "error: ", fmt, ap);
    va_end(ap);
}

void pl_warn(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport(error_stream ? error_stream : stderr, "warning: ", fmt, ap);
    va_end(ap);
}

int pl_usage_error(const char *verb, void (*usage)(FILE *out), const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pl_error("%s: %s", verb, msg);
    usage(stderr);
    return PL_EXIT_USAGE;
}

void pl_error_all(const char *fmt, ...)
{
    char prefix[48];
    snprintf(prefix, sizeof prefix, "error (rank %d): ", log_rank);
    va_list ap;
    va_start(ap, fmt);
    vreport(stderr, prefix, fmt, ap);
    va_end(ap);
}

void pl_info(const char *fmt, ...)
{
    if (log_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void *pl_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0)
        rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) {
        pl_error_all("out of memory allocating %zu bytes", bytes);
        abort();
    }
    return p;
}

void *pl_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        pl_error_all("allocation overflow (%zu x %zu)", count, size);
        abort();
    }
    void *p = pl_alloc(count * size);
    memset(p, 0, count * size);
    return p;
}

void pl_free(void *p) { free(p); }

char *pl_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

FILE *pl_text_stream(char **text, size_t *size)
{
    FILE *f = open_memstream(text, size);
    if (!f) {
        pl_error_all("open_memstream failed: %s", strerror(errno));
        abort();
    }
    return f;
}

int pl_mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

double pl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int pl_write_text_atomic(const char *path, const char *text)
{
    size_t len = strlen(path) + 5;
    char *tmp = pl_alloc(len);
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    if (f) {
        ok = fputs(text, f) >= 0;
        ok = fclose(f) == 0 && ok;
    }
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        int saved = errno;
        remove(tmp);
        errno = saved;
    }
    pl_free(tmp);
    return ok ? 0 : -1;
}
