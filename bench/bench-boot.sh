#!/usr/bin/env bash
# Boot time: the minimal image against the reference pipeline's image (mmdebstrap + a
# hand-assembled disk with the same kernel, ../shared/baseline), same QEMU settings (TCG here,
# OVMF, 1 GiB, 2 CPUs), RUNS boots each, timed to the first kernel line and to the line
# "Reached target ... Multi-User System" that both print. Also prints used bytes and package
# counts. Run as root from the source tree's top directory:
#   bench/bench-boot.sh [BUILD_DIR] [BASELINE_DIR]
set -euo pipefail
VMC=${1:-build}/vmcompose
BASE=${2:-../shared/baseline}
RUNS=${RUNS:-3}
# The reference pipeline copies the host's systemd-boot onto its ESP.
[ -e /usr/lib/systemd/boot/efi/systemd-bootx64.efi ] ||
        { echo "install systemd-boot-efi first (the reference image's boot loader)"; exit 1; }
command -v mmdebstrap >/dev/null || { echo "install mmdebstrap first"; exit 1; }
W=$(mktemp -d /var/tmp/vmcompose-benchboot-XXXXXX)
trap 'rm -rf "$W"' EXIT

echo "building the minimal image with vmcompose..."
"$VMC" -q build profiles/minimal.yaml -o "$W/vmc"
echo "building the reference image (mmdebstrap, sfdisk, mkfs, systemd-boot)..."
WORK=$W/base bash "$BASE/01-rootfs.sh" cold >"$W/base.log" 2>&1
WORK=$W/base bash "$BASE/02-disk.sh" "$W/base/rootfs-cold" "$W/base/disk" >>"$W/base.log" 2>&1
ref=$W/base/disk/disk.raw

boot() { # LABEL IMAGE
        for _ in $(seq "$RUNS"); do
                "$VMC" boot "$2" --expect 'Reached target.*Multi-User System' --timeout 300 |
                        sed -n 's/.*kernel after \([0-9.]*\) s, ready after \([0-9.]*\) s/\1 \2/p' >>"$W/$1"
        done
}
boot vmcompose "$W/vmc/minimal.raw"
boot reference "$ref"
med() { sort -n -k"$2" "$1" | awk -v k="$2" '{t[NR] = $k} END {printf "%.1f", t[int((NR + 1) / 2)]}'; }
vk=$(med "$W/vmcompose" 1) vr=$(med "$W/vmcompose" 2)
rk=$(med "$W/reference" 1) rr=$(med "$W/reference" 2)
echo "boot to multi-user.target under the same QEMU (median of $RUNS):"
printf '  vmcompose: kernel %s s, ready %s s\n  reference: kernel %s s, ready %s s\n' "$vk" "$vr" "$rk" "$rr"
printf '  ratio (ready): %.2f (target <= 0.8)\n' "$(echo "$vr / $rr" | bc -l)"
used() { echo $(($(stat -c %b "$1") * 512 >> 20)); }
echo "image used bytes: vmcompose $(used "$W/vmc/minimal.raw") MiB, reference $(used "$ref") MiB"
"$VMC" -q lock profiles/minimal.yaml
n=$(grep -c '^  - name' profiles/minimal.lock)
rm -f profiles/minimal.lock
echo "packages: vmcompose $n, reference $(wc -l <"$W/base/logs/01-rootfs-cold.pkgs")"
