#!/usr/bin/env bash
# A sweep killed at random moments (kill -9 of the whole process, and a
# SIGTERM that stops it cleanly with exit 85) and restarted until done ends
# with every run exactly once in results.csv, each with the same errors as
# an uninterrupted sweep, and no hidden layer trained twice to completion.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "bin/plastic sweep .*sweep.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT
config=tests/configs/sweep.ini

bin/plastic sweep "$config" sweep.dir="$out/ref" > "$out/ref.log" 2>&1 \
    || { cat "$out/ref.log"; fail "uninterrupted sweep"; }

# Kill at random moments: seeded, so a failure can be replayed (SEED=...).
sweep_kill_rounds "$config" "$out/kill" 12 4

python3 - "$out/ref/results.csv" "$out/kill/results.csv" <<'PY' || fail "results differ"
import csv, sys
def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))
ref, got = rows(sys.argv[1]), rows(sys.argv[2])
ids = [r["id"] for r in got]
assert len(ref) == 32, f"reference has {len(ref)} rows"
assert len(ids) == len(set(ids)), "a run appears twice"
assert set(ids) == {r["id"] for r in ref}, "the killed sweep lacks or adds runs"
by_id = {r["id"]: r for r in ref}
for r in got:
    for col in ("valid_error", "test_error", "train_error", "status"):
        assert r[col] == by_id[r["id"]][col], f"{r['id']} {col}: {r[col]} != {by_id[r['id']][col]}"
print(f"{len(got)} runs, each once, errors equal to the uninterrupted sweep")
PY
# every hidden layer has one model.h5; none was trained twice to the end
n=$(find "$out/kill/runs" -name model.h5 | wc -l)
[ "$n" = 8 ] || fail "expected 8 hidden layers, found $n"
