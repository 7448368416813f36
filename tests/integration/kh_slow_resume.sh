#!/usr/bin/env bash
# The slow dynamics (kh.dynamics = slow) resume bitwise: a run stopped by
# SIGUSR1 mid-run (exit 85) and resumed on another rank count, and a run that
# loses a rank to kill -9 and is resumed with run.resume=auto on another
# rank count, both end with the /kh/W, /readout/S and test error of an
# uninterrupted run; metrics.jsonl holds every hidden-layer epoch once. Bad
# values of the slow keys are refused naming the key, and a cap on the Euler
# steps that every minibatch hits is warned once per epoch with the count.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "^bin/plastic train .*run.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT

# tests/configs/resume.ini (every epoch checkpointed) on a smaller slice
slow=(kh.dynamics=slow kh.w_inh=0.4 kh.h_star=0.5 kh.dt=0.2 kh.slow_tol=1e-4
      data.train_limit=3000 data.valid=500 kh.hidden=50 kh.tile=8)

train() { plastic_train "$1" "$2" tests/configs/resume.ini "${slow[@]}" "${@:3}"; } # ranks dir [overrides...]
dsets="/kh/W /readout/S"

for bad in kh.dt=0 kh.dt=1.5 kh.w_inh=-1 kh.h_star=0 kh.slow_tol=0 kh.slow_max_steps=0 \
           kh.slow_normalize=2 kh.dynamics=medium; do
    expect_refused "$out/bad" "${bad%%=*}" bin/plastic train tests/configs/resume.ini \
        run.dir="$out/bad" "$bad"
done

# a cap of 3 Euler steps: every minibatch hits it, one warning per epoch with the count
train 1 "$out/cap" kh.slow_max_steps=3 kh.epochs=2 readout.epochs=1 > "$out/cap.log" 2>&1 \
    || { cat "$out/cap.log"; fail "capped run"; }
[ "$(grep -c 'minibatch(es) hit kh.slow_max_steps = 3' "$out/cap.log")" = 2 ] \
    || { cat "$out/cap.log"; fail "expected one cap warning per epoch"; }
grep -q 'kh epoch 2: 25 minibatch(es) hit kh.slow_max_steps = 3' "$out/cap.log" \
    || { cat "$out/cap.log"; fail "the cap warning does not count the 25 minibatches"; }

train 2 "$out/ref" > "$out/ref.log" 2>&1 || { cat "$out/ref.log"; fail "uninterrupted run"; }
grep -q '"slow_steps"' "$out/ref/metrics.jsonl" || fail "the reference run did not run the slow dynamics"

# 1. SIGUSR1 mid-run on 2 ranks: one checkpoint, exit 85; resume on 3 ranks
train 2 "$out/sig" > "$out/sig.log" 2>&1 &
pid=$!
wait_phase_epochs "$out/sig" 'kh"' 3 1200
signal_after_epochs "$pid" "$out/sig" 3 "$out/sig.log"
[ ! -e "$out/sig/model.h5" ] || fail "an interrupted run wrote model.h5"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
grep -q "resumed from" "$out/sig2.log" || fail "the second session did not resume"
same_run "$out/ref" "$out/sig" "signal at 2 ranks, resumed on 3" "$dsets" test_error
[ "$(phase_epochs "$out/sig" 'kh"')" = 10 ] \
    || fail "metrics.jsonl holds $(phase_epochs "$out/sig" 'kh"') hidden-layer epochs, expected 10"

# 2. kill -9 one rank of a 3-rank run: the job fails; resume=auto on 1 rank
train 3 "$out/kill" > "$out/kill.log" 2>&1 &
pid=$!
wait_phase_epochs "$out/kill" 'kh"' 2 1200
kill_a_rank "$pid" "$out/kill"
train 1 "$out/kill" run.resume=auto > "$out/kill2.log" 2>&1 || { cat "$out/kill2.log"; fail "resume after kill -9"; }
grep -q "resumed from" "$out/kill2.log" || fail "the run after kill -9 did not resume"
same_run "$out/ref" "$out/kill" "kill -9 on 3 ranks, resumed on 1" "$dsets" test_error
echo "slow dynamics: signal on 2 ranks resumed on 3, and kill -9 on 3 ranks resumed on 1, both"\
    "bitwise the uninterrupted run (test error $(json_field "$out/ref/metrics.jsonl" test_error)%)"
