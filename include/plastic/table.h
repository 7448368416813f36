/* An append-only CSV table that many processes share: a sweep's
 * results.csv, one row per finished run, readable by pandas.
 *
 * Safety: every row ends with a crc32 of the rest of its line, and is
 * appended with one write() under an fcntl write lock (POSIX locks work on
 * local file systems and NFS), then fdatasync'ed. Before appending, the
 * writer re-reads what others appended since its last look and refuses a
 * row whose id (first column) is already there; a torn last line (a write
 * cut short, e.g. disk full) is cut off first, so it can neither hide nor
 * duplicate a run. Readers skip any line whose crc or field count is wrong,
 * with a warning naming the line. The file is created with its header
 * through a temporary file and link(), so two creators cannot interleave. */
#ifndef PLASTIC_TABLE_H
#define PLASTIC_TABLE_H

#include <stddef.h>

typedef struct pl_table {
    char *path;
    char *header;     /* column names joined by ',' (without the crc column) */
    int ncols;        /* columns without crc */
    long nrows;
    char ***rows;     /* nrows x ncols field strings */
    long cap;
    long offset;      /* bytes of the file read so far */
    long line;        /* lines read so far (for warnings) */
    long *index;      /* open-addressing hash of ids -> row, -1 empty */
    long index_cap;
} pl_table;

/* Opens path, creating it with the given header if it does not exist, and
 * reads its rows. A different header is an error naming both. Returns 0, or
 * PL_EXIT_DATA after an error naming the file. */
int pl_table_open(pl_table *t, const char *path, const char *header);
void pl_table_close(pl_table *t);

/* Re-reads rows other processes appended since the last look. */
int pl_table_refresh(pl_table *t);

/* Appends one row (ncols fields joined by ',', no newline; the first field
 * is the row's id) unless a row with that id exists. Returns 0 when
 * written, 1 when the id was already there, PL_EXIT_DATA on an I/O error
 * (nothing was written then). */
int pl_table_append(pl_table *t, const char *row);

/* Row index with this id (first column), or -1. */
long pl_table_find(const pl_table *t, const char *id);
/* Column index of a name, or -1. */
int pl_table_column(const pl_table *t, const char *name);

#endif
