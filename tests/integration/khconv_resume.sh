#!/usr/bin/env bash
# khconv restarts (tests/configs/khconv.ini, a checkpoint every epoch): a
# 2-rank run stopped by SIGUSR1 in its conv stages and resumed on 3 ranks,
# and a 3-rank run that loses a rank to kill -9 and is resumed with
# run.resume=auto on 1 rank, both end with bitwise the model of an
# uninterrupted run; metrics.jsonl holds every conv epoch once.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "^bin/plastic train .*run.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT
config=tests/configs/khconv.ini

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" log.progress=0 "$@"
}

conv_epochs() { # dir
    grep -c '"event":"epoch","time":[0-9.]*,"phase":"conv' "$1/metrics.jsonl" 2>/dev/null
}

wait_epochs() { # dir n
    for _ in $(seq 1 1200); do
        local got
        got=$(conv_epochs "$1")
        [ "${got:-0}" -ge "$2" ] && return 0
        sleep 0.05
    done
    fail "run in $1 never reached $2 conv epochs"
}

same_model() { # dir-a dir-b what
    for dset in /khconv/W1 /khconv/W2 /readout/S; do
        h5diff "$1/model.h5" "$2/model.h5" "$dset" "$dset" || fail "$3: $dset differs"
    done
    [ "$(json_field "$1/metrics.jsonl" test_error)" = "$(json_field "$2/metrics.jsonl" test_error)" ] \
        || fail "$3: test errors differ"
}

train 2 "$out/ref" > "$out/ref.log" 2>&1 || { cat "$out/ref.log"; fail "uninterrupted run"; }

# 1. SIGUSR1 to every rank in the second layer's first epoch: one checkpoint,
#    exit 85; resume on 3 ranks
train 2 "$out/sig" > "$out/sig.log" 2>&1 &
pid=$!
wait_epochs "$out/sig" 2
pkill -USR1 -f "^bin/plastic train .*run.dir=$out/sig" || fail "no rank to signal"
wait "$pid"
code=$?
[ "$code" = 85 ] || { cat "$out/sig.log"; fail "signalled run exited $code, expected 85"; }
grep -q '"why":"signal"' "$out/sig/metrics.jsonl" || fail "no signal checkpoint recorded"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
grep -q "resumed from" "$out/sig2.log" || fail "the second session did not resume"
same_model "$out/ref" "$out/sig" "signal at 2 ranks, resumed on 3"
[ "$(conv_epochs "$out/sig")" = 4 ] || fail "metrics.jsonl holds $(conv_epochs "$out/sig") conv epochs, expected 4"

# 2. kill -9 one rank of a 3-rank run after an epoch's checkpoint; resume=auto on 1 rank
train 3 "$out/kill" > "$out/kill.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
    grep -q '"event":"checkpoint"' "$out/kill/metrics.jsonl" 2>/dev/null && break
    sleep 0.05
done
victim=$(pgrep -f "^bin/plastic train .*run.dir=$out/kill" | head -n 1)
[ -n "$victim" ] || fail "no rank to kill"
kill -9 "$victim"
wait "$pid"
code=$?
[ "$code" != 0 ] || fail "a run that lost a rank exited 0"
train 1 "$out/kill" run.resume=auto > "$out/kill2.log" 2>&1 || { cat "$out/kill2.log"; fail "resume after kill -9"; }
grep -q "resumed from" "$out/kill2.log" || fail "the run after kill -9 did not resume"
same_model "$out/ref" "$out/kill" "kill -9 on 3 ranks, resumed on 1"
echo "khconv: signal at 2 ranks resumed on 3, kill -9 at 3 resumed on 1: bitwise the uninterrupted model"
