#!/usr/bin/env bash
# arm64 on this (x86-64) host: the cold build time of the minimal image for arm64 against amd64
# on the same machine (goal: at most 1.5x; only the programs run in the root are emulated, by
# qemu-user through binfmt_misc), and the arm64 image's boot time under TCG
# (qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on, AAVMF). Both builds are cold
# (--no-root-cache: dpkg runs) with the packages already downloaded, so the figures compare
# installing, not the network. Run as root from the source tree's top directory:
#   bench/bench-arm64.sh [BUILD_DIR]
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

build() { # ARCH: prints the build's last line
        local start end
        start=$(date +%s.%N)
        "$VMC" build --no-root-cache --arch "$1" --cache-dir "$C" -o "$W/$1" profiles/minimal.yaml \
                2>&1 | grep '^built' | tail -1 >"$W/$1.line"
        end=$(date +%s.%N)
        echo "$end - $start" | bc -l >"$W/$1.time"
}
build amd64
build arm64
a=$(cat "$W/amd64.time") b=$(cat "$W/arm64.time")
echo "cold build of profiles/minimal.yaml (packages in the cache, dpkg runs):"
printf '  amd64: %.1f s  (%s)\n' "$a" "$(cat "$W/amd64.line")"
printf '  arm64: %.1f s  (%s)\n' "$b" "$(cat "$W/arm64.line")"
printf '  ratio arm64/amd64: %.2f (goal <= 1.5)\n' "$(echo "$b / $a" | bc -l)"
echo "boot of the arm64 image under TCG (qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on, AAVMF):"
"$VMC" boot --timeout 900 "$W/arm64/minimal-arm64.qcow2"
