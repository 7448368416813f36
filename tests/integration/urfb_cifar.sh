#!/usr/bin/env bash
# URFB's CIFAR-10 configs (configs/urfb-{simpnet,deepernet,deepernet_s}-cifar.ini)
# on small files in CIFAR-10's binary format (tests/cifar_files.py): simpnet
# with its conv untied after one tied epoch learns them (test error far
# below chance); deepernet_s, whose convs but the first untie after one
# epoch, learns them too and gives the same bits on 2 ranks as on 1;
# deepernet, the deepest, runs an epoch.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 tests/cifar_files.py "$out/cifar" || fail "could not write the CIFAR-format files"
small=(data.dir="$out/cifar" data.valid=100 optim.batch=25 optim.sum=exact checkpoint.every=0
       log.progress=0)

below() { # run-dir limit what
    local err
    err=$(json_field "$1/metrics.jsonl" test_error)
    python3 -c "import sys; sys.exit(0 if float('$err') < $2 else 1)" \
        || fail "$3: test error $err% (chance: 90%)"
    echo "$err"
}

plastic_mpirun 1 bin/plastic train configs/urfb-simpnet-cifar.ini "${small[@]}" net.untie=1 \
    net.untie_after=1 optim.epochs=4 run.dir="$out/simp" > "$out/simp.log" 2>&1 \
    || { cat "$out/simp.log"; fail "simpnet"; }
grep -q "500 train, 100 valid, 200 test examples" "$out/simp.log" \
    || { cat "$out/simp.log"; fail "the CIFAR files were not read as 600 + 200 records"; }
grep -q "untied from epoch 2 on" "$out/simp.log" || { cat "$out/simp.log"; fail "simpnet did not untie"; }
simp=$(below "$out/simp" 50 "simpnet untied, 4 epochs")

s_args=(net.untie_after=1 optim.epochs=3 optim.lr=0.05)
for np in 1 2; do
    plastic_mpirun $np bin/plastic train configs/urfb-deepernet_s-cifar.ini "${small[@]}" \
        "${s_args[@]}" run.dir="$out/ds$np" > "$out/ds$np.log" 2>&1 \
        || { cat "$out/ds$np.log"; fail "deepernet_s on $np rank(s)"; }
done
ds=$(below "$out/ds1" 60 "deepernet_s, 3 epochs")
for dset in /net/conv1/W /net/local1/W /net/local5/W /urfb/local5/R /net/dense1/W; do
    h5diff "$out/ds1/model.h5" "$out/ds2/model.h5" "$dset" "$dset" || fail "deepernet_s: $dset differs on 2 ranks"
done

plastic_mpirun 1 bin/plastic train configs/urfb-deepernet-cifar.ini "${small[@]}" optim.epochs=1 \
    run.dir="$out/deep" > "$out/deep.log" 2>&1 || { cat "$out/deep.log"; fail "deepernet"; }
grep -q '"event":"done"' "$out/deep/metrics.jsonl" || fail "deepernet did not finish"
echo "urfb_cifar: simpnet untied $simp%, deepernet_s $ds% (2 ranks bitwise equal) on CIFAR-format" \
    "files; deepernet ran an epoch"
