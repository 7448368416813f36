#!/usr/bin/env bash
# khconv's bad values refused before anything runs: exit 1, the key (and the
# layers' entry) named, run.dir untouched.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/khconv.ini

expect_refused "$out/pool" "khconv.layers: entry 2: pool 11x11 is larger than the 10x10 positions" \
    bin/plastic train "$config" run.dir="$out/pool" \
    "khconv.layers=conv 5x5 13 pool 2x2, conv 3x3 8 pool 11x11"
expect_refused "$out/k" "khconv.layers: entry 1: k = 9 must be <= its 8 filters" \
    bin/plastic train "$config" run.dir="$out/k" "khconv.layers=conv 5x5 8 k 9"
expect_refused "$out/word" "khconv.layers: entry 1: unknown word 'size'" \
    bin/plastic train "$config" run.dir="$out/word" "khconv.layers=conv 5x5 8 size 3"
expect_refused "$out/three" "khconv.layers: at most 2 layers" \
    bin/plastic train "$config" run.dir="$out/three" \
    "khconv.layers=conv 3x3 4, conv 3x3 4, conv 3x3 4"
expect_refused "$out/kmin" "khconv.k: must be >= 2, got 1" \
    bin/plastic train "$config" run.dir="$out/kmin" khconv.k=1
expect_refused "$out/eps" "khconv.eps0: must be > 0, got 0" \
    bin/plastic train "$config" run.dir="$out/eps" khconv.eps0=0
echo "khconv: bad layers and keys refused naming the key, run.dir untouched"
