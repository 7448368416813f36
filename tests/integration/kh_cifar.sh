#!/usr/bin/env bash
# configs/kh-cifar.ini (Krotov & Hopfield's CIFAR-10 setting: inputs scaled
# to unit length) on small files in CIFAR-10's binary format
# (tests/cifar_files.py), K cut to 64 and a few epochs: 1000 + 200 records
# read, data.normalize = unit recorded in config.ini (the scaling itself:
# tests/unit/test_data.c), the readout far below chance, 2 ranks bitwise
# equal to 1; the p/k grid's sweep file plans 64 runs on 8 shared hidden
# layers.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 tests/cifar_files.py "$out/cifar" 200 200 || fail "could not write the CIFAR-format files"
small=(data.dir="$out/cifar" data.valid=100 kh.hidden=64 kh.tile=16 kh.epochs=8 kh.batch=100
       readout.epochs=10 checkpoint.every=0 log.progress=0)
for np in 1 2; do
    plastic_mpirun $np bin/plastic train configs/kh-cifar.ini "${small[@]}" run.dir="$out/r$np" \
        > "$out/r$np.log" 2>&1 || { cat "$out/r$np.log"; fail "$np rank(s)"; }
done
grep -q "900 train, 100 valid, 200 test examples" "$out/r1.log" \
    || { cat "$out/r1.log"; fail "the CIFAR files were not read as 1000 + 200 records"; }
err=$(json_field "$out/r1/metrics.jsonl" test_error)
python3 -c "import sys; sys.exit(0 if float('$err') < 50 else 1)" || fail "test error $err% (chance: 90%)"
for dset in /kh/W /readout/S; do
    h5diff "$out/r1/model.h5" "$out/r2/model.h5" "$dset" "$dset" || fail "$dset: 2 ranks differ from 1"
done
grep -q '"data.normalize":"unit"\|data.normalize=unit\|normalize = unit' "$out/r1/config.ini" \
    || { cat "$out/r1/config.ini"; fail "config.ini does not record data.normalize"; }
bin/plastic sweep configs/sweep-kh-cifar.ini --plan > "$out/plan.log" 2>&1 || { cat "$out/plan.log"; fail "--plan"; }
grep -q "runs: 64; distinct shared trainings: 8 " "$out/plan.log" || { cat "$out/plan.log"; fail "the grid's plan"; }
echo "kh_cifar: test error $err% on CIFAR-format files with unit-length inputs; 2 ranks bitwise 1"
