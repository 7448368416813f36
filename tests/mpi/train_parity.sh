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

config=tests/configs/slice.ini
dsets="/kh/W /readout/S"

parity_ranks "$out" "$config" "$dsets" "1 2"

plastic_train_ok 1 "$out/one" "$config" kh.tile=64
plastic_train_ok 3 "$out/one_np3t2" "$config" kh.tile=64 run.threads=2
same_run "$out/one" "$out/one_np3t2" "one tile, 3 ranks x 2 threads" "$dsets"

echo "W, S and errors identical on 1-4 ranks and on 1 and 2 ranks x 2 threads; with one tile on"\
    "3 ranks x 2 threads (test error $(json_field "$out/np1/metrics.jsonl" test_error)%)"
