#!/usr/bin/env bash
# Perturbative (pconv) layers end to end on a small MNIST slice
# (tests/configs/reclra.ini, exact sums), for rec-LRA and backprop:
#   - 2 ranks in data mode and 2 stages in blocks mode give 1 rank's bits,
#     the noise maps in model.h5 included, and the net learns;
#   - a run resumed from a checkpoint of 1 rank on 2 stages ends bitwise
#     equal to the uninterrupted run (the noise maps, not checkpointed, are
#     drawn again from run.seed);
#   - a bad pconv entry is refused naming the entry, nothing written.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/reclra.ini
net="net.layers=pconv 4 m2 n0.2 tanh, pool 2, pconv 4 m2 relu, dense 10 softmax"

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" "$net" lra.gap=1 \
        optim.epochs=4 "$@"
}

same_model() { # dir-a dir-b what [more datasets...]
    local a=$1 b=$2 what=$3; shift 3
    for dset in /net/pconv1/W /net/pconv1/b /net/pconv1/noise /net/pconv2/W /net/pconv2/noise \
                /net/dense1/W /net/dense1/b "$@"; do
        h5diff "$a/model.h5" "$b/model.h5" "$dset" "$dset" || fail "$what: $dset differs"
    done
    [ "$(json_field "$a/metrics.jsonl" test_error)" = "$(json_field "$b/metrics.jsonl" test_error)" ] \
        || fail "$what: test errors differ"
}

for rule in reclra bp; do
    synapses=()
    [ $rule = reclra ] && synapses=(/lra/E1 /lra/E3)
    train 1 "$out/$rule" model.rule=$rule > "$out/$rule.log" 2>&1 \
        || { cat "$out/$rule.log"; fail "$rule, 1 rank"; }
    err=$(json_field "$out/$rule/metrics.jsonl" test_error)
    python3 -c "import sys; sys.exit(0 if float('$err') < 25 else 1)" \
        || fail "$rule: test error $err% after 4 epochs, expected below 25%"
    train 2 "$out/$rule-d2" model.rule=$rule > "$out/$rule-d2.log" 2>&1 \
        || { cat "$out/$rule-d2.log"; fail "$rule, 2 ranks"; }
    same_model "$out/$rule" "$out/$rule-d2" "$rule: 2 ranks against 1" "${synapses[@]}"
    train 2 "$out/$rule-b2" model.rule=$rule net.parallel=blocks > "$out/$rule-b2.log" 2>&1 \
        || { cat "$out/$rule-b2.log"; fail "$rule, 2 stages"; }
    same_model "$out/$rule" "$out/$rule-b2" "$rule: 2 stages against 1 rank" "${synapses[@]}"
    echo "$rule: test error $err%"
done

# resumed on 2 stages from 1 rank's checkpoint after epoch 2 (checkpoint.every = 2)
mkdir -p "$out/res"
cp -r "$out/reclra/ckpt" "$out/res/"
train 2 "$out/res" net.parallel=blocks run.resume="$out/res/ckpt/ckpt_000002.h5" \
    > "$out/res.log" 2>&1 || { cat "$out/res.log"; fail "resume"; }
grep -q "resumed from" "$out/res.log" || fail "the run did not resume"
same_model "$out/reclra" "$out/res" "resumed on 2 stages from 1 rank's checkpoint" /lra/E1 /lra/E3

mkdir -p "$out/bad" && echo keep > "$out/bad/marker"
plastic_mpirun 1 bin/plastic train "$config" run.dir="$out/bad" \
    net.layers="pconv 4 m2, pconv 4 m0 relu, dense 10 softmax" > "$out/bad.log" 2>&1
code=$?
[ "$code" = 1 ] || { cat "$out/bad.log"; fail "a bad pconv entry exited $code, expected 1"; }
grep -qF "net.layers entry 2 'pconv 4 m0 relu': bad number of noise maps 'm0'" "$out/bad.log" \
    || { cat "$out/bad.log"; fail "the error does not name the entry"; }
[ "$(ls "$out/bad")" = marker ] || fail "a refused run wrote into its run.dir"
echo "pconv: both rules bitwise equal on 1 rank, 2 ranks and 2 stages; resumed across layouts"
