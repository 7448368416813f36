/* `plastic ckpt-bench`: what a checkpoint costs. A model of kh.hidden units
 * x 784 inputs (W, wins, and a 10-class readout with its Adam moments; no
 * data is read) is checkpointed with pl_ckpt_save, exactly as `train` does,
 * and read back with pl_ckpt_read; both are compared with rank 0 alone
 * writing and reading the same number of bytes with plain write(2)/read(2).
 *
 * Like with like: neither side calls fsync (pl_ckpt_write and H5Fclose do
 * not), so both measure handing the bytes to the kernel's page cache, not
 * the disk. The reads follow the writes, so they come from the page cache
 * too: they measure the software path, not the storage. After an untimed
 * warm-up of both, each repetition writes fresh files (deleting the previous
 * ones is not timed) and the sides alternate going first. Times are the
 * slowest rank's, between barriers, averaged over REPS repetitions.
 * Layout and cost discussion: docs/checkpoint-format.md. */
#include "plastic/ckpt.h"
#include "plastic/common.h"
#include "plastic/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { REPS = 3, DIM = 784, NCLASS = 10 };

typedef struct timing {
    double ckpt_write, ckpt_read, plain_write, plain_read;
} timing;

/* Seconds since t0 on the slowest rank. Collective. */
static double slowest(const pl_comm *comm, double t0)
{
    double t = pl_now() - t0;
    pl_allreduce_max_double(comm, &t, 1);
    return t;
}

/* ---- rank 0's plain file ---- */

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

/* open + write(2) of n bytes + close, no fsync. Returns 0 or -1. */
static int plain_write(const char *path, const char *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int ok = write_all(fd, buf, n) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

static int plain_read(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int ok = read_all(fd, buf, n) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* ---- the temporary directory ---- */

/* Rank 0 makes it under run.dir if that directory exists (to measure the
 * file system checkpoints really go to), else under $TMPDIR or /tmp; every
 * rank gets its name. Returns 0 or PL_EXIT_DATA. */
static int make_temp_dir(const pl_config *cfg, const pl_comm *comm, char *dir, size_t size)
{
    int failed = 0;
    if (pl_comm_rank(comm) == 0) {
        struct stat st;
        const char *base = cfg->run.dir;
        if (stat(base, &st) != 0 || !S_ISDIR(st.st_mode)) {
            base = getenv("TMPDIR");
            if (!base || !base[0])
                base = "/tmp";
        }
        snprintf(dir, size, "%s/plastic-ckpt-bench.XXXXXX", base);
        failed = mkdtemp(dir) == NULL;
        if (failed)
            pl_error("cannot create a temporary directory '%s': %s", dir, strerror(errno));
    }
    if (pl_allreduce_or(comm, failed))
        return PL_EXIT_DATA;
    pl_bcast_bytes(comm, dir, (long)size, 0);
    return 0;
}

/* Rank 0 deletes what the benchmark left in dir (and dir itself if gone is
 * true). */
static void clean_dir(const char *dir, const char *ckpt_name, int gone)
{
    char path[2 * PL_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/ckpt/%s", dir, ckpt_name);
    remove(path);
    snprintf(path, sizeof path, "%s/ckpt/LATEST", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/plain.bin", dir);
    remove(path);
    if (gone) {
        snprintf(path, sizeof path, "%s/ckpt", dir);
        remove(path);
        remove(dir);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- the verb ---- */

static double mbps(long bytes, double seconds) { return seconds > 0 ? bytes / seconds / 1e6 : 0; }

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* pl_ckpt_save, then pl_ckpt_read of the file it wrote; slowest rank. */
static int time_ckpt(const pl_comm *comm, const char *dir, const char *ckpt_path,
                     const pl_config *cfg, const char *config_text, pl_kh *kh, pl_readout *ro,
                     const pl_cursor *cur, timing *t)
{
    pl_barrier(comm);
    double t0 = pl_now();
    int rc = pl_ckpt_save(dir, comm, kh, ro, cur, config_text, cfg);
    t->ckpt_write = slowest(comm, t0);
    if (rc)
        return rc;
    pl_cursor back;
    pl_barrier(comm);
    t0 = pl_now();
    rc = pl_ckpt_read(ckpt_path, comm, cfg, kh, ro, &back);
    t->ckpt_read = slowest(comm, t0);
    return rc;
}

/* Rank 0 writes bytes of buf to plain and reads them back; the other ranks
 * wait in slowest(). */
static int time_plain(const pl_comm *comm, const char *plain, char *buf, long bytes, timing *t)
{
    int rank = pl_comm_rank(comm), failed = 0;
    pl_barrier(comm);
    double t0 = pl_now();
    if (rank == 0 && plain_write(plain, buf, (size_t)bytes) != 0) {
        pl_error("cannot write '%s': %s", plain, strerror(errno));
        failed = 1;
    }
    t->plain_write = slowest(comm, t0);
    pl_barrier(comm);
    t0 = pl_now();
    if (rank == 0 && !failed && plain_read(plain, buf, (size_t)bytes) != 0) {
        pl_error("cannot read '%s' back: %s", plain, strerror(errno));
        failed = 1;
    }
    t->plain_read = slowest(comm, t0);
    return pl_allreduce_or(comm, failed) ? PL_EXIT_DATA : 0;
}

static void add(timing *sum, timing *best, const timing *t, int first)
{
    const double *v = &t->ckpt_write;
    double *s = &sum->ckpt_write, *b = &best->ckpt_write;
    for (int i = 0; i < 4; i++) {
        s[i] += v[i];
        b[i] = first || v[i] < b[i] ? v[i] : b[i];
    }
}

int pl_ckpt_bench(const pl_config *cfg, const pl_comm *comm)
{
    const int rank = pl_comm_rank(comm), nranks = pl_comm_size(comm);
    char dir[PL_PATH_MAX + 64];
    int rc = make_temp_dir(cfg, comm, dir, sizeof dir);
    if (rc)
        return rc;
    pl_kh kh;
    pl_readout ro;
    pl_kh_init(&kh, comm, cfg->kh.hidden, DIM, cfg->kh.p, cfg->kh.k, (float)cfg->kh.delta,
               cfg->kh.batch, cfg->run.seed, cfg->kh.tile);
    pl_readout_init(&ro, comm, NCLASS, kh.hidden, kh.row0, kh.nrows, cfg->readout.n,
                    cfg->readout.m, cfg->readout.beta, cfg->run.seed,
                    (float)cfg->readout.init_std);
    for (long j = 0; j < kh.nrows; j++)
        kh.wins[j] = kh.row0 + j;
    char *config_text = pl_config_text(cfg);
    pl_cursor cur = {.phase = PL_PHASE_KH, .test_error = NAN, .valid_error = NAN};
    char name[64], ckpt_path[PL_PATH_MAX + 160], plain[PL_PATH_MAX + 80];
    pl_ckpt_name(&cur, cfg, name, sizeof name);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/ckpt/%s", dir, name);
    snprintf(plain, sizeof plain, "%s/plain.bin", dir);
    const long payload = (long)kh.hidden * DIM * 4 + (long)kh.hidden * 8 +
                         3L * NCLASS * kh.hidden * 4 + (long)strlen(config_text);
    pl_info("ckpt-bench: %d rank(s); K=%ld N=%d C=%d; payload %ld bytes (%.1f MB); %d "
            "repetitions in %s; no fsync on either side; reads come from the page cache",
            nranks, kh.hidden, DIM, NCLASS, payload, payload / 1e6, REPS, dir);

    /* Untimed warm-up of both sides, which also gives the plain file its
     * size, the checkpoint file's. The plain bytes are rank 0's W, repeated. */
    long bytes = -1;
    char *buf = NULL;
    rc = pl_ckpt_save(dir, comm, &kh, &ro, &cur, config_text, cfg);
    if (rc == 0 && rank == 0)
        bytes = file_size(ckpt_path);
    pl_bcast_bytes(comm, &bytes, sizeof bytes, 0);
    if (rc == 0 && rank == 0) {
        buf = pl_alloc((size_t)bytes);
        size_t have = (size_t)kh.nrows * DIM * sizeof(float);
        memset(buf, 0x5a, (size_t)bytes);
        for (size_t at = 0; have > 0 && at < (size_t)bytes; at += have)
            memcpy(buf + at, kh.W, have < (size_t)bytes - at ? have : (size_t)bytes - at);
    }
    timing sum = {0}, best = {0}, t;
    if (rc == 0)
        rc = time_plain(comm, plain, buf, bytes, &t);

    /* Each repetition writes fresh files (deleting the old ones is not
     * timed), and the two sides take turns going first: on a virtual machine
     * a write that needs pages the host has reclaimed is several times
     * slower than one that reuses pages just freed. */
    for (int rep = 0; rep < REPS && rc == 0; rep++) {
        if (rank == 0)
            clean_dir(dir, name, 0);
        if (rep % 2 == 0) {
            rc = time_ckpt(comm, dir, ckpt_path, cfg, config_text, &kh, &ro, &cur, &t);
            if (rc == 0)
                rc = time_plain(comm, plain, buf, bytes, &t);
        } else {
            rc = time_plain(comm, plain, buf, bytes, &t);
            if (rc == 0)
                rc = time_ckpt(comm, dir, ckpt_path, cfg, config_text, &kh, &ro, &cur, &t);
        }
        if (rc)
            break;
        pl_info("rep %d (%s first): checkpoint write %.3f s read %.3f s | plain write %.3f s "
                "read %.3f s", rep + 1, rep % 2 ? "plain" : "checkpoint", t.ckpt_write,
                t.ckpt_read, t.plain_write, t.plain_read);
        add(&sum, &best, &t, rep == 0);
    }
    if (rc == 0) {
        timing m = {sum.ckpt_write / REPS, sum.ckpt_read / REPS, sum.plain_write / REPS,
                    sum.plain_read / REPS};
        pl_info("checkpoint write (pl_ckpt_save: file, LATEST, retention): mean %.3f s, %.0f "
                "MB/s; best %.3f s; file %ld bytes", m.ckpt_write, mbps(bytes, m.ckpt_write),
                best.ckpt_write, bytes);
        pl_info("checkpoint read (pl_ckpt_read: every check and checksum, Wp refresh): mean "
                "%.3f s, %.0f MB/s; best %.3f s", m.ckpt_read, mbps(bytes, m.ckpt_read),
                best.ckpt_read);
        pl_info("plain write (rank 0, write(2), no fsync): mean %.3f s, %.0f MB/s; best %.3f s",
                m.plain_write, mbps(bytes, m.plain_write), best.plain_write);
        pl_info("plain read (rank 0, read(2), page cache): mean %.3f s, %.0f MB/s; best %.3f s",
                m.plain_read, mbps(bytes, m.plain_read), best.plain_read);
        pl_info("ckpt-bench: ranks %d K=%ld bytes=%ld write %.3f s (%.0f MB/s) read %.3f s | "
                "plain write %.3f s read %.3f s | ratio write %.2fx read %.2fx "
                "| best write %.3f read %.3f plain write %.3f read %.3f",
                nranks, kh.hidden, bytes, m.ckpt_write, mbps(bytes, m.ckpt_write), m.ckpt_read,
                m.plain_write, m.plain_read, ratio(m.ckpt_write, m.plain_write),
                ratio(m.ckpt_read, m.plain_read), best.ckpt_write, best.ckpt_read,
                best.plain_write, best.plain_read);
    }
    pl_barrier(comm);
    if (rank == 0)
        clean_dir(dir, name, 1);
    pl_free(buf);
    free(config_text);
    pl_readout_free(&ro);
    pl_kh_free(&kh);
    return rc;
}
