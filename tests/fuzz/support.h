/* Helpers shared by the fuzz harnesses (tests/fuzz/fuzz_*.c; the Makefile
 * links support.c into each, under libFuzzer and in the replay driver).
 *
 * A harness defines LLVMFuzzerTestOneInput, calls fuzz_init() first, keeps
 * every file it writes inside fuzz_tmpdir() and removes it before
 * returning, and checks its properties with FUZZ_CHECK, which aborts: both
 * libFuzzer and the replay driver treat an abort as a finding. */
#ifndef PLASTIC_FUZZ_SUPPORT_H
#define PLASTIC_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "plastic/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Once per process: pl_error's messages go to /dev/null (they are still
 * formatted; rank 0, so they are formatted at all), unless FUZZ_VERBOSE is
 * set in the environment. */
void fuzz_init(void);

/* A private directory $TMPDIR (or /tmp)/plastic-fuzz-XXXXXX, made on first
 * use and removed at exit (with whatever fuzz_write left in it), also after
 * a FUZZ_CHECK failure. A sanitizer report leaves it behind (its death
 * callback is libFuzzer's, which saves the crashing input). */
const char *fuzz_tmpdir(void);

/* fuzz_tmpdir()/name, in one of 8 static buffers used in turn. */
const char *fuzz_path(const char *name);

/* Writes size bytes to fuzz_path(name); returns that path. Aborts if the
 * file cannot be written (the harness, not the parser, failed). */
const char *fuzz_write(const char *name, const void *data, size_t size);

/* Removes fuzz_path(name) (a file or an empty directory), if present. */
void fuzz_remove(const char *name);

/* A NUL-terminated copy of data (malloc'ed; an embedded NUL ends the text,
 * as it would for the parser). */
char *fuzz_text(const uint8_t *data, size_t size);

/* Splits data at its first NUL: *rest (NULL if none) and *rest_size get
 * what follows it. Returns the text before it as fuzz_text does. */
char *fuzz_text_until_nul(const uint8_t *data, size_t size, const uint8_t **rest,
                          size_t *rest_size);

/* Stops the process with a message on the real stderr. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                                                \
    do {                                                                                     \
        if (!(cond))                                                                         \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                      \
    } while (0)

/* The round-trip property of the configuration: the text pl_config_text
 * writes for cfg loads back, over the defaults and over `over` (a
 * configuration that differs from cfg in many keys, so a key the text left
 * out would show), to a configuration that writes the same text. what
 * names the caller in a failure. */
void fuzz_check_config_roundtrip(const pl_config *cfg, const char *what);

#endif
