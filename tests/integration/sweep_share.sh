#!/usr/bin/env bash
# Sharing and the protocol on a small sweep (tests/configs/sweep.ini: 32
# search runs over 8 hidden layers, readout.n in {3, 4.5}):
#  - --plan counts 32 runs and 8 shared trainings and writes nothing;
#  - the sweep trains exactly 8 hidden layers (the KH rule's shared stage:
#    rows with trained_shared = 1, runs/*/model.h5) and loads each once, not
#    32 of each (the features' reuse is tested in tests/unit/test_kh_rule.c);
#  - a run of the sweep equals `plastic train` of its resolved configuration
#    (--show ID): the same validation and test error;
#  - a second invocation runs nothing;
#  - --report retrains the best readout of each of the 4 cells twice on all
#    training data and writes report.md (a 2 x 2 p/k table) and heatmap.png;
#  - random and TPE searches write trials x repeats rows, and a TPE sweep
#    restarted with one more trial runs just that point.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
config=tests/configs/sweep.ini
dir=$out/sweep

bin/plastic sweep "$config" --plan sweep.dir="$dir" > "$out/plan.log" || fail "--plan failed"
grep -q "runs: 32; distinct shared trainings: 8 " "$out/plan.log" \
    || { cat "$out/plan.log"; fail "--plan counts"; }
[ ! -e "$dir" ] || fail "--plan wrote $dir"

bin/plastic sweep "$config" sweep.dir="$dir" > "$out/run.log" 2>&1 \
    || { tail -n 20 "$out/run.log"; fail "sweep"; }
grep -q "^sweep: 32 run(s) this session, 8 shared training(s), 8 load(s)" \
    "$out/run.log" || { tail -n 3 "$out/run.log"; fail "expected 8 trainings, 8 loads"; }
n=$(find "$dir/runs" -name model.h5 | wc -l)
[ "$n" = 8 ] || fail "$n hidden layers on disk, expected 8"
trained=$(python3 -c "
import csv; print(sum(r['trained_shared'] == '1' for r in csv.DictReader(open('$dir/results.csv'))))")
[ "$trained" = 8 ] || fail "$trained rows say they trained their hidden layer, expected 8"

# one run alone, through plastic train
row=$(sed -n 5p "$dir/results.csv")
id=${row%%,*}
bin/plastic sweep "$config" sweep.dir="$dir" --show "$id" > "$out/one.ini" || fail "--show $id"
bin/plastic train "$out/one.ini" run.dir="$out/one" > "$out/one.log" 2>&1 \
    || { tail "$out/one.log"; fail "train of run $id"; }
python3 - "$dir/results.csv" "$id" "$out/one/metrics.jsonl" <<'PY' || fail "sweep run != train"
import csv, json, sys
row = next(r for r in csv.DictReader(open(sys.argv[1])) if r["id"] == sys.argv[2])
done = [json.loads(l) for l in open(sys.argv[3]) if '"event":"done"' in l][-1]
epochs = [json.loads(l) for l in open(sys.argv[3]) if '"phase":"readout"' in l]
assert f"{done['test_error']:.4f}" == row["test_error"], (done["test_error"], row["test_error"])
assert f"{epochs[-1]['valid_error']:.4f}" == row["valid_error"], (epochs[-1], row["valid_error"])
print(f"run {sys.argv[2]}: test {row['test_error']} valid {row['valid_error']} in both")
PY

bin/plastic sweep "$config" sweep.dir="$dir" > "$out/again.log" 2>&1 || fail "second invocation"
grep -q "^sweep: 0 run(s) this session, 0 shared" "$out/again.log" \
    || { cat "$out/again.log"; fail "the second invocation ran something"; }

bin/plastic sweep "$config" sweep.dir="$dir" --report > "$out/report.log" 2>&1 \
    || { tail -n 20 "$out/report.log"; fail "--report"; }
grep -q "^sweep: 8 run(s) this session, 8 shared" "$out/report.log" \
    || { tail -n 3 "$out/report.log"; fail "expected 8 final runs on 8 new hidden layers"; }
grep -q '^| kh.p \\ kh.k | 2 | 3 |' "$dir/report.md" || { cat "$dir/report.md"; fail "report table"; }
[ "$(grep -c '^| \*\*[23]\*\* | [0-9.]* ± [0-9.]*' "$dir/report.md")" = 2 ] \
    || { cat "$dir/report.md"; fail "report rows"; }
[ "$(head -c 8 "$dir/heatmap.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
    || fail "heatmap.png is not a PNG"
finals=$(grep -c ',final,' "$dir/results.csv")
[ "$finals" = 8 ] || fail "$finals final rows, expected 8"
# random and TPE searches through the verb: trials x repeats rows; a TPE
# restarted with more trials keeps its points and proposes the rest
rows() { python3 -c "import csv; print(sum(1 for _ in csv.DictReader(open('$1'))))"; }
bin/plastic sweep "$config" sweep.dir="$out/random" sweep.strategy=random sweep.trials=5 \
    > "$out/random.log" 2>&1 || { tail "$out/random.log"; fail "random search"; }
[ "$(rows "$out/random/results.csv")" = 10 ] || fail "random: expected 10 rows"
bin/plastic sweep "$config" sweep.dir="$out/tpe" sweep.strategy=tpe sweep.trials=4 \
    sweep.tpe_startup=2 > "$out/tpe.log" 2>&1 || { tail "$out/tpe.log"; fail "tpe search"; }
[ "$(rows "$out/tpe/results.csv")" = 8 ] || fail "tpe: expected 8 rows"
bin/plastic sweep "$config" sweep.dir="$out/tpe" sweep.strategy=tpe sweep.trials=5 \
    sweep.tpe_startup=2 > "$out/tpe2.log" 2>&1 || { tail "$out/tpe2.log"; fail "tpe restart"; }
grep -q "^sweep: 2 run(s) this session" "$out/tpe2.log" || { cat "$out/tpe2.log"; fail "tpe restart ran other than one new point"; }
[ "$(rows "$out/tpe/results.csv")" = 10 ] || fail "tpe: expected 10 rows after the restart"
echo "ok"
