#!/usr/bin/env bash
# Writes the seeds of the HDF5 harnesses, tests/fuzz/corpus/h5_ckpt/ and
# tests/fuzz/corpus/h5_model/, with `bin/plastic train`:
#
#   tests/fuzz/make_h5_seeds.sh        (from anywhere; builds what it needs)
#
# The harness writes its scenarios' configurations (FUZZ_H5_CONFIGS), which
# are trained on a tiny IDX dataset of 4x4 images (data.dir is not part of a
# run's identity, so the checkpoints read back into the harness's models),
# keeping a checkpoint at every epoch and minibatch boundary. The seeds:
#   seed-kh-readout-mid   a KH checkpoint in the readout stage, mid-epoch
#   seed-bp-done          bp's final checkpoint (phase done)
#   seed-kh-model, seed-bp-model  the model.h5 files
#   seed-bp-model-h5py    bp's model.h5 edited by h5py: its strings become
#                         variable-length (as h5py writes them), which
#                         plastic does not read (regress-hdf5-vlen-heap-size
#                         in h5_ckpt is a checkpoint edited so)
#   seed-kh-model-earliest  model.h5 rewritten by h5repack in HDF5's earliest
#                         format, whose metadata has no checksums, which
#                         plastic refuses to open (regress-hdf5-attr-earliest-
#                         format in h5_ckpt is a checkpoint in it)
# and damaged variants (damaged-*: cut in half, a flipped weight byte, a
# flipped metadata byte), which a merge keeps only if they add coverage.
# Not byte-for-byte reproducible: checkpoints hold wall times.
set -eu
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib.sh
. tests/lib.sh
py=/usr/bin/python3 # with h5py
make -s bin/plastic build/asan/fuzz/replay_h5_ckpt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/cfg" "$tmp/data"
FUZZ_H5_CONFIGS="$tmp/cfg" ASAN_OPTIONS=$(fuzz_asan_options h5_ckpt) \
    build/asan/fuzz/replay_h5_ckpt /dev/null >/dev/null
$py - "$tmp/data" <<'PY'
import random, struct, sys
r = random.Random(7)
def images(n):
    return struct.pack(">IIII", 0x803, n, 4, 4) + bytes(r.randrange(256) for _ in range(16 * n))
def labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))
for prefix, n in (("train", 40), ("t10k", 20)):
    open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte", "wb").write(images(n))
    open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte", "wb").write(labels(n))
PY
for rule in kh bp; do
    bin/plastic train "$tmp/cfg/$rule.ini" run.dir="$tmp/$rule" data.dir="$tmp/data" \
        checkpoint.minutes=0.000001 >"$tmp/$rule.log"
done

ckpt=tests/fuzz/corpus/h5_ckpt
model=tests/fuzz/corpus/h5_model
mkdir -p "$ckpt" "$model"
rm -f "$ckpt"/seed-* "$ckpt"/damaged-* "$model"/seed-* "$model"/damaged-*
# the checkpoint whose /data cursor matches
pick() { # run-dir phase mid(1: batch > 0)
    $py - "$@" <<'PY'
import glob, h5py, sys
for path in sorted(glob.glob(sys.argv[1] + "/ckpt/ckpt_*.h5")):
    with h5py.File(path, "r") as f:
        d = f["/data"].attrs
        phase = d["phase"].decode() if isinstance(d["phase"], bytes) else d["phase"]
        if phase == sys.argv[2] and (d["batch"] > 0) == (sys.argv[3] == "1"):
            print(path)
            break
PY
}
edit_strings() { # file: rewrites the string attributes the way h5py writes them
    $py - "$1" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    for obj in (f, f.get("/data")):
        if obj is None:
            continue
        for name in list(obj.attrs):
            v = obj.attrs[name]
            if isinstance(v, bytes):
                del obj.attrs[name]
                obj.attrs[name] = v.decode()  # a variable-length string
PY
}
flip() { # file offset
    $py -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5a]))' "$1" "$2"
}
data_offset() { # file dataset
    $py -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r")[sys.argv[2]].id.get_offset() + 5)' "$1" "$2"
}

cp "$(pick "$tmp/kh" readout 1)" "$ckpt/seed-kh-readout-mid"
cp "$(pick "$tmp/bp" done 0)" "$ckpt/seed-bp-done"
cp "$tmp/kh/model.h5" "$model/seed-kh-model"
cp "$tmp/bp/model.h5" "$model/seed-bp-model"
h5repack "$tmp/kh/model.h5" "$model/seed-kh-model-earliest"
cp "$tmp/bp/model.h5" "$model/seed-bp-model-h5py"
edit_strings "$model/seed-bp-model-h5py"

damage() { # corpus source dataset
    local size
    size=$(stat -c %s "$2")
    head -c $((size / 2)) "$2" >"$1/damaged-half"
    cp "$2" "$1/damaged-weight"
    flip "$1/damaged-weight" "$(data_offset "$2" "$3")"
    cp "$2" "$1/damaged-superblock"
    flip "$1/damaged-superblock" 20
}
damage "$ckpt" "$ckpt/seed-kh-readout-mid" /model/kh/W
damage "$model" "$model/seed-kh-model" /kh/W
for dir in "$ckpt" "$model"; do
    echo "$dir: $(find "$dir" -type f | wc -l) inputs, $(cat "$dir"/* | wc -c) bytes"
done
