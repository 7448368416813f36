/* Fuzz harness: command-line overrides, section.key=value
 * (pl_config_override), applied in order over the defaults.
 *
 * Input: one override per line (up to its first NUL byte; at most 64).
 * Properties:
 *   - a rejected override leaves the configuration exactly as it was;
 *   - an accepted override means what the INI file would: the line
 *     "key = value" under "[section]" loads (when it fits inih's line) to
 *     the same configuration;
 *   - pl_config_get of the key gives a value that, set again, changes
 *     nothing;
 *   - after the last override, the configuration round-trips through
 *     pl_config_text, before and after finalize. */
#include "support.h"

#include "plastic/common.h"
#include "plastic/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OVERRIDES = 64 };

/* "  kh . k " -> "kh.k", the key the override names; section and name as
 * pl_config_override trims them. Returns 0 if the line has that shape. */
static int dotted_key(const char *line, char *section, char *name, size_t size,
                      const char **value)
{
    const char *eq = strchr(line, '=');
    const char *dot = eq ? memchr(line, '.', (size_t)(eq - line)) : NULL;
    if (!dot)
        return -1;
    const char *s = line, *se = dot, *n = dot + 1, *ne = eq;
    while (s < se && isspace((unsigned char)*s))
        s++;
    while (se > s && isspace((unsigned char)se[-1]))
        se--;
    while (n < ne && isspace((unsigned char)*n))
        n++;
    while (ne > n && isspace((unsigned char)ne[-1]))
        ne--;
    if ((size_t)(se - s) >= size || (size_t)(ne - n) >= size)
        return -1;
    snprintf(section, size, "%.*s", (int)(se - s), s);
    snprintf(name, size, "%.*s", (int)(ne - n), n);
    *value = eq + 1;
    return 0;
}

static void check_like_ini(const pl_config *before, const pl_config *after, const char *line)
{
    char section[PL_NAME_MAX], name[PL_NAME_MAX], dotted[2 * PL_NAME_MAX + 1];
    const char *value_text;
    FUZZ_CHECK(dotted_key(line, section, name, sizeof section, &value_text) == 0,
               "accepted override '%s' has no section.key", line);
    char *value = strdup(value_text);
    const char *trimmed = pl_trim(value);

    /* The same assignment as an INI file. */
    char ini[512];
    int n = snprintf(ini, sizeof ini, "[%s]\n%s = %s\n", section, name, trimmed);
    if (n > 0 && (size_t)n < sizeof ini && strlen(name) + 3 + strlen(trimmed) <= 198) {
        pl_config via_ini = *before;
        FUZZ_CHECK(pl_config_load_text(&via_ini, ini, "override.ini") == 0,
                   "override '%s' is accepted but its INI form is not:\n%s", line, ini);
        char *a = pl_config_text(after, NULL), *b = pl_config_text(&via_ini, NULL);
        FUZZ_CHECK(strcmp(a, b) == 0, "override '%s' and its INI form give different values",
                   line);
        free(a);
        free(b);
    }

    /* The value as written back, set again, changes nothing. */
    snprintf(dotted, sizeof dotted, "%s.%s", section, name);
    char got[PL_PATH_MAX + 1], err[1024];
    FUZZ_CHECK(pl_config_get(after, dotted, got, sizeof got) == 0, "cannot get %s", dotted);
    pl_config again = *after;
    FUZZ_CHECK(pl_config_set(&again, dotted, got, err, sizeof err) == 0,
               "%s: its own value '%s' is rejected: %s", dotted, got, err);
    char *a = pl_config_text(after, NULL), *b = pl_config_text(&again, NULL);
    FUZZ_CHECK(strcmp(a, b) == 0, "%s = '%s' set again changes the configuration", dotted, got);
    free(a);
    free(b);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *text = fuzz_text(data, size);
    pl_config cfg;
    pl_config_defaults(&cfg);

    int count = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && count < MAX_OVERRIDES;
         line = strtok_r(NULL, "\n", &save), count++) {
        pl_config before = cfg;
        char *old = pl_config_text(&cfg, NULL);
        if (pl_config_override(&cfg, line) != 0) {
            char *now = pl_config_text(&cfg, NULL);
            FUZZ_CHECK(strcmp(old, now) == 0, "rejected override '%s' changed the configuration",
                       line);
            free(now);
        } else {
            check_like_ini(&before, &cfg, line);
        }
        free(old);
    }

    fuzz_check_config_roundtrip(&cfg, "overridden");
    if (pl_config_finalize(&cfg) == 0)
        fuzz_check_config_roundtrip(&cfg, "overridden and finalized");
    free(text);
    return 0;
}
