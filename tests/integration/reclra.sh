#!/usr/bin/env bash
# The rec-LRA rule (model.rule = reclra) end to end through the generic
# trainer: it learns on a small MNIST slice, with tanh and with sign units;
# with optim.sum = exact, 1, 2 and 3 ranks give bitwise the same weights and
# error synapses, and so does a run stopped by a signal on 2 ranks and
# resumed on 3 (every epoch recorded once); bad configurations (a gap that
# does not divide the depth, an unknown activation, a loss rec-LRA has no
# error for) are refused naming the key, with nothing written.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "^bin/plastic train .*run.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT
config=tests/configs/reclra.ini

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" "$@"
}

same_model() { # dir-a dir-b what
    for dset in /net/dense1/W /net/dense1/b /net/dense3/W /net/dense5/W /net/dense5/b \
        /lra/E4 /lra/E3 /lra/E2 /lra/E1; do
        h5diff "$1/model.h5" "$2/model.h5" "$dset" "$dset" || fail "$3: $dset differs"
    done
    [ "$(json_field "$1/metrics.jsonl" test_error)" = "$(json_field "$2/metrics.jsonl" test_error)" ] \
        || fail "$3: test errors differ"
}

below() { # value limit what
    python3 -c "import sys; sys.exit(0 if float('$1') < $2 else 1)" || fail "$3: $1%, expected below $2%"
}

train 1 "$out/r1" > "$out/r1.log" 2>&1 || { cat "$out/r1.log"; fail "1 rank"; }
err=$(json_field "$out/r1/metrics.jsonl" test_error)
below "$err" 15 "tanh test error after 6 epochs"
for np in 2 3; do
    train "$np" "$out/r$np" > "$out/r$np.log" 2>&1 || { cat "$out/r$np.log"; fail "$np ranks"; }
    same_model "$out/r1" "$out/r$np" "exact sums, $np ranks against 1"
done

# stop on a signal during epoch 3 on 2 ranks; resume on 3
train 2 "$out/sig" > "$out/sig.log" 2>&1 &
signal_after_epochs $! "$out/sig" 2 "$out/sig.log"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume"; }
same_model "$out/r1" "$out/sig" "signal on 2 ranks, resumed on 3"
[ "$(grep -c '"event":"epoch"' "$out/sig/metrics.jsonl")" = 6 ] || fail "epochs not recorded once each"

# sign units: no derivative anywhere, and they still learn, where backprop
# (whose f' = 0 leaves only the output layer learning) does not
sign=(net.layers="dense 64 sign, dense 64 sign, dense 10 softmax" lra.gap=1 lra.beta=1 optim.lr=0.002)
train 2 "$out/sign" "${sign[@]}" > "$out/sign.log" 2>&1 || { cat "$out/sign.log"; fail "sign units"; }
train 2 "$out/sign-bp" "${sign[@]}" model.rule=bp > "$out/sign-bp.log" 2>&1 \
    || { cat "$out/sign-bp.log"; fail "sign units, backprop"; }
sign_err=$(json_field "$out/sign/metrics.jsonl" test_error)
sign_bp=$(json_field "$out/sign-bp/metrics.jsonl" test_error)
below "$sign_err" 30 "sign units' test error after 6 epochs"
python3 -c "import sys; sys.exit(0 if $sign_err + 20 < $sign_bp else 1)" \
    || fail "sign units: rec-LRA $sign_err%, backprop $sign_bp%: expected rec-LRA 20 points lower"

# bad configurations: the key named, nothing written
refused() { # expected-text overrides...
    local want=$1; shift
    expect_refused "$out/bad" "$want" train 1 "$out/bad" "$@"
}
refused "lra.gap = 3 does not divide the 4 hidden layers" lra.gap=3
refused "net.layers entry 2 'dense 64 tnah': unknown activation" \
    net.layers="dense 64 tanh, dense 64 tnah, dense 10 softmax"
refused "net.loss = hinge: rec-LRA's output error is softmax minus the label" net.loss=hinge \
    net.layers="dense 64 tanh, dense 10 linear"
refused "lra.pathway: expected one of output|chain" lra.pathway=sideways
echo "reclra: tanh test error $err%, sign units $sign_err% (backprop $sign_bp%); exact sums bitwise equal on 1-3 ranks and across a resume"
