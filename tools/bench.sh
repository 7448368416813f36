#!/usr/bin/env bash
# `make bench`: each rule's first stage against the bare GEMMs it needs, in
# the same run (ratio = epoch time / bare GEMM time):
#   KH (configs/bench.ini: K=2000, p=3, k=7, B=100, all 60,000 training
#   images) against the bare SGEMM of its currents, as 1 rank x 2 BLAS
#   threads and as 2 ranks x 1 thread (target <= 1.3);
#   bp (configs/bench-bp.ini: the 784-256-256-10 MLP, B=100) against the
#   bare GEMMs of its layers, as 1 rank x 1 thread and 2 ranks x 1 thread
#   (target <= 1.5), and the 2-rank data-parallel speed-up;
#   rec-LRA against backprop on the same 5 x 256 tanh MLP
#   (configs/bench-reclra.ini, B=50), 1 rank: examples per second of each
#   and their ratio;
#   block parallelism (configs/bench-pipe.ini: a residual net of 8 blocks of
#   width 1024, net.parallel = blocks): rec-LRA and backprop on the same
#   pipeline, 1 rank x 1 thread and 2 ranks (2 stages) x 1 thread, each
#   rank's time per minibatch, the part blocked on messages, one
#   micro-batch's message time, and the 2-rank speed-ups (rec-LRA target
#   >= 1.6); then rec-LRA's one-step-stale pipeline (net.stale = 1) on the
#   same 1 and 2 ranks, and its speed-up over the plain pipeline.
#   rec-LRA's image networks (configs/reclra-{resmlp,resnet,pconv}-mnist.ini)
#   against backprop on the same net, 1 rank, epochs of 2000 examples.
#   URFB (configs/urfb-mnist.ini: 784-500-500-10 clip, hinge, SGD, B=500)
#   against backprop on the same net in the same code (urfb.feedback =
#   symmetric), 1 rank: examples per second of each and their ratio (target
#   <= 1.3); URFB on 2 ranks and its data-parallel speed-up; simpnet
#   (configs/urfb-simpnet-mnist.ini) with its conv untied (net.untie = 1)
#   against the tied conv, 1 rank: the untied layer's cost.
# BENCH=pipe (or kh, bp, reclra, nets, urfb) runs one part only.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
log=$(mktemp)
pipelog=$(mktemp)
trap 'rm -f "$log" "$pipelog"' EXIT
part=${BENCH:-all}

if [ "$part" = all ] || [ "$part" = kh ]; then
    echo "== kh: 1 rank x 2 threads"
    OPENBLAS_NUM_THREADS=2 mpirun --bind-to none -np 1 bin/plastic bench configs/bench.ini "$@" | tee -a "$log"
    echo "== kh: 2 ranks x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe -np 2 bin/plastic bench configs/bench.ini "$@" | tee -a "$log"
fi
if [ "$part" = all ] || [ "$part" = bp ]; then
    echo "== bp: 1 rank x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/bench-bp.ini "$@" | tee -a "$log"
    echo "== bp: 2 ranks x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe -np 2 bin/plastic bench configs/bench-bp.ini "$@" | tee -a "$log"
fi
if [ "$part" = all ] || [ "$part" = reclra ]; then
    echo "== reclra: 1 rank x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/bench-reclra.ini "$@" | tee -a "$log"
    echo "== bp on the same net: 1 rank x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/bench-reclra.ini model.rule=bp "$@" \
        | sed 's/^summary: bp /summary: bp-5x256 /' | tee -a "$log"
fi
if [ "$part" = all ] || [ "$part" = pipe ]; then
    for rule in reclra bp; do
        echo "== pipe: $rule, 1 rank x 1 thread"
        OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/bench-pipe.ini \
            model.rule=$rule "$@" | tee -a "$pipelog"
        echo "== pipe: $rule, 2 ranks (2 stages) x 1 thread"
        OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np 2 bin/plastic bench \
            configs/bench-pipe.ini model.rule=$rule "$@" | tee -a "$pipelog"
    done
    for np in 1 2; do
        echo "== pipe: reclra one-step-stale (net.stale = 1), $np rank(s) ($np stage(s)) x 1 thread"
        OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np $np bin/plastic bench \
            configs/bench-pipe.ini model.rule=reclra net.stale=1 "$@" \
            | sed 's/^summary: reclra /summary: reclra-stale /' | tee -a "$pipelog"
    done
fi
if [ "$part" = all ] || [ "$part" = nets ]; then
    # rec-LRA's image networks against backprop on the same net, 1 rank,
    # an epoch of 2000 examples (12 000 read, 10 000 held out)
    for net in resmlp resnet pconv; do
        for rule in reclra bp; do
            echo "== nets: $net, $rule, 1 rank x 1 thread"
            OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench \
                configs/reclra-$net-mnist.ini model.rule=$rule data.train_limit=12000 \
                optim.epochs=3 "$@" | sed "s/^summary: $rule /summary: $rule-$net /" | tee -a "$log"
        done
    done
fi
if [ "$part" = all ] || [ "$part" = urfb ]; then
    # epochs of 20 000 examples (30 000 read, 10 000 held out)
    small=(data.train_limit=30000 optim.epochs=3)
    for fb in updated symmetric; do
        echo "== urfb: feedback $fb, 1 rank x 1 thread"
        OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/urfb-mnist.ini \
            urfb.feedback=$fb "${small[@]}" "$@" | sed "s/^summary: urfb /summary: urfb-$fb /" | tee -a "$log"
    done
    echo "== urfb: feedback updated, 2 ranks x 1 thread"
    OPENBLAS_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np 2 bin/plastic bench \
        configs/urfb-mnist.ini "${small[@]}" "$@" | sed "s/^summary: urfb /summary: urfb-updated /" | tee -a "$log"
    for tie in tied untied; do
        u=(); [ $tie = untied ] && u=(net.untie=1)
        echo "== urfb: simpnet, conv $tie, 1 rank x 1 thread"
        OPENBLAS_NUM_THREADS=1 mpirun --bind-to none -np 1 bin/plastic bench configs/urfb-simpnet-mnist.ini \
            "${u[@]}" data.train_limit=14000 optim.epochs=3 "$@" \
            | sed "s/^summary: urfb /summary: urfb-simpnet-$tie /" | tee -a "$log"
    done
fi
echo "== summary (ratio = epoch time / bare GEMM time; targets: kh <= 1.3, bp <= 1.5)"
grep -h '^summary' "$log" "$pipelog" || true
awk '$1 == "summary:" && $2 == "bp" { e[$3] = $9 }
     END { if (e[1] > 0 && e[2] > 0) printf "bp data-parallel: 2 ranks %.2fx faster per epoch than 1\n", e[1] / e[2] }' "$log"
awk '$1 == "summary:" && ($2 == "reclra" || $2 == "bp-5x256") && $3 == 1 { e[$2] = $9 }
     END { if (e["reclra"] > 0 && e["bp-5x256"] > 0)
               printf "5x256 tanh MLP, 1 rank: rec-LRA %.0f examples/s, backprop %.0f examples/s: rec-LRA %.2fx the speed of backprop\n",
                      50000 / e["reclra"], 50000 / e["bp-5x256"], e["bp-5x256"] / e["reclra"] }' "$log"
awk '$1 == "summary:" { e[$2, $3] = $9 }
     END { u = e["urfb-updated", 1]; b = e["urfb-symmetric", 1]
           if (u > 0 && b > 0)
               printf "784-500-500-10 clip MLP, 1 rank: URFB %.0f examples/s, backprop %.0f examples/s: URFB costs %.2fx backprop (target <= 1.3)\n",
                      20000 / u, 20000 / b, u / b
           if (u > 0 && e["urfb-updated", 2] > 0)
               printf "URFB data-parallel: 2 ranks %.2fx faster per epoch than 1\n", u / e["urfb-updated", 2]
           t = e["urfb-simpnet-tied", 1]; n = e["urfb-simpnet-untied", 1]
           if (t > 0 && n > 0)
               printf "simpnet, 1 rank: untied conv %.2fx the epoch time of the tied conv\n", n / t }' "$log"
awk '$1 == "summary:" { e[$2, $3] = $9 }
     END { if (e["reclra", 1] > 0 && e["reclra", 2] > 0)
               printf "rec-LRA blocks: 2 stages %.2fx faster per epoch than 1 (target >= 1.6)\n",
                      e["reclra", 1] / e["reclra", 2]
           if (e["bp", 1] > 0 && e["bp", 2] > 0)
               printf "bp blocks (same pipeline): 2 stages %.2fx faster per epoch than 1\n",
                      e["bp", 1] / e["bp", 2]
           if (e["reclra-stale", 1] > 0 && e["reclra-stale", 2] > 0)
               printf "rec-LRA one-step-stale blocks: 2 stages %.2fx faster per epoch than 1\n",
                      e["reclra-stale", 1] / e["reclra-stale", 2]
           if (e["reclra", 2] > 0 && e["reclra-stale", 2] > 0)
               printf "rec-LRA on 2 stages: one-step-stale %.2fx faster per epoch than the plain pipeline\n",
                      e["reclra", 2] / e["reclra-stale", 2] }' "$pipelog"
