#!/usr/bin/env bash
# The disk stage: from one root directory (the reference pipeline's mmdebstrap root, ~350 MB),
# vmcompose writes raw + VHD + qcow2 (`build --root`), against systemd-repart making the same
# GPT layout (ESP + ext4 root of the same size) plus qemu-img converting it to a fixed VHD and
# a qcow2. RUNS runs each; prints wall-time ratios and the bytes each output allocates against
# the root's data size. Run as root from the source tree's top directory:
#   bench/bench-disk.sh [BUILD_DIR]
set -euo pipefail
VMC=${1:-build}/vmcompose
RUNS=${RUNS:-3}
W=$(mktemp -d /var/tmp/vmcompose-benchdisk-XXXXXX)
trap 'rm -rf "$W"' EXIT
for t in mmdebstrap systemd-repart qemu-img; do
        command -v $t >/dev/null || { echo "install $t first"; exit 1; }
done

mapfile -t repos < <(awk '/^URIs:/{u=$2} /^Suites:/{for (i = 2; i <= NF; i++) print "deb " u " " $i " main"}' /etc/apt/sources.list.d/*.sources)
echo "making the root with mmdebstrap (as ../shared/baseline/01-rootfs.sh does)..."
mmdebstrap --variant=minbase --include=linux-image-cloud-amd64,systemd-sysv,udev,initramfs-tools,e2fsprogs \
        --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$W/root" "${repos[@]}" >"$W/log" 2>&1
data=$(du -sb "$W/root" | cut -f1)
echo "root: $((data >> 20)) MiB of data"

cat >"$W/profile.yaml" <<EOT
extends: $PWD/profiles/base/debian-12.yaml
name: bench
disk:
  partitions:
    - {role: esp, size: 128M, fs: vfat}
    - {role: root, size: auto, fs: ext4, free: 20%}
outputs: [raw, vhd, qcow2]
EOT
mkdir -p "$W/esp"

vmc() {
        rm -rf "$W/out"
        /usr/bin/time -f %e -a -o "$W/t-vmcompose" "$VMC" -q build "$W/profile.yaml" --root "$W/root" \
                --esp "$W/esp" -o "$W/out"
}
vmc
root_sectors=$(sfdisk --json "$W/out/bench.raw" | jq '.partitiontable.partitions[1].size')
rm -f "$W/t-vmcompose"
mkdir -p "$W/defs"
cat >"$W/defs/00-esp.conf" <<EOT
[Partition]
Type=esp
Format=vfat
SizeMinBytes=128M
SizeMaxBytes=128M
EOT
cat >"$W/defs/10-root.conf" <<EOT
[Partition]
Type=root
Format=ext4
CopyFiles=/
SizeMinBytes=$((root_sectors * 512))
SizeMaxBytes=$((root_sectors * 512))
EOT
peer() {
        rm -rf "$W/peer"
        mkdir -p "$W/peer"
        /usr/bin/time -f %e -a -o "$W/t-peer" sh -c "
                systemd-repart --empty=create --size=auto --dry-run=no --no-pager \
                        --definitions='$W/defs' --root='$W/root' '$W/peer/bench.raw' &&
                qemu-img convert -f raw -O vpc -o subformat=fixed,force_size '$W/peer/bench.raw' '$W/peer/bench.vhd' &&
                qemu-img convert -f raw -O qcow2 '$W/peer/bench.raw' '$W/peer/bench.qcow2'" >"$W/log" 2>&1 ||
                { cat "$W/log"; exit 1; }
}
for _ in $(seq "$RUNS"); do
        vmc
        peer
done
med() { sort -n "$1" | awk '{t[NR] = $1} END {printf "%.2f", t[int((NR + 1) / 2)]}'; }
vt=$(med "$W/t-vmcompose")
pt=$(med "$W/t-peer")
echo "disk stage, raw + vhd + qcow2 from the same root (median of $RUNS runs):"
printf '  vmcompose %s s, systemd-repart + qemu-img %s s: ratio %.2f (target <= 0.7)\n' "$vt" "$pt" \
        "$(echo "$vt / $pt" | bc -l)"
echo "allocated bytes per output against the root's data ($((data >> 20)) MiB; target <= 1.1x):"
for f in raw vhd qcow2; do
        v=$(($(stat -c %b "$W/out/bench.$f") * 512))
        p=$(($(stat -c %b "$W/peer/bench.$f") * 512))
        printf '  %-6s vmcompose %5d MiB (%.2fx)   peer %5d MiB (%.2fx)\n' $f $((v >> 20)) \
                "$(echo "$v / $data" | bc -l)" $((p >> 20)) "$(echo "$p / $data" | bc -l)"
done
