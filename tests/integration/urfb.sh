#!/usr/bin/env bash
# The urfb rule (model.rule = urfb, updated random feedback) end to end
# through the generic trainer: it learns on a small MNIST slice (clip units,
# hinge loss, plain SGD); with optim.sum = exact, 1, 2, 3 and 4 ranks give
# bitwise the same W and feedback weights R (fast sums: within 1e-4 + 1e-3 |w| after one epoch on 3
# ranks of 1); a sparse run under momentum (R has an optimiser state of its
# own) stopped by SIGUSR1 on 2 ranks and resumed on 3 gives the bits of an
# uninterrupted 1-rank run, with the masked fraction of W and R zero; fixed
# feedback learns too and keeps R at its initial draw; bad configurations
# are refused naming the key, with nothing written.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/urfb.ini

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" "$@"
}

same() { # dir-a dir-b what datasets...
    local a=$1 b=$2 what=$3; shift 3
    for dset in "$@"; do
        h5diff "$a/model.h5" "$b/model.h5" "$dset" "$dset" || fail "$what: $dset differs"
    done
    [ "$(json_field "$a/metrics.jsonl" test_error)" = "$(json_field "$b/metrics.jsonl" test_error)" ] \
        || fail "$what: test errors differ"
}

below() { # value limit what
    python3 -c "import sys; sys.exit(0 if float('$1') < $2 else 1)" || fail "$3: $1%, expected below $2%"
}

# The fraction of exact zeros in a dataset of a model file.
zeros() { # file dataset
    h5dump -y -w 0 -d "$2" "$1" | python3 -c '
import re, sys
text = sys.stdin.read()
data = text[text.index("DATA {") + 6:]
v = [float(x) for x in re.findall(r"-?[0-9][0-9.e+-]*", data)]
print(sum(1 for x in v if x == 0.0) / len(v))'
}

between() { # value lo hi what
    python3 -c "import sys; sys.exit(0 if $2 <= float('$1') <= $3 else 1)" \
        || fail "$4: $1, expected in [$2, $3]"
}

model=(/net/dense1/W /net/dense1/b /net/dense2/W /net/dense3/W /net/dense3/b
       /urfb/dense2/R /urfb/dense3/R)

# learns; exact sums: the same bits on 1, 2 and 3 ranks
train 1 "$out/r1" > "$out/r1.log" 2>&1 || { cat "$out/r1.log"; fail "1 rank"; }
err=$(json_field "$out/r1/metrics.jsonl" test_error)
below "$err" 25 "URFB test error after 6 epochs on 2,500 images"
for np in 2 3 4; do
    train "$np" "$out/r$np" > "$out/r$np.log" 2>&1 || { cat "$out/r$np.log"; fail "$np ranks"; }
    same "$out/r1" "$out/r$np" "exact sums, $np ranks against 1" "${model[@]}"
done
# fast sums: float all-reduces, so the ranks' layout shows in the rounding
# only; after one epoch (rounding differences grow as training goes on, and
# how fast depends on the BLAS kernel) within 1e-4 + 1e-3 |w| of 1 rank
train 1 "$out/f1" optim.sum=fast optim.epochs=1 > "$out/f1.log" 2>&1 || { cat "$out/f1.log"; fail "fast, 1 rank"; }
train 3 "$out/f3" optim.sum=fast optim.epochs=1 > "$out/f3.log" 2>&1 || { cat "$out/f3.log"; fail "fast, 3 ranks"; }
/usr/bin/python3 - "$out/f1/model.h5" "$out/f3/model.h5" "${model[@]}" <<'PY' || fail "fast sums drift"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
worst = 0.0
for name in sys.argv[3:]:
    x, y = a[name][...].astype(np.float64), b[name][...].astype(np.float64)
    worst = max(worst, float(np.max(np.abs(x - y) / (1e-4 + 1e-3 * np.abs(x)))))
assert worst <= 1.0, f"fast 3 ranks vs 1: worst |dw| / (1e-4 + 1e-3 |w|) = {worst}"
print(f"fast sums: 3 ranks within tolerance of 1 (worst ratio {worst:.3g})")
PY

# sparse, under momentum: stopped on 2 ranks during epoch 3, resumed on 3
sparse=(urfb.sparsity_w=0.5 urfb.sparsity_r=0.5 optim.method=momentum optim.lr=0.02
        optim.epochs=10)
train 1 "$out/s1" "${sparse[@]}" > "$out/s1.log" 2>&1 || { cat "$out/s1.log"; fail "sparse, 1 rank"; }
OMPI_MCA_rmaps_base_oversubscribe=1 mpirun --oversubscribe --bind-to none -np 2 bin/plastic \
    train "$config" run.dir="$out/sig" "${sparse[@]}" > "$out/sig.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    got=$(grep -c '"event":"epoch"' "$out/sig/metrics.jsonl" 2>/dev/null)
    [ "${got:-0}" -ge 2 ] && break
    sleep 0.05
done
kill -USR1 "$pid" # mpirun passes SIGUSR1 on to its ranks
wait "$pid"
code=$?
[ "$code" = 85 ] || { cat "$out/sig.log"; fail "signalled run exited $code, expected 85"; }
train 3 "$out/sig" "${sparse[@]}" run.resume=auto > "$out/sig2.log" 2>&1 \
    || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
same "$out/s1" "$out/sig" "sparse, signal on 2 ranks, resumed on 3" "${model[@]}"
[ "$(grep -c '"event":"epoch"' "$out/sig/metrics.jsonl")" = 10 ] || fail "epochs not recorded once each"
sparse_err=$(json_field "$out/s1/metrics.jsonl" test_error)
below "$sparse_err" 30 "50% sparse URFB test error"
# the hidden layers' masked halves stayed zero; the output layer has no mask
between "$(zeros "$out/sig/model.h5" /net/dense1/W)" 0.48 0.52 "zeros of dense1/W"
between "$(zeros "$out/sig/model.h5" /net/dense2/W)" 0.47 0.53 "zeros of dense2/W"
between "$(zeros "$out/sig/model.h5" /urfb/dense2/R)" 0.47 0.53 "zeros of dense2/R"
between "$(zeros "$out/sig/model.h5" /net/dense3/W)" 0 0.01 "zeros of dense3/W"

# fixed feedback: learns, R as drawn (a run of 0 epochs writes the draw)
train 2 "$out/fixed" urfb.feedback=fixed > "$out/fixed.log" 2>&1 || { cat "$out/fixed.log"; fail "fixed"; }
train 1 "$out/fixed0" urfb.feedback=fixed optim.epochs=0 > "$out/fixed0.log" 2>&1 \
    || { cat "$out/fixed0.log"; fail "fixed, 0 epochs"; }
h5diff "$out/fixed/model.h5" "$out/fixed0/model.h5" /urfb/dense2/R /urfb/dense2/R \
    || fail "fixed feedback: R moved"
fixed_err=$(json_field "$out/fixed/metrics.jsonl" test_error)
below "$fixed_err" 30 "FRFB test error after 6 epochs"

# bad configurations: the key named, nothing written
refused() { # expected-text overrides...
    local want=$1; shift
    expect_refused "$out/bad" "$want" train 1 "$out/bad" "$@"
}
refused "urfb.sparsity_w: must be < 1" urfb.sparsity_w=1
refused "urfb.sparsity_r: must be >= 0" urfb.sparsity_r=-0.2
refused "urfb.feedback: expected one of updated|fixed|symmetric" urfb.feedback=sideways
refused "urfb.sparsity_r = 0.5 with urfb.feedback = symmetric" urfb.feedback=symmetric \
    urfb.sparsity_r=0.5
refused "net.parallel = blocks: urfb runs data-parallel only" net.parallel=blocks
echo "urfb: test error $err% (50% sparse $sparse_err%, fixed feedback $fixed_err%); exact sums" \
    "bitwise equal on 1-4 ranks and across a resume from 2 ranks on 3"
