/* Run configuration. One table, keys[] below, lists every key with its
 * section, type, default text, field, valid values and help line. Loading,
 * overrides, validation, pl_config_write and pl_config_print_keys all walk
 * it, so a new key is a new pl_config field plus one row. */
#include "plastic/config.h"
#include "plastic/common.h"
#include "plastic/nn/netspec.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum kind { KIND_INT, KIND_U64, KIND_DOUBLE, KIND_STRING, KIND_CHOICE, KIND_BOOL };

static const char *const kind_names[] = {
    [KIND_INT] = "int",       [KIND_U64] = "u64",       [KIND_DOUBLE] = "double",
    [KIND_STRING] = "string", [KIND_CHOICE] = "choice", [KIND_BOOL] = "bool",
};

/* Bounds of an int or double key; open_lo (open_hi) makes the lower
 * (upper) bound strict. */
struct range {
    bool has_lo, open_lo, has_hi;
    double lo, hi;
    bool open_hi;
};

struct key {
    const char *section;
    const char *name;
    enum kind kind;
    const char *def;     /* default, parsed exactly like user input */
    size_t offset;       /* of the field in pl_config */
    size_t size;         /* of the field; bounds string values */
    struct range range;
    const char *choices; /* KIND_CHOICE: "a|b|c" */
    const char *help;
    /* A string that may span several INI lines (indented continuation
     * lines), stored in the canonical spelling canon gives it (canon also
     * checks it: 0, or -1 with the reason in err); written back wrapped. */
    bool lines;
    int (*canon)(const char *text, char *out, size_t size, char *err, size_t errsize);
};

/* Offset and size of field f. _Generic has no match, and so does not
 * compile, unless f has type T: a row cannot misdescribe its field. */
#define SCALAR(T, f)                                                          \
    _Generic(((pl_config *)0)->f, T: offsetof(pl_config, f)), sizeof(((pl_config *)0)->f)
#define TEXT(f) SCALAR(char *, f) /* a char array converts to char * */

#define ANY {false, false, false, 0, 0, false}
#define AT_LEAST(x) {true, false, false, (x), 0, false}
#define ABOVE(x) {true, true, false, (x), 0, false}
#define FROM_BELOW(lo, hi) {true, false, true, (lo), (hi), true} /* [lo, hi) */
#define ABOVE_UP_TO(lo, hi) {true, true, true, (lo), (hi), false} /* (lo, hi] */

#define ONE_LINE false, NULL /* lines, canon */
#define INT(s, n, f, def, rng, help)                                                     \
    {s, n, KIND_INT, def, SCALAR(int, f), rng, NULL, help, ONE_LINE}
#define U64(s, n, f, def, help)                                                          \
    {s, n, KIND_U64, def, SCALAR(uint64_t, f), ANY, NULL, help, ONE_LINE}
#define DBL(s, n, f, def, rng, help)                                                     \
    {s, n, KIND_DOUBLE, def, SCALAR(double, f), rng, NULL, help, ONE_LINE}
#define STR(s, n, f, def, help) {s, n, KIND_STRING, def, TEXT(f), ANY, NULL, help, ONE_LINE}
#define CHOICE(s, n, f, def, choices, help)                                              \
    {s, n, KIND_CHOICE, def, TEXT(f), ANY, choices, help, ONE_LINE}
#define BOOL(s, n, f, def, help) {s, n, KIND_BOOL, def, SCALAR(int, f), ANY, NULL, help, ONE_LINE}
#define LINES(s, n, f, def, canon, help)                                                  \
    {s, n, KIND_STRING, def, TEXT(f), ANY, NULL, help, true, canon}

/* Rows of one section must be adjacent: pl_config_write groups by them. */
static const struct key keys[] = {
    STR("run", "name", run.name, "", "run name; empty: config file name without .ini"),
    STR("run", "dir", run.dir, "", "output directory; empty: runs/<run.name>"),
    U64("run", "seed", run.seed, "1", "seed of every random stream"),
    INT("run", "threads", run.threads, "0", AT_LEAST(0),
        "threads per rank (KH step and BLAS); 0: OpenBLAS default"),
    STR("run", "resume", run.resume, "",
        "empty: start fresh; auto: continue from run.dir's LATEST checkpoint if any; "
        "or a checkpoint file"),

    CHOICE("model", "rule", model.rule, "kh", "kh|bp|reclra|urfb|khconv",
        "the learning rule: kh (competing hidden units + readout), bp (backprop on net.layers), "
        "reclra (recursive local representation alignment on net.layers), urfb (updated random "
        "feedback on net.layers), khconv (convolutional competing hidden units + readout)"),

    CHOICE("data", "set", data.set, "mnist", "mnist|fashion|cifar10|cifar100", "dataset"),
    STR("data", "dir", data.dir, "", "dataset directory; empty: $PLASTIC_DATA/<set> or data/<set>"),
    INT("data", "valid", data.valid, "10000", AT_LEAST(0),
        "training examples held out for validation"),
    INT("data", "train_limit", data.train_limit, "0", AT_LEAST(0),
        "use only the first N training examples; 0: all"),
    INT("data", "test_limit", data.test_limit, "0", AT_LEAST(0),
        "use only the first N test examples; 0: all"),
    CHOICE("data", "normalize", data.normalize, "none", "none|unit",
           "none: pixels / 255 in [0, 1]; unit: then every example scaled to unit length (L2), "
           "as the KH paper's CIFAR inputs"),

    INT("kh", "hidden", kh.hidden, "2000", AT_LEAST(1), "hidden units K"),
    DBL("kh", "p", kh.p, "3", AT_LEAST(1), "Lebesgue norm of the weight vectors"),
    INT("kh", "k", kh.k, "7", AT_LEAST(2), "rank of the unit that gets the anti-Hebbian push"),
    DBL("kh", "delta", kh.delta, "0.4", AT_LEAST(0), "strength of the anti-Hebbian push"),
    INT("kh", "batch", kh.batch, "100", AT_LEAST(1), "minibatch size"),
    INT("kh", "epochs", kh.epochs, "1000", AT_LEAST(0), "training epochs"),
    DBL("kh", "eps0", kh.eps0, "0.04", ABOVE(0), "initial learning rate, decays linearly to 0"),
    CHOICE("kh", "impl", kh.impl, "fast", "fast|naive",
        "naive: the literal reference, serial only"),
    STR("kh", "init", kh.init, "",
        "model.h5 whose /kh/W starts the hidden layer; empty: N(0,1) rows"),
    INT("kh", "tile", kh.tile, "128", AT_LEAST(1),
        "hidden units per SGEMM tile of the currents and features; ranks and threads hold whole "
        "tiles, so results do not depend on them (but do on the tile)"),
    CHOICE("kh", "dynamics", kh.dynamics, "fast", "fast|slow",
           "fast: the ranking rule; slow: the paper's hidden dynamics (Eq. 8) to a steady state, "
           "g of Eq. 9 and the plasticity of Eq. 3 with 1/tau_L = the eps0 schedule"),
    DBL("kh", "w_inh", kh.w_inh, "0.7", AT_LEAST(0),
        "slow: strength of the lateral inhibition w_inh"),
    DBL("kh", "h_star", kh.h_star, "1", ABOVE(0),
        "slow: g(h) = 1 from h_star on, -delta for 0 < h < h_star, 0 for h <= 0"),
    DBL("kh", "dt", kh.dt, "0.1", ABOVE_UP_TO(0, 1), "slow: Euler step dt/tau of the hidden dynamics"),
    DBL("kh", "slow_tol", kh.slow_tol, "1e-3", ABOVE(0),
        "slow: steady state when max |dh| over the minibatch falls below this"),
    INT("kh", "slow_max_steps", kh.slow_max_steps, "2000", AT_LEAST(1),
        "slow: cap on Euler steps per minibatch (warned once per epoch when hit)"),
    BOOL("kh", "slow_normalize", kh.slow_normalize, "1",
         "slow: 1: W += eps dW / max|dW| as the fast rule; 0: W += eps dW, Eq. 3 literally"),

    DBL("readout", "n", readout.n, "4.5", ABOVE(0), "power of the rectified hidden activity"),
    DBL("readout", "m", readout.m, "6", AT_LEAST(1), "loss exponent"),
    DBL("readout", "beta", readout.beta, "0.5", ABOVE(0), "tanh inverse temperature"),
    INT("readout", "epochs", readout.epochs, "300", AT_LEAST(0), "training epochs"),
    INT("readout", "batch", readout.batch, "100", AT_LEAST(1), "minibatch size"),
    DBL("readout", "lr", readout.lr, "0.001", ABOVE(0),
        "Adam learning rate of the first phase of the schedule"),
    DBL("readout", "init_std", readout.init_std, "0.01", AT_LEAST(0),
        "standard deviation of the initial readout weights"),

    LINES("net", "layers", net.layers, "dense 256 tanh, dense 10 softmax", pl_netspec_canonical,
          "layers of a layered rule (grammar: docs/design.md 5.5); indented lines continue it"),
    CHOICE("net", "init", net.init, "xavier", "xavier|he|normal",
           "initial weights: xavier U(+-sqrt(6/(in+out))), he N(0,2/in), normal N(0,init_std^2); "
           "biases 0"),
    DBL("net", "init_std", net.init_std, "0.01", AT_LEAST(0),
        "standard deviation of the initial weights for init = normal"),
    BOOL("net", "bias", net.bias, "1",
         "1: dense, conv and pconv layers learn biases; 0: biases held at 0 (their updates "
         "dropped)"),
    CHOICE("net", "loss", net.loss, "xent", "xent|hinge|power",
           "xent: softmax cross-entropy; hinge: target above +1, others below -1; power: "
           "sum |tanh(beta z) - t|^m, t = +-1 (Krotov & Hopfield's readout loss)"),
    DBL("net", "hinge_mu", net.hinge_mu, "1", AT_LEAST(0),
        "weight of the non-target terms of the hinge loss"),
    DBL("net", "power_m", net.power_m, "6", AT_LEAST(1),
        "loss = power: the exponent m"),
    DBL("net", "power_beta", net.power_beta, "0.1", ABOVE(0),
        "loss = power: beta, the outputs' scale inside tanh"),
    CHOICE("net", "parallel", net.parallel, "data", "data|blocks",
           "how ranks share a layered net: data (each rank a slice of every minibatch, the "
           "whole net) or blocks (a pipeline: each rank a stage of consecutive blocks)"),
    INT("net", "stages", net.stages, "0", AT_LEAST(0),
        "blocks: ranks per pipeline (0: all ranks); ranks / stages pipelines split each "
        "minibatch's examples"),
    BOOL("net", "stale", net.stale, "0",
         "rec-LRA in blocks mode: 1 runs each minibatch's forward before the previous "
         "minibatch's targets and step (forwards see weights one step old), so no stage waits "
         "on the pipeline; the pending step is applied at every epoch's end"),
    STR("net", "untie", net.untie, "",
        "conv entries of net.layers (numbered from 1, e.g. \"1, 3\") built untied: a locally "
        "connected layer, the convolution's connectivity with weights of its own per position "
        "(bp, urfb; data mode)"),
    INT("net", "untie_after", net.untie_after, "0", AT_LEAST(0),
        "epochs the untied layers first train tied, as the convolution they replace (their "
        "gradient summed over positions), before they untie; 0: untied from the start"),

    CHOICE("optim", "method", optim.method, "adam", "sgd|momentum|adam", "optimiser"),
    DBL("optim", "lr", optim.lr, "0.001", ABOVE(0), "base learning rate"),
    DBL("optim", "momentum", optim.momentum, "0.9", FROM_BELOW(0, 1),
        "momentum: v = momentum v + g, w -= lr v"),
    DBL("optim", "beta1", optim.beta1, "0.9", FROM_BELOW(0, 1), "adam: first-moment decay"),
    DBL("optim", "beta2", optim.beta2, "0.999", FROM_BELOW(0, 1), "adam: second-moment decay"),
    DBL("optim", "eps", optim.eps, "1e-08", ABOVE(0), "adam: added to sqrt(v)"),
    DBL("optim", "clip", optim.clip, "0", AT_LEAST(0),
        "> 0: before each step, every tensor's summed update (each W, b, rec-LRA synapse) "
        "larger than this Frobenius norm is scaled down to it; 0: off"),
    CHOICE("optim", "schedule", optim.schedule, "const", "const|step|linear|poly",
           "learning rate: const; step (x gamma every step_every epochs); linear or "
           "poly ((1-u)^power) decay to 0"),
    DBL("optim", "gamma", optim.gamma, "0.1", ABOVE(0), "step schedule: factor"),
    INT("optim", "step_every", optim.step_every, "30", AT_LEAST(1),
        "step schedule: epochs between factors"),
    DBL("optim", "power", optim.power, "1", ABOVE(0), "poly schedule: exponent"),
    DBL("optim", "warmup", optim.warmup, "0", AT_LEAST(0),
        "epochs of linear warm-up before the schedule"),
    INT("optim", "epochs", optim.epochs, "20", AT_LEAST(0), "training epochs"),
    INT("optim", "batch", optim.batch, "100", AT_LEAST(1), "minibatch size"),
    INT("optim", "chunk", optim.chunk, "25", AT_LEAST(1),
        "examples per chunk of the data-parallel path (ranks take whole chunks)"),
    CHOICE("optim", "sum", optim.sum, "fast", "fast|exact",
           "gradients over ranks: fast (float reduce-scatter) or exact (bitwise the same on any "
           "rank count, 20-35% slower for MLPs)"),

    DBL("lra", "beta", lra.beta, "1", AT_LEAST(0),
        "rec-LRA: the target of a hidden layer is f(h - beta d), d its error signal"),
    DBL("lra", "gamma", lra.gamma, "1", AT_LEAST(0),
        "rec-LRA: the error synapses step at gamma x the schedule's rate (0: fixed)"),
    CHOICE("lra", "pathway", lra.pathway, "output", "output|chain",
           "rec-LRA: output: block ends and group tops get the output's error through skip "
           "synapses, other layers the layer above's; chain: every layer the layer above's"),
    INT("lra", "gap", lra.gap, "1", AT_LEAST(1),
        "rec-LRA, plain MLPs: hidden layers per group (must divide their number); nets with "
        "res( ) blocks take the blocks"),
    CHOICE("lra", "e_rule", lra.e_rule, "transpose", "transpose|eq6|fixed",
           "rec-LRA error synapses' increment: transpose (z e^T, E follows W^T), eq6 (d e^T, "
           "Eq. 6 as printed), fixed"),
    CHOICE("lra", "e_init", lra.e_init, "xavier", "normal|xavier",
           "rec-LRA initial error synapses: xavier U(+-sqrt(6/(in+out))) or normal N(0, "
           "e_std^2)"),
    DBL("lra", "e_std", lra.e_std, "0.05", AT_LEAST(0),
        "rec-LRA: standard deviation of the initial error synapses for e_init = normal"),

    CHOICE("urfb", "feedback", urfb.feedback, "updated", "updated|fixed|symmetric",
           "urfb: the feedback weights R that carry errors down: updated (R gets W's increment), "
           "fixed (R stays random: feedback alignment) or symmetric (R = W: backprop)"),
    DBL("urfb", "sparsity_w", urfb.sparsity_w, "0", FROM_BELOW(0, 1),
        "urfb: each forward weight is held at 0 with this probability (a fixed mask keyed by "
        "run.seed and layer; not the output layer)"),
    DBL("urfb", "sparsity_r", urfb.sparsity_r, "0", FROM_BELOW(0, 1),
        "urfb: the same for the feedback weights R, with a mask drawn independently of W's"),

    STR("khconv", "layers", khconv.layers, "conv 5x5 32 pool 2x2",
        "one or two conv layers, comma separated: conv KHxKW FILTERS [stride S] [pool PHxPW] "
        "[k K] [p P] [delta D] (valid convolution, max pooling; k, p, delta default to the keys "
        "below)"),
    INT("khconv", "k", khconv.k, "2", AT_LEAST(2),
        "rank of the filter that gets the anti-Hebbian push, per patch"),
    DBL("khconv", "p", khconv.p, "3", AT_LEAST(1), "Lebesgue norm of the filters"),
    DBL("khconv", "delta", khconv.delta, "0.4", AT_LEAST(0), "strength of the anti-Hebbian push"),
    DBL("khconv", "n", khconv.n, "1", ABOVE(0),
        "power of the rectified pooled currents a layer passes to the next (the last layer's "
        "features use readout.n)"),
    INT("khconv", "batch", khconv.batch, "20", AT_LEAST(1),
        "examples per minibatch; each gives one patch per position"),
    INT("khconv", "epochs", khconv.epochs, "10", AT_LEAST(0), "training epochs of each layer"),
    DBL("khconv", "eps0", khconv.eps0, "0.02", ABOVE(0),
        "initial learning rate, decays linearly to 0 over each layer's epochs"),
    INT("khconv", "tile", khconv.tile, "8", AT_LEAST(1),
        "filters per SGEMM tile of the currents and features; ranks and threads hold whole "
        "tiles, so results do not depend on them (but do on the tile)"),

    INT("checkpoint", "every", checkpoint.every, "10", AT_LEAST(0),
        "write a checkpoint every N epochs (and at the end of each phase); 0: never"),
    DBL("checkpoint", "minutes", checkpoint.minutes, "0", AT_LEAST(0),
        "also write one when this many minutes passed since the last; 0: off"),
    INT("checkpoint", "keep", checkpoint.keep, "2", AT_LEAST(1),
        "checkpoints kept in run.dir/ckpt (older ones are deleted)"),

    BOOL("log", "progress", log.progress, "1", "1: rank 0 prints one line per epoch"),
    INT("log", "test_every", log.test_every, "0", AT_LEAST(0),
        "also measure the test error every N epochs of a supervised phase, for learning "
        "curves (never for choosing hyperparameters: that is data.valid's job); 0: at the end only"),
};

enum { KEY_COUNT = sizeof keys / sizeof keys[0] };
_Static_assert(ULLONG_MAX == UINT64_MAX, "set_u64 parses with strtoull");

#define ERR_MAX 1024
#define VALUE_MAX (PL_LAYERS_MAX + 1) /* holds any field's formatted value */
/* inih reads a line with fgets into INI_MAX_LINE bytes: the text, '\n'
 * and the terminator. It cuts longer lines silently. */
#define INI_LINE_CHARS (INI_MAX_LINE - 2)

/* Formats into err (ERR_MAX bytes) and returns -1, so callers can
 * `return fail(...)`. */
__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ERR_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

static void append(char *buf, size_t size, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 < size)
        snprintf(buf + used, size - used, "%s", text);
}

/* ---- parsing and storing one value ---- */

/* strto* skip leading space; the table's formats do not allow it. */
static bool starts_value(const char *text)
{
    return text[0] != '\0' && !isspace((unsigned char)text[0]);
}

static int check_range(const struct key *k, double v, const char *text, char *err)
{
    const struct range *r = &k->range;
    if (r->has_lo && (r->open_lo ? !(v > r->lo) : !(v >= r->lo)))
        return fail(err, "%s.%s: must be %s %g, got %s", k->section, k->name,
                    r->open_lo ? ">" : ">=", r->lo, text);
    if (r->has_hi && (r->open_hi ? !(v < r->hi) : !(v <= r->hi)))
        return fail(err, "%s.%s: must be %s %g, got %s", k->section, k->name,
                    r->open_hi ? "<" : "<=", r->hi, text);
    return 0;
}

static int set_int(void *field, const struct key *k, const char *text, char *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!starts_value(text) || *end != '\0')
        return fail(err, "%s.%s: expected an integer, got '%s'", k->section, k->name, text);
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
        return fail(err, "%s.%s: %s does not fit in an int", k->section, k->name, text);
    if (check_range(k, (double)v, text, err))
        return -1;
    *(int *)field = (int)v;
    return 0;
}

static int set_u64(void *field, const struct key *k, const char *text, char *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    /* strtoull would quietly negate "-1" into a huge value */
    if (!starts_value(text) || text[0] == '-' || *end != '\0')
        return fail(err, "%s.%s: expected a non-negative integer, got '%s'", k->section, k->name,
                    text);
    if (errno == ERANGE)
        return fail(err, "%s.%s: %s does not fit in 64 bits", k->section, k->name, text);
    *(uint64_t *)field = (uint64_t)v;
    return 0;
}

static int set_double(void *field, const struct key *k, const char *text, char *err)
{
    char *end;
    double v = strtod(text, &end);
    if (!starts_value(text) || *end != '\0')
        return fail(err, "%s.%s: expected a number, got '%s'", k->section, k->name, text);
    if (!isfinite(v)) /* nan, inf, and overflow such as 1e999 */
        return fail(err, "%s.%s: expected a finite number, got '%s'", k->section, k->name, text);
    if (check_range(k, v, text, err))
        return -1;
    *(double *)field = v;
    return 0;
}

static int set_bool(void *field, const struct key *k, const char *text, char *err)
{
    if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
        return fail(err, "%s.%s: expected 0 or 1, got '%s'", k->section, k->name, text);
    *(int *)field = text[0] - '0';
    return 0;
}

/* Longest value that fits the field and, written as "name = value", one
 * line inih can read back: pl_config_write must round-trip every value. */
static size_t string_limit(const struct key *k)
{
    if (k->lines) /* written wrapped over as many lines as it needs */
        return k->size - 1;
    size_t line = INI_LINE_CHARS - strlen(k->name) - strlen(" = ");
    return k->size - 1 < line ? k->size - 1 : line;
}

/* inih strips surrounding space and treats ';' after space (or first in
 * the value) as a comment, so such values would not read back as written. */
static bool ini_safe(const char *text)
{
    size_t len = strlen(text);
    if (len > 0 && (isspace((unsigned char)text[0]) || isspace((unsigned char)text[len - 1])))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (iscntrl(c))
            return false;
        if (c == ';' && (i == 0 || isspace((unsigned char)text[i - 1])))
            return false;
    }
    return true;
}

static int set_string(void *field, const struct key *k, const char *text, char *err)
{
    char canonical[VALUE_MAX];
    if (k->canon) {
        char why[ERR_MAX];
        if (k->canon(text, canonical, k->size, why, sizeof why)) /* "net.layers entry 3 ..." */
            return fail(err, "%s.%s%s%s", k->section, k->name,
                        strncmp(why, "entry ", 6) == 0 ? " " : ": ", why);
        text = canonical;
    }
    size_t len = strlen(text), limit = string_limit(k);
    if (len > limit)
        return fail(err, "%s.%s: value is %zu characters long, the limit is %zu", k->section,
                    k->name, len, limit);
    if (!ini_safe(text))
        return fail(err,
                    "%s.%s: '%s' cannot be written to an INI file (control character, "
                    "surrounding space, or ';' first or after a space)",
                    k->section, k->name, text);
    memset(field, 0, k->size); /* zero tail: equal values give equal bytes */
    memcpy(field, text, len);
    return 0;
}

static bool is_choice(const char *choices, const char *text)
{
    size_t len = strlen(text);
    for (const char *c = choices; *c != '\0';) {
        size_t n = strcspn(c, "|");
        if (n == len && strncmp(c, text, n) == 0)
            return true;
        c += n + (c[n] == '|');
    }
    return false;
}

static int set_choice(void *field, const struct key *k, const char *text, char *err)
{
    if (!is_choice(k->choices, text))
        return fail(err, "%s.%s: expected one of %s, got '%s'", k->section, k->name, k->choices,
                    text);
    return set_string(field, k, text, err);
}

/* Parses text as key k's value and stores it in cfg; on error cfg is
 * untouched and err holds "section.key: reason". */
static int set_value(pl_config *cfg, const struct key *k, const char *text, char *err)
{
    void *field = (char *)cfg + k->offset;
    switch (k->kind) {
    case KIND_INT: return set_int(field, k, text, err);
    case KIND_U64: return set_u64(field, k, text, err);
    case KIND_DOUBLE: return set_double(field, k, text, err);
    case KIND_STRING: return set_string(field, k, text, err);
    case KIND_CHOICE: return set_choice(field, k, text, err);
    case KIND_BOOL: return set_bool(field, k, text, err);
    }
    return fail(err, "%s.%s: unhandled key type", k->section, k->name);
}

/* ---- formatting one value ---- */

/* Shortest of %.15g, %.16g, %.17g that reads back as the same double;
 * %.17g always does. */
static void format_double(double v, char *buf, size_t size)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void format_value(const pl_config *cfg, const struct key *k, char *buf, size_t size)
{
    const void *field = (const char *)cfg + k->offset;
    switch (k->kind) {
    case KIND_INT:
    case KIND_BOOL: snprintf(buf, size, "%d", *(const int *)field); break;
    case KIND_U64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)field); break;
    case KIND_DOUBLE: format_double(*(const double *)field, buf, size); break;
    case KIND_STRING:
    case KIND_CHOICE: /* bounded: the field may lack a terminator if set directly */
        snprintf(buf, size, "%.*s", (int)strnlen(field, k->size), (const char *)field);
        break;
    }
}

/* ---- finding a key ---- */

static bool section_known(const char *section)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(keys[i].section, section) == 0)
            return true;
    return false;
}

static void list_sections(char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (i > 0 && strcmp(keys[i].section, keys[i - 1].section) == 0)
            continue;
        if (i > 0)
            append(buf, size, ", ");
        append(buf, size, keys[i].section);
    }
}

static void list_keys(const char *section, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        if (buf[0] != '\0')
            append(buf, size, ", ");
        append(buf, size, keys[i].name);
    }
}

/* The row for section.name, or NULL with err saying what is known. */
static const struct key *find_key(const char *section, const char *name, char *err)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    char known[ERR_MAX / 2];
    if (section[0] == '\0') {
        list_sections(known, sizeof known);
        fail(err, "key '%s' is outside any section (known sections: %s)", name, known);
    } else if (section_known(section)) {
        list_keys(section, known, sizeof known);
        fail(err, "unknown key '%s' in section [%s] (known: %s)", name, section, known);
    } else {
        list_sections(known, sizeof known);
        fail(err, "unknown section [%s] (known: %s)", section, known);
    }
    return NULL;
}

/* For keys the code itself names; a missing row is a programming error. */
static const struct key *row(const char *section, const char *name)
{
    char err[ERR_MAX];
    const struct key *k = find_key(section, name, err);
    if (!k) {
        pl_error_all("config table: %s", err);
        abort();
    }
    return k;
}

/* ---- public interface ---- */

void pl_config_defaults(pl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[ERR_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (set_value(cfg, &keys[i], keys[i].def, err)) {
            pl_error_all("config table: bad default: %s", err);
            abort();
        }
    }
}

void pl_config_reset_sections(pl_config *cfg, const char *const *sections)
{
    char err[ERR_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (pl_config_section_in(keys[i].section, sections))
            set_value(cfg, &keys[i], keys[i].def, err); /* defaults always parse */
}

/* State of one pl_config_load. The work copy is committed only on success,
 * so a failed load leaves the caller's config as it was. */
struct loader {
    pl_config work;
    FILE *file;
    int line;          /* physical line of the last chunk read */
    bool mid_line;     /* the last chunk stopped before the end of its line */
    int read_errno;    /* nonzero if reading failed */
    int err_line;      /* line of the first error found here; 0: none */
    char err[ERR_MAX];
    bool seen[KEY_COUNT];
    bool indented;     /* the line being parsed starts with white space */
    char *gathered[KEY_COUNT]; /* multi-line keys: their text so far */
    int gathered_line[KEY_COUNT]; /* and the line it began on */
};

__attribute__((format(printf, 2, 3))) static int loader_fail(struct loader *ld, const char *fmt,
                                                              ...)
{
    if (ld->err_line == 0) {
        ld->err_line = ld->line;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->err, sizeof ld->err, fmt, ap);
        va_end(ap);
    }
    return 0; /* tells inih this line failed */
}

static bool at_eof(FILE *f)
{
    int c = getc(f);
    if (c == EOF)
        return true;
    ungetc(c, f);
    return false;
}

/* inih never shows the handler a section header, so an unknown section
 * without keys would pass unseen and one with keys would be reported at its
 * first key; checking headers as they are read names the header's line.
 * Headers inih rejects (no ']', or a comment before it) are left to it. */
static void check_section_line(struct loader *ld, const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    if (*line != '[')
        return;
    const char *name = line + 1;
    size_t len = strcspn(name, "]");
    if (name[len] != ']' || len >= PL_NAME_MAX)
        return;
    for (size_t i = 0; i < len; i++)
        if (name[i] == ';' && i > 0 && isspace((unsigned char)name[i - 1]))
            return;
    char section[PL_NAME_MAX];
    memcpy(section, name, len);
    section[len] = '\0';
    if (!section_known(section)) {
        char known[ERR_MAX / 2];
        list_sections(known, sizeof known);
        loader_fail(ld, "unknown section [%s] (known: %s)", section, known);
    }
}

/* inih's reader hook. Counting lines here gives the handler the line
 * numbers Debian's build does not pass it, and catches lines longer than
 * inih's buffer, and NUL bytes, both of which would cut a line silently. */
static char *read_line(char *buf, int size, void *stream)
{
    struct loader *ld = stream;
    long start = ftell(ld->file);
    if (!fgets(buf, size, ld->file)) {
        if (ferror(ld->file))
            ld->read_errno = errno ? errno : EIO;
        return NULL;
    }
    if (!ld->mid_line) {
        ld->line++;
        ld->indented = buf[0] == ' ' || buf[0] == '\t';
    }
    size_t len = strlen(buf);
    long end = ftell(ld->file); /* -1 on a stream without positions: no check */
    if (start >= 0 && end >= 0 && (size_t)(end - start) != len) {
        loader_fail(ld, "line holds a NUL byte (is this a text file?)");
        ld->mid_line = false;
        return buf;
    }
    ld->mid_line = len == (size_t)size - 1 && buf[len - 1] != '\n' && !at_eof(ld->file);
    if (ld->mid_line)
        loader_fail(ld, "line is longer than %d characters", size - 2);
    else
        check_section_line(ld, buf);
    return buf;
}

/* A multi-line key's line: its first, or an indented continuation line,
 * which inih hands over as another value of the same key. inih strips
 * " ; comments" from first lines only, so they are cut here from the
 * others. The whole text is checked once the file is read (load_stream). */
static int gather(struct loader *ld, const struct key *k, const char *value)
{
    size_t i = (size_t)(k - keys), cap = 2 * k->size;
    if (!ld->seen[i]) {
        ld->seen[i] = true;
        ld->gathered_line[i] = ld->line;
        ld->gathered[i] = pl_calloc(cap, 1);
    } else if (!ld->indented) {
        return loader_fail(ld, "%s.%s is set twice", k->section, k->name);
    }
    char *text = ld->gathered[i];
    size_t used = strlen(text), len = strlen(value);
    for (size_t c = 1; c < len; c++)
        if (value[c] == ';' && isspace((unsigned char)value[c - 1])) {
            len = c;
            break;
        }
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (used + 1 + len >= cap)
        return loader_fail(ld, "%s.%s is longer than %zu characters", k->section, k->name,
                           k->size - 1);
    if (used > 0)
        text[used++] = ' ';
    memcpy(text + used, value, len);
    text[used + len] = '\0';
    return 1;
}

/* Sets the multi-line keys from their gathered text; an error is reported
 * at the key's first line. */
static void set_gathered(struct loader *ld)
{
    char err[ERR_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (!ld->gathered[i] || ld->err_line != 0)
            continue;
        if (set_value(&ld->work, &keys[i], ld->gathered[i], err)) {
            ld->line = ld->gathered_line[i];
            loader_fail(ld, "%s", err);
        }
    }
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    if (ld->err_line != 0)
        return 1; /* only the first error is reported */
    char err[ERR_MAX];
    const struct key *k = find_key(section, name, err);
    if (!k)
        return loader_fail(ld, "%s", err);
    if (k->lines)
        return gather(ld, k, value);
    /* inih also hands over an indented line as a second value of the key
     * above it; either way, silently keeping the last one would hide it */
    if (ld->seen[k - keys])
        return loader_fail(ld, "%s.%s is set twice (an indented line continues the key above)",
                           k->section, k->name);
    ld->seen[k - keys] = true;
    if (set_value(&ld->work, k, value, err))
        return loader_fail(ld, "%s", err);
    return 1;
}

/* Prints the first error of a parse; ini_failed is ini_parse_stream's
 * result, which is the line of its first error (syntax or handler). */
static void report_load_error(const struct loader *ld, const char *path, int ini_failed)
{
    if (ld->read_errno)
        pl_error("cannot read config file '%s': %s", path, strerror(ld->read_errno));
    else if (ld->err_line != 0 && (ini_failed <= 0 || ld->err_line <= ini_failed))
        pl_error("%s:%d: %s", path, ld->err_line, ld->err);
    else if (ini_failed > 0)
        pl_error("%s:%d: syntax error (expected [section], key = value or a ; comment)", path,
                 ini_failed);
    else
        pl_error("%s: the INI parser failed (%d)", path, ini_failed);
}

/* Parses an opened INI stream over *cfg; name is what errors call it. */
static int load_stream(pl_config *cfg, FILE *file, const char *name)
{
    struct loader *ld = pl_calloc(1, sizeof *ld);
    ld->work = *cfg;
    ld->file = file;
    int ini_failed = ini_parse_stream(read_line, ld, on_pair, ld);
    if (ini_failed == 0 && ld->read_errno == 0)
        set_gathered(ld);
    for (size_t i = 0; i < KEY_COUNT; i++)
        pl_free(ld->gathered[i]);
    int rc = 0;
    if (ini_failed != 0 || ld->err_line != 0 || ld->read_errno != 0) {
        report_load_error(ld, name, ini_failed);
        rc = PL_EXIT_USAGE;
    } else {
        *cfg = ld->work;
    }
    pl_free(ld);
    return rc;
}

int pl_config_load(pl_config *cfg, const char *path)
{
    if (strlen(path) >= sizeof cfg->source) {
        pl_error("config file path is longer than %zu characters: '%s'", sizeof cfg->source - 1,
                 path);
        return PL_EXIT_USAGE;
    }
    FILE *file = fopen(path, "r");
    if (!file) {
        pl_error("cannot open config file '%s': %s", path, strerror(errno));
        return PL_EXIT_USAGE;
    }
    int rc = load_stream(cfg, file, path);
    fclose(file);
    if (rc == 0)
        snprintf(cfg->source, sizeof cfg->source, "%s", path);
    return rc;
}

int pl_config_load_text(pl_config *cfg, const char *text, const char *name)
{
    FILE *file = fmemopen((void *)text, strlen(text), "r");
    if (!file) {
        pl_error("%s: cannot read the stored configuration: %s", name, strerror(errno));
        return PL_EXIT_USAGE;
    }
    int rc = load_stream(cfg, file, name);
    fclose(file);
    return rc;
}

/* Keys that say where and how a run executes rather than what it computes:
 * a run may resume with other values for these. */
static bool may_differ_on_resume(const struct key *k)
{
    /* net.parallel and net.stages lay the net out over the ranks, as the
     * rank count does (results may differ by float rounding, as with the
     * fast sum on another rank count) */
    static const char *const runtime[] = {"run.name",    "run.dir",      "run.threads",
                                          "run.resume",  "data.dir",     "net.parallel",
                                          "net.stages",  NULL};
    if (!strcmp(k->section, "checkpoint") || !strcmp(k->section, "log"))
        return true;
    char full[2 * PL_NAME_MAX];
    snprintf(full, sizeof full, "%s.%s", k->section, k->name);
    for (int i = 0; runtime[i]; i++)
        if (!strcmp(full, runtime[i]))
            return true;
    return false;
}

int pl_config_section_in(const char *section, const char *const *skip)
{
    for (int i = 0; skip && skip[i]; i++)
        if (!strcmp(section, skip[i]))
            return 1;
    return 0;
}

int pl_config_diff(const pl_config *stored, const pl_config *current, const char *const *skip,
                   char *what, size_t size)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (may_differ_on_resume(&keys[i]) || pl_config_section_in(keys[i].section, skip))
            continue;
        char a[VALUE_MAX], b[VALUE_MAX];
        format_value(stored, &keys[i], a, sizeof a);
        format_value(current, &keys[i], b, sizeof b);
        if (strcmp(a, b) != 0) {
            snprintf(what, size, "%s.%s is %s there but %s here", keys[i].section, keys[i].name,
                     a, b);
            return 1;
        }
    }
    return 0;
}

/* The row of "section.key", or NULL with err saying what is known. */
static const struct key *find_dotted(const char *dotted, char *err)
{
    char section[PL_NAME_MAX];
    const char *dot = strchr(dotted, '.');
    if (!dot || (size_t)(dot - dotted) >= sizeof section) {
        fail(err, "'%s' is not a section.key", dotted);
        return NULL;
    }
    memcpy(section, dotted, (size_t)(dot - dotted));
    section[dot - dotted] = '\0';
    return find_key(section, dot + 1, err);
}

int pl_config_is_runtime(const char *dotted)
{
    char err[ERR_MAX];
    const struct key *k = find_dotted(dotted, err);
    return k ? may_differ_on_resume(k) : -1;
}

int pl_config_set(pl_config *cfg, const char *dotted, const char *value, char *err,
                  size_t errsize)
{
    char why[ERR_MAX];
    const struct key *k = find_dotted(dotted, why);
    if (!k || set_value(cfg, k, value, why)) {
        snprintf(err, errsize, "%s", why);
        return -1;
    }
    return 0;
}

int pl_config_get(const pl_config *cfg, const char *dotted, char *buf, size_t size)
{
    char err[ERR_MAX];
    const struct key *k = find_dotted(dotted, err);
    if (!k)
        return -1;
    char value[VALUE_MAX];
    format_value(cfg, k, value, sizeof value);
    snprintf(buf, size, "%s", value);
    return 0;
}

/* Keys added after run ids were in use, whose default is the behaviour
 * from before they existed: left out of the identity at that default, so
 * adding them changed no existing run's id (sweeps stay resumable). */
static bool silent_at_default(const struct key *k, const char *value)
{
    static const char *const later[] = {"net.bias",          "optim.clip",     "net.stale",
                                         "net.untie",         "net.untie_after", "data.normalize",
                                         "net.power_m",       "net.power_beta",  "kh.dynamics",
                                         "kh.w_inh",          "kh.h_star",       "kh.dt",
                                         "kh.slow_tol",       "kh.slow_max_steps",
                                         "kh.slow_normalize", NULL};
    char full[2 * PL_NAME_MAX];
    snprintf(full, sizeof full, "%s.%s", k->section, k->name);
    for (int i = 0; later[i]; i++) {
        if (strcmp(full, later[i]) != 0)
            continue;
        pl_config *d = pl_alloc(sizeof *d);
        pl_config_defaults(d);
        char def[VALUE_MAX];
        format_value(d, k, def, sizeof def);
        pl_free(d);
        return strcmp(value, def) == 0;
    }
    return false;
}

char *pl_config_identity(const pl_config *cfg, const char *const *skip)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    char value[VALUE_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const struct key *k = &keys[i];
        if (may_differ_on_resume(k) || pl_config_section_in(k->section, skip))
            continue;
        format_value(cfg, k, value, sizeof value);
        if (!silent_at_default(k, value))
            fprintf(f, "%s.%s=%s\n", k->section, k->name, value);
    }
    fclose(f);
    return text;
}

int pl_config_override(pl_config *cfg, const char *assignment)
{
    size_t len = strlen(assignment);
    char *copy = pl_alloc(len + 1);
    memcpy(copy, assignment, len + 1);
    char *eq = strchr(copy, '=');
    char *dot = eq ? memchr(copy, '.', (size_t)(eq - copy)) : NULL;
    char err[ERR_MAX] = "expected section.key=value";
    int rc = PL_EXIT_USAGE;
    if (dot) {
        *eq = '\0';
        *dot = '\0';
        const char *section = pl_trim(copy), *name = pl_trim(dot + 1), *value = pl_trim(eq + 1);
        if (section[0] != '\0' && name[0] != '\0') {
            const struct key *k = find_key(section, name, err);
            if (k && set_value(cfg, k, value, err) == 0)
                rc = 0;
        }
    }
    if (rc)
        pl_error("override '%s': %s", assignment, err);
    pl_free(copy);
    return rc;
}

/* Re-reads every value through its setter: fields assigned directly in
 * code get the same checks as the file and the command line. */
static int check_all(const pl_config *cfg, char *err)
{
    pl_config scratch = *cfg;
    char value[VALUE_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        format_value(cfg, &keys[i], value, sizeof value);
        if (set_value(&scratch, &keys[i], value, err))
            return -1;
    }
    return 0;
}

/* run.name: the config file's name without directory and ".ini". */
static int derive_name(pl_config *cfg)
{
    char name[PL_PATH_MAX], err[ERR_MAX];
    const char *slash = strrchr(cfg->source, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : cfg->source);
    size_t len = strlen(name);
    if (len >= 4 && strcmp(name + len - 4, ".ini") == 0)
        name[len - 4] = '\0';
    if (name[0] == '\0')
        snprintf(name, sizeof name, "plastic");
    if (set_value(cfg, row("run", "name"), name, err) == 0)
        return 0;
    pl_error("%s (derived from '%s'; set run.name)", err, cfg->source);
    return PL_EXIT_USAGE;
}

static int derive_dir(pl_config *cfg)
{
    char dir[VALUE_MAX], err[ERR_MAX];
    snprintf(dir, sizeof dir, "runs/%s", cfg->run.name);
    if (set_value(cfg, row("run", "dir"), dir, err) == 0)
        return 0;
    pl_error("%s (derived from run.name; set run.dir)", err);
    return PL_EXIT_USAGE;
}

int pl_config_finalize(pl_config *cfg)
{
    char err[ERR_MAX];
    if (check_all(cfg, err)) {
        pl_error("%s", err);
        return PL_EXIT_USAGE;
    }
    if (cfg->run.name[0] == '\0' && derive_name(cfg))
        return PL_EXIT_USAGE;
    if (cfg->run.dir[0] == '\0' && derive_dir(cfg))
        return PL_EXIT_USAGE;
    return 0;
}

/* A multi-line key's "name = value" in lines of at most WRAP_COLUMNS
 * characters, continued on lines indented by 4, broken after a comma where
 * possible, else at a space. The value has single spaces only (its canon
 * function made it so), and loading joins the lines with one space, so it
 * reads back unchanged. */
enum { WRAP_COLUMNS = 100, WRAP_INDENT = 4 };
static void write_wrapped(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%s =%s", name, value[0] ? " " : "");
    size_t room = WRAP_COLUMNS - strlen(name) - strlen(" = ");
    const char *rest = value;
    for (size_t len = strlen(rest); len > room; len = strlen(rest)) {
        size_t cut = 0;
        for (size_t i = 1; i <= room; i++)
            if (rest[i] == ' ' && (rest[i - 1] == ',' || cut == 0 || rest[cut - 1] != ','))
                cut = i;
        if (cut == 0) { /* one word longer than a line: break at its end */
            const char *space = strchr(rest + room, ' ');
            if (!space)
                break;
            cut = (size_t)(space - rest);
        }
        fprintf(out, "%.*s\n%*s", (int)cut, rest, WRAP_INDENT, "");
        rest += cut + 1;
        room = WRAP_COLUMNS - WRAP_INDENT;
    }
    fprintf(out, "%s\n", rest);
}

int pl_config_write(const pl_config *cfg, const char *const *skip, FILE *out)
{
    fprintf(out, "; plastic %s: every key with its resolved value\n", PLASTIC_VERSION);
    char value[VALUE_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const struct key *k = &keys[i];
        if (pl_config_section_in(k->section, skip))
            continue;
        if (i == 0 || strcmp(k->section, keys[i - 1].section) != 0)
            fprintf(out, "\n[%s]\n", k->section);
        format_value(cfg, k, value, sizeof value);
        if (k->lines)
            write_wrapped(out, k->name, value);
        else
            fprintf(out, "%s =%s%s\n", k->name, value[0] ? " " : "", value);
    }
    if (fflush(out) != 0 || ferror(out)) {
        pl_error("cannot write the configuration: %s", strerror(errno));
        return PL_EXIT_USAGE;
    }
    return 0;
}

char *pl_config_text(const pl_config *cfg, const char *const *skip)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = pl_text_stream(&text, &size);
    pl_config_write(cfg, skip, f);
    fclose(f);
    return text;
}

/* The valid values of k for --help, e.g. ">= 1" or "mnist|fashion". */
static void describe_values(const struct key *k, char *buf, size_t size)
{
    const struct range *r = &k->range;
    char bound[64];
    buf[0] = '\0';
    if (k->kind == KIND_CHOICE)
        append(buf, size, k->choices);
    if (k->kind == KIND_BOOL)
        append(buf, size, "0|1");
    if (r->has_lo) {
        snprintf(bound, sizeof bound, "%s %g", r->open_lo ? ">" : ">=", r->lo);
        append(buf, size, bound);
    }
    if (r->has_hi) {
        snprintf(bound, sizeof bound, "%s%s %g", r->has_lo ? ", " : "", r->open_hi ? "<" : "<=",
                 r->hi);
        append(buf, size, bound);
    }
}

static void default_text(const struct key *k, char *buf, size_t size)
{
    snprintf(buf, size, "%s", k->def[0] != '\0' ? k->def : "\"\"");
}

void pl_config_print_keys(FILE *out)
{
    int key_w = 0, type_w = 0, def_w = 0;
    char text[VALUE_MAX];
    for (size_t i = 0; i < KEY_COUNT; i++) {
        int w = (int)(strlen(keys[i].section) + 1 + strlen(keys[i].name));
        key_w = w > key_w ? w : key_w;
        w = (int)strlen(kind_names[keys[i].kind]);
        type_w = w > type_w ? w : type_w;
        default_text(&keys[i], text, sizeof text);
        w = (int)strlen(text);
        def_w = w > def_w && w <= 16 ? w : def_w; /* longer ones (net.layers) overflow */
    }
    fprintf(out, "Configuration keys (INI file sections, or override with section.key=value):\n");
    for (size_t i = 0; i < KEY_COUNT; i++) {
        const struct key *k = &keys[i];
        char name[256], values[256];
        snprintf(name, sizeof name, "%s.%s", k->section, k->name);
        default_text(k, text, sizeof text);
        describe_values(k, values, sizeof values);
        fprintf(out, "  %-*s  %-*s  %-*s  %s%s%s%s\n", key_w, name, type_w, kind_names[k->kind],
                def_w, text, k->help, values[0] ? " [" : "", values, values[0] ? "]" : "");
    }
}
