#!/usr/bin/env bash
# Runs the libFuzzer builds of the fuzz harnesses (make fuzz builds them
# into build/fuzz/fuzz_<name>), one after the other, each for FUZZ_SECONDS.
#
#   tools/fuzz.sh NAME...        e.g. tools/fuzz.sh config idx
#
# Each harness starts from its committed corpus, tests/fuzz/corpus/<name>,
# and works in build/fuzz/corpus/<name>, so the repository is not touched;
# findings go to build/fuzz/artifacts/<name>/, the log to
# build/fuzz/logs/<name>.log. tests/fuzz/<name>.options, if present, holds
# extra libFuzzer flags (one per line, e.g. -dict=... or -max_len=...).
#
# Environment:
#   FUZZ_SECONDS  seconds per harness (default 60)
#   FUZZ_NICE     niceness (default 19: the fuzzers yield to everything)
#   FUZZ_MERGE=1  afterwards, minimise the committed corpus: its seed-* and
#                 regress-* files are kept, then only inputs adding coverage
#                 are merged in (libFuzzer -merge=1) from it and the work
#                 corpus; for h5_* harnesses then only those adding line or
#                 branch coverage of the readers (tools/fuzz-reduce.sh)
#
# Prints one line per harness (executions, coverage, findings) and exits 1
# if any harness found something.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh

seconds=${FUZZ_SECONDS:-60}
niceness=${FUZZ_NICE:-19}
[ $# -gt 0 ] || {
    echo "usage: $0 NAME..." >&2
    exit 2
}

found=0
summary=()
for name in "$@"; do
    bin=build/fuzz/fuzz_$name
    seeds=tests/fuzz/corpus/$name
    work=build/fuzz/corpus/$name
    artifacts=build/fuzz/artifacts/$name
    log=build/fuzz/logs/$name.log
    [ -x "$bin" ] || {
        echo "fuzz: $bin is missing (make $bin)" >&2
        exit 2
    }
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
    opts=()
    if [ -f "tests/fuzz/$name.options" ]; then
        while read -r o; do
            [ -n "$o" ] && [ "${o:0:1}" != "#" ] && opts+=("$o")
        done <"tests/fuzz/$name.options"
    fi
    # HDF5 itself mallocs sizes read from a damaged file and copes with
    # NULL: let such a malloc fail rather than count it as a finding
    case $name in h5_*) opts+=(-malloc_limit_mb=1048576) ;; esac
    export ASAN_OPTIONS
    ASAN_OPTIONS=$(fuzz_asan_options "$name")
    echo "fuzz: $name for ${seconds}s (log: $log)"
    nice -n "$niceness" "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "${opts[@]}" "$work" >"$log" 2>&1
    rc=$?
    # the last status line ("#N ... cov: C ft: F corp: ...") and the final stats
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    crashes=$(find "$artifacts" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        found=1
        summary+=("$(printf '%-10s FOUND  rc %d, %d artifact(s) in %s; see %s' "$name" "$rc" \
            "$crashes" "$artifacts" "$log")")
    else
        summary+=("$(printf '%-10s ok     %10s execs  %4ss  cov %5s  ft %6s  corpus %s' \
            "$name" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" \
            "$(find "$work" -type f | wc -l)")")
    fi
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
        merged=build/fuzz/merged/$name
        rm -rf "$merged"
        mkdir -p "$merged" "$seeds"
        cp "$seeds"/seed-* "$seeds"/regress-* "$merged"/ 2>/dev/null
        nice -n "$niceness" "$bin" -merge=1 "${opts[@]}" "$merged" "$seeds" "$work" \
            >>"$log" 2>&1 || {
            echo "fuzz: merging $name failed (see $log)" >&2
            found=1
            continue
        }
        rm -f "$seeds"/*
        cp "$merged"/* "$seeds"/
        # an HDF5 input is a whole file of KBs: keep only what adds line or
        # branch coverage of the readers (tools/fuzz-reduce.sh)
        case $name in
            h5_*) nice -n "$niceness" tools/fuzz-reduce.sh "$name" >>"$log" 2>&1 || {
                echo "fuzz: reducing $name failed (see $log)" >&2
                found=1
            } ;;
        esac
        echo "fuzz: $seeds now holds $(find "$seeds" -type f | wc -l) inputs," \
            "$(cat "$seeds"/* | wc -c) bytes"
    fi
done

printf '%s\n' "${summary[@]}"
exit "$found"
