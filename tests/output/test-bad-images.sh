#!/usr/bin/env bash
# Bad images get a verdict, quickly. Valid qcow2, VHDX and VHD images made by vmcompose are cut
# at several points and have fields damaged; random bytes get image names. `vmcompose inspect`
# must exit 1 naming what is missing, and `vmcompose boot` must refuse them at once, without
# starting QEMU. With "boot", an image of a valid format with nothing bootable on it (64 MiB of
# zeros) is booted once under OVMF: the firmware's "nothing to boot" must end it within
# seconds, not at the timeout.
# Usage: test-bad-images.sh VMCOMPOSE [inspect|boot]   (run from the source tree's top directory)
set -u
VMC=${1:?usage: test-bad-images.sh VMCOMPOSE [inspect|boot]}
MODE=${2:-inspect}
T=$(mktemp -d /tmp/vmcompose-bad-images-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }

if [ "$MODE" = boot ]; then
        for t in qemu-system-x86_64; do
                command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
        done
        [ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: OVMF is not installed"; exit 77; }
        truncate -s 64M "$T/zeros.raw"
        start=$(date +%s%N)
        timeout 200 "$VMC" boot "$T/zeros.raw" --firmware uefi --timeout 150 >"$T/out" 2>&1
        rc=$?
        ms=$((($(date +%s%N) - start) / 1000000))
        echo "booting 64 MiB of zeros under OVMF ended after $ms ms"
        check "boot of a disk with nothing bootable exits 1 (got $rc)" test $rc -eq 1
        check "... saying the firmware found nothing to boot (OVMF's shell)" \
                grep -q "the firmware found nothing to boot on $T/zeros.raw (OVMF dropped to the UEFI shell" "$T/out"
        check "... well before the timeout ($ms ms < 60 s)" test $ms -lt 60000
        [ $failures -eq 0 ] || cat "$T/out"
        echo "$failures failure(s)"
        [ $failures -eq 0 ]
        exit
fi

# Valid images from a small disk, as test-outputs.sh makes them.
R=$T/root E=$T/esp
mkdir -p "$R/etc" "$E/EFI/BOOT"
echo hello >"$R/etc/motd"
head -c 3000000 /dev/urandom >"$R/etc/random" # data clusters well past the first MiB
echo efi >"$E/EFI/BOOT/BOOTX64.EFI"
if ! timeout 300 "$VMC" -q build tests/output/formats.yaml --root "$R" --esp "$E" -o "$T/a" >"$T/log" 2>&1; then
        cat "$T/log"
        echo "FAIL: building the images"
        exit 1
fi
A=$T/a/formats

# inspect NAME MESSAGE: exit 1 and MESSAGE on stdout; inspect NAME: exit 0.
inspect() {
        local f=$1 want=${2:-} before=$failures
        "$VMC" inspect "$f" >"$T/out" 2>"$T/err"
        local rc=$?
        if [ -z "$want" ]; then
                check "inspect accepts $(basename "$f") (exit $rc)" test $rc -eq 0
        else
                check "inspect rejects $(basename "$f") (exit $rc)" test $rc -eq 1
                check "... saying: $want" sh -c "grep -F -- '$want' '$T/out' | grep -q '^  error: '"
                check "... on stderr too" grep -qF -- "$want" "$T/err"
        fi
        [ $failures -eq $before ] || cat "$T/out" "$T/err"
}
# cut FROM SIZE TO: the first SIZE bytes of FROM.
cut_to() { head -c "$2" "$1" >"$3"; }
# poke FILE OFFSET HEXBYTES
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

inspect "$A.qcow2"
inspect "$A.vhdx"
inspect "$A.vhd"

# qcow2 (vmcompose's layout: header, L1 at 64 KiB, refcount table, refcount block, L2, data).
cut_to "$A.qcow2" 60 "$T/q60.qcow2"
inspect "$T/q60.qcow2" "the qcow2 header (72 bytes) ends past the end of the file (60 bytes)"
cut_to "$A.qcow2" 112 "$T/q112.qcow2"
inspect "$T/q112.qcow2" "the header extensions (from offset 112) end past the end of the file (112 bytes)"
cut_to "$A.qcow2" 65540 "$T/q-l1.qcow2"
inspect "$T/q-l1.qcow2" "the L1 table (offset 65536, 1 entry) ends past the end of the file (65540 bytes)"
cut_to "$A.qcow2" 200000 "$T/q-refcount.qcow2"
inspect "$T/q-refcount.qcow2" "refcount block 0 (offset 196608, 65536 bytes) ends past the end of the file (200000 bytes)"
cut_to "$A.qcow2" 1000000 "$T/q1m.qcow2"
inspect "$T/q1m.qcow2" "data clusters lie past the end of the file (1000000 bytes)"
cp "$A.qcow2" "$T/qv.qcow2" && poke "$T/qv.qcow2" 7 '\x07'
inspect "$T/qv.qcow2" "unsupported qcow2 version 7"
cp "$A.qcow2" "$T/qa.qcow2" && poke "$T/qa.qcow2" 47 '\x08'
inspect "$T/qa.qcow2" "the L1 table (offset 65544) is not aligned to the cluster size (65536)"
cp "$A.qcow2" "$T/qr.qcow2" && poke "$T/qr.qcow2" 50 '\x7f'
inspect "$T/qr.qcow2" "the refcount table (offset 139637976858624, 1 cluster) starts past the end of the file"
cp "$A.qcow2" "$T/ql2.qcow2" && poke "$T/ql2.qcow2" $((65536 + 5)) '\x44'
inspect "$T/ql2.qcow2" "L2 table 0 (offset 4456448, 65536 bytes) starts past the end of the file"
cp "$A.qcow2" "$T/qb.qcow2" && poke "$T/qb.qcow2" 8 '\x00\x00\x00\x00\x00\x00\xff\xf8\x00\x00\x00\x10'
inspect "$T/qb.qcow2" "the backing file name (offset 65528, 16 bytes) runs past the header cluster (65536 bytes)"
# qemu-img's own layout (refcount table, block, then L1 at 196608), cut inside the L1 table.
if command -v qemu-img >/dev/null; then
        qemu-img convert -f raw -O qcow2 "$T/a/formats.raw" "$T/qemu.qcow2"
        inspect "$T/qemu.qcow2"
        cut_to "$T/qemu.qcow2" 196610 "$T/qemu-l1.qcow2"
        inspect "$T/qemu-l1.qcow2" "the L1 table (offset 196608, 1 entry) ends past the end of the file (196610 bytes)"
fi

# VHDX (headers at 64 and 128 KiB, region tables at 192 and 256 KiB, metadata at 2 MiB, BAT at
# 3 MiB, then the payload blocks).
cut_to "$A.vhdx" 100 "$T/x100.vhdx"
inspect "$T/x100.vhdx" "header 1 (offset 65536, 4096 bytes) starts past the end of the file (100 bytes)"
cut_to "$A.vhdx" 300000 "$T/x-region.vhdx"
inspect "$T/x-region.vhdx" "region table 2 (offset 262144, 65536 bytes) ends past the end of the file (300000 bytes)"
cut_to "$A.vhdx" 1000000 "$T/x1m.vhdx"
inspect "$T/x1m.vhdx" "the log (offset 1048576, 1048576 bytes) starts past the end of the file (1000000 bytes)"
cut_to "$A.vhdx" $(((2 << 20) + 4)) "$T/x-meta.vhdx"
inspect "$T/x-meta.vhdx" "the BAT region (offset 3145728, 1048576 bytes) starts past the end of the file ($(((2 << 20) + 4)) bytes)"
cut_to "$A.vhdx" $(((3 << 20) + 4)) "$T/x-bat.vhdx"
inspect "$T/x-bat.vhdx" "the BAT region (offset 3145728, 1048576 bytes) ends past the end of the file ($(((3 << 20) + 4)) bytes)"
size=$(stat -c %s "$A.vhdx")
cut_to "$A.vhdx" $((size - 4096)) "$T/x-block.vhdx"
inspect "$T/x-block.vhdx" "1 block the BAT says is present ends past the end of the file ($((size - 4096)) bytes)"
cp "$A.vhdx" "$T/xh.vhdx" && poke "$T/xh.vhdx" $((64 * 1024 + 100)) '\x01'
inspect "$T/xh.vhdx" # the other header still opens it
poke "$T/xh.vhdx" $((128 * 1024 + 100)) '\x01'
inspect "$T/xh.vhdx" "neither VHDX header is valid"
cp "$A.vhdx" "$T/xm.vhdx" && poke "$T/xm.vhdx" $((2 << 20)) 'X'
inspect "$T/xm.vhdx" "the metadata table (offset 2097152) has no \"metadata\" signature"

# VHD: the footer cut off, a changed byte, a damaged cookie.
cut_to "$A.vhd" $((80 << 20)) "$T/nofooter.vhd"
inspect "$T/nofooter.vhd" "$T/nofooter.vhd has no VHD footer (a .vhd file ends with a 512-byte footer starting \"conectix\")"
cut_to "$A.vhd" 1000000 "$T/v1m.vhd"
inspect "$T/v1m.vhd" "$T/v1m.vhd has no VHD footer"
cp "$A.vhd" "$T/vs.vhd" && poke "$T/vs.vhd" $(((80 << 20) + 50)) '\x01'
inspect "$T/vs.vhd" "footer checksum mismatch"

# A dynamic VHD (qemu-img's default): sound, so inspect describes its header and allocation
# table, but exits 1 as Azure would not take it; damaged, it names what is wrong.
if command -v qemu-img >/dev/null; then
        qemu-img convert -f raw -O vpc "$T/a/formats.raw" "$T/dyn.vhd"
        inspect "$T/dyn.vhd" "not a fixed VHD (Azure accepts only fixed VHDs)"
        check "... after checking its blocks" grep -q "blocks present: " "$T/out"
        check "... saying it is sound" grep -q "sound, but not for Azure" "$T/err"
        bat=$(od -An -tu1 -j $((512 + 16)) -N 8 "$T/dyn.vhd" | awk '{ n = 0; for (i = 1; i <= NF; i++) n = n * 256 + $i; print n }')
        cp "$T/dyn.vhd" "$T/dyn-bat.vhd" && poke "$T/dyn-bat.vhd" $((bat + 4)) '\x00\x10\x00\x00'
        inspect "$T/dyn-bat.vhd" "1 block the allocation table lists ends past the footer"
        cp "$T/dyn.vhd" "$T/dyn-header.vhd" && poke "$T/dyn-header.vhd" 512 'X'
        inspect "$T/dyn-header.vhd" "the dynamic disk header (offset 512) has no \"cxsparse\" cookie"
        # boot does not refuse it: QEMU starts (and finds nothing to boot by its 1 s timeout).
        VMCOMPOSE_DEBUG=boot timeout 60 "$VMC" boot "$T/dyn.vhd" --timeout 1 >"$T/out" 2>&1
        check "boot starts QEMU for a sound dynamic VHD" grep -q "qemu-system-x86_64 .*format=vpc" "$T/out"
        check "... without refusing it" sh -c "! grep -q refusing '$T/out'"
fi

# Random bytes: an image name promises a format; .raw, .img or no suffix means raw.
head -c 4096 /dev/urandom >"$T/random.vhd"
inspect "$T/random.vhd" "$T/random.vhd has no VHD footer (a .vhd file ends with a 512-byte footer starting \"conectix\")"
cp "$T/random.vhd" "$T/random.vhdx"
inspect "$T/random.vhdx" "$T/random.vhdx has no VHDX file identifier"
cp "$T/random.vhd" "$T/random.qcow2"
inspect "$T/random.qcow2" "$T/random.qcow2 has no qcow2 header"
cp "$T/random.vhd" "$T/random.raw.zst"
inspect "$T/random.raw.zst" "$T/random.raw.zst is not zstd-compressed"
for name in random.raw random.img random; do
        cp "$T/random.vhd" "$T/$name"
        inspect "$T/$name"
done

# boot refuses what inspect rejects, at once: QEMU never starts (VMCOMPOSE_DEBUG=boot would
# print its command line).
for f in "$T/q1m.qcow2" "$T/random.vhd" "$T/x-block.vhdx"; do
        start=$(date +%s%N)
        VMCOMPOSE_DEBUG=boot timeout 60 "$VMC" boot "$f" --timeout 300 >"$T/out" 2>&1
        rc=$?
        ms=$((($(date +%s%N) - start) / 1000000))
        check "boot refuses $(basename "$f") (exit $rc)" test $rc -eq 1
        check "... with inspect's reason" grep -q "boot: refusing $f: " "$T/out"
        check "... in under 5 s ($ms ms)" test $ms -lt 5000
        check "... without starting QEMU" sh -c "! grep -q qemu-system '$T/out'"
done
"$VMC" boot "$A.raw.zst" >"$T/out" 2>&1
rc=$?
check "boot refuses a raw.zst (exit $rc)" test $rc -eq 1
check "... saying it is compressed" grep -q "zstd-compressed" "$T/out"

echo "$failures failure(s)"
[ $failures -eq 0 ]
