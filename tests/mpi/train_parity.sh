#!/usr/bin/env bash
# bin/plastic on 1, 2, 3 and 4 ranks of a slice of real MNIST: model.h5
# (/kh/W and /readout/S) must be bitwise identical and the errors equal.
# On 2 ranks x 2 threads (run.threads=2: the KH step on 2 shards per rank)
# /kh/W must be identical too. The readout is not compared there: its
# features come from OpenBLAS on 2 threads, which sums in another order than
# on one (docs/results.md).
set -eu
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for np in 1 2 3 4; do
    plastic_mpirun "$np" bin/plastic train tests/configs/slice.ini run.dir="$out/np$np" \
        log.progress=0 > "$out/np$np.log" 2>&1 || { cat "$out/np$np.log"; fail "train on $np ranks"; }
done
plastic_mpirun 2 bin/plastic train tests/configs/slice.ini run.dir="$out/np2t2" run.threads=2 \
    log.progress=0 > "$out/np2t2.log" 2>&1 || { cat "$out/np2t2.log"; fail "train on 2 ranks x 2 threads"; }
h5diff "$out/np1/model.h5" "$out/np2t2/model.h5" /kh/W /kh/W \
    || fail "/kh/W on 2 ranks x 2 threads differs from 1 rank"
for np in 2 3 4; do
    for dset in /kh/W /readout/S; do
        h5diff "$out/np1/model.h5" "$out/np$np/model.h5" "$dset" "$dset" \
            || fail "$dset on $np ranks differs from 1 rank"
    done
    for field in test_error valid_error train_error; do
        a=$(json_field "$out/np1/metrics.jsonl" "$field")
        b=$(json_field "$out/np$np/metrics.jsonl" "$field")
        if [ -z "$a" ] || [ "$a" != "$b" ]; then
            fail "$field: 1 rank '$a', $np ranks '$b'"
        fi
    done
done
echo "W, S and errors identical on 1-4 ranks, W on 2 ranks x 2 threads (test error $(json_field "$out/np1/metrics.jsonl" test_error)%)"
