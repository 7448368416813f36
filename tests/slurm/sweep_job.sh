#!/usr/bin/env bash
# jobs/sweep.sbatch on a real Slurm (localhost, tests/slurm/cluster.sh). A
# stand-in bin/plastic (PLASTIC_ROOT) records its calls and plays a run per
# slice, to check the script's logic; then the real binary runs a sweep:
#  - --array=0-1 with PLASTIC_SLICES=5: task 0 runs slices 0,2,4 and task 1
#    runs 1,3, each as `plastic sweep SWEEP.ini --slice k/5 ARGS` on 2 ranks;
#  - a slice that fails (exit 3) does not stop the next ones; the task exits 3;
#  - SIGUSR1 at task 1's batch shell reaches the running slice, which exits 85;
#    only that array task is requeued, and its restart finishes (exit 0);
#  - with the real bin/plastic, tests/configs/sweep.ini in 4 slices on a
#    3-task array: every task ends 0:0 and results.csv holds each run once.
# Needs root and Slurm installed (tools/setup.sh): without them it FAILS.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
# shellcheck source=tests/slurm/cluster.sh
. tests/slurm/cluster.sh

missing=$(slurm_missing)
[ -z "$missing" ] || fail "cannot run the Slurm tests: $missing"

tmp=$(mktemp -d)
chmod 711 "$tmp"
trap 'slurm_down; rm -rf "$tmp"' EXIT
t0=$SECONDS
slurm_up "$tmp/slurm" || fail "the Slurm harness did not start"

# the stand-in: a repository root with jobs/lib.sh and a fake bin/plastic
mkdir -p "$tmp/root/bin" "$tmp/root/jobs"
cp jobs/lib.sh "$tmp/root/jobs/"
cat > "$tmp/root/bin/plastic" <<'FAKE'
#!/usr/bin/env bash
# records "restart rank args", then: slice 1/5 waits for a signal on its first
# run (exit 85 then, like plastic), slice 4/5 "diverges", the others succeed
echo "${SLURM_RESTART_COUNT:-0} $SLURM_PROCID $*" >> "$FAKE_DIR/calls"
trap 'exit 85' USR1 TERM
case " $* " in
    *" --slice 1/5 "*)
        if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
            touch "$FAKE_DIR/waiting.$SLURM_PROCID"
            for _ in $(seq 1 600); do sleep 0.1; done
            exit 9 # no signal came
        fi ;;
    *" --slice 4/5 "*) exit 3 ;;
esac
exit 0
FAKE
chmod +x "$tmp/root/bin/plastic"

show_failure() { # log...
    local f
    for f in "$@"; do echo "--- $f"; cat "$f" 2>&1; done
    echo "--- calls"; cat "$tmp/calls" 2>&1
    squeue 2>&1
    slurm_logs
}

A=$(FAKE_DIR=$tmp PLASTIC_ROOT=$tmp/root PLASTIC_SLICES=5 sbatch --parsable --array=0-1 -n 2 \
    --output="$tmp/%x_%A_%a.out" jobs/sweep.sbatch "$tmp/sweep.ini" extra.key=1) \
    || fail "sbatch refused the array"
log0=$tmp/plastic-sweep_${A}_0.out
log1=$tmp/plastic-sweep_${A}_1.out

deadline=$((SECONDS + 60))
until [ -e "$tmp/waiting.0" ] && [ -e "$tmp/waiting.1" ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$log1"; fail "slice 1/5 did not start within 60 s"; }
    sleep 0.2
done
scancel --signal=USR1 --batch "${A}_1" || fail "scancel --signal=USR1 --batch ${A}_1 failed"
deadline=$((SECONDS + 60))
until [ "$(slurm_job "${A}_1" JobState)" = PENDING ] && [ "$(slurm_job "${A}_1" Restarts)" = 1 ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$log1"; fail "task 1 not requeued within 60 s"; }
    sleep 0.2
done
sleep 2 # not within the second of the requeue (see train_job.sh)
scontrol update jobid="${A}_1" StartTime=now || fail "scontrol update StartTime=now failed"
for t in 0 1; do
    slurm_wait "${A}_$t" 60 || { show_failure "$log0" "$log1"; fail "task $t did not end within 60 s"; }
done

expect() { # task field value
    local got
    got=$(slurm_job "${A}_$1" "$2")
    [ "$got" = "$3" ] || { show_failure "$log0" "$log1"; fail "task $1: $2=$got, expected $3"; }
}
expect 0 JobState FAILED
expect 0 ExitCode 3:0
expect 1 JobState COMPLETED
expect 1 ExitCode 0:0
expect 1 Restarts 1

# every call, on both ranks: restart, slice
want="0 0/5
0 1/5
0 2/5
0 4/5
1 1/5
1 3/5"
got=$(sed -n "s|^\([0-9]*\) [01] sweep $tmp/sweep.ini --slice \([0-9]*/5\) extra.key=1$|\1 \2|p" \
    "$tmp/calls" | sort | uniq -c | awk '$1 == 2 { print $2, $3 }')
if [ "$got" != "$want" ] || [ "$(wc -l < "$tmp/calls")" != 12 ]; then
    show_failure "$log0" "$log1"
    fail "calls (restart slice) were: $(echo "$got" | tr '\n' ,) expected $(echo "$want" | tr '\n' ,)"
fi

grep -q '^plastic-job: sweep .*: slice(s) 0 2 4 of 5$' "$log0" || fail "task 0: no 'slice(s) 0 2 4 of 5' line"
grep -q '^plastic-job: slice 4/5: exit 3 (diverged' "$log0" || fail "task 0: slice 4/5's exit 3 not reported"
tail -n 1 "$log0" | grep -q "^plastic-job: end job .*: exit 3 (diverged" || fail "task 0: last line is not 'exit 3 (diverged'"
grep -q "^plastic-job: end job .*: exit 85 (checkpointed, not finished).*; requeued" "$log1" \
    || { show_failure "$log1"; fail "task 1: no 'exit 85 ... requeued' line"; }
grep -q "^plastic-job: start job .* (array ${A}_1) restart 1 " "$log1" || fail "task 1: no restart 1 start line"
tail -n 1 "$log1" | grep -q "^plastic-job: end job .*: exit 0 (done) .*restart 1$" \
    || { show_failure "$log1"; fail "task 1: last line is not 'exit 0 (done) ... restart 1'"; }
echo "stand-in: slices 0,2,4 and 1,3 on 2 ranks; exit 3 kept going; USR1 -> 85 -> task 1 requeued and done ($((SECONDS - t0)) s)"

# the real binary: tests/configs/sweep.ini (32 runs) as 4 slices on a 3-task
# array (task 0 also runs slice 3), 1 rank each, all into one results.csv
R=$(PLASTIC_SLICES=4 sbatch --parsable --array=0-2 -n 1 --output="$tmp/%x_%A_%a.out" \
    jobs/sweep.sbatch tests/configs/sweep.ini sweep.dir="$tmp/real") || fail "sbatch refused the array"
for i in 0 1 2; do
    slurm_wait "${R}_$i" 300 || fail "real sweep task $i did not end within 300 s"
    [ "$(slurm_job "${R}_$i" ExitCode)" = 0:0 ] \
        || { show_failure "$tmp/plastic-sweep_${R}_$i.out"; fail "real sweep task $i: ExitCode $(slurm_job "${R}_$i" ExitCode)"; }
done
grep -q "slice 3/4" "$tmp/plastic-sweep_${R}_0.out" || { show_failure "$tmp/plastic-sweep_${R}_0.out"; fail "task 0 did not run slice 3"; }
python3 - "$tmp/real/results.csv" <<'PY' || fail "real sweep: results.csv"
import csv, sys
ids = [r["id"] for r in csv.DictReader(open(sys.argv[1]))]
assert len(ids) == 32 and len(set(ids)) == 32, f"{len(ids)} rows, {len(set(ids))} distinct"
print("real bin/plastic: 4 slices on 3 array tasks wrote the 32 runs once each")
PY

slurm_down || fail "the harness did not stop cleanly"
left=$(pgrep -af "$tmp")
[ -z "$left" ] || fail "processes left behind: $left"
echo "PASS: sweep array slices, failures, signal and per-task requeue ($((SECONDS - t0)) s)"
