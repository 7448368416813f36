#!/usr/bin/env bash
# Reduces a fuzz corpus to what adds line or branch coverage of its parser's
# sources (the files tools/fuzz-cov.sh reports), keeping every seed-* and
# regress-* input:
#
#   tools/fuzz-reduce.sh NAME [DIR]     (default DIR: tests/fuzz/corpus/NAME)
#
# libFuzzer's -merge keeps every input that adds a feature, hit counts and
# the harness's own branches included; for the HDF5 harnesses, whose inputs
# are whole files of 3-14 KB, that is hundreds of KB that cover no line of
# plastic more. Here each other input is replayed alone under clang's
# source-based coverage (the build of tools/fuzz-cov.sh), and inputs are
# taken greedily, most new lines and branches per byte first, until none
# adds any; the rest are deleted from DIR. tools/fuzz.sh runs it after
# merging an h5_* corpus.
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
name=${1:?usage: $0 NAME [DIR]}
dir=${2:-tests/fuzz/corpus/$name}
PROFDATA=${PROFDATA:-llvm-profdata}
COV=${COV:-llvm-cov}
out=build/fuzz-cov
bin=$out/replay_$name
# builds $bin (and reports the corpus as it is)
tools/fuzz-cov.sh "$name:$dir" | sed 's/^/before: /'
case $name in
    h5_*) sources=(mpi/ckpt.c mpi/h5io.c mpi/h5model.c) ;;
    net) sources=(src/nn/netspec.c) ;;
    *) sources=(src/core/config.c src/core/data.c src/sweep/sweep_spec.c) ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS
ASAN_OPTIONS=$(fuzz_asan_options "$name")

# lcov lines "SF:file", "DA:line,count", "BRDA:line,block,branch,taken" of
# one replay, as covered items "file:line" and "file:line:block:branch"
covered() { # out input...
    local out=$1
    shift
    LLVM_PROFILE_FILE="$work/p.profraw" "$bin" "$@" >/dev/null 2>&1 || true
    "$PROFDATA" merge -sparse -o "$work/p.profdata" "$work/p.profraw"
    "$COV" export -format=lcov "$bin" -instr-profile="$work/p.profdata" "${sources[@]}" |
        awk -F'[:,]' '/^SF:/ { f = $2 }
                      /^DA:/ && $3 > 0 { print f ":" $2 }
                      /^BRDA:/ && $5 != "-" && $5 > 0 { print f ":" $2 ":" $3 ":" $4 }' |
        sort -u >"$out"
    rm -f "$work/p.profraw"
}

mkdir -p "$work/kept" "$work/items"
find "$dir" -maxdepth 1 -type f \( -name 'seed-*' -o -name 'regress-*' \) -exec cp {} "$work/kept/" \;
covered "$work/base" "$work/kept"
candidates=()
for f in "$dir"/*; do
    b=${f##*/}
    case $b in seed-* | regress-*) continue ;; esac
    covered "$work/items/$b" "$f"
    candidates+=("$b")
done

# greedy: most new items per byte first
keep=()
while :; do
    best= best_score=0
    for b in "${candidates[@]}"; do
        new=$(comm -13 "$work/base" "$work/items/$b" | wc -l)
        [ "$new" -gt 0 ] || continue
        score=$((new * 1000000 / ($(stat -c %s "$dir/$b") + 1)))
        if [ "$score" -gt "$best_score" ]; then
            best=$b best_score=$score
        fi
    done
    [ -n "$best" ] || break
    keep+=("$best")
    sort -u "$work/base" "$work/items/$best" -o "$work/base"
done
for b in "${candidates[@]}"; do
    case " ${keep[*]} " in *" $b "*) ;; *) rm -f "$dir/$b" ;; esac
done
echo "fuzz-reduce: $dir keeps ${#keep[@]} of ${#candidates[@]} other inputs besides seed-* and" \
    "regress-*: $(find "$dir" -type f | wc -l) inputs, $(cat "$dir"/* | wc -c) bytes"
tools/fuzz-cov.sh "$name:$dir" | sed 's/^/after:  /'
