/* The ckpt/ folder of a run directory: names, the LATEST pointer, retention,
 * and choosing what to resume from. Rank 0 does the file-system work and
 * broadcasts its decisions; the checkpoint files themselves are written and
 * read by all ranks together (mpi/ckpt.c). */
#include "plastic/ckpt.h"
#include "plastic/common.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NAME_MAX_LEN 64

void pl_ckpt_name(const pl_cursor *cur, const pl_ckpt_ctx *c, char *buf, size_t size)
{
    int epochs = cur->epoch;
    for (int s = 0; s < cur->stage && s < c->nstages; s++)
        epochs += c->rule->epochs(c->cfg, s);
    if (cur->pos.batch > 0)
        snprintf(buf, size, "ckpt_%06d_%06d.h5", epochs, cur->pos.batch);
    else
        snprintf(buf, size, "ckpt_%06d.h5", epochs);
}

static void ckpt_dir(const char *run_dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/ckpt", run_dir);
}

static int is_ckpt_name(const char *name)
{
    size_t n = strlen(name);
    return !strncmp(name, "ckpt_", 5) && n > 8 && !strcmp(name + n - 3, ".h5");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checkpoint file names in dir, oldest first (names sort in training order).
 * Caller frees each name and the array. */
static char **list_checkpoints(const char *dir, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    int cap = 16;
    char **names = pl_alloc((size_t)cap * sizeof *names);
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_ckpt_name(e->d_name))
            continue;
        if (*count == cap) {
            char **bigger = pl_alloc((size_t)(2 * cap) * sizeof *names);
            memcpy(bigger, names, (size_t)cap * sizeof *names);
            pl_free(names);
            names = bigger;
            cap *= 2;
        }
        names[(*count)++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)*count, sizeof *names, by_name);
    return names;
}

static void free_names(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    pl_free(names);
}

/* LATEST holds one file name, replaced atomically. */
static int write_latest(const char *dir, const char *name)
{
    char path[PL_PATH_MAX + 32], text[NAME_MAX_LEN + 2];
    snprintf(path, sizeof path, "%s/LATEST", dir);
    snprintf(text, sizeof text, "%s\n", name);
    return pl_write_text_atomic(path, text);
}

static int read_latest(const char *dir, char *name, size_t size)
{
    char path[PL_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/LATEST", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(name, (int)size, f) != NULL;
    fclose(f);
    name[strcspn(name, "\r\n")] = '\0';
    return ok && is_ckpt_name(name) && !strchr(name, '/') ? 0 : -1;
}

/* Keeps the newest `keep` checkpoints, never deleting `current`; removes
 * leftovers of interrupted writes. */
static void prune(const char *dir, const char *current, int keep)
{
    int count;
    char **names = list_checkpoints(dir, &count);
    char path[PL_PATH_MAX + 2 * NAME_MAX_LEN];
    for (int i = 0; i < count - keep; i++) {
        if (!strcmp(names[i], current))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    free_names(names, count);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, "ckpt_", 5) && n > 7 && !strcmp(e->d_name + n - 7, ".h5.tmp")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    }
    if (d)
        closedir(d);
}

int pl_ckpt_save(const pl_ckpt_ctx *c, const pl_cursor *cur)
{
    const pl_comm *comm = c->comm;
    char dir[PL_PATH_MAX + 8], name[NAME_MAX_LEN], path[PL_PATH_MAX + 2 * NAME_MAX_LEN];
    ckpt_dir(c->cfg->run.dir, dir, sizeof dir);
    pl_ckpt_name(cur, c, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int failed = pl_comm_rank(comm) == 0 && mkdir(dir, 0777) != 0 && errno != EEXIST;
    if (pl_allreduce_or(comm, failed)) {
        pl_error("cannot create checkpoint directory '%s': %s", dir, strerror(errno));
        return PL_EXIT_DATA;
    }
    int rc = pl_ckpt_write(path, c, cur);
    if (rc)
        return rc;
    failed = 0;
    if (pl_comm_rank(comm) == 0) {
        failed = write_latest(dir, name) != 0;
        if (failed)
            pl_error("cannot update '%s/LATEST': %s", dir, strerror(errno));
        else
            prune(dir, name, c->cfg->checkpoint.keep);
    }
    return pl_allreduce_or(comm, failed) ? PL_EXIT_DATA : 0;
}

/* Rank 0's choice of candidates, newest first: LATEST's target, then every
 * other checkpoint from newest to oldest. Broadcast as one text block. */
static char *candidates(const char *dir, const pl_comm *comm, long *length)
{
    char *text = NULL;
    long len = 0;
    if (pl_comm_rank(comm) == 0) {
        char latest[NAME_MAX_LEN] = "";
        int count, have_latest = read_latest(dir, latest, sizeof latest) == 0;
        char **names = list_checkpoints(dir, &count);
        text = pl_calloc((size_t)(count + 1) * NAME_MAX_LEN + 1, 1);
        if (have_latest)
            len += sprintf(text + len, "%s\n", latest);
        for (int i = count - 1; i >= 0; i--)
            if (!have_latest || strcmp(names[i], latest))
                len += sprintf(text + len, "%s\n", names[i]);
        free_names(names, count);
    }
    pl_bcast_bytes(comm, &len, sizeof len, 0);
    if (pl_comm_rank(comm) != 0)
        text = pl_calloc((size_t)len + 1, 1);
    pl_bcast_bytes(comm, text, len, 0);
    *length = len;
    return text;
}

int pl_ckpt_resume(const pl_ckpt_ctx *c, pl_cursor *cur, char *path, size_t size)
{
    const pl_config *cfg = c->cfg;
    const pl_comm *comm = c->comm;
    path[0] = '\0';
    const char *resume = cfg->run.resume;
    char dir[PL_PATH_MAX + 8];
    ckpt_dir(cfg->run.dir, dir, sizeof dir);
    if (resume[0] == '\0') {
        /* a fresh run must not mix its checkpoints with an earlier run's */
        int count = 0;
        if (pl_comm_rank(comm) == 0)
            free_names(list_checkpoints(dir, &count), count);
        int exists = count > 0;
        if (pl_allreduce_or(comm, exists)) {
            pl_error("'%s' holds checkpoints of an earlier run: continue it with "
                     "run.resume=auto, or choose another run.dir",
                     dir);
            return PL_EXIT_USAGE;
        }
        return 0;
    }
    if (strcmp(resume, "auto") != 0) {
        snprintf(path, size, "%s", resume);
        return pl_ckpt_read(path, c, cur);
    }
    long len;
    char *list = candidates(dir, comm, &len);
    int rc = 0, tried = 0;
    for (char *name = strtok(list, "\n"); name; name = strtok(NULL, "\n")) {
        snprintf(path, size, "%s/%s", dir, name);
        rc = pl_ckpt_read(path, c, cur);
        if (rc == 0 && tried)
            pl_info("resuming from the older checkpoint %s instead", path);
        if (rc != PL_EXIT_DATA)
            break; /* read, or from another configuration: no fallback */
        pl_error("checkpoint %s is damaged; trying the one before it", path);
        tried++;
    }
    pl_free(list);
    if (rc == 0 && path[0] == '\0')
        pl_info("no checkpoint in %s: starting fresh", dir);
    else if (rc == PL_EXIT_DATA)
        pl_error("no readable checkpoint left in %s", dir);
    if (rc)
        path[0] = '\0';
    return rc;
}
