/* Corpus replay: feeds files to a harness's LLVMFuzzerTestOneInput without
 * libFuzzer, so `make test` runs every committed corpus under ASan + UBSan
 * with the ordinary compiler.
 *
 *   replay_<parser> FILE|DIR...
 *
 * A directory stands for its regular files (not recursively, in name
 * order, skipping dot files). Exits 1 if no input was found; a finding
 * aborts (sanitizer report or FUZZ_CHECK). */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* libFuzzer calls it once if the harness defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static long replayed = 0;

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(1);
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (!buf || ferror(f)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    /* an exact-size copy, so ASan sees a read past the input's end */
    unsigned char *input = malloc(len ? len : 1);
    if (len)
        memcpy(input, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(input, len);
    free(input);
    replayed++;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

static void replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s does not exist\n", path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, visible, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
            replay_file(file);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i < argc; i++)
        replay_path(argv[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("replayed %ld inputs in %.2f s\n", replayed, s);
    if (replayed == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    return 0;
}
