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

# `bin/plastic train config` on np ranks into run.dir=dir, without progress
# lines; the overrides follow. Its processes match "^bin/plastic train
# .*run.dir=dir" (what signal_after_epochs and kill_a_rank look for).
plastic_train() { # np dir config overrides...
    local np=$1 dir=$2 config=$3
    shift 3
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" log.progress=0 "$@"
}

# plastic_train with its output in dir.log; a failed run shows the log and
# fails the test.
plastic_train_ok() { # np dir config overrides...
    plastic_train "$@" > "$2.log" 2>&1 || { cat "$2.log"; fail "train ${2##*/}"; }
}

# Two finished runs agree: each dataset (a space-separated list, e.g.
# "/kh/W /readout/S") of their model.h5 bitwise (h5diff), and each error
# field (space-separated; by default the test, validation and training
# errors) of their metrics.jsonl present and equal.
same_run() { # dir-a dir-b what datasets [fields]
    local a=$1 b=$2 what=$3 dset field x y
    for dset in $4; do
        h5diff "$a/model.h5" "$b/model.h5" "$dset" "$dset" \
            || fail "$what: $dset of ${b##*/} differs from ${a##*/}"
    done
    for field in ${5:-test_error valid_error train_error}; do
        x=$(json_field "$a/metrics.jsonl" "$field")
        y=$(json_field "$b/metrics.jsonl" "$field")
        if [ -z "$x" ] || [ "$x" != "$y" ]; then
            fail "$what: $field: ${a##*/} '$x', ${b##*/} '$y'"
        fi
    done
}

# The rank sweep of tests/mpi/*_parity.sh: config with the overrides trained
# on 1, 2, 3 and 4 ranks into out/np1..np4, and with run.threads=2 on each
# rank count of threaded (e.g. "1 2") into out/np<n>t2; every run same_run
# as np1 (the given datasets and the three errors).
parity_ranks() { # out config datasets threaded overrides...
    local out=$1 config=$2 dsets=$3 threaded=$4 np
    shift 4
    for np in 1 2 3 4; do
        plastic_train_ok "$np" "$out/np$np" "$config" "$@"
    done
    for np in $threaded; do
        plastic_train_ok "$np" "$out/np${np}t2" "$config" "$@" run.threads=2
    done
    for np in 2 3 4; do
        same_run "$out/np1" "$out/np$np" "$np ranks" "$dsets"
    done
    for np in $threaded; do
        same_run "$out/np1" "$out/np${np}t2" "$np rank(s) x 2 threads" "$dsets"
    done
}

# Counts the epoch records of phases starting with phase ("kh", "conv") in
# dir's metrics.jsonl (end phase with " to match the whole name); empty if
# the file does not exist yet.
phase_epochs() { # dir phase
    grep -c "\"event\":\"epoch\",\"time\":[0-9.]*,\"phase\":\"$2" "$1/metrics.jsonl" 2>/dev/null
}

# Waits (up to tries x 0.05 s) until the run in dir has recorded n epochs
# of phase (as phase_epochs counts them).
wait_phase_epochs() { # dir phase n tries
    local got
    for _ in $(seq 1 "$4"); do
        got=$(phase_epochs "$1" "$2")
        [ "${got:-0}" -ge "$3" ] && return 0
        sleep 0.05
    done
    fail "run in $1 never reached $3 $2 epochs"
}

# kill -9 to one rank of the background `bin/plastic train` (mpirun's pid)
# training into dir; the job must then exit nonzero.
kill_a_rank() { # pid dir
    local victim
    victim=$(pgrep -f "^bin/plastic train .*run.dir=$2" | head -n 1)
    [ -n "$victim" ] || fail "no rank to kill"
    kill -9 "$victim"
    if wait "$1"; then fail "a run that lost a rank exited 0"; fi
}

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

# `bin/plastic sweep config` into sweep.dir=dir (output appended to dir.log)
# started `rounds` times and stopped after a random 0.10-0.99 s: SIGTERM every
# term_every-th round (exit 85, 143 before the handler is installed, or 0 if
# just done), kill -9 otherwise; a round that finishes by itself ends the
# rounds. Then one last restart must finish. RANDOM is seeded from SEED
# (printed) so that a failure can be replayed; prints the kills.
sweep_kill_rounds() { # config dir rounds term_every
    local config=$1 dir=$2 rounds=$3 term=$4 seed round pid code kills=0
    seed=${SEED:-$RANDOM}
    echo "seed $seed"
    RANDOM=$seed
    for round in $(seq 1 "$rounds"); do
        bin/plastic sweep "$config" sweep.dir="$dir" >> "$dir.log" 2>&1 &
        pid=$!
        sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" && break # finished before the kill
            fail "round $round: the sweep failed by itself: $(tail -n 5 "$dir.log")"
        fi
        if [ $((round % term)) = 0 ]; then
            kill -TERM "$pid"
            wait "$pid"
            code=$?
            case $code in 85 | 143 | 0) ;; *) fail "round $round: SIGTERM gave exit $code" ;; esac
        else
            kill -9 "$pid"
            wait "$pid" 2>/dev/null
        fi
        kills=$((kills + 1))
    done
    bin/plastic sweep "$config" sweep.dir="$dir" >> "$dir.log" 2>&1 \
        || { tail -n 20 "$dir.log"; fail "the final restart"; }
    echo "killed $kills times"
}

# ASAN_OPTIONS for fuzz harness NAME (tests/run.sh fuzz, tools/fuzz.sh).
fuzz_asan_options() {
    case $1 in
        h5_*) echo detect_leaks=0:allocator_may_return_null=1 ;;
        *) echo detect_leaks=1 ;;
    esac
}
