#!/usr/bin/env bash
# Container images baked in (containers:): a small OCI image made here (the host's static
# busybox and a script that prints a marker) is refused when its digest is wrong, a blob is
# truncated, it is for arm64, or its file is missing — each with the profile's file:line and no
# output; baked into a profile over profiles/container-host.yaml it is listed in the manifest,
# the SBOM and the deviation report, vmcompose audit reads it from containerd's meta.db, and the
# image boots to the marker printed by the container that ctr runs at boot, the image in
# containerd's store (meta.db written at build time) with no import step. Needs root (chroot,
# mounts). One boot.
# Usage: test-containers.sh VMCOMPOSE   (from the source tree's top directory)
set -u
VMC=${1:?usage: test-containers.sh VMCOMPOSE}
[ "$(id -u)" = 0 ] || { echo "SKIP: building images needs root"; exit 77; }
for t in qemu-system-x86_64 chroot jq sha256sum; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: ovmf is not installed"; exit 77; }
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || { echo "SKIP: no static busybox (busybox-static)"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-containers-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}
MARKER=vmcompose-container-marker-$$
SRC=$PWD

digest=$(tests/containers/make-oci.sh "$T/hello" "$MARKER") || { echo "FAIL: make-oci.sh"; exit 1; }
arm=$(tests/containers/make-oci.sh "$T/hello-arm64" "$MARKER" arm64)
cp -r "$T/hello" "$T/hello-truncated"
layer=$(jq -r '.layers[0].digest' "$T/hello/blobs/sha256/${digest#sha256:}")
truncate -s 4096 "$T/hello-truncated/blobs/sha256/${layer#sha256:}"
tar -C "$T/hello" -cf "$T/hello.tar" .

# profile NAME PATH DIGEST: a profile over container-host with one container entry; the
# digest is on line 8, the path on line 7. containerd's log (stderr) also goes to the console, so
# that the boot shows it opened the meta.db vmcompose wrote.
profile() {
        cat >"$T/$1.yaml" <<EOF
# test profile: $1
extends: $SRC/profiles/container-host.yaml
name: $1
containers:
  - name: hello
    image: localhost/vmcompose-test/hello:1
    path: $2
    digest: $3
    run: []
    why: the test's container, run at boot
    category: customization
system:
  files:
    - path: /etc/systemd/system/containerd.service.d/test-console.conf
      content: |
        [Service]
        StandardError=journal+console
      why: the test reads containerd's log on the serial console
      category: customization
EOF
}

# refused NAME LINE TEXT: the build fails, names NAME.yaml:LINE and says TEXT, writes nothing.
refused() {
        timeout 300 "$VMC" build "$T/$1.yaml" --cache-dir "$C" -o "$T/out-$1" >"$T/log" 2>&1
        local rc=$?
        check "$1: refused (exit $rc)" test $rc -ne 0
        check "... at $1.yaml:$2 ($(grep -o "$1.yaml:$2:[0-9]*: .*" "$T/log" | head -1 | cut -c1-150))" grep -q "$1.yaml:$2:[0-9]*: containers\[hello\]: .*$3" "$T/log"
        check "... before any package is fetched" sh -c "! grep -q 'stage resolve' '$T/log'"
        check "... and no output written" test -z "$(find "$T/out-$1" -type f 2>/dev/null)"
}
profile wrong-digest hello "sha256:$(printf '%064d' 0)"
refused wrong-digest 8 "index.json does not list the manifest sha256:0000"
profile truncated hello-truncated "$digest"
refused truncated 8 "is 4096 bytes, its descriptor says [0-9]* (truncated)"
profile arm64 hello-arm64 "$arm"
refused arm64 8 "the image is for linux/arm64, the build is for linux/amd64"
profile missing no-such-layout "$digest"
refused missing 7 "no-such-layout: No such file or directory"

# A root given with --root is used as it is: the images cannot be baked into it.
profile with-root hello "$digest"
mkdir -p "$T/emptyroot"
timeout 60 "$VMC" build "$T/with-root.yaml" --root "$T/emptyroot" -o "$T/out-root" >"$T/log" 2>&1
rc=$?
check "--root with containers: refused (exit $rc) at the profile's line" sh -c "test $rc -ne 0 && grep -q 'with-root.yaml:4: containers: cannot be baked into a root given with --root' '$T/log'"
check "... and no output written" test -z "$(find "$T/out-root" -type f 2>/dev/null)"

# The image, baked from the OCI archive (a tar of the layout).
profile with-hello hello.tar "$digest"
start=$(date +%s)
timeout 1200 "$VMC" build "$T/with-hello.yaml" --strict-audit --cache-dir "$C" -o "$T/out" >"$T/log" 2>&1
rc=$?
check "a profile over container-host with the image builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
M=$T/out/with-hello.manifest.json
check "the manifest lists the image's digest, config and layer with their sizes" jq -e --arg d "$digest" --arg l "$layer" \
        '.containers[0] | .manifest == $d and .image == "localhost/vmcompose-test/hello:1" and .architecture == "amd64" and .layers[0].digest == $l and .layers[0].size > 1000000 and ."manifest-size" > 0 and ."config-size" > 0' "$M"
check "... and containerd and runc among the packages" jq -e '[.packages[].name] | index("containerd") and index("runc")' "$M"
check "... and no Docker daemon, compiler or make" jq -e '[.packages[].name | select(test("^(docker|docker.io|moby-.*|gcc|gcc-12|cpp|make|build-essential)$"))] | length == 0' "$M"
S=$T/out/with-hello.spdx.json
python3 tests/report/validate-spdx.py "$S" >"$T/spdx" 2>&1
check "the SBOM validates: $(tail -1 "$T/spdx")" test $? -eq 0
check "... and has the image as an OCI package with a pkg:oci purl and its SHA-256" jq -e --arg h "${digest#sha256:}" \
        '[.packages[] | select(.primaryPackagePurpose == "CONTAINER") | select(.checksums[0].checksumValue == $h and (.externalRefs[0].referenceLocator | startswith("pkg:oci/hello@sha256%3A" + $h)))] | length == 1' "$S"
check "the deviation report lists it with its why" jq -e --arg d "$digest" \
        '.deviations[] | select(.kind == "container-image" and .subject == "hello") | (.why | length > 0) and (.detail | contains($d))' "$T/out/with-hello.deviations.json"

# The audit reads containerd's images from the meta.db in the image (libguestfs, read-only).
timeout 600 "$VMC" audit --json "$T/out/with-hello.qcow2" >"$T/audit.json" 2>"$T/audit.err"
rc=$?
check "vmcompose audit lists the image containerd's meta.db records (exit $rc: $(jq -c '.surface."container-images"' "$T/audit.json" 2>/dev/null | cut -c1-200))" jq -e --arg d "$digest" \
        '.surface."container-images" == ["localhost/vmcompose-test/hello:1 " + $d + " (namespace default), in containerd'"'"'s /var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"]' "$T/audit.json"
[ -s "$T/audit.json" ] || tail -5 "$T/audit.err"

# One boot: the marker must come from the container: printed by the ctr the unit runs (its
# output goes to the console), from PID 1 of the container's PID namespace.
start=$(date +%s)
timeout 600 "$VMC" boot "$T/out/with-hello.qcow2" --timeout 400 --serial-log "$T/serial" \
        --expect "$MARKER from x86_64 in a container, pid 1" >"$T/boot" 2>&1
rc=$?
check "the image boots to the container's marker (exit $rc, $(($(date +%s) - start)) s: $(tail -1 "$T/boot"))" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/serial"
check "... printed by ctr on the console (only vmcompose-container-hello.service sends its output there)" grep -Eq "ctr\[[0-9]+\]: $MARKER from x86_64 in a container, pid 1" "$T/serial"
check "... after the system was up with no failed unit (containerd among them)" grep -q "vmcompose-boot: ready" "$T/serial"
# The image was in containerd's store from its first start: containerd opened the meta.db
# vmcompose wrote (no complaint about its metadata or content store), `ctr images ls` (the run
# unit's ExecStartPre) listed the image, and nothing imported it.
check "containerd started with the baked-in store" grep -q 'containerd.*msg="containerd successfully booted' "$T/serial"
# (Its warning that the devmapper snapshotter, which nothing configures, is not available to the
# metadata plugin is not about the database.)
grep -Ei 'containerd.*(level=(error|fatal|warning).*(meta\.db|bolt|metadata|content)|failed to load plugin io\.containerd\.(metadata|content))' "$T/serial" |
        grep -v 'could not use snapshotter devmapper in metadata plugin' >"$T/store-errors"
check "... and no error about its metadata or content store" test ! -s "$T/store-errors"
head -5 "$T/store-errors"
listed=$(grep -Eo "ctr\\[[0-9]+\\]: localhost/vmcompose-test/hello:1 +application/vnd\\.oci\\.image\\.manifest\\.v1\\+json +$digest .*linux/amd64.*" "$T/serial" | head -1)
check "ctr images ls listed the image before the container started ($(tr -s ' ' <<<"$listed" | cut -c1-200))" test -n "$listed"
check "... and no import ran (no ctr images import, no import unit)" sh -c "! grep -Eq 'images import|containers-import' '$T/serial'"

echo "$failures failure(s)"
[ $failures -eq 0 ]
