/* bin/plastic: parse the verb, the configuration and its overrides, then
 * run the verb on the MPI world. One rank is simply a world of size 1. */
#include "plastic/ckpt.h"
#include "plastic/common.h"
#include "plastic/config.h"
#include "plastic/curves.h"
#include "plastic/gemm.h"
#include "plastic/par.h"
#include "plastic/rule.h"
#include "plastic/sweep.h"
#include "plastic/theory.h"
#include "plastic/train.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: plastic VERB CONFIG.ini [section.key=value ...]\n"
            "       mpirun -np N plastic VERB CONFIG.ini [...]\n"
            "\n"
            "verbs:\n"
            "  train   train the model of CONFIG; outputs go to run.dir\n"
            "  bench   time epochs of the rule's first stage against the bare GEMMs they need\n"
            "  ckpt-bench  time checkpoint write/read of the model (784 inputs) against plain I/O\n"
            "  sweep   plastic sweep SWEEP.ini [--plan] [--slice i/N] [--report] [--cores N]\n"
            "          [section.key=value ...]: a grid, random or TPE search of runs, one row\n"
            "          each in <sweep.dir>/results.csv (see configs/sweep-pk.ini); --plan\n"
            "          prints the runs and trainings and writes nothing; --report retrains\n"
            "          the best tuned point per cell on all training data, writes report.md\n"
            "  curves  plastic curves -o OUT.png [--metric train_error|valid_error|test_error]\n"
            "          [--title T] [--log] RUN_DIR[=LABEL] ...: one metric per epoch of\n"
            "          several runs in one chart (each run also draws its own curves.png)\n"
            "  theory  plastic theory -o DIR [--iters N] [--lr X] [--seeds N] [--batch B]\n"
            "          [--every K]: the linear theory of updated random feedback (Amit,\n"
            "          Section 3): SGD, URFB and FRFB on a 40-100-100-10 linear net, and\n"
            "          eps = 0 .. 1 from zero weights; charts, CSVs and tables (no CONFIG)\n"
            "  info    plastic info FILE.h5: what a checkpoint or model file holds\n"
            "  help    this text and every configuration key (also --help)\n"
            "  version print the version (also --version)\n"
            "\n"
            "exit codes: 0 done, 1 usage or configuration error, 2 bad data or checkpoint,\n"
            "            3 diverged (NaN/Inf), 85 checkpointed on a signal (resume with\n"
            "            run.resume=auto)\n"
            "\n"
            "rules (model.rule):\n");
    for (const pl_rule *const *r = pl_rules(); *r; r++)
        fprintf(out, "  %-7s %s\n", (*r)->name, (*r)->title);
    fprintf(out, "\n");
    pl_config_print_keys(out);
}

static int train_verb(const pl_config *cfg, const pl_comm *comm) { return pl_train(cfg, comm, NULL); }

/* Defaults, then the file, then the overrides in order. */
static int read_config(pl_config *cfg, int argc, char **argv)
{
    pl_config_defaults(cfg);
    int rc = pl_config_load(cfg, argv[2]);
    for (int i = 3; i < argc && rc == 0; i++)
        rc = pl_config_override(cfg, argv[i]);
    return rc ? rc : pl_config_finalize(cfg);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? PL_EXIT_USAGE : PL_EXIT_OK;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("plastic %s\n", PLASTIC_VERSION);
        return PL_EXIT_OK;
    }
    if (!strcmp(argv[1], "curves")) /* reads files only: no MPI */
        return pl_curves_verb(argc - 1, argv + 1);
    if (!strcmp(argv[1], "theory")) /* a simulation of its own: no MPI, no config */
        return pl_theory_verb(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) {
        if (argc != 3) {
            fprintf(stderr, "plastic: error: usage: plastic info FILE.h5\n");
            return PL_EXIT_USAGE;
        }
        if (pl_par_init(&argc, &argv) != 0)
            return PL_EXIT_USAGE;
        int rc = pl_comm_rank(pl_comm_world()) == 0 ? pl_h5_info(argv[2], stdout) : 0;
        pl_par_finalize();
        return rc;
    }
    if (!strcmp(argv[1], "sweep")) {
        if (pl_par_init_threads(&argc, &argv, 1) != 0) {
            fprintf(stderr, "plastic: error: MPI initialisation failed\n");
            return PL_EXIT_USAGE;
        }
        pl_blas_check_kernel();
        int rc = pl_sweep_verb(argc - 2, argv + 2, pl_comm_world());
        pl_par_finalize();
        return rc;
    }
    int (*verb)(const pl_config *, const pl_comm *) = NULL;
    if (!strcmp(argv[1], "train"))
        verb = train_verb;
    else if (!strcmp(argv[1], "bench"))
        verb = pl_bench;
    else if (!strcmp(argv[1], "ckpt-bench"))
        verb = pl_ckpt_bench;
    if (!verb) {
        fprintf(stderr, "plastic: error: unknown verb '%s' (try plastic --help)\n", argv[1]);
        return PL_EXIT_USAGE;
    }
    if (argc < 3) {
        fprintf(stderr, "plastic: error: '%s' needs a CONFIG.ini (try plastic --help)\n", argv[1]);
        return PL_EXIT_USAGE;
    }

    if (pl_par_init(&argc, &argv) != 0) {
        fprintf(stderr, "plastic: error: MPI initialisation failed\n");
        return PL_EXIT_USAGE;
    }
    pl_config cfg;
    int rc = read_config(&cfg, argc, argv);
    if (rc == 0) {
        pl_blas_check_kernel();
        rc = verb(&cfg, pl_comm_world());
    }
    pl_par_finalize();
    return rc;
}
