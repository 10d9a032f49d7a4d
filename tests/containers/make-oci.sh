#!/usr/bin/env bash
# Writes a small OCI image layout at DIR: one uncompressed layer with the host's static busybox
# and /hello.sh, which prints MARKER; the config says ARCH (amd64, arm64, ...). Prints the
# manifest's digest. Needs only tar, sha256sum and jq.
# Usage: make-oci.sh DIR MARKER [ARCH]
set -eu
dir=${1:?usage: make-oci.sh DIR MARKER [ARCH]}
marker=${2:?usage: make-oci.sh DIR MARKER [ARCH]}
arch=${3:-amd64}
busybox=${BUSYBOX:-/bin/busybox}
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || { echo "make-oci.sh: $busybox is not a static busybox" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$dir/blobs/sha256"
cp "$busybox" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
printf '#!/bin/busybox sh\necho "%s from $(/bin/busybox uname -m) in a container, pid $$"\n' "$marker" >"$work/rootfs/hello.sh"
chmod 755 "$work/rootfs/hello.sh"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
blob() { # FILE MEDIATYPE -> a descriptor, the blob stored under its digest
        local d
        d=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "$dir/blobs/sha256/$d"
        jq -cn --arg m "$2" --arg d "sha256:$d" --argjson s "$(stat -c %s "$1")" '{mediaType: $m, digest: $d, size: $s}'
}
layer=$(blob "$work/layer.tar" application/vnd.oci.image.layer.v1.tar)
jq -cn --arg a "$arch" --arg id "$(jq -r .digest <<<"$layer")" \
        '{architecture: $a, os: "linux", config: {Cmd: ["/hello.sh"]}, rootfs: {type: "layers", diff_ids: [$id]}}' >"$work/config.json"
config=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)
jq -cn --argjson c "$config" --argjson l "$layer" \
        '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c, layers: [$l]}' >"$work/manifest.json"
manifest=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
jq -cn --argjson m "$manifest" '{schemaVersion: 2, manifests: [$m]}' >"$dir/index.json"
jq -r .digest <<<"$manifest"
