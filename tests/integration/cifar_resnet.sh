#!/usr/bin/env bash
# configs/reclra-resnet-cifar.ini, the small conv ResNet for CIFAR-10, on
# small files in CIFAR-10's binary format (tests/cifar_files.py: each class
# a bright square at its own place and colour, in noise): rec-LRA learns it
# (test error far below chance after 3 epochs), and on 2 ranks as a
# pipeline of 2 stages it gives bitwise the weights and convolutional error
# synapses of 1 rank.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 tests/cifar_files.py "$out/cifar" || fail "could not write the CIFAR-format files"

config=configs/reclra-resnet-cifar.ini
small=(data.dir="$out/cifar" data.valid=100 optim.epochs=3 optim.batch=25 optim.sum=exact
       checkpoint.every=0 log.progress=0)
plastic_mpirun 1 bin/plastic train "$config" "${small[@]}" run.dir="$out/r1" > "$out/r1.log" 2>&1 \
    || { cat "$out/r1.log"; fail "1 rank"; }
grep -q "500 train, 100 valid, 200 test examples" "$out/r1.log" || { cat "$out/r1.log"; fail "the CIFAR files were not read as 600 + 200 records"; }
err=$(json_field "$out/r1/metrics.jsonl" test_error)
python3 -c "import sys; sys.exit(0 if float('$err') < 40 else 1)" || fail "test error $err% after 3 epochs (chance: 90%)"

plastic_mpirun 2 bin/plastic train "$config" "${small[@]}" net.parallel=blocks run.dir="$out/r2" \
    > "$out/r2.log" 2>&1 || { cat "$out/r2.log"; fail "2 ranks, blocks"; }
grep -q "blocks: 2 stage(s)" "$out/r2.log" || { cat "$out/r2.log"; fail "not a pipeline of 2 stages"; }
h5ls -r "$out/r1/model.h5" | grep -q '^/lra/E2 .*{16, 144}' || { h5ls -r "$out/r1/model.h5"; fail "/lra/E2 is not a 16 x (16 3 3) filter bank"; }
for dset in /net/conv1/W /net/conv3/W /net/conv6/W /net/dense1/W /lra/E1 /lra/E2 /lra/E7; do
    h5diff "$out/r1/model.h5" "$out/r2/model.h5" "$dset" "$dset" || fail "$dset: 2 stages differ from 1 rank"
done
echo "cifar_resnet: test error $err% after 3 epochs on CIFAR-format files; 2 stages bitwise equal to 1 rank"
