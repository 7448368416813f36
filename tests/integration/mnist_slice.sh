#!/usr/bin/env bash
# End to end on a slice of real MNIST (2 ranks): the error must be far below
# chance, and every output must be there and readable by other tools.
set -eu
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

plastic_mpirun 2 bin/plastic train tests/configs/slice.ini run.dir="$out/run" \
    data.train_limit=10000 data.valid=1000 data.test_limit=2000 \
    kh.hidden=400 kh.epochs=30 kh.k=5 kh.eps0=0.1 readout.epochs=20 readout.beta=0.5 > "$out/log" 2>&1 \
    || { cat "$out/log"; fail "training failed"; }

for f in config.ini metrics.jsonl model.h5 weights.png; do
    [ -s "$out/run/$f" ] || fail "missing output $f"
done
# one progress line per epoch, as lines (no carriage returns)
[ "$(grep -c '^kh .*epoch' "$out/log")" = 30 ] || fail "expected 30 kh progress lines"
[ "$(grep -c '^readout .*epoch' "$out/log")" = 20 ] || fail "expected 20 readout progress lines"
! grep -q $'\r' "$out/log" || fail "progress uses carriage returns"

tail -n 1 "$out/run/metrics.jsonl" | grep -q '"event":"done"' || fail "last record is not done"
err=$(json_field "$out/run/metrics.jsonl" test_error)
awk -v e="$err" 'BEGIN { exit !(e < 12.0) }' || fail "test error $err% is not far below chance (90%)"

# the resolved config is a valid config: it reproduces the run's settings
grep -q '^hidden = 400$' "$out/run/config.ini" || fail "config.ini lacks the override"
bin/plastic help >/dev/null
# model.h5 through h5py: W is K x 784, rows are near the p-sphere after
# training, and the file's test error is the one metrics.jsonl reports
/usr/bin/python3 - "$out/run/model.h5" "$err" <<'PY' || fail "model.h5 check"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    W, S = f["/kh/W"][...], f["/readout/S"][...]
    assert W.shape == (400, 784) and W.dtype == np.float32, W.shape
    assert S.shape == (10, 400), S.shape
    p = f["/kh"].attrs["p"]
    norms = (np.abs(W) ** p).sum(axis=1)
    assert np.median(np.abs(norms - 1)) < 0.5, np.median(norms)
    assert abs(f.attrs["test_error"] - float(sys.argv[2])) < 1e-9, f.attrs["test_error"]
    print("model.h5: W", W.shape, "S", S.shape, "median |sum|W|^p - 1| = %.3g" % np.median(np.abs(norms - 1)))
PY
echo "test error on the slice: $err%"
