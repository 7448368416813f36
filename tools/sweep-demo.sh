#!/usr/bin/env bash
# The demo sweep (configs/sweep-pk-demo.ini) on 2 ranks: the search stage,
# then --report (the best readout per (p, k) retrained on all training
# images), then the report. Restartable: run it again after a kill and it
# continues where the results table ends. Extra arguments go to both stages
# (e.g. sweep.dir=/tmp/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
[ -x bin/plastic ] || make
np=${NP:-2}
config=configs/sweep-pk-demo.ini
bin/plastic sweep "$config" --plan "$@"
t0=$SECONDS
mpirun --oversubscribe --bind-to none -np "$np" bin/plastic sweep "$config" "$@" | grep -v '^\[group'
mpirun --oversubscribe --bind-to none -np "$np" bin/plastic sweep "$config" --report "$@" | grep -v '^\[group'
echo "sweep-demo: $((SECONDS - t0)) s on $np ranks"
dir=$(bin/plastic sweep "$config" --plan "$@" | sed -n 's/.* dir \([^ ]*\)$/\1/p')
cat "$dir/report.md"
