#!/usr/bin/env bash
# Block parallelism (net.parallel = blocks) end to end through bin/plastic on
# a small MNIST slice (tests/configs/pipe.ini: rec-LRA on a residual net):
#   - one pipeline of 1, 2 and 3 stages: model.h5 bitwise the same, and it
#     learns;
#   - a run stopped by SIGUSR1 (exit 85) on 2 stages and resumed on 3 ends
#     bitwise equal to the uninterrupted run, every epoch recorded once;
#   - exact sums: 2 pipelines x 2 stages on 4 ranks equal 1 pipeline of 2
#     stages, and a run stopped in that layout resumes in data mode on 3
#     ranks (the checkpoint's arrays have the same names and shapes in both
#     modes) to end bitwise equal to data mode uninterrupted;
#   - backprop on the same pipeline learns;
#   - the one-step-stale pipeline (net.stale = 1): 1 and 2 stages bitwise
#     the same, it learns (within 3 points of the run above); stopped by
#     SIGUSR1 on 2 stages and resumed on 3, bitwise the uninterrupted run;
#     a timed checkpoint after every minibatch changes no bit;
#   - refused before anything is written: stages that do not divide the
#     ranks (net.stages named), lra.pathway = chain across stages, more
#     stages than the net has units, net.stale with backprop or in data
#     mode.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$out"' EXIT
config=tests/configs/pipe.ini

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" "$@"
}

same_model() { # dir-a dir-b what
    for dset in /net/dense1/W /net/dense2/W /net/dense3/b /net/dense4/W /net/dense6/W \
                /net/dense6/b /lra/E2 /lra/E3 /lra/E6; do
        h5diff "$1/model.h5" "$2/model.h5" "$dset" "$dset" || fail "$3: $dset differs"
    done
    for field in test_error valid_error train_error; do
        [ "$(json_field "$1/metrics.jsonl" "$field")" = "$(json_field "$2/metrics.jsonl" "$field")" ] \
            || fail "$3: $field differs"
    done
}

# Starts a run in the background (mpirun's pid in $run_pid), signals it
# with SIGUSR1 (mpirun passes it on to the ranks) once it has recorded two
# epochs, and expects exit 85.
stop_after_two() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    mpirun --oversubscribe --bind-to none -np "$np" bin/plastic train "$config" run.dir="$dir" \
        "$@" > "$dir.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 600); do
        got=$(grep -c '"event":"epoch"' "$dir/metrics.jsonl" 2>/dev/null)
        [ "${got:-0}" -ge 2 ] && break
        sleep 0.05
    done
    kill -USR1 "$pid" || fail "no run to signal"
    wait "$pid"
    local code=$?
    [ "$code" = 85 ] || { cat "$dir.log"; fail "signalled run exited $code, expected 85"; }
    grep -q '"why":"signal"' "$dir/metrics.jsonl" || fail "no signal checkpoint recorded"
}

# one pipeline: 1, 2, 3 stages
for np in 1 2 3; do
    train "$np" "$out/s$np" > "$out/s$np.log" 2>&1 || { cat "$out/s$np.log"; fail "$np stages"; }
done
same_model "$out/s1" "$out/s2" "2 stages against 1"
same_model "$out/s1" "$out/s3" "3 stages against 1"
grep -q '"pipeline":"3 stage(s) x 1 pipeline(s), layers 1-1 | 2-4 | 5-8' "$out/s3/metrics.jsonl" \
    || { grep '"start"' "$out/s3/metrics.jsonl"; fail "the start record lacks the pipeline's layout"; }
lra_err=$(json_field "$out/s1/metrics.jsonl" test_error)
python3 -c "import sys; sys.exit(0 if float('$lra_err') < 20 else 1)" \
    || fail "rec-LRA in blocks mode: test error $lra_err% after 8 epochs, expected below 20%"

# stopped on 2 stages, resumed on 3
stop_after_two 2 "$out/sig"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume"; }
grep -q "resumed from" "$out/sig2.log" || fail "the second session did not resume"
same_model "$out/s1" "$out/sig" "signal on 2 stages, resumed on 3"
[ "$(grep -c '"event":"epoch"' "$out/sig/metrics.jsonl")" = 8 ] || fail "epochs not recorded once each"

# exact sums: 2 x 2 against 1 x 2; stopped in 2 x 2, resumed in data mode on 3 ranks
train 2 "$out/e2" optim.sum=exact > "$out/e2.log" 2>&1 || { cat "$out/e2.log"; fail "exact, 2 stages"; }
train 4 "$out/e4" optim.sum=exact net.stages=2 > "$out/e4.log" 2>&1 \
    || { cat "$out/e4.log"; fail "exact, 2 pipelines x 2 stages"; }
same_model "$out/e2" "$out/e4" "exact sums, 2 pipelines x 2 stages against 1 x 2"
train 1 "$out/d1" optim.sum=exact net.parallel=data > "$out/d1.log" 2>&1 \
    || { cat "$out/d1.log"; fail "exact, data mode"; }
same_model "$out/d1" "$out/e2" "exact sums, blocks against data mode"
stop_after_two 4 "$out/mix" optim.sum=exact net.stages=2
train 3 "$out/mix" run.resume=auto optim.sum=exact net.parallel=data > "$out/mix2.log" 2>&1 \
    || { cat "$out/mix2.log"; fail "resume in data mode"; }
same_model "$out/d1" "$out/mix" "exact sums, stopped in 2 x 2 blocks, resumed in data mode on 3"

# backprop on the same pipeline
train 3 "$out/bp" model.rule=bp > "$out/bp.log" 2>&1 || { cat "$out/bp.log"; fail "bp, 3 stages"; }
bp_err=$(json_field "$out/bp/metrics.jsonl" test_error)
python3 -c "import sys; sys.exit(0 if float('$bp_err') < 20 else 1)" \
    || fail "bp in blocks mode: test error $bp_err%, expected below 20%"

# the one-step-stale pipeline
train 1 "$out/st1" net.stale=1 > "$out/st1.log" 2>&1 || { cat "$out/st1.log"; fail "stale, 1 stage"; }
train 2 "$out/st2" net.stale=1 > "$out/st2.log" 2>&1 || { cat "$out/st2.log"; fail "stale, 2 stages"; }
same_model "$out/st1" "$out/st2" "stale: 2 stages against 1"
grep -q '"pipeline":"2 stage(s) x 1 pipeline(s), .*one-step-stale"' "$out/st2/metrics.jsonl" \
    || fail "the start record does not say the pipeline is one-step-stale"
stale_err=$(json_field "$out/st1/metrics.jsonl" test_error)
python3 -c "import sys; e = float('$stale_err'); sys.exit(0 if e < 20 and abs(e - $lra_err) < 3 else 1)" \
    || fail "stale rec-LRA: test error $stale_err%, expected below 20% and within 3 points of $lra_err%"
stop_after_two 2 "$out/stsig" net.stale=1
train 3 "$out/stsig" run.resume=auto net.stale=1 > "$out/stsig2.log" 2>&1 \
    || { cat "$out/stsig2.log"; fail "stale resume"; }
same_model "$out/st1" "$out/stsig" "stale: signal on 2 stages, resumed on 3"
[ "$(grep -c '"event":"epoch"' "$out/stsig/metrics.jsonl")" = 8 ] \
    || fail "stale: epochs not recorded once each"
short=(net.stale=1 optim.epochs=1 data.train_limit=1500)
train 1 "$out/stq" "${short[@]}" > "$out/stq.log" 2>&1 || { cat "$out/stq.log"; fail "stale, short"; }
train 2 "$out/stm" "${short[@]}" checkpoint.minutes=0.000001 > "$out/stm.log" 2>&1 \
    || { cat "$out/stm.log"; fail "stale, timed checkpoints"; }
[ "$(grep -c '"why":"minutes"' "$out/stm/metrics.jsonl")" -ge 10 ] || fail "too few timed checkpoints"
same_model "$out/stq" "$out/stm" "stale: a timed checkpoint after every minibatch"

# refusals, before anything is written
refused() { # what expected-text ranks overrides...
    local what=$1 text=$2 np=$3; shift 3
    rm -rf "$out/bad" && mkdir -p "$out/bad" && echo keep > "$out/bad/marker"
    train "$np" "$out/bad" "$@" > "$out/bad.log" 2>&1
    local code=$?
    [ "$code" = 1 ] || { cat "$out/bad.log"; fail "$what exited $code, expected 1"; }
    grep -q "$text" "$out/bad.log" || { cat "$out/bad.log"; fail "$what: no '$text' in the error"; }
    [ "$(ls "$out/bad")" = marker ] || fail "$what: a refused run wrote into its run.dir"
}
refused "3 stages on 4 ranks" "net.stages = 3 does not divide the 4 rank(s)" 4 net.stages=3
refused "a chain across stages" "lra.pathway = chain with net.parallel = blocks" 2 lra.pathway=chain
refused "3 stages of 2 units" "3 stage(s), but the net has only 2 unit(s)" 3 \
    net.layers="dense 32 tanh x2, dense 10 softmax" lra.gap=2
refused "net.stale with backprop" "net.stale = 1" 2 net.stale=1 model.rule=bp
refused "net.stale in data mode" "net.stale = 1" 2 net.stale=1 net.parallel=data
echo "blocks mode: 1-3 stages bitwise equal (rec-LRA test error $lra_err%, bp $bp_err%); resumed" \
    "from 2 stages on 3 and from 2 x 2 blocks in data mode, bitwise; one-step-stale: 1 and 2" \
    "stages bitwise (test error $stale_err%), resumed bitwise, timed checkpoints change no bit;" \
    "refusals name their keys"
