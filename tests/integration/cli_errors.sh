#!/usr/bin/env bash
# Bad input gets a clear message naming the file, key or line and the right
# exit code, and leaves what is already in the run directory untouched.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

expect() { # code pattern command...
    local code=$1 pattern=$2; shift 2
    "$@" > "$out/stdout" 2> "$out/stderr"
    local got=$?
    [ "$got" = "$code" ] || fail "$*: exit $got, expected $code: $(cat "$out/stderr")"
    grep -q -- "$pattern" "$out/stderr" || fail "$*: stderr lacks '$pattern': $(cat "$out/stderr")"
}

# a finished-looking run directory that errors must not touch
mkdir -p "$out/run"
echo '{"event":"done","test_error":1.5}' > "$out/run/metrics.jsonl"
echo 'precious' > "$out/run/model.h5"
snapshot() { (cd "$out/run" && md5sum ./*); }
before=$(snapshot)

printf '[kh]\nhidden = 10\nbogus = 3\n' > "$out/unknown.ini"
expect 1 "unknown.ini:3: unknown key 'bogus' in section \[kh\]" bin/plastic train "$out/unknown.ini" run.dir="$out/run"
printf '[kh]\np = three\n' > "$out/badvalue.ini"
expect 1 "badvalue.ini:2: kh.p: expected a number, got 'three'" bin/plastic train "$out/badvalue.ini" run.dir="$out/run"
printf '[nosuch]\n' > "$out/section.ini"
expect 1 "section.ini:1: unknown section \[nosuch\]" bin/plastic train "$out/section.ini"
expect 1 "override 'kh.q=1'" bin/plastic train tests/configs/slice.ini run.dir="$out/run" kh.q=1
expect 1 "override 'kh.k=x'" bin/plastic train tests/configs/slice.ini run.dir="$out/run" kh.k=x
expect 1 "kh.k" bin/plastic train tests/configs/slice.ini run.dir="$out/run" kh.k=60
expect 1 "cannot open config file" bin/plastic train "$out/none.ini"
expect 1 "unknown verb 'frobnicate'" bin/plastic frobnicate
expect 2 "fetch-data.sh" bin/plastic train tests/configs/slice.ini run.dir="$out/run" data.dir="$out/empty"
printf 'not an idx file at all' > "$out/train-images-idx3-ubyte"
for f in train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do cp "${PLASTIC_DATA:-data}/mnist/$f" "$out/$f"; done
expect 2 "train-images-idx3-ubyte" bin/plastic train tests/configs/slice.ini run.dir="$out/run" data.dir="$out"
expect 2 "cannot open '$out/nothere.h5'" bin/plastic train tests/configs/slice.ini run.dir="$out/run" kh.init="$out/nothere.h5"

[ "$before" = "$(snapshot)" ] || fail "a failed run changed the run directory"
bin/plastic --help | grep -q "kh.hidden" || fail "--help does not list kh.hidden"
bin/plastic --help | grep -q "readout.beta" || fail "--help does not list readout.beta"
echo "every bad input rejected with its file/key/line; run directory untouched"
