#!/usr/bin/env bash
# Sweeps of the rules without shared stages (bp, and urfb over its feedback
# modes): every run is a whole `plastic train` run in <sweep.dir>/runs/<id>/,
# resumable; a second invocation runs nothing; a run equals `plastic train`
# of its --show config; --report tunes optim.* per cell (sweep.tune) and
# writes the table.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check_sweep() { # config cell-key cell-value
    local config=$1 key=$2 value=$3 dir=$out/sweep-$2 row id

    bin/plastic sweep "$config" --plan sweep.dir="$dir" > "$dir.plan.log" || fail "--plan failed"
    grep -q "runs: 4; distinct shared trainings: 4 " "$dir.plan.log" || { cat "$dir.plan.log"; fail "--plan counts"; }
    plastic_mpirun 2 bin/plastic sweep "$config" sweep.dir="$dir" sweep.group_size=1 > "$dir.run.log" 2>&1 \
        || { tail -n 20 "$dir.run.log"; fail "sweep"; }
    grep -q "^sweep: 4 run(s) this session, 4 shared training(s)" "$dir.run.log" \
        || { tail -n 3 "$dir.run.log"; fail "expected 4 runs, each trained"; }
    [ "$(find "$dir/runs" -name model.h5 | wc -l)" = 4 ] || fail "expected 4 run directories with model.h5"
    head -n 1 "$dir/results.csv" | grep -q "^id,stage,shared,repeat,seed,$key,optim.lr,status,valid_error,test_error,train_error,trained_shared" \
        || { head -n 1 "$dir/results.csv"; fail "results.csv header"; }

    row=$(sed -n 3p "$dir/results.csv")
    id=${row%%,*}
    bin/plastic sweep "$config" sweep.dir="$dir" --show "$id" > "$dir.one.ini" || fail "--show $id"
    bin/plastic train "$dir.one.ini" run.dir="$dir.one" > "$dir.one.log" 2>&1 || { tail "$dir.one.log"; fail "train of run $id"; }
    python3 - "$dir/results.csv" "$id" "$dir.one/metrics.jsonl" <<'PY' || fail "sweep run != train"
import csv, json, sys
row = next(r for r in csv.DictReader(open(sys.argv[1])) if r["id"] == sys.argv[2])
done = [json.loads(l) for l in open(sys.argv[3]) if '"event":"done"' in l][-1]
assert f"{done['test_error']:.4f}" == row["test_error"], (done["test_error"], row["test_error"])
assert f"{done['valid_error']:.4f}" == row["valid_error"], (done["valid_error"], row["valid_error"])
PY

    bin/plastic sweep "$config" sweep.dir="$dir" > "$dir.again.log" 2>&1 || fail "second invocation"
    grep -q "^sweep: 0 run(s) this session" "$dir.again.log" || { cat "$dir.again.log"; fail "the second invocation ran something"; }
    bin/plastic sweep "$config" sweep.dir="$dir" --report > "$dir.report.log" 2>&1 \
        || { tail -n 20 "$dir.report.log"; fail "--report"; }
    grep -q "^sweep: 2 run(s) this session" "$dir.report.log" || { tail -n 3 "$dir.report.log"; fail "expected 2 final runs"; }
    grep -qF "| $key=$value | optim.lr=" "$dir/report.md" || { cat "$dir/report.md"; fail "report rows"; }
}

check_sweep tests/configs/sweep-bp.ini net.init he
check_sweep tests/configs/sweep-urfb.ini urfb.feedback fixed
echo "ok: bp and urfb sweeps"
