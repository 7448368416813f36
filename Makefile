# plastic: build, test, bench.  `make help` lists the targets.
#
# src/ is plain C11 with no MPI calls, compiled with $(CC), in folders by
# concern (core, nn, rules/<rule>, run, sweep); mpi/ holds every MPI and
# parallel-HDF5 call and is compiled with mpicc. bin/plastic links both.
# Unit tests link src/ with mpi/serial.c (a one-process stand-in for the
# parallel layer), so they need no mpirun and run clean under ASan.

CC      ?= cc
MPICC   ?= mpicc
OPT     ?= -O2
WARN     = -Wall -Wextra -Werror
CPPFLAGS = -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -MMD -MP
# POSIX threads: the KH step's thread team (src/core/team.c); on every compile and link line
THREADS  = -pthread
CFLAGS   = -std=c11 $(OPT) -g $(WARN) $(THREADS)
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5-openmpi 2>/dev/null)
HDF5_LIBS   := $(shell pkg-config --libs hdf5-openmpi 2>/dev/null)
LIBS     = -lopenblas -linih -lpng -lz -lm
ASAN     = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The verbs' drivers (and main) call parallel HDF5 through mpi/, so they go
# into bin/plastic only; everything else in src/ (the curves and theory
# verbs, which call no MPI, included) is also unit-tested serially.
APP_SRC  := $(filter-out src/run/curves.c src/run/curves_verb.c src/run/theory_verb.c \
                          src/run/theory_out.c,$(wildcard src/run/*.c)) \
            src/sweep/sweep.c src/sweep/sweep_worker.c src/sweep/sweep_report.c
SRC      := $(filter-out $(APP_SRC),$(shell find src -name '*.c' | sort))
MPI_SRC  := $(filter-out mpi/serial.c,$(wildcard mpi/*.c))
OBJ      := $(SRC:%.c=build/%.o)
MPI_OBJ  := $(MPI_SRC:%.c=build/%.o)
SERIAL_OBJ := build/mpi/serial.o

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
ASAN_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
# Helpers shared by the unit tests, compiled once and linked into each.
SUPPORT_OBJ      := build/tests/unit/support.o
ASAN_SUPPORT_OBJ := build/asan/tests/unit/support.o
MPIT_SRC := $(wildcard tests/mpi/test_*.c)
MPIT_BIN := $(MPIT_SRC:tests/mpi/%.c=build/tests/mpi_%)

# Fuzz harnesses (tests/fuzz/fuzz_<parser>.c, one per parser; docs/design.md
# §10). Each is built twice: with the replay driver, by $(CC) under ASan +
# UBSan, for `make test`; and with libFuzzer, by clang, for `make fuzz`.
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN  := $(FUZZ_NAMES:%=build/asan/fuzz/replay_%)
FUZZ_BIN    := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_CC     ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

.PHONY: all help setup data demo test unit asan fuzz fuzz-replay bench bench-ckpt bench-nn clean
all: bin/plastic

help:
	@echo "make            build bin/plastic"
	@echo "make demo       install what is missing, fetch MNIST, train the demo on 2 ranks"
	@echo "                (tools/demo.sh, which also works before make is installed)"
	@echo "make test       unit, ASan, MPI (1-4 ranks), integration and Slurm (localhost, as root) tests"
	@echo "make asan       unit tests under AddressSanitizer + UBSan"
	@echo "make fuzz       each fuzz harness for FUZZ_SECONDS (default 60) under libFuzzer"
	@echo "                (clang); FUZZ_MERGE=1 also minimises the new inputs into"
	@echo "                tests/fuzz/corpus (tools/fuzz.sh)"
	@echo "make fuzz-replay  the committed fuzz corpora under ASan + UBSan (part of make test)"
	@echo "make bench      KH epoch time vs raw SGEMM time, 1x2 threads and 2x1 ranks; bp's; and"
	@echo "                rec-LRA and bp on a pipeline of 2 stages vs 1 (tools/bench.sh;"
	@echo "                BENCH=kh|bp|pipe for one part)"
	@echo "make bench-ckpt checkpoint write/read time vs plain write/read, K=2000 and"
	@echo "                K=100000 on 1, 2 and 4 ranks (tools/ckpt-bench.sh)"
	@echo "make bench-nn   a backprop minibatch with exact vs float-all-reduce gradient sums,"
	@echo "                on 1 and 2 ranks (tools/nn_dp_bench.c)"
	@echo "make setup      install packages and fetch datasets (tools/setup.sh)"

# The hot loops (KH step, SGEMM tiles, readout, checksums, nn kernels, rec-LRA targets) vectorise only at -O3.
# -fno-math-errno lets sqrtf compile to the vector instruction (the same
# correctly rounded result; errno is never read): Adam's step 3x faster.
HOT := build/src/rules/kh/kh.o build/src/rules/kh/kh_slow.o build/src/nn/gemm.o build/src/rules/kh/readout.o build/mpi/h5io.o \
       build/src/nn/exact.o build/src/nn/act.o build/src/nn/conv.o build/src/nn/adam.o \
       build/src/nn/optim.o build/src/nn/loss.o build/src/rules/reclra/lra.o \
       build/src/nn/pconv.o build/src/rules/kh/readout_bank.o \
       build/src/rules/kh/readout_simd.o
$(HOT): OPT = -O3 -fno-math-errno
# The slow KH dynamics' Euler loop sums grid integers and counts, exact in
# any order: `omp simd` (no OpenMP runtime) lets that one loop vectorise, and
# -fno-trapping-math if-converts its relu and comparisons (as act.o).
build/src/rules/kh/kh_slow.o: OPT = -O3 -fno-math-errno -fno-trapping-math -fopenmp-simd -DPL_OMP_SIMD
# The activations' branch-free kernels (tanh, elu) if-convert only when
# comparisons may be evaluated unconditionally: no FP exception flags are read.
build/src/nn/act.o: OPT = -O3 -fno-math-errno -fno-trapping-math

bin/plastic: $(APP_SRC:%.c=build/%.o) $(OBJ) $(MPI_OBJ)
	@mkdir -p bin
	$(MPICC) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(HDF5_LIBS) $(LIBS)

build/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/mpi/serial.o: mpi/serial.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/mpi/%.o: mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -c -o $@ $<

$(SUPPORT_OBJ): tests/unit/support.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/tests/test_%: tests/unit/test_%.c $(SUPPORT_OBJ) $(OBJ) $(SERIAL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka $(LIBS)

build/tests/mpi_test_%: tests/mpi/test_%.c $(OBJ) $(MPI_OBJ)
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(HDF5_LIBS) $(LIBS)

# Sanitizer build: its own objects, same sources.
build/asan/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/mpi/serial.o: mpi/serial.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
$(ASAN_SUPPORT_OBJ): tests/unit/support.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/tests/test_%: tests/unit/test_%.c $(ASAN_SUPPORT_OBJ) $(SRC:%.c=build/asan/%.o) build/asan/mpi/serial.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -o $@ $(filter %.c %.o,$^) -lcmocka $(LIBS)

# Replay: harness + tests/fuzz/replay.c + tests/fuzz/support.c, linked like
# the ASan unit tests.
build/asan/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/fuzz/replay_%: build/asan/tests/fuzz/fuzz_%.o build/asan/tests/fuzz/replay.o \
                          build/asan/tests/fuzz/support.o $(SRC:%.c=build/asan/%.o) build/asan/mpi/serial.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(ASAN) -o $@ $^ $(LIBS)

# libFuzzer: everything instrumented for coverage by clang, in build/fuzz/.
build/fuzz/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/mpi/serial.o: mpi/serial.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/tests/fuzz/support.o \
                   $(SRC:%.c=build/fuzz/%.o) build/fuzz/mpi/serial.o
	$(FUZZ_CC) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# Harnesses of the HDF5 readers (tests/fuzz/fuzz_h5_<name>.c: checkpoints,
# model.h5) need the real parallel layer and parallel HDF5: they link mpi/
# instead of mpi/serial.c, through mpicc (with clang under it for
# libFuzzer), and start MPI in LLVMFuzzerInitialize; what they share is
# tests/fuzz/h5_support.c. Make prefers these rules to the ones above for
# fuzz_h5_* and h5_* (the shorter stem wins).
build/asan/mpi/%.o: mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/tests/fuzz/fuzz_h5_%.o: tests/fuzz/fuzz_h5_%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/tests/fuzz/h5_%.o: tests/fuzz/h5_%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<
build/asan/fuzz/replay_h5_%: build/asan/tests/fuzz/fuzz_h5_%.o build/asan/tests/fuzz/replay.o \
                             build/asan/tests/fuzz/support.o build/asan/tests/fuzz/h5_support.o \
                             $(SRC:%.c=build/asan/%.o) $(MPI_SRC:%.c=build/asan/%.o)
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -O1 $(ASAN) -o $@ $^ $(HDF5_LIBS) $(LIBS)
build/fuzz/mpi/%.o: mpi/%.c
	@mkdir -p $(dir $@)
	OMPI_CC=$(FUZZ_CC) $(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/tests/fuzz/fuzz_h5_%.o: tests/fuzz/fuzz_h5_%.c
	@mkdir -p $(dir $@)
	OMPI_CC=$(FUZZ_CC) $(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/tests/fuzz/h5_%.o: tests/fuzz/h5_%.c
	@mkdir -p $(dir $@)
	OMPI_CC=$(FUZZ_CC) $(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -O1 $(FUZZ_SAN) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/fuzz_h5_%: build/fuzz/tests/fuzz/fuzz_h5_%.o build/fuzz/tests/fuzz/support.o \
                      build/fuzz/tests/fuzz/h5_support.o $(SRC:%.c=build/fuzz/%.o) \
                      $(MPI_SRC:%.c=build/fuzz/%.o)
	OMPI_CC=$(FUZZ_CC) $(MPICC) $(CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ \
	    $(HDF5_LIBS) $(LIBS)

# objects only reached through pattern rules would otherwise count as intermediate
.SECONDARY: $(SRC:%.c=build/asan/%.o) build/asan/mpi/serial.o $(SRC:%.c=build/fuzz/%.o) \
            $(MPI_SRC:%.c=build/asan/%.o) $(MPI_SRC:%.c=build/fuzz/%.o) \
            build/fuzz/mpi/serial.o $(FUZZ_SRC:%.c=build/asan/%.o) $(FUZZ_SRC:%.c=build/fuzz/%.o) \
            build/asan/tests/fuzz/replay.o build/asan/tests/fuzz/support.o \
            build/fuzz/tests/fuzz/support.o build/asan/tests/fuzz/h5_support.o \
            build/fuzz/tests/fuzz/h5_support.o

unit: $(UNIT_BIN)
	tests/run.sh unit

asan: $(ASAN_BIN)
	tests/run.sh asan

fuzz: $(FUZZ_BIN)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz.sh $(FUZZ_NAMES)

fuzz-replay: $(REPLAY_BIN)
	tests/run.sh fuzz

setup:
	tools/setup.sh

data:
	tools/fetch-data.sh

demo:
	tools/demo.sh

test: setup
	$(MAKE) bin/plastic $(UNIT_BIN) $(ASAN_BIN) $(MPIT_BIN) $(REPLAY_BIN)
	tests/run.sh all

bench: setup
	$(MAKE) bin/plastic
	tools/bench.sh

# The data-parallel step's timing driver: it times, so it is no test.
build/nn_dp_bench: tools/nn_dp_bench.c $(OBJ) $(MPI_OBJ)
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(HDF5_CFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(HDF5_LIBS) $(LIBS)

bench-nn: build/nn_dp_bench
	. tests/lib.sh && for np in 1 2; do plastic_mpirun $$np build/nn_dp_bench; done

bench-ckpt: setup
	$(MAKE) bin/plastic
	tools/ckpt-bench.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
