/* The shared append-only CSV table (table.h). */
#include "plastic/table.h"
#include "plastic/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CRC_CHARS 8

static int count_fields(const char *text)
{
    int n = 1;
    for (const char *c = text; *c; c++)
        n += *c == ',';
    return n;
}

static char **split(const char *text, int n)
{
    char **fields = pl_alloc((size_t)n * sizeof *fields);
    const char *start = text;
    for (int i = 0; i < n; i++) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        fields[i] = pl_alloc(len + 1);
        memcpy(fields[i], start, len);
        fields[i][len] = '\0';
        start = end ? end + 1 : start + len;
    }
    return fields;
}

static unsigned long line_crc(const char *text, size_t len)
{
    return crc32(crc32(0L, Z_NULL, 0), (const unsigned char *)text, (uInt)len);
}

static unsigned long hash_text(const char *text)
{
    unsigned long h = 5381;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        h = h * 33 + *c;
    return h;
}

long pl_table_find(const pl_table *t, const char *id)
{
    if (!t->index_cap)
        return -1;
    for (long i = (long)(hash_text(id) % (unsigned long)t->index_cap);;
         i = (i + 1) % t->index_cap) {
        long row = t->index[i];
        if (row < 0)
            return -1;
        if (!strcmp(t->rows[row][0], id))
            return row;
    }
}

static void index_row(pl_table *t, long row)
{
    for (long i = (long)(hash_text(t->rows[row][0]) % (unsigned long)t->index_cap);;
         i = (i + 1) % t->index_cap)
        if (t->index[i] < 0) {
            t->index[i] = row;
            return;
        }
}

/* Keeps the index at most half full. */
static void index_add(pl_table *t, long row)
{
    if (2 * (row + 1) > t->index_cap) {
        pl_free(t->index);
        t->index_cap = t->index_cap ? 4 * t->index_cap : 1024;
        t->index = pl_alloc((size_t)t->index_cap * sizeof *t->index);
        for (long i = 0; i < t->index_cap; i++)
            t->index[i] = -1;
        for (long r = 0; r < row; r++)
            index_row(t, r);
    }
    index_row(t, row);
}

int pl_table_column(const pl_table *t, const char *name)
{
    int col = 0;
    for (const char *c = t->header; *c; col++) {
        const char *end = strchr(c, ',');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == strlen(name) && !strncmp(c, name, len))
            return col;
        if (!end)
            break;
        c = end + 1;
    }
    return -1;
}

/* One complete line (without '\n'): checked and, if new, kept. */
static void take_line(pl_table *t, char *text, size_t len)
{
    t->line++;
    text[len] = '\0';
    char *comma = strrchr(text, ',');
    int ok = comma && strlen(comma + 1) == CRC_CHARS;
    if (ok) {
        char want[CRC_CHARS + 1];
        snprintf(want, sizeof want, "%08lx", line_crc(text, (size_t)(comma + 1 - text)));
        ok = !strcmp(want, comma + 1);
    }
    if (ok) {
        *comma = '\0';
        ok = count_fields(text) == t->ncols;
    }
    if (!ok) {
        pl_error_all("%s:%ld: skipping a damaged row (bad checksum or field count)", t->path,
                     t->line);
        return;
    }
    char **fields = split(text, t->ncols);
    if (pl_table_find(t, fields[0]) >= 0) {
        pl_error_all("%s:%ld: skipping a second row for id %s", t->path, t->line, fields[0]);
        for (int i = 0; i < t->ncols; i++)
            pl_free(fields[i]);
        pl_free(fields);
        return;
    }
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        char ***bigger = pl_alloc((size_t)t->cap * sizeof *bigger);
        if (t->nrows)
            memcpy(bigger, t->rows, (size_t)t->nrows * sizeof *bigger);
        pl_free(t->rows);
        t->rows = bigger;
    }
    t->rows[t->nrows] = fields;
    index_add(t, t->nrows++);
}

/* Reads complete lines from t->offset on (the first line of the file is the
 * header, checked by open). A last line without '\n' is left for later: it
 * may still be being written. */
static int read_new(pl_table *t, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    if (st.st_size <= t->offset)
        return 0;
    size_t size = (size_t)(st.st_size - t->offset);
    char *buf = pl_alloc(size + 1);
    ssize_t got = pread(fd, buf, size, t->offset);
    if (got < 0) {
        pl_free(buf);
        return -1;
    }
    size_t used = 0;
    for (;;) {
        char *nl = memchr(buf + used, '\n', (size_t)got - used);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (buf + used));
        if (t->line == 0) {
            t->line++; /* the header */
        } else {
            take_line(t, buf + used, len);
        }
        used += len + 1;
    }
    t->offset += (long)used;
    pl_free(buf);
    return 0;
}

static int lock(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    while (fcntl(fd, F_SETLKW, &fl) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static void unlock(int fd)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    fcntl(fd, F_SETLK, &fl);
}

/* Creates path holding the header line, atomically: a temporary file is
 * linked into place, which fails if someone else was first (fine). */
static int create(const char *path, const char *header)
{
    size_t len = strlen(path) + 32;
    char *tmp = pl_alloc(len);
    snprintf(tmp, len, "%s.new.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%s,crc\n", header) > 0;
    ok = f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (f)
        ok = fclose(f) == 0 && ok;
    int linked = ok ? link(tmp, path) : -1;
    int saved = errno;
    unlink(tmp);
    pl_free(tmp);
    errno = saved;
    return !ok || (linked != 0 && errno != EEXIST) ? -1 : 0;
}

static int check_header(pl_table *t, int fd)
{
    size_t want = strlen(t->header) + 5; /* ",crc\n" */
    char *buf = pl_alloc(want + 1);
    ssize_t got = pread(fd, buf, want, 0);
    int ok = got == (ssize_t)want && !strncmp(buf, t->header, want - 5) &&
             !strncmp(buf + want - 5, ",crc\n", 5);
    if (!ok) {
        buf[got > 0 ? got : 0] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        pl_error("%s holds another table: its header is '%s', this sweep's is '%s,crc' "
                 "(a different sweep? use another sweep.dir)",
                 t->path, buf, t->header);
    }
    pl_free(buf);
    t->offset = ok ? (long)want : 0;
    t->line = ok ? 1 : 0;
    return ok ? 0 : -1;
}

int pl_table_open(pl_table *t, const char *path, const char *header)
{
    memset(t, 0, sizeof *t);
    t->path = strdup(path);
    t->header = strdup(header);
    t->ncols = count_fields(header);
    if (access(path, F_OK) != 0 && create(path, header) != 0) {
        pl_error("cannot create %s: %s", path, strerror(errno));
        return PL_EXIT_DATA;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        pl_error("cannot open %s: %s", path, strerror(errno));
        return PL_EXIT_DATA;
    }
    int rc = lock(fd, F_RDLCK) == 0 && check_header(t, fd) == 0 && read_new(t, fd) == 0 ? 0
                                                                                        : -1;
    if (rc && t->offset)
        pl_error("cannot read %s: %s", path, strerror(errno));
    unlock(fd);
    close(fd);
    return rc ? PL_EXIT_DATA : 0;
}

int pl_table_refresh(pl_table *t)
{
    int fd = open(t->path, O_RDONLY);
    if (fd < 0)
        return PL_EXIT_DATA;
    int rc = lock(fd, F_RDLCK) == 0 && read_new(t, fd) == 0 ? 0 : PL_EXIT_DATA;
    unlock(fd);
    close(fd);
    return rc;
}

/* Under the write lock: cuts a last line that lacks its '\n'. */
static int cut_torn_tail(pl_table *t, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    off_t end = st.st_size;
    if (end <= t->offset)
        return 0; /* everything up to offset was complete lines */
    char c;
    if (pread(fd, &c, 1, end - 1) != 1)
        return -1;
    if (c == '\n')
        return 0;
    off_t keep = end - 1;
    while (keep > t->offset) {
        if (pread(fd, &c, 1, keep - 1) != 1)
            return -1;
        if (c == '\n')
            break;
        keep--;
    }
    pl_error_all("%s: cutting a torn last row (%lld bytes without a newline)", t->path,
                 (long long)(end - keep));
    return ftruncate(fd, keep);
}

int pl_table_append(pl_table *t, const char *row)
{
    int fd = open(t->path, O_RDWR | O_APPEND);
    if (fd < 0) {
        pl_error_all("cannot open %s for appending: %s", t->path, strerror(errno));
        return PL_EXIT_DATA;
    }
    int rc = PL_EXIT_DATA;
    if (lock(fd, F_WRLCK) != 0 || read_new(t, fd) != 0 || cut_torn_tail(t, fd) != 0) {
        pl_error_all("cannot lock or read %s: %s", t->path, strerror(errno));
        goto out;
    }
    char **fields = split(row, 1);
    long found = pl_table_find(t, fields[0]);
    pl_free(fields[0]);
    pl_free(fields);
    if (found >= 0) {
        rc = 1;
        goto out;
    }
    size_t len = strlen(row);
    char *line = pl_alloc(len + CRC_CHARS + 3);
    memcpy(line, row, len);
    line[len] = ',';
    snprintf(line + len + 1, CRC_CHARS + 2, "%08lx\n", line_crc(line, len + 1));
    size_t total = len + CRC_CHARS + 2;
    ssize_t put = write(fd, line, total);
    if (put == (ssize_t)total && fdatasync(fd) == 0) {
        rc = 0;
        read_new(t, fd); /* takes our own row into memory */
    } else {
        pl_error_all("cannot append to %s: %s", t->path,
                     put < 0 ? strerror(errno) : "short write");
        if (put > 0)
            cut_torn_tail(t, fd);
    }
    pl_free(line);
out:
    unlock(fd);
    close(fd);
    return rc;
}

void pl_table_close(pl_table *t)
{
    for (long i = 0; i < t->nrows; i++) {
        for (int c = 0; c < t->ncols; c++)
            pl_free(t->rows[i][c]);
        pl_free(t->rows[i]);
    }
    pl_free(t->rows);
    pl_free(t->index);
    free(t->path);
    free(t->header);
    memset(t, 0, sizeof *t);
}
