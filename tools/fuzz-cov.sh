#!/usr/bin/env bash
# Line and branch coverage of the parsers by the committed fuzz corpora
# (or by other directories): builds each harness with the replay driver and
# clang's source-based coverage into build/fuzz-cov/, replays the corpus,
# and prints llvm-cov's report for the files it names.
#
#   tools/fuzz-cov.sh [NAME[:DIR]...]      (default: every harness, its corpus)
#
# e.g. tools/fuzz-cov.sh config:build/fuzz/corpus/config measures the
# work corpus of the last `make fuzz`. The report lists only the parser
# sources (src/core/config.c, data.c, src/sweep/sweep_spec.c,
# src/nn/netspec.c, and for the HDF5 harnesses mpi/ckpt.c, h5io.c,
# h5model.c; those are built through mpicc with clang under it and replayed
# as one MPI process).
set -eu
cd "$(dirname "$0")/.." || exit 1

FUZZ_CC=${FUZZ_CC:-clang}
PROFDATA=${PROFDATA:-llvm-profdata}
COV=${COV:-llvm-cov}
out=build/fuzz-cov
mkdir -p "$out"

specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f#tests/fuzz/fuzz_}
        n=${n%.c}
        specs+=("$n")
    done
fi

mapfile -t srcs < <(find src -name '*.c' | grep -v -e '^src/run/' -e 'src/sweep/sweep\.c' \
    -e 'src/sweep/sweep_worker\.c' -e 'src/sweep/sweep_report\.c' | sort)
parsers=(src/core/config.c src/core/data.c src/sweep/sweep_spec.c src/nn/netspec.c)
mapfile -t mpi_srcs < <(find mpi -name '*.c' ! -name serial.c | sort)
h5_parsers=(mpi/ckpt.c mpi/h5io.c mpi/h5model.c)
# shellcheck source=tests/lib.sh
. tests/lib.sh

for spec in "${specs[@]}"; do
    name=${spec%%:*}
    dir=tests/fuzz/corpus/$name
    [ "$spec" = "$name" ] || dir=${spec#*:}
    bin=$out/replay_$name
    flags=(-std=c11 -O0 -g -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -pthread
           -fprofile-instr-generate -fcoverage-mapping -o "$bin" "tests/fuzz/fuzz_$name.c"
           tests/fuzz/replay.c tests/fuzz/support.c "${srcs[@]}")
    files=("${parsers[@]}")
    case $name in
        h5_*)
            # shellcheck disable=SC2046
            OMPI_CC=$FUZZ_CC mpicc "${flags[@]}" tests/fuzz/h5_support.c "${mpi_srcs[@]}" \
                $(pkg-config --cflags --libs hdf5-openmpi) -lopenblas -linih -lpng -lz -lm
            files=("${h5_parsers[@]}")
            ;;
        *) "$FUZZ_CC" "${flags[@]}" mpi/serial.c -lopenblas -linih -lpng -lz -lm ;;
    esac
    rm -f "$out/$name".profraw
    LLVM_PROFILE_FILE="$out/$name.profraw" ASAN_OPTIONS=$(fuzz_asan_options "$name") \
        "$bin" "$dir" >/dev/null
    "$PROFDATA" merge -sparse -o "$out/$name.profdata" "$out/$name.profraw"
    echo "== $name ($dir: $(find "$dir" -type f | wc -l) inputs)"
    # columns: file, regions (total missed cover), functions (3), lines (3), branches (3)
    "$COV" report "$bin" -instr-profile="$out/$name.profdata" "${files[@]}" |
        awk '/\.c / && $8 != $9 {
                printf "  %-22s lines %4d/%4d %7s   branches %4d/%4d %7s\n",
                       $1, $8 - $9, $8, $10, $11 - $12, $11, $13 }'

done
