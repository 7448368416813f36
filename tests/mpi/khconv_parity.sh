#!/usr/bin/env bash
# bin/plastic with model.rule = khconv (two conv layers of 13 filters in
# tiles of 4, tests/configs/khconv.ini) on a slice of real MNIST on 1, 2, 3
# and 4 ranks and on 2 ranks x 2 threads, and in one tile of 16 on 1 and 3
# ranks (two ranks without a filter): model.h5 (/khconv/W1, /khconv/W2,
# /readout/S) must be bitwise identical and the errors equal.
set -eu
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

train() { # name np overrides...
    local name=$1 np=$2; shift 2
    plastic_mpirun "$np" bin/plastic train tests/configs/khconv.ini run.dir="$out/$name" \
        log.progress=0 checkpoint.every=0 "$@" > "$out/$name.log" 2>&1 \
        || { cat "$out/$name.log"; fail "train $name"; }
}

same() { # reference name what
    local a=$1 b=$2
    for dset in /khconv/W1 /khconv/W2 /readout/S; do
        h5diff "$out/$a/model.h5" "$out/$b/model.h5" "$dset" "$dset" \
            || fail "$dset of $b ($3) differs from $a"
    done
    for field in test_error valid_error train_error; do
        x=$(json_field "$out/$a/metrics.jsonl" "$field")
        y=$(json_field "$out/$b/metrics.jsonl" "$field")
        if [ -z "$x" ] || [ "$x" != "$y" ]; then
            fail "$field: $a '$x', $b ($3) '$y'"
        fi
    done
}

for np in 1 2 3 4; do
    train "np$np" "$np"
done
train np2t2 2 run.threads=2
for np in 2 3 4; do
    same np1 "np$np" "$np ranks"
done
same np1 np2t2 "2 ranks x 2 threads"
# one tile of 16 holds all 13 filters of each layer: ranks 1 and 2 hold none
train one 1 khconv.tile=16
train one_np3 3 khconv.tile=16
same one one_np3 "one tile, 3 ranks"
echo "khconv: W1, W2, S and errors identical on 1-4 ranks, 2 ranks x 2 threads, and in one tile on 3 ranks" \
    "(test error $(json_field "$out/np1/metrics.jsonl" test_error)%)"
