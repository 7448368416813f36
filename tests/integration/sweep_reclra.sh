#!/usr/bin/env bash
# A sweep of the reclra rule, each run on a group of 2 ranks as a pipeline of
# 2 stages (net.parallel = blocks): 4 runs, every one done; a run equals
# `plastic train` of its --show config on 1 rank (block-parallel results are
# bitwise the serial ones, so the errors agree to the last digit); --report
# tunes optim.lr per cell and writes the table.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/sweep-reclra.ini
dir=$out/sweep

plastic_mpirun 2 bin/plastic sweep "$config" sweep.dir="$dir" sweep.group_size=2 > "$out/run.log" 2>&1 \
    || { tail -n 20 "$out/run.log"; fail "sweep"; }
grep -q "^sweep: 4 run(s) this session" "$out/run.log" || { tail -n 3 "$out/run.log"; fail "expected 4 runs"; }
grep -q "blocks: 2 stage(s) x 1 pipeline(s)" "$out/run.log" || fail "the runs were not pipelines of 2 stages"
[ "$(grep -c ',done,' "$dir/results.csv")" = 4 ] || { cat "$dir/results.csv"; fail "expected 4 done rows"; }

row=$(sed -n 2p "$dir/results.csv")
id=${row%%,*}
bin/plastic sweep "$config" sweep.dir="$dir" --show "$id" > "$out/one.ini" || fail "--show $id"
bin/plastic train "$out/one.ini" run.dir="$out/one" > "$out/one.log" 2>&1 || { tail "$out/one.log"; fail "train of run $id"; }
python3 - "$dir/results.csv" "$id" "$out/one/metrics.jsonl" <<'PY' || fail "sweep run on a 2-stage pipeline != train on 1 rank"
import csv, json, sys
row = next(r for r in csv.DictReader(open(sys.argv[1])) if r["id"] == sys.argv[2])
done = [json.loads(l) for l in open(sys.argv[3]) if '"event":"done"' in l][-1]
assert f"{done['test_error']:.4f}" == row["test_error"], (done["test_error"], row["test_error"])
assert f"{done['valid_error']:.4f}" == row["valid_error"], (done["valid_error"], row["valid_error"])
PY
h5diff "$dir/runs/$id/model.h5" "$out/one/model.h5" /lra/E1 /lra/E1 || fail "run $id: /lra/E1 differs from train's"

plastic_mpirun 2 bin/plastic sweep "$config" sweep.dir="$dir" sweep.group_size=2 --report > "$out/report.log" 2>&1 \
    || { tail -n 20 "$out/report.log"; fail "--report"; }
grep -q "^sweep: 2 run(s) this session" "$out/report.log" || { tail -n 3 "$out/report.log"; fail "expected 2 final runs"; }
grep -q '| lra.e_rule=transpose | optim.lr=' "$dir/report.md" || { cat "$dir/report.md"; fail "report rows"; }
echo "ok: 4 search runs and 2 final runs of rec-LRA on 2-stage pipelines; run $id equals plastic train on 1 rank"
