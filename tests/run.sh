#!/usr/bin/env bash
# Runs plastic's test suites and ends with one line "N passed, N failed".
#   tests/run.sh unit|asan|fuzz|mpi|integration|slurm|all   (default: all)
# Each unit binary, each fuzz harness's corpus replay, each MPI test at each
# rank count and each integration or Slurm script counts as one test. The Slurm tests start a real Slurm on
# localhost (tests/slurm/cluster.sh): they need root and the packages from
# tools/setup.sh, and FAIL without them rather than skip. Logs of failures
# are printed; others go to build/test-logs/.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh

suite=${1:-all}
passed=0
failed=0
failures=()
logdir=build/test-logs
mkdir -p "$logdir"

run_one() { # name command...
    local name=$1; shift
    local log="$logdir/${name//\//_}.log"
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        printf 'PASS %-52s %4ds\n' "$name" $((SECONDS - t0))
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf 'FAIL %-52s %4ds\n' "$name" $((SECONDS - t0))
        sed 's/^/    | /' "$log" | tail -n 40
    fi
}

unit() {
    for t in build/tests/test_*; do
        [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
    done
}

asan() {
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] && run_one "asan/$(basename "$t")" env ASAN_OPTIONS=detect_leaks=1 "$t"
    done
}

# Every committed corpus, tests/fuzz/corpus/<name>, through its harness
# (build/asan/fuzz/replay_<name>, ASan + UBSan, leak detection on). A
# harness without a corpus fails. The HDF5 harnesses (h5_*) link Open MPI,
# under which LeakSanitizer's tracer crashes, and HDF5 itself mallocs
# sizes read from a damaged file (it handles NULL): see fuzz_asan_options.
fuzz() {
    for t in build/asan/fuzz/replay_*; do
        [ -x "$t" ] || continue
        local name=${t##*/replay_}
        run_one "fuzz/$name" env ASAN_OPTIONS="$(fuzz_asan_options "$name")" "$t" \
            "tests/fuzz/corpus/$name"
    done
}

mpi() {
    for t in build/tests/mpi_test_*; do
        [ -x "$t" ] || continue
        for np in 1 2 3 4; do
            run_one "mpi/$(basename "$t")/np$np" plastic_mpirun "$np" "$t"
        done
    done
    for s in tests/mpi/*.sh; do
        [ -f "$s" ] && run_one "mpi/$(basename "$s" .sh)" bash "$s"
    done
}

integration() {
    for s in tests/integration/*.sh; do
        [ -f "$s" ] && run_one "integration/$(basename "$s" .sh)" bash "$s"
    done
}

slurm() {
    for s in tests/slurm/*_job.sh; do
        [ -f "$s" ] && run_one "slurm/$(basename "$s" .sh)" bash "$s"
    done
}

case $suite in
    unit) unit ;;
    asan) asan ;;
    fuzz) fuzz ;;
    mpi) mpi ;;
    integration) integration ;;
    slurm) slurm ;;
    all) unit; asan; fuzz; mpi; integration; slurm ;;
    *) echo "usage: $0 unit|asan|fuzz|mpi|integration|slurm|all" >&2; exit 1 ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
