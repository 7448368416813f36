#!/usr/bin/env bash
# Damaged or foreign checkpoints: truncated at several offsets, a flipped
# byte in the weights and in the file's metadata, one from another
# configuration. Each gives its clear error and exit code, and nothing in the
# run directory changes; resume=auto falls back past a damaged LATEST; h5py
# reads a checkpoint written by 3 ranks and finds the trainer's W; one it
# edited (strings of variable length) and files in HDF5's earliest format
# (no metadata checksums) are refused with the reason.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
py=/usr/bin/python3

plastic_mpirun 3 bin/plastic train tests/configs/slice.ini run.dir="$out/src" checkpoint.every=1 \
    checkpoint.keep=10 log.progress=0 > "$out/src.log" 2>&1 || { cat "$out/src.log"; fail "source run"; }
good="$out/src/ckpt/$(cat "$out/src/ckpt/LATEST")"

# h5py: the final checkpoint (3 ranks) holds the W of model.h5
$py - "$good" "$out/src/model.h5" <<'PY' || fail "h5py comparison"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as c, h5py.File(sys.argv[2], "r") as m:
    assert c.attrs["nranks_at_write"] == 3
    assert np.array_equal(c["/model/kh/W"][...], m["/kh/W"][...])
    assert np.array_equal(c["/model/readout/S"][...], m["/readout/S"][...])
    assert c["/data"].attrs["phase"] in (b"done", "done")
PY

# plastic info describes it
bin/plastic info "$good" > "$out/info" || fail "plastic info failed"
for want in "plastic checkpoint" "written by 3 rank" "phase done" "/model/kh/W *50 x 784" \
    "kh: hidden=50 p=3 k=4"; do
    grep -q -- "$want" "$out/info" || fail "plastic info lacks '$want': $(cat "$out/info")"
done

# info on a checkpoint whose stored configuration does not parse: exit 2, one
# error naming the file and /config, and what else it holds is still listed
cp "$good" "$out/bad_config.h5"
$py -c 'import sys, h5py
off = h5py.File(sys.argv[1], "r")["/config"].id.get_offset()
with open(sys.argv[1], "r+b") as f:
    f.seek(off); f.write(b"zz")' "$out/bad_config.h5"
bin/plastic info "$out/bad_config.h5" > "$out/info_bad" 2> "$out/info_bad_err"
rc=$?
[ "$rc" = 2 ] || fail "info of a damaged /config: exit $rc, expected 2"
[ "$(wc -l < "$out/info_bad_err")" = 1 ] && grep -q "$out/bad_config.h5:/config:1: " \
    "$out/info_bad_err" || fail "info of a damaged /config: $(cat "$out/info_bad_err")"
grep -q "/model/kh/W *50 x 784" "$out/info_bad" || fail "info of a damaged /config lists no W"

# A checkpoint edited by h5py, whose strings are of variable length: plastic
# reads strings of fixed length only (HDF5 trusts the sizes it reads those
# from), so info gives no version and a resume says why it is refused
cp "$good" "$out/h5py.h5"
$py - "$out/h5py.h5" <<'PY' || fail "h5py edit"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    for obj in (f, f["/data"]):
        for name in list(obj.attrs):
            v = obj.attrs[name]
            if isinstance(v, bytes):
                del obj.attrs[name]
                obj.attrs[name] = v.decode()  # a variable-length string
    assert h5py.check_string_dtype(f["/data"].attrs.get_id("phase").dtype).length is None
PY
bin/plastic info "$out/h5py.h5" > "$out/info_h5py" || fail "plastic info of the h5py-edited file"
grep -q "^$out/h5py.h5: plastic checkpoint (unknown version), format 1" "$out/info_h5py" &&
    grep -q "^state: phase (unreadable), 0 epoch" "$out/info_h5py" ||
    fail "info of the h5py-edited file: $(cat -v "$out/info_h5py")"

# A run directory whose contents must survive every failed resume.
victim="$out/victim"
mkdir -p "$victim"
echo '{"event":"start"}' > "$victim/metrics.jsonl"
echo precious > "$victim/model.h5"
snapshot() { (cd "$victim" && find . -type f -exec md5sum {} + | sort); }
before=$(snapshot)

expect() { # code pattern file [overrides...]
    local code=$1 pattern=$2 file=$3; shift 3
    bin/plastic train tests/configs/slice.ini run.dir="$victim" run.resume="$file" "$@" \
        > "$out/stdout" 2> "$out/stderr"
    local got=$?
    [ "$got" = "$code" ] || fail "resume from $file: exit $got, expected $code: $(cat "$out/stderr")"
    grep -q -- "$file" "$out/stderr" || fail "the error does not name $file: $(cat "$out/stderr")"
    grep -q -- "$pattern" "$out/stderr" || fail "the error lacks '$pattern': $(cat "$out/stderr")"
}

size=$(stat -c %s "$good")
for cut in 0 100 2048 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$good" > "$out/cut_$cut.h5"
    expect 2 "missing, truncated" "$out/cut_$cut.h5"
done

flip() { # src dst offset
    cp "$1" "$2"
    $py -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5a]))' "$2" "$3"
}
offset=$($py -c "import h5py,sys; d=h5py.File(sys.argv[1],'r')['/model/kh/W']; print(d.id.get_offset() + 4 * 777)" "$good")
flip "$good" "$out/flip_data.h5" "$offset"
expect 2 "/model/kh/W fails its checksum" "$out/flip_data.h5"
# a byte of metadata: the superblock's checksum (newest format) catches it
flip "$good" "$out/flip_meta.h5" 20
expect 2 "" "$out/flip_meta.h5"

# a checkpoint of another configuration
expect 1 "belongs to another configuration: kh.hidden is 50 there but 60 here" "$good" kh.hidden=60
expect 1 "belongs to another configuration: kh.p is 3 there but 4 here" "$good" kh.p=4
expect 2 "missing, truncated" "$out/none.h5"
expect 2 "phase (/data) is a string of variable length (as h5py writes them)" "$out/h5py.h5"
# a cursor whose epoch an int cannot hold (it was read as -2^31), or whose
# metrics_bytes is negative: damaged
for attr in "epoch 2**31" "metrics_bytes -1"; do
    cp "$good" "$out/cursor.h5"
    $py -c 'import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    f["/data"].attrs.modify(sys.argv[2], np.int64(eval(sys.argv[3])))' "$out/cursor.h5" $attr ||
        fail "h5py: $attr"
    expect 2 "the data cursor (/data attributes) is missing or damaged" "$out/cursor.h5"
done
# HDF5's earliest format (h5repack's default) has no metadata checksums: refused
# before HDF5 decodes it; h5repack -L makes it readable (finished: nothing to do)
h5repack "$good" "$out/earliest.h5" && h5repack -L "$out/earliest.h5" "$out/latest.h5" ||
    fail "h5repack"
expect 2 "in an older HDF5 format (superblock version 0), whose metadata has no checksums" \
    "$out/earliest.h5"
bin/plastic train tests/configs/slice.ini run.dir="$victim" run.resume="$out/latest.h5" \
    > "$out/stdout" 2> "$out/stderr" || fail "resume after h5repack -L: $(cat "$out/stderr")"
grep -q "is finished" "$out/stdout" || fail "h5repack -L's copy: $(cat "$out/stdout")"
[ "$before" = "$(snapshot)" ] || fail "a failed resume changed the run directory"

# kh.init from a model file in the earliest format: refused likewise
h5repack "$out/src/model.h5" "$out/earliest_model.h5" || fail "h5repack of model.h5"
bin/plastic train tests/configs/slice.ini run.dir="$out/init" kh.init="$out/earliest_model.h5" \
    > "$out/stdout" 2> "$out/stderr"
rc=$?
[ "$rc" = 2 ] && grep -q "cannot open '$out/earliest_model.h5': it is in an older HDF5 format" \
    "$out/stderr" || fail "kh.init in the earliest format: exit $rc: $(cat "$out/stderr")"

# resume=auto: a damaged LATEST falls back to the checkpoint before it
cp -r "$out/src" "$out/auto"
latest="$out/auto/ckpt/$(cat "$out/auto/ckpt/LATEST")"
head -c 1000 "$latest" > "$latest.cut" && mv "$latest.cut" "$latest"
rm "$out/auto/model.h5"
plastic_mpirun 2 bin/plastic train tests/configs/slice.ini run.dir="$out/auto" run.resume=auto \
    log.progress=0 > "$out/auto.log" 2>&1 || { cat "$out/auto.log"; fail "fallback resume"; }
grep -q "is damaged; trying the one before it" "$out/auto.log" || fail "no fallback message"
grep -q "resuming from the older checkpoint" "$out/auto.log" || fail "fallback target not named"
h5diff "$out/src/model.h5" "$out/auto/model.h5" /kh/W /kh/W || fail "fallback run differs"
echo "truncations (5), flipped data and metadata bytes, other configs: all rejected, run dir intact;"
echo "damaged LATEST fell back and finished with the same W; h5py read a 3-rank checkpoint;"
echo "one edited by h5py (variable-length strings) and files in HDF5's earliest format refused"
