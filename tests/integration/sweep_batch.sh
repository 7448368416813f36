#!/usr/bin/env bash
# Batched readouts (sweep.batch) on tests/configs/sweep-batch.ini: 24 runs
# on 4 hidden layers, 6 readouts each differing only in m and beta, two of
# the six diverging in their first epoch (beta = 1e308):
#  - the batched sweep (default sweep.batch = 16) gives results.csv rows
#    equal, column by column (status, valid, test and train errors, the
#    hidden layer's summary), to sweep.batch = 1, where every run trains
#    alone; its log says the runs were batched, the unbatched one does not;
#  - the runs of one batch share their time out equally (train_seconds);
#  - on 2 ranks as 2 groups of 1 (the dispatcher hands out batches): the same
#    rows;
#  - killed (kill -9, SIGTERM) at random moments and restarted until done:
#    every run once, the same rows;
#  - a bad sweep.batch is refused naming the key.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'pkill -9 -f "bin/plastic sweep .*sweep.dir=$out/" 2>/dev/null; rm -rf "$out"' EXIT
config=tests/configs/sweep-batch.ini

same_rows() { # reference.csv other.csv what
    python3 - "$1" "$2" "$3" <<'PY'
import csv, sys
def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))
ref, got, what = rows(sys.argv[1]), rows(sys.argv[2]), sys.argv[3]
ids = [r["id"] for r in got]
assert len(ref) == 24, f"reference has {len(ref)} rows"
assert len(ids) == len(set(ids)), f"{what}: a run appears twice"
assert set(ids) == {r["id"] for r in ref}, f"{what}: runs missing or added"
by_id = {r["id"]: r for r in ref}
cols = ("status", "valid_error", "test_error", "train_error", "sphere_mean", "sphere_max",
        "never_won")
for r in got:
    for c in cols:
        assert r[c] == by_id[r["id"]][c], f"{what}: {r['id']} {c}: {r[c]} != {by_id[r['id']][c]}"
diverged = sum(r["status"] == "diverged" for r in got)
assert diverged == 8, f"{what}: {diverged} diverged runs, expected 8 (beta = 1e308)"
print(f"{what}: {len(got)} runs equal to the unbatched sweep ({diverged} diverged)")
PY
}

bin/plastic sweep "$config" sweep.dir="$out/one" sweep.batch=1 > "$out/one.log" 2>&1 \
    || { tail -n 20 "$out/one.log"; fail "sweep.batch = 1"; }
! grep -q "(batched)" "$out/one.log" || fail "sweep.batch = 1 batched runs"

bin/plastic sweep "$config" --plan sweep.dir="$out/many" | grep -q "batch 16," \
    || fail "--plan does not show sweep.batch"
bin/plastic sweep "$config" sweep.dir="$out/many" > "$out/many.log" 2>&1 \
    || { tail -n 20 "$out/many.log"; fail "batched sweep"; }
n=$(grep -c "(batched)" "$out/many.log")
[ "$n" = 24 ] || fail "$n runs said batched, expected 24"
same_rows "$out/one/results.csv" "$out/many/results.csv" "batched" || fail "batched != alone"
python3 - "$out/many/results.csv" <<'PY' || fail "train_seconds not shared out per batch"
import csv, sys, collections
by = collections.defaultdict(set)
for r in csv.DictReader(open(sys.argv[1])):
    by[r["shared"]].add(r["train_seconds"])
assert len(by) == 4 and all(len(v) == 1 for v in by.values()), dict(by)
print("each batch's 6 runs have one train_seconds")
PY

plastic_mpirun 2 bin/plastic sweep "$config" sweep.dir="$out/two" > "$out/two.log" 2>&1 \
    || { tail -n 20 "$out/two.log"; fail "batched sweep on 2 groups"; }
same_rows "$out/one/results.csv" "$out/two/results.csv" "2 groups" || fail "2 groups != alone"

# Killed at random moments: seeded, so a failure can be replayed (SEED=...).
sweep_kill_rounds "$config" "$out/kill" 8 3
same_rows "$out/one/results.csv" "$out/kill/results.csv" "killed and resumed" \
    || fail "killed sweep != alone"

for bad in 0 65 x; do
    bin/plastic sweep "$config" --plan sweep.dir="$out/bad" sweep.batch=$bad > "$out/bad.log" 2>&1
    code=$?
    [ "$code" = 1 ] || fail "sweep.batch=$bad exited $code, expected 1"
    grep -q "sweep.batch" "$out/bad.log" || { cat "$out/bad.log"; fail "error does not name sweep.batch"; }
done
echo "sweep_batch ok"
