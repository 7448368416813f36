#!/usr/bin/env bash
# `make bench-ckpt`: what a checkpoint costs. `plastic ckpt-bench` writes a
# checkpoint of a K x 784 model (plus a 10-class readout and its Adam moments)
# with pl_ckpt_save and reads it back with pl_ckpt_read, against rank 0 alone
# writing and reading the same number of bytes with write(2)/read(2). Neither
# side fsyncs, and reads come from the page cache: see
# docs/checkpoint-format.md, "Cost".
#
#   tools/ckpt-bench.sh [section.key=value ...]     overrides go to every run
#   KS="2000 100000" RANKS="1 2 4" tools/ckpt-bench.sh   (the defaults)
#
# The temporary files go under run.dir if that directory exists, else under
# $TMPDIR or /tmp; pass run.dir=/some/dir to measure another file system.
# Ends with a markdown table of the averages (3 repetitions each).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS=1
read -r -a ks <<<"${KS:-2000 100000}"
read -r -a ranks <<<"${RANKS:-1 2 4}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== $(nproc) cores; load before: $(uptime)"
for k in "${ks[@]}"; do
    for n in "${ranks[@]}"; do
        echo "== K=$k, $n rank(s)"
        mpirun --oversubscribe --bind-to none -np "$n" \
            bin/plastic ckpt-bench configs/bench.ini "kh.hidden=$k" "$@" | tee -a "$log"
    done
done
echo "== load after: $(uptime)"

# The summary lines read, field by field:
# ckpt-bench: ranks R rule=RULE bytes=B write W s (M MB/s) read R s | plain write PW s read PR s |
#   ratio write Xx read Yx | best write BW read BR plain write BPW read BPR
# Cells show the mean over the repetitions / the best one.
echo
echo "| K | ranks | file MB | ckpt write s | MB/s | ckpt read s | MB/s | plain write s | plain read s | write ratio | read ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk '$1 == "==" && $2 ~ /^K=/ { k = substr($2, 3); sub(/,$/, "", k) }
$1 == "ckpt-bench:" && $2 == "ranks" {
    bytes = substr($5, 7)
    printf "| %s | %s | %.1f | %s / %s | %s | %s / %s | %.0f | %s / %s | %s / %s | %s | %s |\n",
        k, $3, bytes / 1e6, $7, $31, substr($9, 2), $12, $33,
        ($12 > 0 ? bytes / $12 / 1e6 : 0), $17, $36, $20, $38, $25, $27
}' "$log"
echo
echo "(mean / best of the repetitions; MB/s and ratios from the means; no fsync; reads from the page cache)"
