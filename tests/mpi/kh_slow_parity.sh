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

config=tests/configs/slice.ini
dsets="/kh/W /readout/S"

parity_ranks "$out" "$config" "$dsets" "1 2" "${slow[@]}"

plastic_train_ok 1 "$out/one" "$config" "${slow[@]}" kh.tile=64
plastic_train_ok 3 "$out/one_np3" "$config" "${slow[@]}" kh.tile=64
same_run "$out/one" "$out/one_np3" "one tile, 3 ranks" "$dsets"

# the dynamics really ran: Euler steps recorded, and the hidden layer changed W
steps=$(json_field "$out/np1/metrics.jsonl" slow_steps)
[ -n "$steps" ] || fail "no slow_steps in the records"
echo "slow dynamics: W, S and errors identical on 1-4 ranks, 1 and 2 ranks x 2 threads, and one"\
    "tile on 3 ranks (test error $(json_field "$out/np1/metrics.jsonl" test_error)%,"\
    "$steps Euler steps per minibatch in the last epoch)"
