#!/usr/bin/env bash
# jobs/train.sbatch on a real Slurm (localhost, tests/slurm/cluster.sh), 2 tasks:
#  a. a short run finishes: job COMPLETED 0:0, log ends "exit 0 (done)",
#     metrics.jsonl has its done record, model.h5 exists; a rec-LRA job with
#     its blocks on the 2 tasks (net.parallel = blocks) completes, bitwise
#     equal to 1 process; so does a URFB job with an untied conv layer;
#  b. preemption: a longer run gets SIGUSR1 at the batch shell (what
#     --signal=B:USR1@120 does before the time limit) after 2 epochs; it
#     checkpoints, exits 85 and requeues itself; released at once, it resumes
#     (restart 1). A few epochs later `scontrol requeue` (what an admin or a
#     requeueing preemption does) sends SIGTERM: it checkpoints again and Slurm
#     requeues it, not the script. Released, it resumes (restart 2) and
#     finishes with /kh/W and /readout/S bitwise equal to an uninterrupted
#     mpirun run of the same config;
#  c. every daemon and process it started is gone afterwards.
# Needs root and Slurm installed (tools/setup.sh): without them it FAILS.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
# shellcheck source=tests/slurm/cluster.sh
. tests/slurm/cluster.sh

missing=$(slurm_missing)
[ -z "$missing" ] || fail "cannot run the Slurm tests: $missing"
[ -x bin/plastic ] || fail "bin/plastic missing: make bin/plastic"
command -v h5diff >/dev/null || fail "h5diff missing: apt-get install hdf5-tools"

tmp=$(mktemp -d)
chmod 711 "$tmp" # munged (user munge) must reach its socket below
cleanup() {
    slurm_down
    # processes of ours that may outlive a failure: the reference run
    [ -z "${ref_pid:-}" ] || kill "$ref_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
t0=$SECONDS
slurm_up "$tmp/slurm" || fail "the Slurm harness did not start"
echo "slurm up in $((SECONDS - t0)) s (conf $SLURM_CONF)"

epochs() { # metrics.jsonl: number of epoch records so far
    local n
    n=$(grep -c '"event":"epoch"' "$1" 2>/dev/null)
    echo "${n:-0}"
}
show_failure() { # jobid log: context for a failure
    echo "--- scontrol show job $1"; scontrol show job "$1" 2>&1 | head -n 12
    echo "--- $2"; cat "$2" 2>&1
    slurm_logs
}
expect_job() { # jobid field value log
    local got
    got=$(slurm_job "$1" "$2")
    [ "$got" = "$3" ] || { show_failure "$1" "$4"; fail "job $1: $2=$got, expected $3"; }
}

# The reference for b: the same config without interruption, started now with
# mpirun on the side (2 ranks, as the job) while Slurm works.
long=(tests/configs/slice.ini kh.hidden=400 data.train_limit=10000 kh.epochs=24
      readout.epochs=6 checkpoint.every=1 log.progress=1)
plastic_mpirun 2 bin/plastic train "${long[@]}" run.dir="$tmp/ref" > "$tmp/ref.log" 2>&1 &
ref_pid=$!

# --- a. a short run, submitted the way the README says (from the repo root)
a=$(sbatch --parsable -n 2 --output="$tmp/%x_%j.out" jobs/train.sbatch \
    tests/configs/slice.ini run.dir="$tmp/a") || fail "sbatch refused the job"
alog=$tmp/plastic_$a.out
slurm_wait "$a" 60 || { show_failure "$a" "$alog"; fail "job $a did not end within 60 s"; }
expect_job "$a" JobState COMPLETED "$alog"
expect_job "$a" ExitCode 0:0 "$alog"
tail -n 1 "$alog" | grep -q '^plastic-job: end job .*: exit 0 (done)' \
    || { show_failure "$a" "$alog"; fail "a: the log does not end with 'exit 0 (done)'"; }
grep -q "^plastic-job: start job $a restart 0 on .*2 task(s)" "$alog" || fail "a: no start line"
grep -q '"event":"done"' "$tmp/a/metrics.jsonl" || fail "a: metrics.jsonl has no done record"
[ -s "$tmp/a/model.h5" ] || fail "a: no model.h5"
grep -q 'OPENBLAS_NUM_THREADS=1' "$alog" || fail "a: OPENBLAS_NUM_THREADS not set from --cpus-per-task"
echo "a. job $a: COMPLETED 0:0, done record and model.h5 ($((SECONDS - t0)) s)"

# --- a2. rec-LRA, its blocks on the job's 2 tasks as a pipeline of 2 stages:
# COMPLETED, and its weights and error synapses bitwise those of 1 process
r=$(sbatch --parsable -n 2 --output="$tmp/%x_%j.out" jobs/train.sbatch \
    tests/configs/reclra.ini net.parallel=blocks run.dir="$tmp/lra") || fail "sbatch refused the rec-LRA job"
rlog=$tmp/plastic_$r.out
bin/plastic train tests/configs/reclra.ini run.dir="$tmp/lra1" > "$tmp/lra1.log" 2>&1 \
    || { cat "$tmp/lra1.log"; fail "a2: the 1-process rec-LRA run failed"; }
slurm_wait "$r" 60 || { show_failure "$r" "$rlog"; fail "job $r did not end within 60 s"; }
expect_job "$r" JobState COMPLETED "$rlog"
expect_job "$r" ExitCode 0:0 "$rlog"
grep -q "blocks: 2 stage(s) x 1 pipeline(s)" "$rlog" || { show_failure "$r" "$rlog"; fail "a2: not a 2-stage pipeline"; }
for d in /net/dense1/W /net/dense5/W /lra/E1 /lra/E2; do
    h5diff "$tmp/lra1/model.h5" "$tmp/lra/model.h5" "$d" "$d" > "$tmp/h5diff.out" 2>&1 \
        || { cat "$tmp/h5diff.out"; fail "a2: $d of the Slurm pipeline differs from 1 process"; }
done
echo "a2. job $r: rec-LRA on a 2-stage pipeline COMPLETED 0:0, bitwise the 1-process run ($((SECONDS - t0)) s)"

# --- a3. URFB with an untied conv (tied for 1 epoch) on the job's 2 tasks:
# COMPLETED, and W and R bitwise those of 1 process (exact sums)
urfb=(tests/configs/urfb.ini "net.layers=conv 4 5x5 clip, pool 2x2, conv 6 3x3 clip, pool 2x2, dense 10"
      net.untie=3 net.untie_after=1 optim.epochs=2)
u=$(sbatch --parsable -n 2 --output="$tmp/%x_%j.out" jobs/train.sbatch \
    "${urfb[@]}" run.dir="$tmp/urfb") || fail "sbatch refused the URFB job"
ulog=$tmp/plastic_$u.out
bin/plastic train "${urfb[@]}" run.dir="$tmp/urfb1" > "$tmp/urfb1.log" 2>&1 \
    || { cat "$tmp/urfb1.log"; fail "a3: the 1-process URFB run failed"; }
slurm_wait "$u" 60 || { show_failure "$u" "$ulog"; fail "job $u did not end within 60 s"; }
expect_job "$u" JobState COMPLETED "$ulog"
expect_job "$u" ExitCode 0:0 "$ulog"
for d in /net/conv1/W /net/local1/W /urfb/local1/R /urfb/dense1/R; do
    h5diff "$tmp/urfb1/model.h5" "$tmp/urfb/model.h5" "$d" "$d" > "$tmp/h5diff.out" 2>&1 \
        || { cat "$tmp/h5diff.out"; fail "a3: $d of the Slurm job differs from 1 process"; }
done
echo "a3. job $u: URFB with an untied conv on 2 tasks COMPLETED 0:0, bitwise the 1-process run ($((SECONDS - t0)) s)"

# --- b. preempted after 2 epochs, requeued, resumed
b=$(sbatch --parsable -n 2 --output="$tmp/%x_%j.out" jobs/train.sbatch \
    "${long[@]}" run.dir="$tmp/b") || fail "sbatch refused the job"
blog=$tmp/plastic_$b.out
deadline=$((SECONDS + 60))
until [ "$(epochs "$tmp/b/metrics.jsonl")" -ge 2 ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$b" "$blog"; fail "b: no 2 epochs within 60 s"; }
    case $(slurm_job "$b" JobState) in
        RUNNING | PENDING) ;;
        *) show_failure "$b" "$blog"; fail "b: job ended before 2 epochs" ;;
    esac
    sleep 0.2
done
scancel --signal=USR1 --batch "$b" || fail "scancel --signal=USR1 --batch $b failed"
signalled_at=$(epochs "$tmp/b/metrics.jsonl")
# exit 85, requeue: the job is PENDING again (BeginTime ~2 min ahead) with Restarts=1
deadline=$((SECONDS + 60))
until [ "$(slurm_job "$b" JobState)" = PENDING ] && [ "$(slurm_job "$b" Restarts)" = 1 ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$b" "$blog"; fail "b: not requeued within 60 s"; }
    sleep 0.2
done
grep -q "^plastic-job: end job $b: exit 85 (checkpointed, not finished).*; requeued" "$blog" \
    || { show_failure "$b" "$blog"; fail "b: the log lacks 'exit 85 ... requeued'"; }
grep -q '^stopped on a signal: checkpoint' "$blog" || fail "b: plastic did not report its signal checkpoint"
echo "b. job $b: SIGUSR1 after $signalled_at epoch(s): exit 85 and requeued ($((SECONDS - t0)) s);" \
    "$(slurm_job "$b" Reason) until $(slurm_job "$b" StartTime): releasing it"
# Not in the same second as the requeue: slurmd revoked the old run's
# credential with a timestamp in seconds, and a new run launched within that
# second is killed ("Job credential revoked") and ends FAILED.
sleep 2
scontrol update jobid="$b" StartTime=now || fail "b: scontrol update StartTime=now failed"

# restart 1 runs; after a few more epochs, requeue it from outside
deadline=$((SECONDS + 60))
until grep -q "^plastic-job: start job $b restart 1 " "$blog" && [ "$(epochs "$tmp/b/metrics.jsonl")" -ge 5 ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$b" "$blog"; fail "b: restart 1 did not reach 5 epochs within 60 s"; }
    case $(slurm_job "$b" JobState) in
        RUNNING | PENDING) ;;
        *) show_failure "$b" "$blog"; fail "b: restart 1 ended before 5 epochs" ;;
    esac
    sleep 0.2
done
scontrol requeue "$b" || fail "scontrol requeue $b failed"
deadline=$((SECONDS + 60))
until [ "$(slurm_job "$b" JobState)" = PENDING ] && [ "$(slurm_job "$b" Restarts)" = 2 ]; do
    [ $SECONDS -lt $deadline ] || { show_failure "$b" "$blog"; fail "b: not requeued by scontrol within 60 s"; }
    sleep 0.2
done
echo "b. job $b: scontrol requeue during restart 1: SIGTERM, requeued by Slurm ($((SECONDS - t0)) s): releasing it"
sleep 2
scontrol update jobid="$b" StartTime=now || fail "b: scontrol update StartTime=now failed"
slurm_wait "$b" 90 || { show_failure "$b" "$blog"; fail "b: the requeued job did not end within 90 s"; }
expect_job "$b" JobState COMPLETED "$blog"
expect_job "$b" ExitCode 0:0 "$blog"
expect_job "$b" Restarts 2 "$blog"
for n in 1 2; do
    grep -q "^plastic-job: start job $b restart $n " "$blog" || fail "b: no start line with restart $n (SLURM_RESTART_COUNT)"
done
[ "$(grep -c '^resumed from .*/ckpt/' "$blog")" = 2 ] || fail "b: restarts 1 and 2 did not both resume from a checkpoint"
[ "$(grep -c '^stopped on a signal: checkpoint' "$blog")" = 2 ] || fail "b: not 2 signal checkpoints"
grep -q "^plastic-job: end job $b: exit 85 (checkpointed, not finished).*restart 1; job is COMPLETING .*not requeued by this script" "$blog" \
    || { show_failure "$b" "$blog"; fail "b: after scontrol requeue the script should exit 85 without requeueing itself"; }
tail -n 1 "$blog" | grep -q "^plastic-job: end job $b: exit 0 (done) .*restart 2$" \
    || { show_failure "$b" "$blog"; fail "b: the log does not end with 'exit 0 (done) ... restart 2'"; }
[ "$(grep -c '"event":"resume"' "$tmp/b/metrics.jsonl")" = 2 ] || fail "b: metrics.jsonl lacks 2 resume records"
[ "$(epochs "$tmp/b/metrics.jsonl")" = 30 ] || fail "b: $(epochs "$tmp/b/metrics.jsonl") epoch records, expected 24 + 6"

wait "$ref_pid" || { cat "$tmp/ref.log"; ref_pid=""; fail "the reference mpirun run failed"; }
ref_pid=""
for d in /kh/W /readout/S; do
    h5diff "$tmp/ref/model.h5" "$tmp/b/model.h5" "$d" "$d" > "$tmp/h5diff.out" 2>&1 \
        || { cat "$tmp/h5diff.out"; fail "b: $d differs from the uninterrupted run"; }
done
echo "b. job $b: restart 2 resumed and COMPLETED 0:0; /kh/W and /readout/S bitwise equal" \
    "to the uninterrupted run ($((SECONDS - t0)) s)"

# --- c. nothing left behind
slurm_down || fail "the harness did not stop cleanly"
left=$(pgrep -af "$tmp")
[ -z "$left" ] || fail "processes left behind: $left"
echo "c. daemons stopped, no process of this test left"
echo "PASS: train job completes; a signalled or requeued job checkpoints, is requeued and resumes bitwise ($((SECONDS - t0)) s)"
