/* Every learning rule plastic knows. A new rule is a folder under
 * src/rules/ defining one pl_rule, plus one line in `registered` below
 * (and its configuration keys in src/core/config.c). */
#include "plastic/common.h"
#include "plastic/rule.h"

#include <pthread.h>
#include <string.h>

extern const pl_rule pl_rule_kh;
extern const pl_rule pl_rule_bp;
extern const pl_rule pl_rule_reclra;
extern const pl_rule pl_rule_urfb;
extern const pl_rule pl_rule_khconv;

static const pl_rule *const registered[] = {
    &pl_rule_kh,
    &pl_rule_bp,
    &pl_rule_reclra,
    &pl_rule_urfb,
    &pl_rule_khconv,
    NULL,
};

enum { NRULES = sizeof registered / sizeof registered[0] - 1, MAX_SECTIONS = 32 };

const pl_rule *const *pl_rules(void) { return registered; }

const pl_rule *pl_rule_find(const char *name)
{
    for (int i = 0; i < NRULES; i++)
        if (!strcmp(registered[i]->name, name))
            return registered[i];
    return NULL;
}

const pl_rule *pl_rule_of(const pl_config *cfg) { return pl_rule_find(cfg->model.rule); }

int pl_rule_check(const pl_config *cfg, int nranks)
{
    const pl_rule *rule = pl_rule_of(cfg);
    if (!rule) {
        pl_error("model.rule = %s: no such rule", cfg->model.rule);
        return PL_EXIT_USAGE;
    }
    char err[512] = "";
    if (rule->check && rule->check(cfg, nranks, err, sizeof err) != 0) {
        pl_error("%s", err);
        return PL_EXIT_USAGE;
    }
    return 0;
}

/* Appends the words of a space-separated list to out (no duplicates). */
static void add_words(const char *words, char (*out)[PL_NAME_MAX], int *n)
{
    const char *p = words;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (len > 0 && len < PL_NAME_MAX && *n < MAX_SECTIONS) {
            char w[PL_NAME_MAX];
            memcpy(w, p, len);
            w[len] = '\0';
            int seen = 0;
            for (int i = 0; i < *n && !seen; i++)
                seen = !strcmp(out[i], w);
            if (!seen)
                memcpy(out[(*n)++], w, len + 1);
        }
        p += len;
        while (*p == ' ')
            p++;
    }
}

static int uses_section(const pl_rule *rule, const char *section)
{
    char mine[MAX_SECTIONS][PL_NAME_MAX];
    int n = 0;
    for (int s = 0; s < rule->nstages; s++)
        add_words(rule->stages[s].sections, mine, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(mine[i], section))
            return 1;
    return 0;
}

/* Per rule and first stage: the skip lists. The rules are constant, so
 * the lists are built once, for all of them (a sweep's dispatcher thread
 * asks too). */
typedef struct skip_list {
    char names[MAX_SECTIONS][PL_NAME_MAX];
    const char *list[MAX_SECTIONS + 1];
} skip_list;

static skip_list lists[NRULES > 0 ? NRULES : 1][PL_MAX_STAGES + 1];
static pthread_once_t lists_once = PTHREAD_ONCE_INIT;

static int rule_index(const pl_rule *rule)
{
    for (int i = 0; i < NRULES; i++)
        if (registered[i] == rule)
            return i;
    return -1;
}

static void build_list(int r, int first)
{
    const pl_rule *rule = registered[r];
    skip_list *l = &lists[r][first];
    {
        int n = 0;
        /* other rules' sections that this rule does not read */
        for (int i = 0; i < NRULES; i++) {
            if (i == r)
                continue;
            char theirs[MAX_SECTIONS][PL_NAME_MAX];
            int m = 0;
            for (int s = 0; s < registered[i]->nstages; s++)
                add_words(registered[i]->stages[s].sections, theirs, &m);
            for (int j = 0; j < m; j++)
                if (!uses_section(rule, theirs[j]))
                    add_words(theirs[j], l->names, &n); /* one word */
        }
        for (int s = first; s < rule->nstages; s++)
            add_words(rule->stages[s].sections, l->names, &n);
        for (int i = 0; i < n; i++)
            l->list[i] = l->names[i];
        l->list[n] = NULL;
    }
}

static void build_lists(void)
{
    for (int r = 0; r < NRULES; r++)
        for (int first = 0; first <= registered[r]->nstages; first++)
            build_list(r, first);
}

const char *const *pl_rule_sections_from(const pl_rule *rule, int first)
{
    int r = rule_index(rule);
    if (r < 0 || first < 0 || first > rule->nstages)
        return NULL;
    pthread_once(&lists_once, build_lists);
    return lists[r][first].list;
}

const char *const *pl_rule_foreign_sections(const pl_rule *rule)
{
    return pl_rule_sections_from(rule, rule->nstages);
}

int pl_rule_stage_index(const pl_rule *rule, const char *name)
{
    for (int s = 0; s < rule->nstages; s++)
        if (!strcmp(rule->stages[s].name, name))
            return s;
    return strcmp(name, "done") == 0 ? rule->nstages : -1;
}

const char *pl_rule_stage_name(const pl_rule *rule, int stage)
{
    return stage >= 0 && stage < rule->nstages ? rule->stages[stage].name : "done";
}
