#!/usr/bin/env bash
# URFB on a small conv net whose two convolutions are untied (net.untie,
# locally connected layers: weights of their own per position) after two
# tied epochs (net.untie_after, Amit's Section 4.1 schedule), with 50%
# sparse W and R: it learns; while tied every position holds the same
# weights (it trains the convolution), afterwards they differ; exact sums
# give the same bits on 1, 2 and 3 ranks; a run stopped by SIGUSR1 on 2
# ranks in a tied epoch and resumed on 3 unties on schedule and ends with the
# bits of an uninterrupted 1-rank run; bad untie keys are refused naming the
# key and the entry, with nothing written.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/urfb.ini
net=("net.layers=conv 4 5x5 clip, pool 2x2, conv 6 3x3 clip, pool 2x2, dense 10 clip"
     net.untie=1,3 net.untie_after=2 urfb.sparsity_w=0.5 urfb.sparsity_r=0.5 optim.lr=0.05
     optim.epochs=4)

train() { # ranks dir [overrides...]
    local np=$1 dir=$2; shift 2
    plastic_mpirun "$np" bin/plastic train "$config" run.dir="$dir" "${net[@]}" "$@"
}

model=(/net/local1/W /net/local1/b /net/local2/W /net/local2/b /net/dense1/W /urfb/local2/R
       /urfb/dense1/R)
same() { # dir-a dir-b what
    for dset in "${model[@]}"; do
        h5diff "$1/model.h5" "$2/model.h5" "$dset" "$dset" || fail "$3: $dset differs"
    done
    [ "$(json_field "$1/metrics.jsonl" test_error)" = "$(json_field "$2/metrics.jsonl" test_error)" ] \
        || fail "$3: test errors differ"
}

# How many distinct rows (positions) a dataset has.
distinct_rows() { # file dataset
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
w = h5py.File(sys.argv[1], "r")[sys.argv[2]][...]
print(len({row.tobytes() for row in w}))
PY
}

train 1 "$out/r1" > "$out/r1.log" 2>&1 || { cat "$out/r1.log"; fail "1 rank"; }
grep -q "net.untie = 1,3: untied from epoch 3 on" "$out/r1.log" || { cat "$out/r1.log"; fail "no untie line"; }
err=$(json_field "$out/r1/metrics.jsonl" test_error)
python3 -c "import sys; sys.exit(0 if float('$err') < 30 else 1)" || fail "untied URFB test error $err%"
# /net/local1/W is positions x (out_c in_c k_h k_w): after untying the rows differ
[ "$(distinct_rows "$out/r1/model.h5" /net/local1/W)" -gt 100 ] || fail "positions of local1 did not untie"
train 1 "$out/tied" optim.epochs=2 > "$out/tied.log" 2>&1 || { cat "$out/tied.log"; fail "tied phase"; }
for dset in /net/local1/W /net/local1/b /net/local2/W /urfb/local2/R; do
    [ "$(distinct_rows "$out/tied/model.h5" "$dset")" = 1 ] || fail "$dset: positions differ while tied"
done
for np in 2 3; do
    train "$np" "$out/r$np" > "$out/r$np.log" 2>&1 || { cat "$out/r$np.log"; fail "$np ranks"; }
    same "$out/r1" "$out/r$np" "exact sums, $np ranks against 1"
done

# stopped in the second (tied) epoch on 2 ranks, resumed on 3
OMPI_MCA_rmaps_base_oversubscribe=1 mpirun --oversubscribe --bind-to none -np 2 bin/plastic \
    train "$config" run.dir="$out/sig" "${net[@]}" > "$out/sig.log" 2>&1 &
pid=$!
signal_after_epochs "$pid" "$out/sig" 1 "$out/sig.log"
train 3 "$out/sig" run.resume=auto > "$out/sig2.log" 2>&1 || { cat "$out/sig2.log"; fail "resume on 3 ranks"; }
same "$out/r1" "$out/sig" "signal on 2 ranks in the tied phase, resumed on 3"

# bad configurations: the key and the entry named, nothing written
refused() { # expected-text overrides...
    local want=$1; shift
    expect_refused "$out/bad" "$want" train 1 "$out/bad" "$@"
}
refused "net.untie = 2: entry 2 'pool 2x2' is not a convolution" net.untie=2
refused "net.untie = 1,5: entry 5 'dense 10 clip' is not a convolution" net.untie=1,5
refused "net.untie = 7: entry 7 does not exist" net.untie=7
refused "net.untie_after = 2: net.untie lists no conv entries" net.untie=
refused "net.untie = 1,3: untied layers run in net.parallel = data only" net.parallel=blocks
refused "net.untie = 1,3: rec-LRA's error synapses have no untied form" model.rule=reclra \
    net.loss=xent "net.layers=conv 4 5x5 clip, pool 2x2, conv 6 3x3 clip, pool 2x2, dense 10 softmax"
echo "urfb untied: test error $err% after 2 tied and 2 untied epochs; positions equal while" \
    "tied; exact sums bitwise equal on 1-3 ranks and across a resume from 2 ranks on 3"
