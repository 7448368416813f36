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
seed=${SEED:-$RANDOM}
echo "seed $seed"
RANDOM=$seed
kills=0
for round in $(seq 1 12); do
    bin/plastic sweep "$config" sweep.dir="$out/kill" >> "$out/kill.log" 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && break # finished before the kill
        fail "round $round: the sweep failed by itself: $(tail -n 5 "$out/kill.log")"
    fi
    if [ $((round % 4)) = 0 ]; then
        kill -TERM "$pid"
        wait "$pid"
        code=$?
        # 85: stopped cleanly; 143: the signal came before the handler was
        # installed (MPI still starting); 0: it had just finished
        case $code in 85 | 143 | 0) ;; *) fail "round $round: SIGTERM gave exit $code" ;; esac
    else
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
    fi
    kills=$((kills + 1))
done
bin/plastic sweep "$config" sweep.dir="$out/kill" >> "$out/kill.log" 2>&1 \
    || { tail -n 20 "$out/kill.log"; fail "the final restart"; }
echo "killed $kills times"

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
