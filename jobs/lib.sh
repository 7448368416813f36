# shellcheck shell=bash
# Shared by jobs/*.sbatch (sourced, not run). Runs plastic commands as Slurm
# job steps and turns "checkpointed on a signal" (exit 85) into a requeue:
#
#   job_init LINE       find bin/plastic (SLURM_SUBMIT_DIR, or PLASTIC_ROOT), set
#                       BLAS threads, trap USR1/TERM, print the start lines
#   job_step ARGS...    srun bin/plastic ARGS... in the background and wait for
#                       it; a USR1/TERM is forwarded to srun, which passes it on
#                       to every task; sets $step_code to srun's exit code
#                       (85 without starting srun if a signal came before)
#   job_finish CODE     print what CODE means; on 85 requeue the job if it is
#                       still RUNNING; exit with CODE
#
# Why srun runs in the background: bash runs a trap only after the foreground
# command has ended, so a foreground srun would hold the signal until the
# step was over. `wait` returns early (128+N) when a trapped signal arrives;
# the trap forwards it and job_step waits again for srun's real exit code.

job_say() { echo "plastic-job: $*"; }

job_stop=""  # the last USR1/TERM received, if any
job_nsig=0   # how many were received
job_srun=""  # pid of the running srun, if any

job_on_signal() { # USR1|TERM
    job_stop=$1
    job_nsig=$((job_nsig + 1))
    if [ -n "$job_srun" ]; then
        job_say "got SIG$1 at $(date -Is): passing it to the ranks, which checkpoint at the next minibatch"
        kill -s "$1" "$job_srun" 2>/dev/null
    else
        job_say "got SIG$1 at $(date -Is) between steps: no further step starts"
    fi
}

job_init() { # line describing the work
    root=${PLASTIC_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
    plastic=$root/bin/plastic
    trap 'job_on_signal USR1' USR1
    trap 'job_on_signal TERM' TERM
    job_t0=$SECONDS
    # An array task is addressed as ARRAYID_TASK: for the task whose
    # SLURM_JOB_ID equals SLURM_ARRAY_JOB_ID, scontrol would take the bare
    # number to mean the whole array (show every task, requeue them all).
    job_ref=${SLURM_JOB_ID:-none}
    job_id=$job_ref
    if [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
        job_ref=${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID
        job_id="$job_id (array $job_ref)"
    fi
    # One BLAS thread per CPU that Slurm gives each task. Slurm 22.05's srun
    # no longer reads SLURM_CPUS_PER_TASK, so hand it over explicitly.
    export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
    if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi
    job_say "start job $job_id restart ${SLURM_RESTART_COUNT:-0} on ${SLURMD_NODENAME:-$(hostname -s)}:" \
        "${SLURM_NTASKS:-1} task(s) x ${SLURM_CPUS_PER_TASK:-1} cpu(s), OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS, $(date -Is)"
    job_say "$1"
    if [ ! -x "$plastic" ]; then
        job_say "no executable $plastic: submit from the repository root (or set PLASTIC_ROOT), after make"
        job_finish 1
    fi
}

job_step() { # plastic arguments...
    step_code=""
    if [ -n "$job_stop" ]; then
        step_code=85
        return
    fi
    srun "$plastic" "$@" &
    job_srun=$!
    # a signal between the fork and the line above was not forwarded yet
    if [ -n "$job_stop" ]; then kill -s "$job_stop" "$job_srun" 2>/dev/null; fi
    local code seen
    while :; do
        seen=$job_nsig
        wait "$job_srun"
        code=$?
        # Interrupted by a trap: srun is still running, or has ended without
        # its status collected yet. Wait again. (127: nothing left to wait
        # for; the code of the previous round was srun's own.)
        if [ "$job_nsig" != "$seen" ] && [ "$code" -gt 128 ]; then
            step_code=$code
            continue
        fi
        if [ "$code" != 127 ] || [ -z "$step_code" ]; then step_code=$code; fi
        break
    done
    job_srun=""
}

job_meaning() { # code
    case $1 in
        0) echo "done" ;;
        1) echo "usage or configuration error" ;;
        2) echo "bad or missing data, or a bad checkpoint" ;;
        3) echo "diverged (NaN/Inf)" ;;
        85) echo "checkpointed, not finished" ;;
        *) echo "srun or a rank failed (killed, out of memory, node failure?): see the messages above" ;;
    esac
}

job_finish() { # code
    local code=$1 how state
    how="exit $code ($(job_meaning "$code")) after $((SECONDS - job_t0)) s, restart ${SLURM_RESTART_COUNT:-0}"
    if [ "$code" != 85 ]; then
        job_say "end job $job_id: $how"
        exit "$code"
    fi
    # Requeue only a job that is still RUNNING: the signal was the time
    # limit's warning (--signal) or a `scancel --signal=USR1 --batch`. A
    # cancelled job is COMPLETING here and must stay cancelled (scontrol
    # would requeue it all the same); Slurm requeues a preempted job itself.
    state=$(scontrol -o show job "$job_ref" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p')
    if [ "$state" != RUNNING ]; then
        job_say "end job $job_id: $how; job is ${state:-unknown} (cancelled, or requeued by Slurm):" \
            "not requeued by this script; unless squeue shows it again, resubmit the same command to resume"
        exit "$code"
    fi
    # Requeueing makes Slurm end this run at once with a SIGTERM, which this
    # script now ignores so that it still exits 85.
    trap '' TERM
    if scontrol requeue "$job_ref"; then
        job_say "end job $job_id: $how; requeued: the next run resumes from the checkpoint"
    else
        job_say "end job $job_id: $how; requeue refused (--no-requeue, or JobRequeue=0):" \
            "resubmit the same command to resume"
    fi
    exit "$code"
}
