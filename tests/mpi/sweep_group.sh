#!/usr/bin/env bash
# The same sweep on 1 rank, on one group of 2 ranks (every run model-
# parallel), on 3 groups of 1 and on 2 groups of 2 (runs handed out by the
# dispatcher) gives the same rows: the same ids, and bitwise the same
# validation and test errors.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/sweep.ini

sweep() { # name ranks group_size
    plastic_mpirun "$2" bin/plastic sweep "$config" sweep.dir="$out/$1" sweep.group_size="$3" \
        > "$out/$1.log" 2>&1 || { tail -n 20 "$out/$1.log"; fail "$1"; }
    grep '^sweep:' "$out/$1.log"
}
sweep serial 1 1
sweep one-group-of-2 2 2
sweep three-groups 3 1
sweep two-groups-of-2 4 2
grep -q "dynamic dispatch" "$out/three-groups.log" || fail "3 groups did not use the dispatcher"

python3 - "$out" <<'PY' || fail "results depend on the layout"
import csv, sys
def rows(name):
    return {r["id"]: r for r in csv.DictReader(open(f"{sys.argv[1]}/{name}/results.csv"))}
ref = rows("serial")
assert len(ref) == 32
for name, ranks in (("one-group-of-2", "2"), ("three-groups", "1"), ("two-groups-of-2", "2")):
    got = rows(name)
    assert set(got) == set(ref), f"{name}: other runs"
    for i, r in got.items():
        for col in ("valid_error", "test_error", "train_error", "sphere_mean"):
            assert r[col] == ref[i][col], f"{name} {i} {col}: {r[col]} != {ref[i][col]}"
        assert r["ranks"] == ranks, f"{name}: ranks {r['ranks']}"
    print(f"{name}: 32 runs equal to 1 rank")
PY
