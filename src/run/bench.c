/* `plastic bench`: how close an epoch of the rule's first stage comes to
 * the one unavoidable cost, the bare GEMMs it needs (the rule times them:
 * KH, the SGEMM of its currents; a layered rule, the forward and backward
 * products of its layers). Epochs and bare-GEMM blocks alternate, so both
 * see the same machine load; ratios are taken pairwise. */
#include "plastic/common.h"
#include "plastic/train.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int pl_bench(const pl_config *cfg, const pl_comm *comm)
{
    const pl_rule *rule = pl_rule_of(cfg);
    int rc = pl_rule_check(cfg, pl_comm_size(comm));
    if (rc)
        return rc;
    if (!rule->bench_bare) {
        pl_error("model.rule = %s has no benchmark", rule->name);
        return PL_EXIT_USAGE;
    }
    if (cfg->run.threads > 0)
        openblas_set_num_threads(cfg->run.threads);
    const int threads = openblas_get_num_threads();
    pl_dataset train, valid, test;
    rc = pl_load_splits(cfg, &train, &valid, &test);
    if (rc)
        return rc;
    pl_model *m = rule->create(cfg, comm, &train, &valid, &test);
    if (!m) {
        pl_dataset_free(&train);
        pl_dataset_free(&valid);
        pl_dataset_free(&test);
        return PL_EXIT_USAGE;
    }
    const int stage = 0, epochs = rule->epochs(cfg, stage);
    double *epoch_s = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    double *bare_s = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    double *ratio = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    long bytes_per_epoch = 0;

    char line[512];
    rule->bench_describe(m, stage, line, sizeof line);
    pl_info("bench: %s, stage %s, %d rank(s) x %d thread(s): %s", rule->name,
            rule->stages[stage].name, pl_comm_size(comm), threads, line);
    if (rule->begin_stage)
        rc = rule->begin_stage(m, stage);
    for (int e = 0; e < epochs && rc == 0; e++) {
        bare_s[e] = rule->bench_bare(m, stage);
        long sent0 = pl_comm_bytes_sent(comm);
        pl_barrier(comm);
        double t0 = pl_now();
        pl_epoch_pos pos = {0};
        rc = rule->epoch(m, stage, e, &pos, NULL, NULL);
        double t = pl_now() - t0;
        pl_allreduce_max_double(comm, &t, 1);
        epoch_s[e] = t;
        ratio[e] = t / bare_s[e];
        bytes_per_epoch = pl_comm_bytes_sent(comm) - sent0;
        long minibatches = pos.batch > 0 ? pos.batch : 1;
        pl_info("epoch %d: %.3f s   bare GEMMs %.3f s   ratio %.3f   bytes sent per minibatch "
                "per rank %ld", e + 1, epoch_s[e], bare_s[e], ratio[e],
                bytes_per_epoch / minibatches);
        bytes_per_epoch /= minibatches;
        if (rule->bench_detail) {
            char detail[4096];
            rule->bench_detail(m, stage, detail, sizeof detail);
            if (detail[0])
                pl_info("epoch %d %s", e + 1, detail);
        }
    }
    if (rc == 0 && epochs > 0) {
        double me = median(epoch_s, epochs), mb = median(bare_s, epochs);
        double mr = median(ratio, epochs);
        pl_info("summary: %s %d rank(s) x %d thread(s)  epoch %.3f s  bare %.3f s  ratio %.3f  "
                "bytes/minibatch/rank %ld  (medians of %d)",
                rule->name, pl_comm_size(comm), threads, me, mb, mr, bytes_per_epoch, epochs);
    }
    pl_free(epoch_s);
    pl_free(bare_s);
    pl_free(ratio);
    rule->destroy(m);
    pl_dataset_free(&train);
    pl_dataset_free(&valid);
    pl_dataset_free(&test);
    return rc;
}
