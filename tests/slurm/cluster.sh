# shellcheck shell=bash
# A real Slurm on localhost for tests (sourced): its own munged, slurmctld and
# slurmd, started by hand from a slurm.conf generated in a temporary directory
# and stopped again by pid. Needs root and the Debian packages slurm-wlm,
# slurmctld, slurmd, slurm-client and munge (tools/setup.sh installs them).
#
# Several harnesses can run at once (say, two test runs): each has its own
# munged socket (AuthInfo=socket=...), its own free pair of TCP ports and its
# own range of job ids, and never touches a daemon it did not start.
#
#   slurm_missing        print why this machine cannot run the harness (not
#                        root, a binary missing); prints nothing when it can
#   slurm_up DIR         start everything with its state, logs and pids in DIR
#                        (DIR's parents must be searchable by user munge);
#                        exports SLURM_CONF, so sbatch/squeue/scontrol talk to
#                        it; job completions go to DIR/log/jobcomp.txt
#   slurm_down           cancel every job, wait for its slurmstepd processes to
#                        end, then stop the daemons slurm_up started (safe to
#                        call twice, and from an EXIT trap); fails if a step
#                        or a daemon had to be left or killed
#   slurm_wait JOBID [SECONDS]    wait until the job has ended or left the queue
#   slurm_job JOBID FIELD         one field of `scontrol show job`, e.g. JobState
#   slurm_logs                    print the daemons' logs (for a failing test)
#
# Requeued jobs wait cred_expire (120 s) before they may start again, as on a
# real cluster; `scontrol update jobid=N StartTime=now` releases them, but not
# within the second of the requeue: slurmd revokes the old credential with a
# timestamp in whole seconds, and a run launched in that same second is killed
# ("Job credential revoked") and ends FAILED. Wait for PENDING, then 2 s.

slurm_dir=""
slurm_pids=()
case :$PATH: in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

slurm_missing() {
    [ "$(id -u)" = 0 ] || { echo "needs root (munged runs as user munge, slurmd as root)"; return; }
    local b
    for b in munged slurmctld slurmd sbatch srun squeue scontrol scancel sinfo runuser ss; do
        command -v "$b" >/dev/null \
            || { echo "'$b' not found: run tools/setup.sh (packages slurm-wlm slurmctld slurmd slurm-client munge)"; return; }
    done
    [ -r /etc/munge/munge.key ] || echo "/etc/munge/munge.key missing: reinstall the munge package"
}

# Two free consecutive TCP ports, printed as "P P+1".
slurm_free_ports() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        if ! ss -Hltn "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; then
            echo "$p $((p + 1))"
            return 0
        fi
    done
    return 1
}

slurm_up() {
    local missing
    missing=$(slurm_missing)
    [ -z "$missing" ] || { echo "slurm harness: $missing" >&2; return 1; }
    slurm_dir=$1
    mkdir -p "$slurm_dir"/{state,spool,log,munge}
    chmod 711 "$slurm_dir" # munged insists that every directory above its socket is searchable
    if ! runuser -u munge -- test -x "$slurm_dir"; then
        echo "slurm harness: user munge cannot reach $slurm_dir: chmod 711 its parents (mktemp -d makes 700)" >&2
        slurm_dir=""
        return 1
    fi
    chown munge:munge "$slurm_dir/munge"
    chmod 755 "$slurm_dir/munge"
    local host cpus ports ctld_port slurmd_port first_job sock=$slurm_dir/munge/munge.socket
    host=$(hostname -s)
    cpus=4 # declared, not real: lets 4-rank jobs schedule on 2 cores
    ports=$(slurm_free_ports) || { echo "slurm harness: no free ports" >&2; return 1; }
    read -r ctld_port slurmd_port <<< "$ports"
    # Job ids of concurrent harnesses must differ too: the PMIx plugin keeps
    # per-step files in /tmp named after uid, job id and step.
    first_job=$((ctld_port * 1000))

    runuser -u munge -- munged --socket="$sock" --pid-file="$slurm_dir/munge/munged.pid" \
        --log-file="$slurm_dir/munge/munged.log" --seed-file="$slurm_dir/munge/munged.seed" \
        || { echo "slurm harness: munged failed; see $slurm_dir/munge/munged.log" >&2; return 1; }
    slurm_pids+=("$(cat "$slurm_dir/munge/munged.pid")")

    cat > "$slurm_dir/slurm.conf" <<CONF
ClusterName=plastic-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$slurm_dir/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MpiDefault=pmix
FirstJobId=$first_job
JobRequeue=1
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$slurm_dir/state
SlurmdSpoolDir=$slurm_dir/spool
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/log/slurmctld.log
SlurmdLogFile=$slurm_dir/log/slurmd.log
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$slurm_dir/slurm.conf
    # -i: ignore state left in StateSaveLocation (there is none; be explicit)
    slurmctld -i -f "$SLURM_CONF" || { slurm_logs >&2; return 1; }
    slurm_pid_of slurmctld || return 1
    slurmd -f "$SLURM_CONF" || { slurm_logs >&2; return 1; }
    slurm_pid_of slurmd || return 1
    for _ in $(seq 1 100); do
        sinfo -h -o %t 2>/dev/null | grep -qE '^idle' && return 0
        sleep 0.1
    done
    echo "slurm harness: the node did not become idle; logs in $slurm_dir/log" >&2
    slurm_logs >&2
    return 1
}

# Remember the pid a daemon wrote (it forks before writing it).
slurm_pid_of() { # slurmctld|slurmd
    local pid
    for _ in $(seq 1 50); do
        pid=$(cat "$slurm_dir/$1.pid" 2>/dev/null) && [ -n "$pid" ] && slurm_alive "$pid" \
            && { slurm_pids+=("$pid"); return 0; }
        sleep 0.1
    done
    echo "slurm harness: $1 did not start; logs in $slurm_dir/log" >&2
    slurm_logs >&2
    return 1
}

slurm_down() {
    [ -n "$slurm_dir" ] || return 0
    local i pid rc=0
    # Jobs first: slurmstepd processes outlive slurmd. Each one holds a socket
    # in the spool directory (HOST_JOBID.STEP) until it exits.
    if [ -n "${SLURM_CONF:-}" ] && [ -e "$slurm_dir/slurmctld.pid" ]; then
        scancel --quiet --user=root 2>/dev/null
        for _ in $(seq 1 150); do
            [ -n "$(slurm_steps)" ] || break
            sleep 0.1
        done
        if [ -n "$(slurm_steps)" ]; then
            echo "slurm harness: job steps still running after 15 s:" "$(slurm_steps)" >&2
            rc=1
        fi
    fi
    # then the daemons, newest first: slurmd, slurmctld, munged
    for ((i = ${#slurm_pids[@]} - 1; i >= 0; i--)); do
        pid=${slurm_pids[i]}
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do slurm_alive "$pid" || break; sleep 0.1; done
        if slurm_alive "$pid"; then
            kill -9 "$pid" 2>/dev/null
            echo "slurm harness: pid $pid ignored SIGTERM for 5 s; killed" >&2
            rc=1
        fi
    done
    slurm_pids=()
    slurm_dir=""
    return $rc
}

# Running, not a zombie: the daemons fork away from us, and their new parent
# (pid 1 in a container) may take a while to reap them.
slurm_alive() { # pid
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${stat#Z}" = "$stat" ]
}

# The slurmstepd processes alive: each holds a socket HOST_JOBID.STEP in the
# spool directory.
slurm_steps() {
    local f
    for f in "$slurm_dir"/spool/*_*; do
        if [ -S "$f" ]; then echo "${f##*/}"; fi
    done
}

slurm_job() { # jobid field
    scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
}

slurm_wait() { # jobid [seconds]
    local deadline=$((SECONDS + ${2:-300})) state
    while :; do
        state=$(slurm_job "$1" JobState)
        case $state in
            "" | COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) return 0 ;;
        esac
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.5
    done
}

slurm_logs() {
    local f
    for f in "$slurm_dir"/log/*.log "$slurm_dir"/munge/munged.log; do
        [ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
    done
}
