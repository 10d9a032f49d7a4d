#!/usr/bin/env bash
# arm64 on this (x86-64) host: the cold build time of the minimal image for arm64 against amd64
# on the same machine (goal: at most 1.5x; only the programs run in the root are emulated, by
# qemu-user through binfmt_misc), and the arm64 image's boot time under TCG
# (qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on, AAVMF). Both builds are cold
# (--no-root-cache: dpkg runs) with the packages already downloaded, so the figures compare
# installing, not the network. The arm64 build runs the host's own builds of the image's package
# versions natively where the host has them (distro/debian/native.c); NATIVE=0 measures it all
# emulated. RUNS builds of each (default 3, interleaved), the median compared. Run as root from
# the source tree's top directory:
#   [RUNS=3] [NATIVE=0] bench/bench-arm64.sh [BUILD_DIR]
set -euo pipefail
VMC=$(realpath "${1:-build}/vmcompose")
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
        { echo "register qemu-aarch64 first: update-binfmts --enable qemu-aarch64"; exit 1; }
W=$(mktemp -d /var/tmp/vmcompose-bencharm64-XXXXXX)
trap 'rm -rf "$W"' EXIT
C=${VMCOMPOSE_BENCH_CACHE:-$W/cache}

# The packages of both, downloaded first.
for arch in amd64 arm64; do
        "$VMC" -q build --arch "$arch" --until fetch --cache-dir "$C" -o "$W/fetch" profiles/minimal.yaml
done

RUNS=${RUNS:-3}
build() { # ARCH RUN: appends the time, keeps the build's last line
        local start end
        start=$(date +%s.%N)
        VMCOMPOSE_NATIVE=${NATIVE:-1} "$VMC" build --no-root-cache --arch "$1" --cache-dir "$C" \
                -o "$W/$1" profiles/minimal.yaml 2>&1 | grep '^built' | tail -1 >"$W/$1.line"
        end=$(date +%s.%N)
        echo "$end - $start" | bc -l >>"$W/$1.times"
        [ "$1" = arm64 ] || rm -rf "$W/$1"
}
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for run in $(seq "$RUNS"); do
        build amd64 "$run"
        build arm64 "$run"
done
a=$(median "$W/amd64.times") b=$(median "$W/arm64.times")
echo "cold build of profiles/minimal.yaml (packages in the cache, dpkg runs), median of $RUNS:"
printf '  amd64: %.1f s  (runs: %s)\n' "$a" "$(sort -n "$W/amd64.times" | xargs printf '%.1f ')"
printf '         %s\n' "$(cat "$W/amd64.line")"
printf '  arm64: %.1f s  (runs: %s)\n' "$b" "$(sort -n "$W/arm64.times" | xargs printf '%.1f ')"
printf '         %s\n' "$(cat "$W/arm64.line")"
printf '  ratio arm64/amd64: %.2f (goal <= 1.5)\n' "$(echo "$b / $a" | bc -l)"
echo "boot of the arm64 image under TCG (qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on, AAVMF):"
"$VMC" boot --timeout 900 "$W/arm64/minimal-arm64.qcow2"
