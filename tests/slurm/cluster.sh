# shellcheck shell=bash
# A real Slurm on localhost for tests (sourced): munged, slurmctld and slurmd
# started by hand from a slurm.conf generated in a temporary directory, and
# stopped again by pid. Needs root and the Debian packages slurm-wlm, munge.
#
#   slurm_up DIR      start everything with its state, logs and pids in DIR
#   slurm_down        stop what slurm_up started (safe to call twice)
#   slurm_wait JOBID [SECONDS]   wait until the job leaves the queue

slurm_dir=""
started_munge=""

slurm_up() {
    slurm_dir=$1
    mkdir -p "$slurm_dir"/{state,spool,log}
    local host cpus
    host=$(hostname -s)
    cpus=4 # declared, not real: lets 4-rank jobs schedule on 2 cores
    # munge: reuse a running daemon, else start one and remember its pid
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /run/munge
        chown munge:munge /run/munge
        runuser -u munge -- /usr/sbin/munged || return 1
        started_munge=$(cat /run/munge/munged.pid)
    fi
    cat > "$slurm_dir/slurm.conf" <<CONF
ClusterName=plastic-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=pmix
JobRequeue=1
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$slurm_dir/state
SlurmdSpoolDir=$slurm_dir/spool
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/log/slurmctld.log
SlurmdLogFile=$slurm_dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$slurm_dir/slurm.conf
    slurmctld -f "$SLURM_CONF" || return 1
    slurmd -f "$SLURM_CONF" || return 1
    for _ in $(seq 1 50); do
        sinfo -h -o %t 2>/dev/null | grep -qE '^idle' && return 0
        sleep 0.2
    done
    echo "slurm did not come up; logs in $slurm_dir/log" >&2
    return 1
}

slurm_down() {
    [ -n "$slurm_dir" ] || return 0
    local f pid
    for f in slurmd slurmctld; do
        pid=$(cat "$slurm_dir/$f.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    if [ -n "$started_munge" ]; then
        kill "$started_munge" 2>/dev/null
        started_munge=""
    fi
    slurm_dir=""
}

slurm_wait() { # jobid [seconds]
    local deadline=$((SECONDS + ${2:-300}))
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 1
    done
}
