#!/usr/bin/env bash
# `make bench`: KH epochs on real MNIST (configs/bench.ini: K=2000, p=3, k=7,
# B=100, all 60,000 training images) against the bare SGEMM of the same
# currents, as 1 rank x 2 BLAS threads and as 2 ranks x 1 thread.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== 1 rank x 2 threads"
OPENBLAS_NUM_THREADS=2 mpirun --bind-to none -np 1 bin/plastic bench configs/bench.ini "$@" | tee -a "$log"
echo "== 2 ranks x 1 thread"
OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe -np 2 bin/plastic bench configs/bench.ini "$@" | tee -a "$log"
echo "== summary (ratio = epoch time / bare SGEMM time, target <= 1.3)"
grep '^summary' "$log"
