/* Block parallelism (net.parallel = blocks, nn/pipe.h) on N ranks against
 * one rank, through the rule interface, for backprop and rec-LRA on an MLP,
 * a residual net and a net of pconv layers. Rank 0 also trains each configuration on a
 * communicator of its own (the reference); then:
 *   one pipeline of N stages, fast sums: every weight and error synapse,
 *   the epochs' loss and error counts, and the validation and test errors
 *   are bitwise those of one rank in blocks mode;
 *   N / S pipelines of S stages for every S dividing N, exact sums: the
 *   same, bitwise those of one rank in data mode (exact blocks are the
 *   data-parallel exact path's bits); the copies a later pipeline holds
 *   equal the first's;
 *   N / S pipelines, fast sums: they run, and their copies agree;
 *   rec-LRA's one-step-stale pipeline (net.stale = 1): one pipeline of N
 *   stages, fast sums, bitwise one rank's stale run, also when the pending
 *   minibatch is settled at every minibatch boundary (as before a
 *   checkpoint); N / S pipelines with exact sums bitwise one rank's stale
 *   run with exact sums; with fast sums they run, and their copies agree.
 * Minibatches of 25 in micro-batches of 6 leave a short last micro-batch,
 * and the last minibatch (6 examples, one chunk) leaves pipelines without
 * examples. */
#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/data.h"
#include "plastic/par.h"
#include "plastic/rng.h"
#include "plastic/rule.h"

#include <stdio.h>
#include <string.h>

enum { SIDE = 5, NCLASS = 4, NTRAIN = 56, NEVAL = 40, EPOCHS = 2 };

struct net_case {
    const char *name;
    const char *layers;
};

static const struct net_case mlps[] = {
    {"mlp", "dense 16 tanh, dense 12 elu, dense 12 tanh, dense 4 softmax"},
    {"res", "dense 12 tanh, res( dense 12 tanh, dense 12 tanh ) x2, dense 4 softmax"},
    {"pconv", "pconv 3 m2 n0.3 tanh, pool 2, pconv 3 m2 relu, dense 4 softmax"},
};
/* backprop also takes dropout, keyed by example: the same masks on any stage */
static const struct net_case bp_nets[] = {
    {"mlp", "dense 16 tanh, dropout 0.2, dense 12 relu, dense 12 tanh, dense 4 softmax"},
    {"res", "dense 12 tanh, res( dense 12 tanh, dense 12 tanh ) x2, dense 4 softmax"},
    {"pconv", "pconv 3 m2 n0.3 tanh, pool 2, pconv 3 m2 relu, dense 4 softmax"},
};
enum { NNETS = sizeof mlps / sizeof mlps[0] };

static void make_data(pl_dataset *d, int n, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->rows = d->cols = SIDE;
    d->channels = 1;
    d->dim = SIDE * SIDE;
    d->nclass = NCLASS;
    d->x = pl_alloc((size_t)n * d->dim * sizeof *d->x);
    d->y = pl_alloc((size_t)n);
    pl_rng r;
    pl_rng_init(&r, seed, PL_STREAM_TEST, 0);
    for (long i = 0; i < (long)n * d->dim; i++)
        d->x[i] = (float)pl_rng_uniform(&r);
    for (int i = 0; i < n; i++)
        d->y[i] = (uint8_t)pl_rng_below(&r, NCLASS);
}

static void configure(pl_config *cfg, const char *rule, const char *layers, const char *parallel,
                      int stages, const char *sum, int stale)
{
    char buf[512];
    pl_config_defaults(cfg);
    const char *fixed[] = {"optim.batch=25", "optim.chunk=6", "optim.lr=0.05",
                           "optim.method=adam", "net.init=he", "run.seed=7", "log.progress=0",
                           NULL};
    for (int i = 0; fixed[i]; i++)
        pl_config_override(cfg, fixed[i]);
    snprintf(buf, sizeof buf, "model.rule=%s", rule);
    pl_config_override(cfg, buf);
    snprintf(buf, sizeof buf, "net.layers=%s", layers);
    pl_config_override(cfg, buf);
    snprintf(buf, sizeof buf, "net.parallel=%s", parallel);
    pl_config_override(cfg, buf);
    snprintf(buf, sizeof buf, "net.stages=%d", stages);
    pl_config_override(cfg, buf);
    snprintf(buf, sizeof buf, "optim.sum=%s", sum);
    pl_config_override(cfg, buf);
    cfg->net.stale = stale;
    cfg->optim.epochs = EPOCHS;
}

/* What a run ends with, gathered on rank 0: every model array whole, the
 * epochs' loss sums and error counts, validation and test errors. */
struct outcome {
    int n;
    char names[64][64];
    float *arrays[64];
    long counts[64];
    double loss[EPOCHS];
    long wrong[EPOCHS], valid, test;
};

static void outcome_free(struct outcome *o)
{
    for (int i = 0; i < o->n; i++)
        pl_free(o->arrays[i]);
    memset(o, 0, sizeof *o);
}

/* Every model array of s on comm's rank 0, the block of pipeline `from`
 * (blocks mode: the first holds the originals, later ones copies). */
static void gather_arrays(const pl_state *s, const pl_comm *comm, int stages, int from,
                          struct outcome *o)
{
    const int rank = pl_comm_rank(comm), pipe = stages > 0 ? rank / stages : 0;
    o->n = 0;
    for (int i = 0; i < s->narrays; i++) {
        const pl_array *a = &s->arrays[i];
        if (a->kind != PL_ARRAY_MODEL)
            continue;
        const long all = a->dims[0] * a->dims[1];
        long mine = a->replicated ? (rank == 0 ? all : 0) : a->count[0] * a->count[1];
        if (!a->replicated && pipe != from)
            mine = 0;
        float *whole = rank == 0 ? pl_alloc((size_t)all * sizeof *whole) : NULL;
        pl_gatherv_float(comm, a->data, mine, whole);
        snprintf(o->names[o->n], sizeof o->names[0], "%s", a->name);
        o->arrays[o->n] = whole;
        o->counts[o->n] = all;
        o->n++;
    }
}

enum { PLAIN, STALE, STALE_SETTLED };

/* A poll that settles what a minibatch left in flight, as the trainer does
 * before a checkpoint, and lets the epoch go on. */
struct settler {
    pl_model *m;
    pl_epoch_pos *pos;
};

static int settle_poll(void *ctx)
{
    struct settler *s = ctx;
    s->m->rule->settle(s->m, 0, s->pos);
    return 0;
}

/* Trains cfg on comm (settling at every poll if asked); the outcome on
 * comm's rank 0 (arrays of pipeline `from`). Returns 0, or 1 after a
 * message if anything failed. */
static int train(const pl_config *cfg, const pl_comm *comm, const pl_dataset *train,
                 const pl_dataset *valid, const pl_dataset *test, int from, int settle,
                 struct outcome *o, struct outcome *copies)
{
    const pl_rule *rule = pl_rule_of(cfg);
    memset(o, 0, sizeof *o);
    if (pl_rule_check(cfg, pl_comm_size(comm)) != 0)
        return 1;
    pl_model *m = rule->create(cfg, comm, train, valid, test);
    if (!m)
        return 1;
    int failures = 0;
    for (int e = 0; e < EPOCHS; e++) {
        pl_epoch_pos pos = {0};
        struct settler s = {m, &pos};
        failures += rule->epoch(m, 0, e, &pos, settle ? settle_poll : NULL, &s) != 0;
        o->loss[e] = pos.loss_sum;
        o->wrong[e] = pos.wrong;
    }
    o->valid = rule->errors(m, PL_SPLIT_VALID);
    o->test = rule->errors(m, PL_SPLIT_TEST);
    pl_state *s = pl_calloc(1, sizeof *s);
    rule->state(m, s);
    const int stages = strcmp(cfg->net.parallel, "blocks") == 0
                           ? (cfg->net.stages > 0 ? cfg->net.stages : pl_comm_size(comm))
                           : 0;
    gather_arrays(s, comm, stages, from, o);
    if (copies)
        gather_arrays(s, comm, stages, 1, copies);
    pl_free(s);
    rule->destroy(m);
    return failures;
}

/* 0 if b is bitwise a (on rank 0); else 1 with what differs. */
static int same(const struct outcome *a, const struct outcome *b, const char *what)
{
    if (a->n != b->n) {
        fprintf(stderr, "%s: %d arrays against %d\n", what, b->n, a->n);
        return 1;
    }
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0 || a->counts[i] != b->counts[i] ||
            memcmp(a->arrays[i], b->arrays[i], (size_t)a->counts[i] * sizeof(float)) != 0) {
            fprintf(stderr, "%s: %s differs\n", what, b->names[i]);
            return 1;
        }
    for (int e = 0; e < EPOCHS; e++)
        if (a->loss[e] != b->loss[e] || a->wrong[e] != b->wrong[e]) {
            fprintf(stderr, "%s: epoch %d loss %.17g / %ld errors against %.17g / %ld\n", what,
                    e + 1, b->loss[e], b->wrong[e], a->loss[e], a->wrong[e]);
            return 1;
        }
    if (a->valid != b->valid || a->test != b->test) {
        fprintf(stderr, "%s: valid %ld test %ld errors against %ld, %ld\n", what, b->valid,
                b->test, a->valid, a->test);
        return 1;
    }
    return 0;
}

/* Trains on the world, and the reference on rank 0 alone; compares. */
static int check(const char *rule, const struct net_case *net, const char *sum, int stages,
                 const char *ref_parallel, int compare, int mode, const pl_dataset *d)
{
    const pl_comm *world = pl_comm_world();
    const int rank = pl_comm_rank(world), P = pl_comm_size(world);
    pl_config cfg, ref_cfg;
    char what[256];
    snprintf(what, sizeof what, "%s%s on %s, %s sums, %d pipeline(s) of %d stage(s) on %d rank(s)",
             rule, mode == STALE ? " (stale)" : mode == STALE_SETTLED ? " (stale, settled)" : "",
             net->name, sum, P / stages, stages, P);
    configure(&cfg, rule, net->layers, "blocks", stages, sum, mode != PLAIN);
    configure(&ref_cfg, rule, net->layers, ref_parallel, 0, sum, mode != PLAIN);
    struct outcome got, copies, ref;
    const int pipes = P / stages;
    int failures = train(&cfg, world, &d[0], &d[1], &d[2], 0, mode == STALE_SETTLED, &got,
                         pipes > 1 ? &copies : NULL);
    if (rank == 0) {
        failures += train(&ref_cfg, pl_comm_self(), &d[0], &d[1], &d[2], 0, 0, &ref, NULL);
        if (compare)
            failures += same(&ref, &got, what);
        if (pipes > 1) { /* the second pipeline's copies */
            char w2[300];
            snprintf(w2, sizeof w2, "%s: pipeline 2's copies", what);
            for (int i = 0; i < got.n; i++)
                if (memcmp(got.arrays[i], copies.arrays[i], (size_t)got.counts[i] * 4) != 0) {
                    fprintf(stderr, "%s: %s differs\n", w2, got.names[i]);
                    failures++;
                    break;
                }
        }
        if (!failures)
            printf("ok: %s%s\n", what, compare ? ": bitwise one rank's" : "");
        outcome_free(&ref);
    }
    outcome_free(&got);
    if (pipes > 1)
        outcome_free(&copies);
    return failures;
}

int main(int argc, char **argv)
{
    pl_par_init(&argc, &argv);
    const pl_comm *world = pl_comm_world();
    const int P = pl_comm_size(world);
    pl_dataset d[3];
    make_data(&d[0], NTRAIN, 1);
    make_data(&d[1], NEVAL, 2);
    make_data(&d[2], NEVAL + 3, 3);
    long failures = 0;
    const char *rules[] = {"reclra", "bp"};
    for (int ri = 0; ri < 2; ri++)
        for (int ni = 0; ni < NNETS; ni++) {
            const struct net_case *net = ri == 0 ? &mlps[ni] : &bp_nets[ni];
            /* one pipeline, fast sums: one rank in blocks mode */
            failures += check(rules[ri], net, "fast", P, "blocks", 1, PLAIN, d);
            for (int S = 1; S <= P; S++) {
                if (P % S)
                    continue;
                /* exact sums: one rank in data mode */
                failures += check(rules[ri], net, "exact", S, "data", 1, PLAIN, d);
                if (S < P) /* several pipelines, fast sums: no reference bits */
                    failures += check(rules[ri], net, "fast", S, "blocks", 0, PLAIN, d);
            }
            if (ri != 0)
                continue;
            /* the stale pipeline: one rank's stale run (data mode has none) */
            failures += check(rules[ri], net, "fast", P, "blocks", 1, STALE, d);
            failures += check(rules[ri], net, "fast", P, "blocks", 1, STALE_SETTLED, d);
            for (int S = 1; S <= P; S++) {
                if (P % S)
                    continue;
                failures += check(rules[ri], net, "exact", S, "blocks", 1, STALE, d);
                if (S < P) /* runs, copies agree */
                    failures += check(rules[ri], net, "fast", S, "blocks", 0, STALE, d);
            }
        }
    for (int i = 0; i < 3; i++)
        pl_dataset_free(&d[i]);
    pl_allreduce_sum_long(world, &failures, 1);
    if (pl_comm_rank(world) == 0)
        printf("%s: %ld failure(s) on %d ranks\n", failures ? "FAIL" : "ok", failures, P);
    pl_par_finalize();
    return failures ? 1 : 0;
}
