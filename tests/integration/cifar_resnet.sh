#!/usr/bin/env bash
# configs/reclra-resnet-cifar.ini, the small conv ResNet for CIFAR-10, on
# small files in CIFAR-10's binary format (5 training batches and a test
# batch of 3073-byte records, written here: each class a bright square at
# its own place and colour, in noise): rec-LRA learns it (test error far
# below chance after 3 epochs), and on 2 ranks as a pipeline of 2 stages it
# gives bitwise the weights and convolutional error synapses of 1 rank.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 - "$out/cifar" <<'PY' || fail "could not write the CIFAR-format files"
import os, random, sys
d = sys.argv[1]; os.makedirs(d)
rng = random.Random(7)
def batch(name, n):
    with open(os.path.join(d, name), "wb") as f:
        for _ in range(n):
            c = rng.randrange(10)
            img = bytearray(rng.randrange(0, 96) for _ in range(3072))
            y0, x0 = 2 + 10 * (c // 4), 2 + 8 * (c % 4)
            for y in range(y0, y0 + 8):
                for x in range(x0, x0 + 6):
                    img[(c % 3) * 1024 + y * 32 + x] = 255
            f.write(bytes([c]) + img)
for i in range(1, 6):
    batch(f"data_batch_{i}.bin", 120)
batch("test_batch.bin", 200)
PY

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
