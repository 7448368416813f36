#!/usr/bin/env bash
# The slow dynamics (kh.dynamics = slow) through bin/plastic on the MNIST
# slice of train_parity.sh (K = 50 in tiles of 8) on 1, 2, 3 and 4 ranks and
# on 1 and 2 ranks x 2 threads, and with one tile of 64 on 1 rank and on 3
# ranks (two of them without a unit): /kh/W and /readout/S must be bitwise
# identical and the errors equal. The inhibition's per-example sums are
# exact (kh_slow.h), so this holds by construction, not by luck of rounding.
set -eu
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

slow=(kh.dynamics=slow kh.w_inh=0.4 kh.h_star=0.5 kh.dt=0.2 kh.slow_tol=1e-4)

train() { # name np overrides...
    local name=$1 np=$2; shift 2
    plastic_mpirun "$np" bin/plastic train tests/configs/slice.ini run.dir="$out/$name" \
        log.progress=0 "${slow[@]}" "$@" > "$out/$name.log" 2>&1 \
        || { cat "$out/$name.log"; fail "train $name"; }
}

same() { # reference name what
    local a=$1 b=$2
    for dset in /kh/W /readout/S; do
        h5diff "$out/$a/model.h5" "$out/$b/model.h5" "$dset" "$dset" \
            || fail "$dset of $b ($3) differs from $a"
    done
    for field in test_error valid_error train_error; do
        x=$(json_field "$out/$a/metrics.jsonl" "$field")
        y=$(json_field "$out/$b/metrics.jsonl" "$field")
        if [ -z "$x" ] || [ "$x" != "$y" ]; then
            fail "$field: $a '$x', $b ($3) '$y'"
        fi
    done
}

for np in 1 2 3 4; do
    train "np$np" "$np"
done
train np1t2 1 run.threads=2
train np2t2 2 run.threads=2
for np in 2 3 4; do
    same np1 "np$np" "$np ranks"
done
same np1 np1t2 "1 rank x 2 threads"
same np1 np2t2 "2 ranks x 2 threads"

train one 1 kh.tile=64
train one_np3 3 kh.tile=64
same one one_np3 "one tile, 3 ranks"

# the dynamics really ran: Euler steps recorded, and the hidden layer changed W
steps=$(json_field "$out/np1/metrics.jsonl" slow_steps)
[ -n "$steps" ] || fail "no slow_steps in the records"
echo "slow dynamics: W, S and errors identical on 1-4 ranks, 1 and 2 ranks x 2 threads, and one"\
    "tile on 3 ranks (test error $(json_field "$out/np1/metrics.jsonl" test_error)%,"\
    "$steps Euler steps per minibatch in the last epoch)"
