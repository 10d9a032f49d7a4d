#!/usr/bin/env bash
# The container host against the minimal image: the root filesystem's used size of each
# (ext4 blocks in use, from dumpe2fs; goal: container-host at most minimal + 60 MiB), the
# same with a baked-in image (tests/containers/make-oci.sh: busybox and a script), and the time
# from power-on to the line that image's container prints at boot (run by containerd through
# ctr), under the same QEMU as vmcompose boot (TCG here). Run as root from the source tree's
# top directory:
#   bench/bench-container.sh [BUILD_DIR] [CACHE_DIR]
set -euo pipefail
VMC=${1:-build}/vmcompose
CACHE=${2:-/var/cache/vmcompose}
RUNS=${RUNS:-1}
W=$(mktemp -d /var/tmp/vmcompose-benchcontainer-XXXXXX)
trap 'rm -rf "$W"' EXIT

# MiB in use in the ext4 root (partition 2) of a raw image.
root_used() {
        local start size
        start=$(sfdisk --json "$1" | jq '.partitiontable.partitions[1].start')
        size=$(sfdisk --json "$1" | jq '.partitiontable.partitions[1].size')
        dd if="$1" of="$W/root.img" bs=512 skip="$start" count="$size" conv=sparse status=none
        dumpe2fs -h "$W/root.img" 2>/dev/null | awk -F: '
                /^Block count/ {b = $2} /^Free blocks/ {f = $2} /^Block size/ {s = $2}
                END {printf "%.1f", (b - f) * s / 1048576}'
        rm -f "$W/root.img"
}

digest=$(tests/containers/make-oci.sh "$W/hello" bench-container-marker)
cat >"$W/with-hello.yaml" <<YAML
extends: $PWD/profiles/container-host.yaml
name: with-hello
containers:
  - name: hello
    path: hello
    digest: $digest
    run: []
    why: the benchmark's container
YAML
for p in profiles/minimal.yaml profiles/container-host.yaml "$W/with-hello.yaml"; do
        echo "building $p..."
        "$VMC" -q build "$p" --cache-dir "$CACHE" -o "$W/out"
done
m=$(root_used "$W/out/minimal.raw")
c=$(root_used "$W/out/container-host.raw")
h=$(root_used "$W/out/with-hello.raw")
echo "root used: minimal $m MiB, container-host $c MiB (+$(echo "$c - $m" | bc) MiB; goal <= +60), with the busybox image $h MiB"
echo "packages: minimal $(jq '.packages | length' "$W/out/minimal.manifest.json"), container-host $(jq '.packages | length' "$W/out/container-host.manifest.json")"
for _ in $(seq "$RUNS"); do
        "$VMC" boot "$W/out/with-hello.qcow2" --timeout 400 \
                --expect 'bench-container-marker from .* in a container, pid 1' |
                sed -n 's/.*kernel after \([0-9.]*\) s, ready after \([0-9.]*\) s/\1 \2/p' >>"$W/times"
done
echo "boot to the container's marker (kernel s, marker s), $RUNS run(s):"
sed 's/^/  /' "$W/times"
