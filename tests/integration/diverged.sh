#!/usr/bin/env bash
# A run whose weights blow up stops with exit code 3 and says so.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# eps0 = 1e38: the first update pushes weights to ~1e38 and the currents overflow
plastic_mpirun 2 bin/plastic train tests/configs/slice.ini run.dir="$out/run" kh.eps0=1e38 \
    log.progress=0 > "$out/log" 2>&1
code=$?
[ "$code" = 3 ] || { cat "$out/log"; fail "exit $code, expected 3"; }
grep -q "diverged" "$out/log" || fail "no 'diverged' message"
grep -q '"event":"diverged"' "$out/run/metrics.jsonl" || fail "no diverged record"
[ ! -e "$out/run/model.h5" ] || fail "a diverged run wrote model.h5"
echo "divergence detected: exit 3"
