/* Fuzz harness: the INI configuration loader (pl_config_load_text, which
 * is pl_config_load without the file).
 *
 * Input: the INI text (up to its first NUL byte).
 * Properties:
 *   - a failed load leaves the configuration exactly as it was;
 *   - a successful load round-trips: pl_config_text writes text that loads
 *     back to the same values (before finalize, and after it succeeds);
 *   - finalize is idempotent: a finalized configuration finalizes again
 *     without change;
 *   - a configuration equals itself under pl_config_diff, and its identity
 *     text (the sweep's run id) is deterministic;
 *   - pl_config_load of the same bytes as a file agrees with it; a file
 *     holding a NUL byte is an error (inih would see its lines cut short). */
#include "support.h"

#include "plastic/config.h"
#include "plastic/rule.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *text = fuzz_text(data, size);

    pl_config cfg;
    pl_config_defaults(&cfg);
    char *before = pl_config_text(&cfg, NULL);
    int rc = pl_config_load_text(&cfg, text, "fuzz.ini");

    /* the same bytes as a file */
    pl_config from_file;
    pl_config_defaults(&from_file);
    int file_rc = pl_config_load(&from_file, fuzz_write("fuzz.ini", data, size));
    fuzz_remove("fuzz.ini");
    if (memchr(data, 0, size)) {
        FUZZ_CHECK(file_rc != 0, "a file holding a NUL byte was accepted");
    } else {
        FUZZ_CHECK(file_rc == rc, "the file gives %d, the text %d", file_rc, rc);
        char *a = pl_config_text(&cfg, NULL), *b = pl_config_text(&from_file, NULL);
        FUZZ_CHECK(strcmp(a, b) == 0, "the file and the text load differently");
        free(a);
        free(b);
    }
    if (rc != 0) {
        char *after = pl_config_text(&cfg, NULL);
        FUZZ_CHECK(strcmp(before, after) == 0, "a failed load changed the configuration");
        free(after);
    } else {
        fuzz_check_config_roundtrip(&cfg, "loaded");
        char diff[2048];
        FUZZ_CHECK(pl_config_diff(&cfg, &cfg, NULL, diff, sizeof diff) == 0, "differs from itself");
        const char *const readout[] = {"readout", NULL};
        char *id1 = pl_config_identity(&cfg, NULL), *id2 = pl_config_identity(&cfg, readout);
        FUZZ_CHECK(strlen(id2) <= strlen(id1), "identity without [readout] is longer");
        free(id1);
        free(id2);
        if (pl_config_finalize(&cfg) == 0) {
            FUZZ_CHECK(cfg.run.name[0] != '\0' && cfg.run.dir[0] != '\0',
                       "finalize left run.name or run.dir empty");
            /* constraints between a rule's keys are the rule's check */
            if (pl_rule_check(&cfg, 1) == 0)
                FUZZ_CHECK(cfg.kh.k <= cfg.kh.hidden, "the kh rule let kh.k > kh.hidden through");
            fuzz_check_config_roundtrip(&cfg, "finalized");
            char *once = pl_config_text(&cfg, NULL);
            FUZZ_CHECK(pl_config_finalize(&cfg) == 0, "a finalized configuration fails finalize");
            char *twice = pl_config_text(&cfg, NULL);
            FUZZ_CHECK(strcmp(once, twice) == 0, "finalize is not idempotent");
            free(once);
            free(twice);
        }
    }
    free(before);
    free(text);
    return 0;
}
