#!/usr/bin/env bash
# Learning curves: every run (bp, rec-LRA, KH) ends with a curves.png of
# 800 x 500; `plastic curves` draws two runs' test errors in one chart;
# a missing metrics.jsonl, a malformed line and a metric no epoch holds
# exit non-zero naming the file (and line); a curves.png that cannot be
# written is a warning, not a failed run.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
slice="data.train_limit=2000 data.valid=500 data.test_limit=1000"

# PNG signature and IHDR size: "W H"
png_size() {
    python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "not a PNG"
print(*struct.unpack(">II", head[16:24]))
PY
}

expect_png() { # file what
    [ -f "$1" ] || fail "$2: no $1"
    [ "$(png_size "$1")" = "800 500" ] || fail "$2: $1 is $(png_size "$1"), expected 800 x 500"
}

train() { # log config dir [overrides...]
    local log=$1 config=$2 dir=$3; shift 3
    # shellcheck disable=SC2086
    bin/plastic train "$config" run.dir="$dir" $slice "$@" > "$log" 2>&1 \
        || { cat "$log"; fail "training $dir"; }
}

train "$out/bp.log" configs/bp-mnist.ini "$out/bp" optim.epochs=2 log.test_every=1
train "$out/lra.log" configs/reclra-mnist-demo.ini "$out/lra" optim.epochs=2 log.test_every=1
train "$out/kh.log" tests/configs/slice.ini "$out/kh" kh.epochs=1 readout.epochs=2
for run in bp lra kh; do
    expect_png "$out/$run/curves.png" "$run"
    grep -q "warning" "$out/$run.log" && fail "$run: $(cat "$out/$run.log")"
done

# two runs in one chart
bin/plastic curves -o "$out/fig2.png" --title "test error" "$out/lra=rec-LRA" "$out/bp=backprop" \
    > "$out/verb.log" 2>&1 || { cat "$out/verb.log"; fail "curves verb"; }
expect_png "$out/fig2.png" "curves verb"
grep -q "wrote $out/fig2.png: test_error of 2 run(s)" "$out/verb.log" || fail "$(cat "$out/verb.log")"
bin/plastic curves -o "$out/kh.png" --metric valid_error --log "$out/kh" > /dev/null \
    || fail "valid error of a KH run on a log axis"
expect_png "$out/kh.png" "log axis"

expect_error() { # code pattern args...
    local code=$1 pattern=$2; shift 2
    bin/plastic curves "$@" > "$out/stdout" 2> "$out/stderr"
    local got=$?
    [ "$got" = "$code" ] || fail "curves $*: exit $got, expected $code: $(cat "$out/stderr")"
    grep -qF -- "$pattern" "$out/stderr" || fail "curves $*: stderr lacks '$pattern': $(cat "$out/stderr")"
    [ -e "$out/bad.png" ] && fail "curves $*: wrote an output on an error"
    return 0
}
expect_error 2 "cannot open '$out/none/metrics.jsonl': No such file or directory" \
    -o "$out/bad.png" "$out/bp" "$out/none"
mkdir -p "$out/broken"
cp "$out/bp/metrics.jsonl" "$out/broken/"
lines=$(wc -l < "$out/broken/metrics.jsonl")
echo '{"event":"epoch","phase":"train","epoch":3,"test_error":' >> "$out/broken/metrics.jsonl"
expect_error 2 "$out/broken/metrics.jsonl:$((lines + 1)): not a JSON record: column" \
    -o "$out/bad.png" "$out/broken"
expect_error 2 "$out/kh/metrics.jsonl: no epoch record has a value of test_error" \
    -o "$out/bad.png" "$out/kh"
expect_error 1 "unknown metric 'loss'" -o "$out/bad.png" --metric loss "$out/bp"
expect_error 1 "no output file" "$out/bp"

# curves.png cannot be written (a directory is in its way): a warning, exit 0
mkdir -p "$out/blocked/curves.png/inside"
train "$out/blocked.log" configs/bp-mnist.ini "$out/blocked" optim.epochs=1
grep -q "plastic: warning: curves.png not drawn: cannot write image '$out/blocked/curves.png'" \
    "$out/blocked.log" || fail "no warning: $(cat "$out/blocked.log")"
[ -f "$out/blocked/model.h5" ] || fail "the blocked run has no model.h5"
bin/plastic --help | grep -q "curves  plastic curves -o OUT.png" || fail "--help does not list curves"
echo "curves.png of bp, rec-LRA and KH runs; the curves verb and its errors"
