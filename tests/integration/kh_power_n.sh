#!/usr/bin/env bash
# The power-n study (Krotov & Hopfield Fig. 4) as a sweep on one fixed hidden
# layer (tests/configs/sweep-power-n.ini):
#  - a tuned key (sweep.tune = readout.beta) leaves readout.n the one cell
#    axis: --plan marks beta tuned and n not;
#  - with kh.init and kh.epochs = 0 every shared stage is the given W,
#    bitwise;
#  - --report writes one row per n and error-vs-readout.n.png, a PNG.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin/plastic train configs/kh-mnist-demo.ini run.dir="$out/w" data.valid=500 \
    data.train_limit=2500 data.test_limit=1000 kh.hidden=48 kh.epochs=2 readout.epochs=1 \
    log.progress=0 > "$out/w.log" 2>&1 || { tail "$out/w.log"; fail "training the hidden layer"; }
config=tests/configs/sweep-power-n.ini
dir=$out/sweep
args=(sweep.dir="$dir" kh.init="$out/w/model.h5")
bin/plastic sweep "$config" --plan "${args[@]}" > "$out/plan.log" || fail "--plan"
grep -q "readout.beta .*(tuned" "$out/plan.log" || { cat "$out/plan.log"; fail "beta not tuned"; }
grep "readout.n " "$out/plan.log" | grep -q tuned && fail "readout.n tuned"
bin/plastic sweep "$config" "${args[@]}" > "$out/run.log" 2>&1 \
    || { tail -n 20 "$out/run.log"; fail "search"; }
bin/plastic sweep "$config" --report "${args[@]}" > "$out/report.log" 2>&1 \
    || { tail -n 20 "$out/report.log"; fail "--report"; }
[ "$(grep -c '^| readout.n=[0-9.]* | readout.beta=' "$dir/report.md")" = 3 ] \
    || { cat "$dir/report.md"; fail "report rows"; }
[ "$(head -c 8 "$dir/error-vs-readout.n.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
    || fail "error-vs-readout.n.png is not a PNG"
/usr/bin/python3 - "$out/w/model.h5" "$dir"/runs/*/model.h5 <<'PY' || fail "the fixed W"
import sys, h5py, numpy as np
w = h5py.File(sys.argv[1], "r")["kh/W"][...]
for path in sys.argv[2:]:
    assert np.array_equal(h5py.File(path, "r")["kh/W"][...], w), path
print(f"{len(sys.argv) - 2} shared stages hold the given W bitwise")
PY
echo "kh_power_n: ok"
