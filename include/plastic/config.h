/* Run configuration: INI file (libinih) plus section.key=value overrides.
 * Every key lives in one table in config.c, which also drives --help and
 * the fully resolved config.ini written into the run directory. */
#ifndef PLASTIC_CONFIG_H
#define PLASTIC_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#define PL_PATH_MAX 1024
#define PL_NAME_MAX 128
#define PL_LAYERS_MAX 4096 /* net.layers: may span several INI lines */

typedef struct pl_config {
    char source[PL_PATH_MAX]; /* the INI file this came from ("" if none) */

    struct {
        char name[PL_NAME_MAX]; /* default: config file basename without .ini */
        char dir[PL_PATH_MAX];  /* default: runs/<name> */
        uint64_t seed;
        int threads;            /* threads per rank, KH step and BLAS; 0 = OpenBLAS default */
        char resume[PL_PATH_MAX]; /* "" fresh, "auto", or a checkpoint path */
    } run;

    struct {
        char rule[32];           /* the learning rule (src/rules/registry.c) */
    } model;

    struct {
        char set[32];            /* mnist | fashion | cifar10 | cifar100 */
        char dir[PL_PATH_MAX];   /* directory holding the files; default $PLASTIC_DATA/<set> or data/<set> */
        int valid;               /* examples held out of the training set for validation */
        int train_limit;         /* use only the first N training examples (0 = all) */
        int test_limit;          /* use only the first N test examples (0 = all) */
        char normalize[8];       /* none | unit: each example scaled to unit L2 norm */
    } data;

    struct {
        int hidden;      /* K */
        double p;        /* Lebesgue norm */
        int k;           /* rank of the unit that gets the anti-Hebbian push */
        double delta;    /* strength of the anti-Hebbian push */
        int batch;       /* minibatch size B */
        int epochs;
        double eps0;     /* initial learning rate, decays linearly to 0 */
        char impl[16];   /* fast | naive (naive: reference, serial only) */
        char init[PL_PATH_MAX]; /* model.h5 to start W from; "" = random */
        int tile;        /* hidden units per SGEMM tile (gemm.h) */
        char dynamics[8];   /* fast (ranking) | slow (Eqs. 8, 9, 3: kh_slow.h) */
        double w_inh;       /* slow: lateral inhibition strength */
        double h_star;      /* slow: g = 1 from h*, -delta below it */
        double dt;          /* slow: Euler step dt/tau of the hidden dynamics */
        double slow_tol;    /* slow: steady state when max |dh| < this */
        int slow_max_steps; /* slow: cap on Euler steps per minibatch */
        int slow_normalize; /* slow: 1: divide dW by its max |dW| as the fast rule */
    } kh;

    struct {
        double n;        /* power of the rectified hidden activity */
        double m;        /* loss exponent */
        double beta;     /* tanh inverse temperature */
        int epochs;
        int batch;
        double lr;       /* Adam learning rate of the first phase of the schedule */
        double init_std; /* initial S ~ N(0, init_std^2) */
    } readout;

    struct {
        char layers[256]; /* one or two conv layers (rules/khconv/spec.h) */
        int k;           /* default rank of the filter that gets the anti-Hebbian push */
        double p;        /* default Lebesgue norm */
        double delta;    /* default strength of the anti-Hebbian push */
        double n;        /* power of the pooled responses a layer passes to the next */
        int batch;       /* examples per minibatch (each gives every position's patch) */
        int epochs;      /* per layer */
        double eps0;     /* initial learning rate, decays linearly to 0 */
        int tile;        /* filters per SGEMM tile (gemm.h) */
    } khconv;

    struct {
        char layers[PL_LAYERS_MAX]; /* the layers, in the grammar of nn/netspec.h */
        char init[16];   /* xavier | he | normal */
        double init_std; /* normal: standard deviation of the initial weights */
        int bias;        /* 0: biases held at zero (nn/clip.h) */
        char loss[16];   /* xent | hinge */
        double hinge_mu; /* hinge: weight of the non-target terms */
        double power_m, power_beta; /* power: |tanh(beta z) - t|^m */
        char parallel[8]; /* data | blocks: how ranks share the net (nn/dp.h, nn/pipe.h) */
        int stages;      /* blocks: ranks per pipeline; 0 = all ranks */
        int stale;       /* blocks, rec-LRA: one-step-stale pipeline (nn/pipe.h) */
        char untie[64];  /* conv entries of layers built untied (nn/local.h) */
        int untie_after; /* epochs those train tied, as the convolution, first */
    } net;

    struct {
        char method[16]; /* sgd | momentum | adam */
        double lr;       /* base learning rate */
        double momentum;
        double beta1, beta2, eps; /* adam */
        double clip;     /* > 0: each tensor's update scaled to at most this norm (nn/clip.h) */
        char schedule[16]; /* const | step | linear | poly (nn/schedule.h) */
        double gamma;    /* step: factor */
        int step_every;  /* step: epochs between factors */
        double power;    /* poly: exponent */
        double warmup;   /* epochs of linear warm-up */
        int epochs;
        int batch;       /* minibatch size */
        int chunk;       /* examples per chunk of the data-parallel path (nn/dp.h) */
        char sum[8];     /* fast | exact: how gradients are summed over ranks */
    } optim;

    struct {
        double beta;     /* target step: y = f(h - beta d) */
        double gamma;    /* error synapses' rate, relative to optim.lr */
        char pathway[16]; /* output | chain: where hidden layers' errors come from */
        int gap;         /* output: hidden layers per group of a plain MLP */
        char e_rule[16]; /* transpose | eq6 | fixed: the error synapses' increment */
        char e_init[16]; /* normal | xavier */
        double e_std;    /* normal: standard deviation of the initial error synapses */
    } lra;

    struct {
        char feedback[16]; /* updated | fixed | symmetric: what the feedback weights R do */
        double sparsity_w; /* fraction of W held at zero (a fixed random mask) */
        double sparsity_r; /* the same for R, drawn independently */
    } urfb;

    struct {
        int every;       /* epochs between checkpoints; 0 = never */
        double minutes;  /* wall minutes between checkpoints; 0 = off */
        int keep;        /* checkpoints kept */
    } checkpoint;

    struct {
        int progress;    /* 1: rank 0 prints one line per epoch */
        int test_every;  /* > 0: the test error too, every N epochs (curves) */
    } log;
} pl_config;

void pl_config_defaults(pl_config *cfg);

/* Reads an INI file over the current values. Unknown sections or keys and
 * malformed values are errors naming the file and line. Returns 0 or
 * PL_EXIT_USAGE (message already printed). */
int pl_config_load(pl_config *cfg, const char *path);

/* Parses INI text (e.g. a configuration stored in a checkpoint) over the
 * current values; errors call it `name`. Returns 0 or PL_EXIT_USAGE. */
int pl_config_load_text(pl_config *cfg, const char *text, const char *name);

/* Several functions below take `skip`: a NULL-terminated list of sections
 * to leave out (the sections of other rules, which do not take part in the
 * run), or NULL for none. */

/* 0 if the two configurations compute the same run (they may differ in where
 * and how it executes: run.dir, run.threads, data.dir, net.parallel,
 * net.stages, checkpoint.*, log.*, and in the skipped sections); else 1,
 * with the first differing key and both values written to what. */
int pl_config_diff(const pl_config *stored, const pl_config *current, const char *const *skip,
                   char *what, size_t size);

/* 1 if section.key says where or how a run executes (run.dir, run.threads,
 * data.dir, net.stages, checkpoint.*, log.* ...) rather than what it computes, 0 if it
 * is part of the computation, -1 if there is no such key. */
int pl_config_is_runtime(const char *dotted);

/* Sets "section.key" to value as the INI file would. Returns 0, or -1 with
 * the reason in err (nothing printed). */
int pl_config_set(pl_config *cfg, const char *dotted, const char *value, char *err,
                  size_t errsize);

/* The resolved value of "section.key" as config.ini would write it.
 * Returns 0, or -1 if there is no such key. */
int pl_config_get(const pl_config *cfg, const char *dotted, char *buf, size_t size);

/* "section.key=value" lines of every key that is part of the computation
 * (pl_config_is_runtime() == 0), in table order, leaving out the skipped
 * sections and the keys added after run ids were in use (net.bias,
 * optim.clip, net.stale, net.untie, net.untie_after, data.normalize) while they hold their
 * defaults, the behaviour from
 * before they existed: a new key must not change existing runs' ids. Equal
 * texts mean equal runs: sweeps hash it into run ids and shared-stage keys.
 * Caller frees. */
char *pl_config_identity(const pl_config *cfg, const char *const *skip);

/* Sets every key of the listed sections (NULL-terminated) to its default. */
void pl_config_reset_sections(pl_config *cfg, const char *const *sections);

/* 1 if section is in the NULL-terminated list skip (NULL: never). */
int pl_config_section_in(const char *section, const char *const *skip);

/* Applies "section.key=value". Errors name the override. */
int pl_config_override(pl_config *cfg, const char *assignment);

/* Fills derived defaults (run.name, run.dir) and re-checks every value.
 * Constraints between a rule's keys are the rule's (pl_rule_check).
 * Returns 0 or PL_EXIT_USAGE. */
int pl_config_finalize(pl_config *cfg);

/* Writes every key but the skipped sections' with its resolved value, as a
 * valid INI file. */
int pl_config_write(const pl_config *cfg, const char *const *skip, FILE *out);

/* The fully resolved configuration as INI text, as pl_config_write
 * writes it (caller frees). */
char *pl_config_text(const pl_config *cfg, const char *const *skip);

/* Lists every section.key with type, default and a one-line description. */
void pl_config_print_keys(FILE *out);

#endif
