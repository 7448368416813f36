#!/usr/bin/env bash
# bin/plastic on a slice of real MNIST (K = 50 in tiles of 8) on 1, 2, 3 and
# 4 ranks, and on 1 and 2 ranks x 2 threads (run.threads=2: the KH step and
# the readout's features on 2 threads per rank): model.h5 (/kh/W and
# /readout/S) must be bitwise identical and the errors equal. Then K = 50 in
# one tile of 64 on 1 rank and on 3 ranks x 2 threads, where ranks 1 and 2
# hold no unit: identical too.
set -eu
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

train() { # name np overrides...
    local name=$1 np=$2; shift 2
    plastic_mpirun "$np" bin/plastic train tests/configs/slice.ini run.dir="$out/$name" \
        log.progress=0 "$@" > "$out/$name.log" 2>&1 || { cat "$out/$name.log"; fail "train $name"; }
}

same() { # reference name what
    local a=$1 b=$2
    for dset in /kh/W /readout/S; do
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
train np1t2 1 run.threads=2
train np2t2 2 run.threads=2
for np in 2 3 4; do
    same np1 "np$np" "$np ranks"
done
same np1 np1t2 "1 rank x 2 threads"
same np1 np2t2 "2 ranks x 2 threads"

train one 1 kh.tile=64
train one_np3t2 3 kh.tile=64 run.threads=2
same one one_np3t2 "one tile, 3 ranks x 2 threads"

echo "W, S and errors identical on 1-4 ranks and on 1 and 2 ranks x 2 threads; with one tile on"\
    "3 ranks x 2 threads (test error $(json_field "$out/np1/metrics.jsonl" test_error)%)"
