#!/usr/bin/env bash
# The README's first command (`make demo`) ends here: train the MNIST demo on
# 2 MPI ranks x 1 BLAS thread. Extra arguments are config overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then # Open MPI refuses root without these
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=1
exec mpirun --oversubscribe -np 2 bin/plastic train configs/kh-mnist-demo.ini "$@"
