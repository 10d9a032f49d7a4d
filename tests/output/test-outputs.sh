#!/usr/bin/env bash
# Every output format, checked by independent tools: qemu-img check and compare, zstd -d,
# tar, and vmcompose inspect (which must reject a damaged VHD footer). Two builds are
# byte-identical in every format.
# Usage: test-outputs.sh VMCOMPOSE   (run from the source tree's top directory)
set -u
VMC=${1:?usage: test-outputs.sh VMCOMPOSE}
for t in qemu-img zstd tar setcap; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
T=$(mktemp -d /tmp/vmcompose-outputs-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }

R=$T/root E=$T/esp
mkdir -p "$R/etc" "$R/usr/bin" "$R/var/lib" "$E/EFI/BOOT"
echo hello >"$R/etc/motd"
ln "$R/etc/motd" "$R/etc/motd.hard"
ln -s ../usr/bin/tool "$R/etc/tool"
printf '#!/bin/sh\n' >"$R/usr/bin/tool"
chmod 755 "$R/usr/bin/tool"
setcap cap_net_raw+ep "$R/usr/bin/tool"
head -c 3000000 /dev/urandom >"$R/var/lib/random" # data that does not compress
truncate -s 20M "$R/var/lib/holes"
echo efi >"$E/EFI/BOOT/BOOTX64.EFI"
touch -d @1600000000 "$R/etc/motd"

build() { timeout 300 "$VMC" -q build tests/output/formats.yaml --root "$R" --esp "$E" -o "$1" >"$T/log" 2>&1; }
build "$T/a"
rc=$?
check "build with every output exits 0 (got $rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$T/log"
A=$T/a/formats
for f in raw raw.zst vhd vhdx qcow2 tar; do check "$f written" test -s "$A.$f"; done
check "no temporary files left" test -z "$(find "$T/a" -name '.vmcompose*' -print -quit)"

check "qemu-img check qcow2 is clean" qemu-img check -q -f qcow2 "$A.qcow2"
check "qemu-img check vhdx is clean" qemu-img check -q -f vhdx "$A.vhdx"
check "qcow2 equals raw" qemu-img compare -q -f raw -F qcow2 "$A.raw" "$A.qcow2"
check "vhdx equals raw" qemu-img compare -q -f raw -F vhdx "$A.raw" "$A.vhdx"
check "vhd equals raw" qemu-img compare -q -f raw -F vpc "$A.raw" "$A.vhd"
check "qemu-img sees the VHD's exact size" \
        test "$(qemu-img info -f vpc --output=json "$A.vhd" | jq '."virtual-size"')" -eq $((80 << 20))
check "vhd is the raw size plus a 512-byte footer" test "$(stat -c %s "$A.vhd")" -eq $(((80 << 20) + 512))
zstd -q -d -o "$T/unzst.raw" "$A.raw.zst"
check "zstd -d restores the raw image byte for byte" cmp "$A.raw" "$T/unzst.raw"
check "qcow2 leaves zero clusters out" test "$(stat -c %s "$A.qcow2")" -lt $((40 << 20))
check "vhdx leaves empty blocks out" test "$(stat -c %s "$A.vhdx")" -lt $((40 << 20))

check "inspect accepts the VHD" "$VMC" inspect "$A.vhd"
"$VMC" inspect "$A.vhd" | grep -q 'geometry: 65535/16/255'
check "inspect reports the maximum geometry" test $? -eq 0
check "inspect accepts the qcow2" "$VMC" inspect "$A.qcow2"
check "inspect accepts the vhdx" "$VMC" inspect "$A.vhdx"
cp "$A.vhd" "$T/bad.vhd"
printf '\x42' | dd of="$T/bad.vhd" bs=1 seek=$(((80 << 20) + 40)) conv=notrunc status=none
"$VMC" inspect "$T/bad.vhd" >"$T/inspect" 2>&1
check "inspect rejects a footer with one changed byte" test $? -eq 1
check "... saying the checksum is wrong" grep -q "checksum mismatch" "$T/inspect"
cp "$A.vhd" "$T/short.vhd"
truncate -s $(((80 << 20) - 4096 + 512)) "$T/short.vhd"
dd if="$A.vhd" of="$T/short.vhd" bs=512 skip=$(((80 << 20) / 512)) seek=$((((80 << 20) - 4096) / 512)) conv=notrunc status=none
"$VMC" inspect "$T/short.vhd" >"$T/inspect" 2>&1
check "inspect rejects a VHD whose size does not match its footer" test $? -eq 1

tar --xattrs --xattrs-include='*' -tvf "$A.tar" >"$T/list" 2>&1
check "tar lists the root" grep -q 'etc/motd$' "$T/list"
check "tar keeps the symlink" grep -q 'etc/tool -> ../usr/bin/tool' "$T/list"
check "tar keeps the hardlink" grep -q 'etc/motd.hard link to etc/motd' "$T/list"
check "tar uses numeric owners" grep -q ' 0/0 ' "$T/list"
mkdir "$T/x"
tar --xattrs --xattrs-include='*' -xf "$A.tar" -C "$T/x"
check "tar keeps the file capability" sh -c "getcap '$T/x/usr/bin/tool' | grep -q cap_net_raw"
check "tar clamps no older mtime" test "$(stat -c %Y "$T/x/etc/motd")" -eq 1600000000

# A full disk is a clean error: nothing is left in the output directory.
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=3M tmpfs "$T/full" 2>/dev/null; then
        echo old >"$T/full/formats.raw"
        build "$T/full"
        rc=$?
        check "a build on a full filesystem exits 1 (got $rc)" test $rc -eq 1
        check "... saying so" grep -q "No space left on device" "$T/log"
        check "... leaving the older image untouched and nothing else" test "$(ls -A "$T/full")" = formats.raw -a "$(cat "$T/full/formats.raw")" = old
        umount "$T/full"
else
        echo "skipping the full-disk check: needs root to mount a small tmpfs"
fi

# Reproducible: a second build gives the same bytes in every format.
build "$T/b"
for f in raw raw.zst vhd vhdx qcow2 tar; do
        check "$f is byte-identical across builds" cmp "$A.$f" "$T/b/formats.$f"
done

# -v says how long each stage took.
timeout 300 "$VMC" -v build tests/output/formats.yaml --root "$R" --esp "$E" -o "$T/v" >"$T/vlog" 2>&1
check "-v prints each stage's time" grep -Eq '^stage outputs +done in [0-9]+\.[0-9]{2} s$' "$T/vlog"

# NAME.size.svg: well-formed XML whose package rectangles share the picture as the files'
# bytes share the root, summing to the root's bytes; `vmcompose size` prints the manifest's
# numbers and reads the same from the image itself.
if command -v xmllint >/dev/null; then
        check "size.svg is well-formed XML" xmllint --noout "$A.size.svg"
else
        echo "skipping xmllint: not installed (libxml2-utils)"
fi
check "size.svg's package areas and bytes sum to the root's bytes" python3 - "$A.size.svg" "$A.manifest.json" <<'PY'
import json, sys, xml.etree.ElementTree as ET
svg = ET.parse(sys.argv[1]).getroot()
total = json.load(open(sys.argv[2]))["size"]["bytes"]
ns = "{http://www.w3.org/2000/svg}"
rects = [r for r in svg.iter(ns + "rect") if r.get("class") == "package"]
area = sum(float(r.get("width")) * float(r.get("height")) for r in rects)
bytes_ = sum(int(r.get("data-bytes")) for r in rects)
assert total > 3000000 and bytes_ == total == int(svg.get("data-bytes")), (bytes_, total)
for r in rects:
    share = float(r.get("width")) * float(r.get("height")) / area
    assert abs(share - int(r.get("data-bytes")) / total) < 0.001, r.attrib
assert abs(area - 1200 * (800 - 28)) < 1, area
PY
"$VMC" size "$A.manifest.json" >"$T/size-m"
check "size MANIFEST exits 0" test $? -eq 0
check "... counts the 3 MB file under /var/lib" grep -q '% *  /var/lib$' "$T/size-m"
"$VMC" size --json "$A.manifest.json" >"$T/size-m.json"
jq -S .size "$A.manifest.json" >"$T/size-expected.json"
check "size --json is the manifest's size" sh -c "jq -S . '$T/size-m.json' | cmp -s - '$T/size-expected.json'"
for f in raw qcow2; do
        "$VMC" size --json "$A.$f" >"$T/size-$f.json"
        check "size of the $f image equals the manifest's" cmp "$T/size-m.json" "$T/size-$f.json"
done
"$VMC" size "$T/unzst.raw.nope" >"$T/size-err" 2>&1
check "size of a missing file exits 2" test $? -eq 2

# Compressed qcow2 (zlib and zstd): qemu-img takes them and reads the raw image's bytes;
# vmcompose inspect unpacks every cluster and diff reads them; two builds are identical.
for c in zlib zstd; do
        for d in c1 c2; do
                timeout 300 "$VMC" -q build tests/output/qcow2-$c.yaml --root "$R" --esp "$E" \
                        -o "$T/$d" >"$T/log" 2>&1 || { cat "$T/log"; check "qcow2 $c build" false; }
        done
        Q=$T/c1/qcow2-$c
        check "qemu-img check $c-compressed qcow2 is clean" qemu-img check -q -f qcow2 "$Q.qcow2"
        check "$c-compressed qcow2 equals raw" qemu-img compare -q -f raw -F qcow2 "$Q.raw" "$Q.qcow2"
        check "qemu-img sees $c compressed clusters" \
                sh -c "qemu-img check -f qcow2 '$Q.qcow2' | grep -q '100.00% compressed clusters'"
        check "... with compression type $c" \
                sh -c "qemu-img info -f qcow2 '$Q.qcow2' | grep -q 'compression type: $c'"
        check "$c-compressed qcow2 is smaller than the plain one" \
                test "$(stat -c %s "$Q.qcow2")" -lt "$(stat -c %s "$A.qcow2")"
        "$VMC" inspect "$Q.qcow2" >"$T/inspect" 2>&1
        check "inspect accepts the $c-compressed qcow2" test $? -eq 0
        check "... and unpacked its clusters" grep -q "compressed clusters: .* ($c)" "$T/inspect"
        "$VMC" diff -q "$Q.raw" "$Q.qcow2" >"$T/diff" 2>&1
        check "diff reads the $c-compressed qcow2 as its raw image" test $? -eq 0
        check "$c-compressed qcow2 is byte-identical across builds" cmp "$Q.qcow2" "$T/c2/qcow2-$c.qcow2"
done
# A format without compression refuses the option, naming the line.
printf 'extends: %s\noutputs: [{format: vhd, compression: zstd}]\n' "$PWD/tests/output/formats.yaml" >"$T/bad.yaml"
"$VMC" -q build "$T/bad.yaml" --root "$R" --esp "$E" -o "$T/bad" >"$T/log" 2>&1
rc=$?
check "compression on a vhd output is refused (exit $rc)" test $rc -ne 0
check "... naming the file and line" grep -q "bad.yaml:2:.*format 'vhd' has no compression option" "$T/log"
check "... writing nothing" test ! -e "$T/bad"

echo "$failures failure(s)"
[ $failures -eq 0 ]
