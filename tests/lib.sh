# shellcheck shell=bash
# Helpers shared by the test scripts (sourced, not run).

# Open MPI refuses root without these; tests also oversubscribe the 2 cores.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

plastic_mpirun() { # np command...
    local np=$1; shift
    mpirun --oversubscribe --bind-to none -np "$np" "$@"
}

# Value of a numeric field in the last JSON line of a metrics.jsonl holding it.
json_field() { # file field
    grep "\"$2\"" "$1" | tail -n 1 | sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# Stops a background `bin/plastic train` (mpirun's pid) training into dir
# once its metrics.jsonl holds `epochs` epoch records: SIGUSR1 to its ranks,
# then mpirun must exit 85 (checkpointed); log is shown if not.
signal_after_epochs() { # pid dir epochs log
    local pid=$1 dir=$2 epochs=$3 log=$4 got code
    for _ in $(seq 1 600); do
        got=$(grep -c '"event":"epoch"' "$dir/metrics.jsonl" 2>/dev/null)
        [ "${got:-0}" -ge "$epochs" ] && break
        sleep 0.05
    done
    pkill -USR1 -f "^bin/plastic train .*run.dir=$dir" || fail "no rank to signal"
    wait "$pid"
    code=$?
    [ "$code" = 85 ] || { cat "$log"; fail "signalled run exited $code, expected 85"; }
}

# A run that must be refused: the command exits 1, its output says want,
# and dir (its run.dir, holding a marker file) is left as it was.
expect_refused() { # dir want command...
    local dir=$1 want=$2 code
    shift 2
    mkdir -p "$dir" && [ -e "$dir/marker" ] || echo keep > "$dir/marker"
    "$@" > "$dir.log" 2>&1
    code=$?
    [ "$code" = 1 ] || { cat "$dir.log"; fail "$* exited $code, expected 1"; }
    grep -qF "$want" "$dir.log" || { cat "$dir.log"; fail "$*: the error does not say '$want'"; }
    [ "$(ls "$dir")" = marker ] || fail "$*: a refused run wrote into its run.dir"
}

# ASAN_OPTIONS for fuzz harness NAME (tests/run.sh fuzz, tools/fuzz.sh).
fuzz_asan_options() {
    case $1 in
        h5_*) echo detect_leaks=0:allocator_may_return_null=1 ;;
        *) echo detect_leaks=1 ;;
    esac
}
