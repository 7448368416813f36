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

train() { plastic_train "$1" "$2" "$config" "${@:3}"; } # ranks dir [overrides...]
dsets="/khconv/W1 /khconv/W2 /readout/S"

train 2 "$out/ref" > "$out/ref.log" 2>&1 || { cat "$out/ref.log"; fail "uninterrupted run"; }

# 1. SIGUSR1 to every rank in the second layer's first epoch: one checkpoint,
#    exit 85; resume on 3 ranks
train 2 "$out/sig" > "$out/sig.log" 2>&1 &
pid=$!
wait_phase_epochs "$out/sig" conv 2 1200
signal_after_epochs "$pid" "$out/sig" 2 "$out/sig.log"
grep -q '"why":"signal"' "$out/sig/metrics.jsonl" || fail "no signal checkpoint recorded"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
grep -q "resumed from" "$out/sig2.log" || fail "the second session did not resume"
same_run "$out/ref" "$out/sig" "signal at 2 ranks, resumed on 3" "$dsets" test_error
[ "$(phase_epochs "$out/sig" conv)" = 4 ] \
    || fail "metrics.jsonl holds $(phase_epochs "$out/sig" conv) conv epochs, expected 4"

# 2. kill -9 one rank of a 3-rank run after an epoch's checkpoint; resume=auto on 1 rank
train 3 "$out/kill" > "$out/kill.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
    grep -q '"event":"checkpoint"' "$out/kill/metrics.jsonl" 2>/dev/null && break
    sleep 0.05
done
kill_a_rank "$pid" "$out/kill"
train 1 "$out/kill" run.resume=auto > "$out/kill2.log" 2>&1 || { cat "$out/kill2.log"; fail "resume after kill -9"; }
grep -q "resumed from" "$out/kill2.log" || fail "the run after kill -9 did not resume"
same_run "$out/ref" "$out/kill" "kill -9 on 3 ranks, resumed on 1" "$dsets" test_error
echo "khconv: signal at 2 ranks resumed on 3, kill -9 at 3 resumed on 1: bitwise the uninterrupted model"
