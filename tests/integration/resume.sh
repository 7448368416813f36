#!/usr/bin/env bash
# Restart: a run stopped by a signal mid-epoch (exit 85) and resumed on
# another rank count, and a run that loses a rank to kill -9 and is resumed
# with run.resume=auto, both finish with bitwise the weights of an
# uninterrupted run; metrics.jsonl holds every epoch once.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "^bin/plastic train .*run.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT
config=tests/configs/resume.ini

train() { plastic_train "$1" "$2" "$config" "${@:3}"; } # ranks dir [overrides...]
dsets="/kh/W /readout/S"

train 2 "$out/ref" > "$out/ref.log" 2>&1 || { cat "$out/ref.log"; fail "uninterrupted run"; }

# 1. SIGUSR1 to every rank mid-run, then SIGTERM while they checkpoint:
#    one checkpoint, exit 85; resume on 3 ranks
train 2 "$out/sig" > "$out/sig.log" 2>&1 &
pid=$!
wait_phase_epochs "$out/sig" 'kh"' 3 600
pkill -USR1 -f "^bin/plastic train .*run.dir=$out/sig" || fail "no rank to signal"
sleep 0.02
pkill -TERM -f "^bin/plastic train .*run.dir=$out/sig"
wait "$pid"
code=$?
[ "$code" = 85 ] || { cat "$out/sig.log"; fail "signalled run exited $code, expected 85"; }
grep -q '"why":"signal"' "$out/sig/metrics.jsonl" || fail "no signal checkpoint recorded"
[ ! -e "$out/sig/model.h5" ] || fail "an interrupted run wrote model.h5"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
grep -q "resumed from" "$out/sig2.log" || fail "the second session did not resume"
same_run "$out/ref" "$out/sig" "signal at 2 ranks, resumed on 3" "$dsets" test_error
epochs=$(phase_epochs "$out/sig" 'kh"')
[ "$epochs" = 10 ] || fail "metrics.jsonl holds $epochs hidden-layer epochs, expected 10"

# 2. kill -9 one rank of a 3-rank run: the job fails; resume=auto on 2 ranks
train 3 "$out/kill" > "$out/kill.log" 2>&1 &
pid=$!
wait_phase_epochs "$out/kill" 'kh"' 2 600
kill_a_rank "$pid" "$out/kill"
before=$(grep -c '"event":"checkpoint"' "$out/kill/metrics.jsonl")
train 2 "$out/kill" run.resume=auto > "$out/kill2.log" 2>&1 || { cat "$out/kill2.log"; fail "resume after kill -9"; }
same_run "$out/ref" "$out/kill" "kill -9 on 3 ranks, resumed on 2" "$dsets" test_error
# 3. checkpoint.minutes: timed checkpoints inside epochs, and the run still
#    ends with bitwise the uninterrupted weights
train 2 "$out/timed" checkpoint.every=0 checkpoint.minutes=0.002 > "$out/timed.log" 2>&1 \
    || { cat "$out/timed.log"; fail "timed checkpoints"; }
timed=$(grep -c '"why":"minutes"' "$out/timed/metrics.jsonl")
[ "$timed" -ge 2 ] || fail "only $timed timed checkpoint(s) in a run of several seconds"
grep -q '"why":"done"' "$out/timed/metrics.jsonl" || fail "no final checkpoint with minutes only"
same_run "$out/ref" "$out/timed" "timed checkpoints" "$dsets" test_error

echo "signal (exit 85) and kill -9 runs resumed on other rank counts: weights bitwise equal"
echo "($before checkpoint(s) were written before the kill)"
echo "$timed timed checkpoints (checkpoint.minutes) left the result unchanged"
