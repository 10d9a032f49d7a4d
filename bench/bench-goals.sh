#!/usr/bin/env bash
# Issue #16's goals in one run, the minimal image against the reference pipeline's image
# (mmdebstrap + a hand-assembled disk with the same kernel, ../shared/baseline):
#   root used      the root filesystem's used space as df shows it in the running VM (ext4
#                  leaves its own metadata out of df's size and used: block count - free blocks
#                  - the journal and the groups' superblocks, descriptors, bitmaps and inode
#                  tables, from dumpe2fs); also the blocks allocated, metadata included
#   qcow2 (zstd)   vmcompose's zstd-compressed qcow2; the reference's from qemu-img convert -c
#   raw.zst        vmcompose's raw.zst output; the reference's raw through zstd -3 (same level)
#   boot to ready  "Reached target ... Multi-User System", median of BOOT_RUNS boots each
#                  (default 5; TCG boots take 15-60 s each, minutes on a loaded machine: a boot
#                  that does not come up within BOOT_TIMEOUT seconds, default 600, is counted
#                  as that and named)
#   warm rebuild   vmcompose build of profiles/minimal.yaml with the root cache filled, wall
#                  seconds, median of WARM_RUNS (default 3); with -v's stage times of the last
# Goals: root <= 110 MiB, qcow2 <= 50 MiB, ready <= 0.6x the reference, warm rebuild <= 5 s.
# Run as root from the source tree's top directory:
#   bench/bench-goals.sh [BUILD_DIR] [BASELINE_DIR]
# CACHE_DIR (default /var/cache/vmcompose-bench) is vmcompose's cache; SKIP_BOOT=1 skips boots;
# REF_DISK=PATH uses a reference disk built before instead of building one.
set -euo pipefail
VMC=$(realpath "${1:-build}/vmcompose")
BASE=$(realpath "${2:-../shared/baseline}")
BOOT_RUNS=${BOOT_RUNS:-5}
WARM_RUNS=${WARM_RUNS:-3}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-600}
CACHE=${CACHE_DIR:-/var/cache/vmcompose-bench}
for t in mmdebstrap qemu-img zstd dumpe2fs sfdisk jq bc; do
        command -v $t >/dev/null || { echo "install $t first"; exit 1; }
done
[ -e /usr/lib/systemd/boot/efi/systemd-bootx64.efi ] ||
        { echo "install systemd-boot-efi first (the reference image's boot loader)"; exit 1; }
W=$(mktemp -d /var/tmp/vmcompose-goals-XXXXXX)
trap 'rm -rf "$W"' EXIT
mib() { echo "scale=1; $1 / 1048576" | bc; }
med() { sort -n "$1" | awk '{t[NR] = $1} END {printf "%.2f", t[int((NR + 1) / 2)]}'; }

# The root filesystem's used bytes: the largest partition of a raw disk.
root_used() { # IMAGE [alloc]: bytes used as df counts them, or every allocated block
        local off
        off=$(sfdisk --json "$1" | jq '.partitiontable.partitions | max_by(.size) | .start * 512')
        dumpe2fs "$1?offset=$off" 2>/dev/null | awk -v alloc="${2:-}" -F: '
                /^Block count:/ {n = $2} /^Free blocks:/ {f = $2} /^Block size:/ {b = $2}
                /^Total journal blocks:/ {j = $2}
                {
                        s = $0
                        while (match(s, /(superblock|descriptors|GDT blocks|bitmap|table) at [0-9]+(-[0-9]+)?/)) {
                                t = substr(s, RSTART, RLENGTH)
                                s = substr(s, RSTART + RLENGTH)
                                sub(/.* at /, "", t)
                                meta += split(t, r, "-") == 2 ? r[2] - r[1] + 1 : 1
                        }
                }
                END {print (alloc ? n - f : n - f - j - meta) * b}'
}

echo "building the minimal image with vmcompose (raw, raw.zst, zstd qcow2)..."
cat >"$W/goals.yaml" <<EOF
extends: $PWD/profiles/minimal.yaml
outputs: [raw, raw.zst, {format: qcow2, compression: zstd}]
EOF
"$VMC" -q build "$W/goals.yaml" --cache-dir "$CACHE" -o "$W/vmc"
echo "warm rebuilds of profiles/minimal.yaml ($WARM_RUNS, after one that fills the caches)..."
"$VMC" -q build profiles/minimal.yaml --cache-dir "$CACHE" -o "$W/warm"
for _ in $(seq "$WARM_RUNS"); do
        s=$(date +%s.%N)
        "$VMC" -v build profiles/minimal.yaml --cache-dir "$CACHE" -o "$W/warm" >"$W/warm.log" 2>&1
        e=$(date +%s.%N)
        echo "$e - $s" | bc >>"$W/warm.times"
done

if [ -n "${REF_DISK:-}" ]; then
        ref=$REF_DISK # a reference disk built before (02-disk.sh's disk.raw)
else
        echo "building the reference image (mmdebstrap, sfdisk, mkfs, systemd-boot)..."
        if ! { WORK=$W/base bash "$BASE/01-rootfs.sh" cold &&
                WORK=$W/base bash "$BASE/02-disk.sh" "$W/base/rootfs-cold" "$W/base/disk"; } \
                >"$W/base.log" 2>&1; then
                tail -20 "$W/base.log"
                echo "the reference pipeline failed (above)"
                exit 1
        fi
        ref=$W/base/disk/disk.raw
fi
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$ref" "$W/ref.qcow2"
zstd -q -3 -T0 "$ref" -o "$W/ref.raw.zst"

if [ "${SKIP_BOOT:-0}" != 1 ]; then
        echo "booting each image $BOOT_RUNS times..."
        boot() { # LABEL IMAGE
                for _ in $(seq "$BOOT_RUNS"); do
                        t=$("$VMC" boot "$2" --expect 'Reached target.*Multi-User System' \
                                --timeout "$BOOT_TIMEOUT" 2>"$W/boot.err" |
                                sed -n 's/.*kernel after \([0-9.]*\) s, ready after \([0-9.]*\) s/\2/p') || true
                        if [ -z "$t" ]; then
                                echo "  $1: a boot did not come up within $BOOT_TIMEOUT s" >&2
                                t=$BOOT_TIMEOUT
                        fi
                        echo "$t" >>"$W/$1"
                done
        }
        boot vmcompose "$W/vmc/minimal.raw"
        boot reference "$ref"
fi

V=$W/vmc/minimal
echo
echo "issue #16 goals, this run (vmcompose / reference):"
printf '  root used:       %s MiB / %s MiB as df shows it (goal <= 110 MiB); allocated with ext4'"'"'s metadata: %s MiB / %s MiB; files by package: vmcompose size %s\n' \
        "$(mib "$(root_used "$V.raw")")" "$(mib "$(root_used "$ref")")" \
        "$(mib "$(root_used "$V.raw" alloc)")" "$(mib "$(root_used "$ref" alloc)")" "$V.manifest.json"
printf '  qcow2 (zstd):    %s MiB / %s MiB (goal <= 50 MiB)\n' \
        "$(mib "$(stat -c %s "$V.qcow2")")" "$(mib "$(stat -c %s "$W/ref.qcow2")")"
printf '  raw.zst:         %s MiB / %s MiB\n' \
        "$(mib "$(stat -c %s "$V.raw.zst")")" "$(mib "$(stat -c %s "$W/ref.raw.zst")")"
if [ "${SKIP_BOOT:-0}" != 1 ]; then
        vr=$(med "$W/vmcompose") rr=$(med "$W/reference")
        printf '  boot to ready:   %s s / %s s = %.2fx (median of %s; goal <= 0.6x)\n' "$vr" "$rr" \
                "$(echo "$vr / $rr" | bc -l)" "$BOOT_RUNS"
else
        echo "  boot to ready:   skipped (SKIP_BOOT=1)"
fi
printf '  warm rebuild:    %s s (median of %s; goal <= 5 s); the last one'"'"'s stages:\n' \
        "$(med "$W/warm.times")" "$WARM_RUNS"
sed -n 's/^stage \(.*\) done in \(.*\)/      \1 \2/p' "$W/warm.log"
