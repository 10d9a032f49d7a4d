#!/usr/bin/env bash
# `vmcompose diff` end to end, without root: images built from prepared trees
# (vmcompose build --root DIR --esp DIR) that differ by one file's content, one file's mode, one
# added file, one file's time, or one package in dpkg's database; every pairing of the formats
# raw, vhd, vhdx and qcow2; two manifests; and inputs that are not images (a cut qcow2, random
# bytes named .vhd, a missing file, a text file), which must fail with exit 2 and a message
# naming the file, without a crash and without leaving a temporary file.
# Usage: test-diff.sh VMCOMPOSE   (run from the source tree's top directory)
set -u
VMC=${1:?usage: test-diff.sh VMCOMPOSE}
for t in qemu-img jq mkfs.vfat mcopy mkfs.ext4 sfdisk od; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
T=$(mktemp -d /tmp/vmcompose-diff-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
# diff's temporary files (qcow2 and vhdx converted to raw) go here: it must stay empty.
export TMPDIR=$T/tmp
mkdir "$TMPDIR"
failures=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
has() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; return 1; }; }

# --- the base tree: two packages in dpkg's database owning two files ---
R=$T/root E=$T/esp
mkdir -p "$R/etc" "$R/usr/bin" "$R/var/lib/dpkg/info" "$E/EFI/BOOT" "$E/loader/entries"
echo hello >"$R/etc/motd"
printf '#!/bin/sh\necho tool\n' >"$R/usr/bin/tool"
chmod 755 "$R/usr/bin/tool"
ln -s ../usr/bin/tool "$R/etc/tool-link"
cat >"$R/var/lib/dpkg/status" <<'EOF'
Package: motd-pkg
Status: install ok installed
Architecture: all
Version: 1.0

Package: tool
Status: install ok installed
Architecture: amd64
Version: 2.0-1
EOF
printf '/.\n/etc\n/etc/motd\n' >"$R/var/lib/dpkg/info/motd-pkg.list"
# Merged /usr, as in Debian 12: dpkg lists /bin/tool, the file is /usr/bin/tool.
ln -s usr/bin "$R/bin"
printf '/.\n/bin\n/bin/tool\n' >"$R/var/lib/dpkg/info/tool.list"
echo efi >"$E/EFI/BOOT/BOOTX64.EFI"
echo "title a long-named entry" >"$E/loader/entries/a long entry name.conf"

build() { # TREE OUTDIR
        timeout 300 "$VMC" -q build tests/diff/diff.yaml --root "$1" --esp "$E" -o "$2" >"$T/log" 2>&1 ||
                { echo "build of $1 failed:"; cat "$T/log"; return 1; }
}
variant() { # NAME: a copy of the base tree in $T/NAME
        cp -a "$R" "$T/$1"
}
diff_run() { # EXPECTED-EXIT OUT ARGS...
        local want=$1 out=$2
        shift 2
        "$VMC" diff "$@" >"$out" 2>&1
        local rc=$?
        [ $rc -eq "$want" ] || { echo "exit $rc, expected $want:"; cat "$out"; return 1; }
}

build "$R" "$T/a1" && build "$R" "$T/a2"
check "two builds of one tree" test -s "$T/a1/diff.raw" -a -s "$T/a2/diff.qcow2"

# Same tree twice: identical, in every pairing of formats.
for x in raw vhd vhdx qcow2; do
        for y in raw vhd vhdx qcow2; do
                check "$x vs $y of the same tree: identical (exit 0)" \
                        diff_run 0 "$T/out" "$T/a1/diff.$x" "$T/a2/diff.$y"
        done
done
diff_run 0 "$T/out" "$T/a1/diff.raw" "$T/a2/diff.raw"
check "... the files of both filesystems are identical" \
        has "$T/out" "files (root, ext4): identical"
check "... also on the ESP" has "$T/out" "files (esp, vfat): identical"
check "... packages from dpkg's database, identical" has "$T/out" "packages: identical (2)"
check "... partitions identical" has "$T/out" "partitions: identical"
check "... summary says identical" has "$T/out" "summary: identical"
check "--quiet prints only the summary" \
        test "$("$VMC" diff --quiet "$T/a1/diff.vhd" "$T/a2/diff.vhdx")" = "summary: identical"

# Images qemu-img made: qcow2 version 2, small clusters (our reader), compressed (qemu-img's);
# dynamic and fixed VHDX (our reader); a dynamic VHD (qemu-img's).
for o in "-o compat=0.10" "-o cluster_size=4096" "-c"; do
        rm -f "$T/qemu.qcow2"
        qemu-img convert -f raw -O qcow2 $o "$T/a1/diff.raw" "$T/qemu.qcow2"
        check "a qcow2 made by qemu-img $o: identical to the raw" \
                diff_run 0 "$T/out" "$T/a2/diff.raw" "$T/qemu.qcow2"
done
for o in "-o subformat=dynamic" "-o subformat=fixed"; do
        rm -f "$T/qemu.vhdx"
        qemu-img convert -f raw -O vhdx $o "$T/a1/diff.raw" "$T/qemu.vhdx"
        check "a vhdx made by qemu-img $o: identical to the raw" \
                diff_run 0 "$T/out" "$T/a2/diff.raw" "$T/qemu.vhdx"
done
via_qemu_img() { VMCOMPOSE_DIFF_QEMU_IMG=1 diff_run "$@"; }
rm -f "$T/dynamic.vhd"
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on "$T/a1/diff.raw" "$T/dynamic.vhd"
check "a dynamic VHD (through qemu-img): identical to the raw" \
        diff_run 0 "$T/out" "$T/a2/diff.raw" "$T/dynamic.vhd"
check "qemu-img's conversion (VMCOMPOSE_DIFF_QEMU_IMG=1) agrees: qcow2 vs vhdx identical" \
        via_qemu_img 0 "$T/out" "$T/a1/diff.qcow2" "$T/a2/diff.vhdx"

check "no temporary file is left in TMPDIR" test -z "$(ls -A "$TMPDIR")"

# One file's content (raw against qcow2).
variant content
echo "hello, changed" >"$T/content/etc/motd"
build "$T/content" "$T/content.out"
check "one changed file: exit 1 (raw vs qcow2)" diff_run 1 "$T/out" "$T/a1/diff.raw" "$T/content.out/diff.qcow2"
check "... files section counts it" has "$T/out" "files (root, ext4): 0 added, 0 removed, 1 changed"
check "... under its package" has "$T/out" "  motd-pkg:
    ~ /etc/motd: content (sha256 5891b5b522d5.. -> "
check "... with the sizes" has "$T/out" "size 6 -> 15"
check "... and nothing else in the root" test "$(grep -c '^    [-+~] ' "$T/out")" -eq 1
check "... summary" has "$T/out" "summary: differ — 0 packages added, 0 removed, 0 changed; 0 partition differences; 0 files added (0 B), 0 removed (0 B), 1 changed (15 B)"
diff_run 1 "$T/json" --json "$T/content.out/diff.vhd" "$T/a2/diff.vhdx"
check "--json is valid JSON" jq -e . "$T/json" >/dev/null
check "--json: identical false, one file changed" \
        jq -e '.identical == false and .summary."files-changed" == 1 and .summary."files-added" == 0' "$T/json" >/dev/null
check "--json: the change names the path, package and field" \
        jq -e '.filesystems[] | select(.name == "root") | .changed[0] | .path == "/etc/motd" and .package == "motd-pkg" and (.changes | map(.field) == ["content", "size"])' "$T/json" >/dev/null

# One file's mode (vhd against vhdx).
variant mode
chmod 700 "$T/mode/usr/bin/tool"
build "$T/mode" "$T/mode.out"
check "one changed mode: exit 1 (vhd vs vhdx)" diff_run 1 "$T/out" "$T/a1/diff.vhd" "$T/mode.out/diff.vhdx"
check "... named with both modes, under its package" has "$T/out" "  tool:
    ~ /usr/bin/tool: mode 0755 -> 0700"

# One added file (qcow2 against vhd).
variant added
echo new >"$T/added/etc/new"
build "$T/added" "$T/added.out"
check "one added file: exit 1 (qcow2 vs vhd)" diff_run 1 "$T/out" "$T/a1/diff.qcow2" "$T/added.out/diff.vhd"
check "... listed with its size, owned by no package" has "$T/out" "  (no package):
    + /etc/new (4 B)"
check "... counted" has "$T/out" "files (root, ext4): 1 added, 0 removed, 0 changed"
check "qemu-img's conversion finds it too (qcow2 vs vhdx)" \
        via_qemu_img 1 "$T/out" "$T/a1/diff.qcow2" "$T/added.out/diff.vhdx"
check "... the same file" has "$T/out" "    + /etc/new (4 B)"
check "the other way round it is removed (vhd vs qcow2)" diff_run 1 "$T/out" "$T/added.out/diff.vhd" "$T/a1/diff.qcow2"
check "... listed as removed" has "$T/out" "    - /etc/new (4 B)"

# One file's modification time: a difference, unless --no-times.
variant times
touch -d @1500000000 "$T/times/etc/motd"
build "$T/times" "$T/times.out"
check "one changed mtime: exit 1 (vhdx vs qcow2)" diff_run 1 "$T/out" "$T/a1/diff.vhdx" "$T/times.out/diff.qcow2"
check "... says mtime with both times" has "$T/out" "mtime 2023-11-14T22:13:20Z -> 2017-07-14T02:40:00Z"
check "--no-times: identical (exit 0)" diff_run 0 "$T/out" --no-times "$T/a1/diff.vhdx" "$T/times.out/diff.qcow2"

# dpkg's database with one more package, and its file (vhdx against raw).
variant dpkg
cat >>"$T/dpkg/var/lib/dpkg/status" <<'EOF'

Package: nano
Status: install ok installed
Architecture: amd64
Version: 7.2-1
EOF
printf '/.\n/usr\n/usr/bin\n/usr/bin/nano\n' >"$T/dpkg/var/lib/dpkg/info/nano.list"
printf 'nano binary\n' >"$T/dpkg/usr/bin/nano"
build "$T/dpkg" "$T/dpkg.out"
check "one added package: exit 1 (vhdx vs raw)" diff_run 1 "$T/out" "$T/a2/diff.vhdx" "$T/dpkg.out/diff.raw"
check "... packages section" has "$T/out" "packages: 1 added, 0 removed, 0 changed
  + nano 7.2-1"
check "... its file grouped under it" has "$T/out" "  nano:
    + /usr/bin/nano (12 B)"

# Partition identities: a different seed gives other UUIDs.
sed -e 's/seed: diff-test/seed: other-seed/' -e "s|extends: ../..|extends: $PWD|" \
        tests/diff/diff.yaml >"$T/seed.yaml"
timeout 300 "$VMC" -q build "$T/seed.yaml" --root "$R" --esp "$E" -o "$T/seed.out" >"$T/log" 2>&1
check "another seed: exit 1" diff_run 1 "$T/out" "$T/a1/diff.raw" "$T/seed.out/diff.raw"
check "... the disk id differs" has "$T/out" "  table: id "
check "... and the root filesystem's UUID" grep -q "^  partition 2: fs uuid [0-9A-F-]* -> [0-9A-F-]*$" "$T/out"

# Two manifests differing by a package.
jq '.packages = [{"name": "base-files", "version": "12.4", "architecture": "amd64"}]' \
        "$T/a1/diff.manifest.json" >"$T/m1.manifest.json"
jq '.packages = [{"name": "base-files", "version": "12.4+deb12u1", "architecture": "amd64"},
                 {"name": "nano", "version": "7.2-1", "architecture": "amd64"}]' \
        "$T/a1/diff.manifest.json" >"$T/m2.manifest.json"
check "the same manifest twice: identical" diff_run 0 "$T/out" "$T/m1.manifest.json" "$T/m1.manifest.json"
check "two manifests differing by a package: exit 1" diff_run 1 "$T/out" "$T/m1.manifest.json" "$T/m2.manifest.json"
check "... added and changed" has "$T/out" "packages: 1 added, 0 removed, 1 changed
  ~ base-files 12.4 -> 12.4+deb12u1
  + nano 7.2-1"
check "... manifests of different disks differ in their partitions" \
        diff_run 1 "$T/out" "$T/a1/diff.manifest.json" "$T/seed.out/diff.manifest.json"
check "... naming the filesystem UUID" has "$T/out" "partition 2: fs uuid"
check "a manifest against an image: exit 2" diff_run 2 "$T/out" "$T/m1.manifest.json" "$T/a1/diff.raw"
check "... saying so" has "$T/out" "is a manifest and $T/a1/diff.raw an image"

# Inputs that are not images: exit 2, a message naming the file, no temporary file left.
head -c 100000 "$T/a1/diff.qcow2" >"$T/cut.qcow2"
qcow2_size=$(stat -c %s "$T/a1/diff.qcow2")
head -c $((qcow2_size / 2)) "$T/a1/diff.qcow2" >"$T/half.qcow2"
vhdx_size=$(stat -c %s "$T/a1/diff.vhdx")
head -c $((vhdx_size - (1 << 20))) "$T/a1/diff.vhdx" >"$T/cut.vhdx"
head -c 4096 /dev/urandom >"$T/random.vhd"
echo "just some text" >"$T/text.txt"
head -c $((40 << 20)) "$T/a1/diff.raw" >"$T/half.raw"
bad() { # FILE MESSAGE
        diff_run 2 "$T/out" "$T/a1/diff.raw" "$1" && has "$T/out" "diff: $1: $2" &&
                test -z "$(ls -A "$TMPDIR")"
}
cp "$T/a1/diff.vhd" "$T/damaged.vhd"
printf '\x42' | dd of="$T/damaged.vhd" bs=1 seek=$(((80 << 20) + 40)) conv=notrunc status=none
check "a qcow2 cut to 100 KB: exit 2, named" bad "$T/cut.qcow2" "corrupt qcow2 image"
check "a qcow2 cut in half (headers intact): exit 2" bad "$T/half.qcow2" "corrupt qcow2 image: "
check "a vhdx missing its last MiB: exit 2" bad "$T/cut.vhdx" "corrupt vhdx image: "
check "a VHD whose footer has one changed byte: exit 2, with inspect's reason" \
        bad "$T/damaged.vhd" "corrupt vhd image: footer checksum mismatch"
check "4 KiB of random bytes named .vhd: exit 2" bad "$T/random.vhd" "unknown format"
check "... saying it is not a VHD" has "$T/out" "has no VHD footer"
check "a missing file: exit 2" bad "$T/missing.raw" "No such file or directory"
check "a text file: exit 2" bad "$T/text.txt" "unknown format"
check "a raw image cut in half: exit 2" bad "$T/half.raw" "truncated: its GPT describes a disk of 83886080 bytes"
# Filesystems damaged inside a valid disk: named with the partition and what is wrong.
part_start() { sfdisk --json "$1" | jq ".partitiontable.partitions[$2].start * 512"; }
cp "$T/a1/diff.raw" "$T/badext.raw"
head -c 4096 /dev/urandom |
        dd of="$T/badext.raw" bs=4096 seek=$(($(part_start "$T/badext.raw" 1) / 4096 + 1)) conv=notrunc status=none
check "an ext4 whose group descriptors are random: exit 2" \
        bad "$T/badext.raw" "partition 2 (ext4): /: cannot read inode 2: Corrupt group descriptor"
cp "$T/a1/diff.raw" "$T/badfat.raw"
esp=$(part_start "$T/badfat.raw" 0)
reserved=$(od -An -tu2 -j $((esp + 14)) -N2 "$T/badfat.raw" | tr -d ' ')
for c in $(seq 2 40); do printf '\002\000'; done |
        dd of="$T/badfat.raw" bs=1 seek=$((esp + reserved * 512 + 4)) conv=notrunc status=none
check "a FAT whose cluster chains loop: exit 2" \
        bad "$T/badfat.raw" "partition 1 (vfat): cluster 2 is used twice (a loop or cross-link)"
check "the bad one first: exit 2 as well" diff_run 2 "$T/out" "$T/cut.qcow2" "$T/a1/diff.vhdx"
check "... naming it" has "$T/out" "$T/cut.qcow2"
check "no temporary file is left in TMPDIR" test -z "$(ls -A "$TMPDIR")"
check "one argument: usage error, exit 2" diff_run 2 "$T/out" "$T/a1/diff.raw"

# Help.
check "diff --help" sh -c "'$VMC' diff --help | grep -q -- '--no-times'"
check "help diff" sh -c "'$VMC' help diff | grep -q 'Usage: vmcompose diff'"

echo "$failures failure(s)"
[ $failures -eq 0 ]
