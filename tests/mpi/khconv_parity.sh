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

config=tests/configs/khconv.ini
dsets="/khconv/W1 /khconv/W2 /readout/S"

parity_ranks "$out" "$config" "$dsets" "2" checkpoint.every=0
# one tile of 16 holds all 13 filters of each layer: ranks 1 and 2 hold none
plastic_train_ok 1 "$out/one" "$config" checkpoint.every=0 khconv.tile=16
plastic_train_ok 3 "$out/one_np3" "$config" checkpoint.every=0 khconv.tile=16
same_run "$out/one" "$out/one_np3" "one tile, 3 ranks" "$dsets"
echo "khconv: W1, W2, S and errors identical on 1-4 ranks, 2 ranks x 2 threads, and in one tile on 3 ranks" \
    "(test error $(json_field "$out/np1/metrics.jsonl" test_error)%)"
