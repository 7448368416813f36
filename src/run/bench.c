/* `plastic bench`: how close a KH epoch comes to the one unavoidable cost,
 * the SGEMM of its currents. Epochs and bare SGEMM blocks (the same
 * nrows x N by N x B product, once per minibatch) alternate, so both see the
 * same machine load; ratios are taken pairwise. A rank's T threads run the
 * epoch as T shards of tiles (kh.h); the bare SGEMM is the rank's whole,
 * untiled product with OpenBLAS on the same T threads. */
#include "plastic/train.h"
#include "plastic/common.h"

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

/* The bare currents SGEMM of every minibatch of an epoch, over the same
 * examples (consecutive blocks instead of the shuffled order), one call per
 * minibatch with OpenBLAS on `threads` threads; slowest rank. */
static double time_sgemm(const pl_kh *kh, const pl_dataset *train, int B, int minibatches,
                         int threads, float *currents)
{
    openblas_set_num_threads(threads);
    pl_barrier(kh->comm);
    double t0 = pl_now();
    for (int i = 0; i < minibatches && kh->nrows > 0; i++) {
        int first = i * B + B <= train->n ? i * B : 0;
        const float *X = train->x + (size_t)first * kh->dim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)kh->nrows, kh->dim, 1.0f, X,
                    kh->dim, kh->Wp, kh->ldp, 0.0f, currents, (int)kh->nrows);
    }
    double t = pl_now() - t0;
    pl_allreduce_max_double(kh->comm, &t, 1);
    return t;
}

int pl_bench(const pl_config *cfg, const pl_comm *comm)
{
    int rc = pl_check_run(cfg, comm);
    if (rc)
        return rc;
    if (cfg->run.threads > 0)
        openblas_set_num_threads(cfg->run.threads);
    pl_dataset train, valid, test;
    rc = pl_load_splits(cfg, &train, &valid, &test);
    if (rc)
        return rc;
    const int B = cfg->kh.batch, epochs = cfg->kh.epochs;
    const int minibatches = (train.n + B - 1) / B;
    pl_kh kh;
    pl_kh_init(&kh, comm, cfg->kh.hidden, train.dim, cfg->kh.p, cfg->kh.k, (float)cfg->kh.delta, B,
               cfg->run.seed, cfg->kh.tile);
    /* as in train: KH threads = BLAS threads (run.threads or OpenBLAS's own) */
    const int threads = openblas_get_num_threads();
    pl_kh_set_threads(&kh, threads);
    float *xbuf = pl_alloc((size_t)B * train.dim * sizeof *xbuf);
    float *currents = pl_alloc((size_t)B * (size_t)(kh.nrows ? kh.nrows : 1) * sizeof *currents);
    double *epoch_s = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    double *sgemm_s = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    double *ratio = pl_alloc((size_t)(epochs > 0 ? epochs : 1) * sizeof(double));
    long bytes_per_minibatch = 0;

    pl_info("bench: %d rank(s) x %d thread(s): the KH step on %d shard(s) of rows per rank, "
            "the bare SGEMM on %d BLAS thread(s); K=%ld N=%d B=%d p=%g k=%d tile=%d; %d "
            "minibatches per epoch",
            pl_comm_size(comm), threads, kh.threads, threads, kh.hidden, kh.dim, B, kh.p, kh.k,
            kh.tile, minibatches);
    for (int e = 0; e < epochs && rc == 0; e++) {
        sgemm_s[e] = time_sgemm(&kh, &train, B, minibatches, threads, currents);
        long sent0 = pl_comm_bytes_sent(comm);
        pl_barrier(comm);
        double t0 = pl_now();
        int done = 0;
        rc = pl_kh_epoch(&kh, &train, cfg, e, &done, xbuf, NULL, NULL);
        double t = pl_now() - t0;
        pl_allreduce_max_double(comm, &t, 1);
        epoch_s[e] = t;
        ratio[e] = t / sgemm_s[e];
        bytes_per_minibatch = (pl_comm_bytes_sent(comm) - sent0) / minibatches;
        pl_info("epoch %d: %.3f s   sgemm %.3f s   ratio %.3f   bytes sent per minibatch per "
                "rank %ld", e + 1, epoch_s[e], sgemm_s[e], ratio[e], bytes_per_minibatch);
    }
    if (rc == 0 && epochs > 0) {
        double me = median(epoch_s, epochs), ms = median(sgemm_s, epochs);
        double mr = median(ratio, epochs);
        pl_info("summary: %d rank(s) x %d thread(s)  epoch %.3f s  sgemm %.3f s  ratio %.3f  "
                "bytes/minibatch/rank %ld  (medians of %d)",
                pl_comm_size(comm), kh.threads, me, ms, mr, bytes_per_minibatch, epochs);
    }
    pl_free(xbuf);
    pl_free(currents);
    pl_free(epoch_s);
    pl_free(sgemm_s);
    pl_free(ratio);
    pl_kh_free(&kh);
    pl_dataset_free(&train);
    pl_dataset_free(&valid);
    pl_dataset_free(&test);
    return rc;
}
