#!/usr/bin/env bash
# Installs what plastic needs on Debian 12 (or a close relative) and fetches
# the datasets (tools/fetch-data.sh, into ${PLASTIC_DATA:-data}).
#
# Idempotent, and a fast no-op when everything is there: `make test` runs it
# first. Only missing packages are installed: one `apt-get update`, then one
# `apt-get install`, as root or through sudo.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    clang libclang-rt-dev
    libopenmpi-dev openmpi-bin
    libopenblas-dev
    libhdf5-openmpi-dev hdf5-tools
    libinih-dev libcmocka-dev libpng-dev zlib1g-dev
    shellcheck
    python3-h5py python3-numpy
    nodejs npm
    slurm-wlm slurmctld slurmd slurm-client munge
)

here=$(cd "$(dirname "$0")" && pwd)

say() { echo "setup: $*"; }
die() {
    echo "setup: error: $*" >&2
    exit 1
}

# Runs a command as root: directly, or through sudo.
as_root=()
need_root() {
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null; then
        as_root=(sudo)
    else
        die "not root and sudo is not installed; as root, run:
  $*"
    fi
}

apt_updated=0
apt_update() {
    [ "$apt_updated" -eq 0 ] || return 0
    say "apt-get update"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update ||
        die "apt-get update failed"
    apt_updated=1
}

# --- packages -------------------------------------------------------------
if ! command -v dpkg-query >/dev/null; then
    say "dpkg not found: not a Debian system, so no packages are installed."
    say "make sure the equivalents of these are present: ${PACKAGES[*]}"
else
    # One dpkg-query for everything installed, counting what installed
    # packages provide (NodeSource's nodejs provides npm, for instance).
    declare -A have=()
    while IFS='|' read -r status pkg provides; do
        [ "${status:1:1}" = i ] || continue # "ii", "hi": installed
        have[$pkg]=1
        IFS=',' read -ra provided <<<"$provides"
        for p in "${provided[@]}"; do
            p=${p#"${p%%[! ]*}"} # trim leading blanks
            p=${p%% *}           # drop a version: "npm (= 9.2)"
            [ -z "$p" ] || have[$p]=1
        done
    done < <(dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null)

    missing=()
    for p in "${PACKAGES[@]}"; do
        [ -n "${have[$p]:-}" ] || missing+=("$p")
    done

    if [ ${#missing[@]} -eq 0 ]; then
        say "all ${#PACKAGES[@]} packages present"
    else
        say "missing packages: ${missing[*]}"
        need_root "apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        apt_update
        say "apt-get install ${missing[*]}"
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -q install -y --no-install-recommends "${missing[@]}" ||
            die "apt-get install failed (packages: ${missing[*]})"
    fi
fi

# --- datasets -------------------------------------------------------------
say "datasets into ${PLASTIC_DATA:-data}/ (tools/fetch-data.sh)"
rc=0
"$here/fetch-data.sh" || rc=$?
if [ "$rc" -eq 3 ]; then
    say "apt's package lists lack the Fashion-MNIST package: refreshing them, then retrying"
    need_root "apt-get update"
    apt_update
    rc=0
    "$here/fetch-data.sh" || rc=$?
fi
[ "$rc" -eq 0 ] || die "fetching the datasets failed"
say "done"
