#!/usr/bin/env bash
# The whole pipeline on the real repositories (the host's apt sources): profiles/minimal.yaml
# builds, its raw, VHD and qcow2 images boot under UEFI and report ready, an unsigned boot path
# is refused under Secure Boot, and the headless policy stops a pager at solve time and a file a
# script drops in a forbidden place at the final verification. Runs as root: it uses the shared
# cache /var/cache/vmcompose and watches an interrupted build's /proc, /sys and /dev mounts
# through its /proc/PID/mountinfo and the host's.
# The same build as an ordinary user, compared with root's byte for byte, booted and
# interrupted, is tests/rootless/test-rootless.sh (rootless-e2e).
# Usage: test-image.sh VMCOMPOSE   (from the source tree's top directory)
set -u
VMC=${1:?usage: test-image.sh VMCOMPOSE}
[ "$(id -u)" = 0 ] || { echo "SKIP: runs as root (the shared cache, an interrupted build's mounts seen from the host); builds as an ordinary user: rootless-e2e"; exit 77; }
for t in qemu-system-x86_64 chroot; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: ovmf is not installed"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-image-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}

# The packages installed up to the root, which the root cache keeps; the image below is then
# built from the cached root (every check and boot after this goes through it).
start=$(date +%s)
timeout 900 "$VMC" build profiles/minimal.yaml --until install --cache-dir "$C" -o "$T/first" >"$T/log" 2>&1
rc=$?
check "profiles/minimal.yaml installs (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -40 "$T/log"
check "... and the root is in the root cache" test -n "$(find "$C/roots" -name '*.tar' -newermt "@$start")" -o -n "$(grep 'not installed again' "$T/log")"
rm -rf "$T/first"

start=$(date +%s)
timeout 900 "$VMC" build profiles/minimal.yaml --strict-audit --cache-dir "$C" -o "$T/out" >"$T/log" 2>&1
rc=$?
check "profiles/minimal.yaml builds under --strict-audit (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -40 "$T/log"
check "... from the cached root, without running dpkg" grep -q "the root installed from them before (root cache [0-9a-f]*), not installed again" "$T/log"
for f in raw vhd qcow2; do check "minimal.$f written" test -s "$T/out/minimal.$f"; done
check "no temporary files left" test -z "$(find "$T/out" -name '.vmcompose*' -print -quit)"
M=$T/out/minimal.manifest.json
check "the manifest is valid JSON" jq -e . "$M" >/dev/null
# The input digest: what `vmcompose lock` prints, from a copy of the profiles elsewhere.
cp -r profiles "$T/profiles"
timeout 300 "$VMC" lock "$T/profiles/minimal.yaml" --cache-dir "$C" >"$T/lock.log" 2>&1
check "the manifest's input digest is the one vmcompose lock prints" test \
        "input digest: $(jq -r '."input-digest"' "$M")" = "$(grep '^input digest: ' "$T/lock.log")"
for f in raw vhd qcow2; do
        check "the manifest has minimal.$f's SHA-256" test "$(jq -r ".outputs[] | select(.file == \"minimal.$f\") | .sha256" "$M")" = "$(sha256sum "$T/out/minimal.$f" | cut -d' ' -f1)"
done
check "the manifest's root PARTUUID is the disk's" test "$(jq -r '.disk.partitions[1].partuuid' "$M" | tr a-z A-Z)" = "$(sfdisk --json "$T/out/minimal.raw" | jq -r '.partitiontable.partitions[1].uuid')"
check "the manifest lists the kernel and the packages" jq -e '(.packages | length) > 50 and (.kernel.version | startswith("6.")) and (.kernel.cmdline | contains("console=ttyS0"))' "$M"
S=$T/out/minimal.spdx.json
python3 tests/report/validate-spdx.py "$S" >"$T/spdx" 2>&1
check "the SBOM validates: $(tail -1 "$T/spdx")" test $? -eq 0
check "... and lists the manifest's packages with their SHA-256" test \
        "$(jq -r '.packages[] | select(.checksums) | "\(.name) \(.checksums[0].checksumValue)"' "$S" | sort)" = \
        "$(jq -r '.packages[] | "\(.name) \(.sha256)"' "$M" | sort)"
check "... most of them with a licence from their copyright file" \
        jq -e '[.packages[] | select(.licenseDeclared != "NOASSERTION")] | length > 60' "$S"
D=$T/out/minimal.deviations.json
check "the deviation report has no undocumented item" jq -e '.undocumented == 0' "$D"
check "... names the line that adds systemd-sysv, and what it pulled in" jq -e \
        '.deviations[] | select(.kind == "package-added" and .subject == "systemd-sysv") | (.where == "profiles/minimal.yaml:18") and (.detail | contains("systemd"))' "$D"
# The root, copied out of the image without mounting: dpkg --verify reports only what the
# strip rules kept out, exactly as many files as the report counts, and no copyright file.
# minimal-data's rules: udev's hwdb, glibc's converters but its core set, the right/ zones.
MINIMAL_DATA='^\(/lib/udev/hwdb.d/\|/usr/lib/x86_64-linux-gnu/gconv/\|/usr/share/zoneinfo/right/\)'
GCONV_KEPT='^/usr/lib/x86_64-linux-gnu/gconv/\(gconv-modules\|\(ISO8859-1\|ISO8859-15\|CP1252\|ANSI_X3.110\|UTF-16\|UTF-32\|UTF-7\|UNICODE\)\.so\)$'
start=$(sfdisk --json "$T/out/minimal.raw" | jq '.partitiontable.partitions[1].start')
size=$(sfdisk --json "$T/out/minimal.raw" | jq '.partitiontable.partitions[1].size')
dd if="$T/out/minimal.raw" of="$T/root.img" bs=512 skip="$start" count="$size" conv=sparse status=none
mkdir -p "$T/rootcopy"
debugfs -R "rdump / $T/rootcopy" "$T/root.img" >/dev/null 2>&1
dpkg --root="$T/rootcopy" --verify >"$T/verify" 2>&1
check "the manifest's packages are exactly dpkg-query -W in the image" test \
        "$(dpkg-query --admindir="$T/rootcopy/var/lib/dpkg" -W -f '${Package} ${Version}\n' | sort)" = \
        "$(jq -r '.packages[] | "\(.name) \(.version)"' "$M" | sort)"
check "dpkg --verify in the root reports only missing files" test -z "$(grep -v '^missing ' "$T/verify")"
check "... all under the strip rules, kernel.modules and the kernel's one copy" test -z "$(awk '{print $NF}' "$T/verify" | grep -v -e '^/usr/share/\(doc\|man\|info\|locale\|lintian\|linda\)/' -e '^/bin/more$' -e '^/lib/modules/' -e '^/boot/vmlinuz-' -e "$MINIMAL_DATA")"
removed=$(grep -c ' /lib/modules/.*\.ko$' "$T/verify")
check "... the module files kernel.modules: target removed ($removed; their emptied directories too), as many as the manifest and the deviation report count" \
        test "$removed" -gt 500 -a "$removed" = "$(jq '.kernel.modules.removed' "$M")" -a "$removed" = "$(jq '.deviations[] | select(.kind == "modules-removed") | .files' "$D")"
check "... the target's drivers and the ESP's filesystem kept, depmod run for them" sh -c \
        "grep -q '/virtio_net.ko:' $T/rootcopy/usr/lib/modules/*/modules.dep && grep -q '/vfat.ko:' $T/rootcopy/usr/lib/modules/*/modules.dep && test \$(grep -c . $T/rootcopy/usr/lib/modules/*/modules.dep) -lt 60"
check "... the kernel's /boot/vmlinuz among them: systemd-boot reads the ESP's, the only copy" sh -c \
        "grep -q ' /boot/vmlinuz-' '$T/verify' && test -z \"\$(ls $T/rootcopy/boot | grep -e vmlinuz -e initrd)\" && test ! -L $T/rootcopy/vmlinuz && MTOOLS_SKIP_CHECK=1 mdir -i '$T/out/minimal.raw@@1M' ::/vmcompose/*/linux ::/vmcompose/*/initrd"
check "... as the deviation report says, with its size" jq -e \
        '.deviations[] | select(.kind == "kernel-root-copy-removed") | (.files == 2) and (.bytes > 10000000) and (.where | test("profiles/minimal.yaml:[0-9]+$"))' "$D"
check "... the pager removed after configuration among them, its alternative gone" \
        sh -c "grep -q ' /bin/more$' '$T/verify' && test ! -e '$T/rootcopy/usr/bin/more' && test ! -e '$T/rootcopy/var/lib/dpkg/alternatives/pager'"
check "... none of them a kept copyright file" test -z "$(grep '/usr/share/doc/[^/]*/copyright$' "$T/verify")"
check "no udev hwdb.bin compiled (minimal-data strips every hwdb.d source)" \
        test ! -e "$T/rootcopy/usr/lib/udev/hwdb.bin" -a ! -e "$T/rootcopy/etc/udev/hwdb.bin"
check "glibc's converters: the core gconv-modules and its 8 modules, no cache naming the others" \
        test "$(cd "$T/rootcopy/usr/lib/x86_64-linux-gnu/gconv" && find . -type f | sort | tr '\n' ' ')" = \
        "./ANSI_X3.110.so ./CP1252.so ./ISO8859-1.so ./ISO8859-15.so ./UNICODE.so ./UTF-16.so ./UTF-32.so ./UTF-7.so ./gconv-modules "
check "... and iconv in the image converts UTF-8 to Latin-1 through them" sh -c \
        "printf 'caf\\303\\251' | chroot '$T/rootcopy' iconv -f UTF-8 -t LATIN1 | od -An -tx1 | grep -qx ' 63 61 66 e9'"
# The report's count, against the archives read by dpkg-deb and tar: every non-directory
# member under a strip rule, less what the rules keep.
for h in $(jq -r '.packages[].sha256' "$M"); do
        dpkg-deb --fsys-tarfile "$C/sha256/${h:0:2}/$h" | tar -tv
done 2>/dev/null | awk '$1 !~ /^d/ {p = $6; sub(/^\./, "", p); print p}' |
        grep -e '^/usr/share/\(doc\|man\|info\|locale\|lintian\|linda\)/' -e '^/bin/more$' -e "$MINIMAL_DATA" |
        grep -v -e '^/usr/share/doc/.*/copyright$' -e '^/usr/share/locale/locale.alias$' -e "$GCONV_KEPT" >"$T/stripped"
check "the report counts the files the strip rules kept out ($(wc -l <"$T/stripped"))" \
        test "$(wc -l <"$T/stripped")" = "$(jq '[.deviations[] | select(.kind == "paths-stripped") | .files] | add' "$D")"
rm -rf "$T/rootcopy" "$T/root.img"
check "no mounts left" sh -c "! grep -q '$T' /proc/self/mountinfo"

for f in raw vhd qcow2; do
        timeout 400 "$VMC" boot "$T/out/minimal.$f" --firmware uefi --timeout 300 \
                --serial-log "$T/boot-$f.log" >"$T/boot" 2>&1
        rc=$?
        check "minimal.$f boots under UEFI and reports ready (exit $rc): $(grep " up " "$T/boot")" test $rc -eq 0
done
# kernel.initramfs: vmcompose: its init found the root by PARTUUID and mounted it.
check "minimal's initramfs is vmcompose's: its init mounted the root" \
        grep -aq 'vmcompose-initrd: [0-9.]* s: root /dev/vda2 (ext4) mounted rw' "$T/boot-raw.log"
# A root filesystem that was not cleanly unmounted: the init mounts it read-only,
# systemd-fsck-root checks and repairs it and reboots; the next boot comes up on a clean root.
rstart=$(sfdisk --json "$T/out/minimal.raw" | jq '.partitiontable.partitions[1].start')
cp --sparse=always "$T/out/minimal.raw" "$T/dirty.raw"
debugfs -w -R "ssv state 0" "$T/dirty.raw?offset=$((rstart * 512))" >/dev/null 2>&1
fsstate() { dumpe2fs -h "$T/dirty.raw?offset=$((rstart * 512))" 2>/dev/null | sed -n 's/^Filesystem state: *//p'; }
check "(a copy's root marked not clean: $(fsstate))" test "$(fsstate)" = "not clean"
timeout 400 "$VMC" boot "$T/dirty.raw" --write --timeout 300 --serial-log "$T/dirty1.log" >/dev/null 2>&1
check "a root not cleanly unmounted is mounted read-only by the initramfs" \
        grep -aq 'needs a check (not cleanly unmounted): mounting it read-only' "$T/dirty1.log"
check "... checked by systemd-fsck-root, which reboots after the repair" \
        sh -c "grep -aq 'Starting.*systemd-fsck-root' '$T/dirty1.log' && grep -aq 'reboot: Restarting system' '$T/dirty1.log'"
timeout 400 "$VMC" boot "$T/dirty.raw" --timeout 300 --serial-log "$T/dirty2.log" >"$T/boot" 2>&1
rc=$?
check "... then the image boots (exit $rc) on a clean root ($(fsstate)), mounted rw at once" \
        sh -c "test $rc -eq 0 && test '$(fsstate)' = clean && grep -aq 'mounted rw' '$T/dirty2.log'"
rm -f "$T/dirty.raw"
# A root= the initramfs cannot find (the boot entry edited on a copy's ESP with mtools): it says
# so after rootdelay=, naming the block devices it saw; the kernel panics and boot reports it.
estart=$(sfdisk --json "$T/out/minimal.raw" | jq '.partitiontable.partitions[0].start')
cp --sparse=always "$T/out/minimal.raw" "$T/noroot.raw"
esp="$T/noroot.raw@@$((estart * 512))"
MTOOLS_SKIP_CHECK=1 mtype -i "$esp" ::/loader/entries/vmcompose.conf |
        sed 's/root=PARTUUID=[^ ]*/root=PARTUUID=00000000-0000-0000-0000-000000000001 rootdelay=2/' >"$T/entry.conf"
MTOOLS_SKIP_CHECK=1 mcopy -o -i "$esp" "$T/entry.conf" ::/loader/entries/vmcompose.conf
timeout 200 "$VMC" boot "$T/noroot.raw" --timeout 120 --serial-log "$T/noroot.log" >"$T/boot" 2>&1
rc=$?
check "a root= the initramfs cannot find fails the boot (exit $rc) as a kernel panic" \
        sh -c "test $rc -eq 1 && grep -q 'kernel panic' '$T/boot'"
check "... after saying so, with the block devices it saw" sh -c \
        "grep -aq 'root=PARTUUID=00000000-0000-0000-0000-000000000001 did not appear within 2 s' '$T/noroot.log' && grep -aq 'block devices:.*vda2' '$T/noroot.log'"
grep -a vmcompose-initrd "$T/noroot.log" | sed 's/^/    console: /'
rm -f "$T/noroot.raw"
# systemd-boot is not signed: firmware that enforces Secure Boot must refuse it.
timeout 200 "$VMC" boot "$T/out/minimal.raw" --firmware secureboot --timeout 120 >"$T/boot" 2>&1
check "Secure Boot refuses the unsigned boot path" test $? -eq 1
check "... as the firmware's refusal" grep -q "firmware refused to start the boot loader" "$T/boot"

# The generators the minimal profile masks are masked in the image; a name that is not a
# generator fails the build, naming the profile's line.
start=$(sfdisk --json "$T/out/minimal.raw" | jq '.partitiontable.partitions[1].start')
check "the profile's generators are masked (linked to /dev/null)" grep -q 'Fast link dest: "/dev/null"' \
        <(debugfs -R 'stat /etc/systemd/system-generators/systemd-gpt-auto-generator' "$T/out/minimal.raw?offset=$((start * 512))" 2>/dev/null)
cat >"$T/badgen.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: badgen
system:
  generators:
    mask:
      - name: systemd-no-such-generator
        why: a test of the check
EOT
timeout 600 "$VMC" build "$T/badgen.yaml" --until install --cache-dir "$C" -o "$T/badgen" >"$T/log" 2>&1
check "masking a generator the image does not have fails" test $? -eq 1
check "... naming the profile line" grep -q "badgen.yaml:6:15: system.generators.mask: no generator systemd-no-such-generator" "$T/log"

# A kernel target this kernel cannot meet: the build fails naming every driver and Kconfig
# option it lacks, with the target file's lines, and writes no image.
cat >"$T/badtarget.yaml" <<EOT
name: badtarget
description: drivers and options the cloud kernel lacks
initramfs-drivers:
  - virtio_blk
  - no_such_driver
kconfig:
  - CONFIG_VIRTIO_BLK
  - CONFIG_NO_SUCH_OPTION
  - option: CONFIG_VIRTIO_PCI
    value: y
EOT
cat >"$T/badkernel.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: badkernel
kernel:
  target: $T/badtarget.yaml
EOT
timeout 600 "$VMC" build "$T/badkernel.yaml" --cache-dir "$C" -o "$T/badkernel" >"$T/log" 2>&1
check "a kernel that misses its target fails the build (exit $?)" grep -q "does not meet the badtarget target" "$T/log"
check "... naming the missing driver and where it was asked for" grep -q "has no driver no_such_driver .*asked for at $T/badtarget.yaml:5" "$T/log"
check "... the missing option" grep -q "CONFIG_NO_SUCH_OPTION is not set, the badtarget target needs it ($T/badtarget.yaml:8)" "$T/log"
check "... and the option built as a module, not in" grep -q "CONFIG_VIRTIO_PCI is a module, the badtarget target needs y ($T/badtarget.yaml:9)" "$T/log"
check "... and writes no image" test -z "$(ls -A "$T/badkernel" 2>/dev/null)"
# kernel.modules-keep naming a module this kernel does not have: the build fails at the
# modules stage, naming the module and the line, and writes no image.
cat >"$T/badkeep.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: badkeep
kernel:
  modules-keep:
    - no_such_module
EOT
timeout 600 "$VMC" build "$T/badkeep.yaml" --cache-dir "$C" -o "$T/badkeep" >"$T/log" 2>&1
check "kernel.modules-keep naming a module the kernel lacks fails the build (exit $?)" grep -q "has no module no_such_module (neither in modules.dep nor built in), asked for at $T/badkeep.yaml:5" "$T/log"
check "... and writes no image" test -z "$(ls -A "$T/badkeep" 2>/dev/null)"
# The initramfs's init program comes from VMCOMPOSE_INIT when set: one that is not there fails
# the build, naming it, and leaves no image.
VMCOMPOSE_INIT=$T/no-such-init timeout 600 "$VMC" build profiles/minimal.yaml --cache-dir "$C" -o "$T/noinit" >"$T/log" 2>&1
check "a missing VMCOMPOSE_INIT fails the build (exit $?), naming it" grep -q "cannot read the init program $T/no-such-init" "$T/log"
check "... and writes no image" test -z "$(ls -A "$T/noinit" 2>/dev/null)"

# SIGINT while dpkg runs: the build stops, unmounts, and leaves nothing behind.
mkdir -p "$T/int"
timeout 600 "$VMC" build profiles/minimal.yaml --no-root-cache --cache-dir "$C" -o "$T/int" >"$T/log" 2>&1 &
pid=$!
# Wait until dpkg runs in the chroot: /proc, /sys and /dev are mounted in the root then, in the
# build's own mount namespace when its root is in a tmpfs there (seen through vmcompose's
# /proc/PID/mountinfo: $pid is timeout's, vmcompose is its child), else in the host's.
installing() {
        local p
        for p in $(pgrep -P $pid) self; do
                grep -qs "$T/int/.*/proc " /proc/$p/mountinfo && return 0
        done
        return 1
}
for _ in $(seq 600); do
        installing && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
done
check "the build was installing when interrupted" installing
kill -INT $pid
wait $pid
rc=$?
check "an interrupted build exits 1 (got $rc)" test $rc -eq 1
check "... saying so" grep -q "interrupted by signal 2" "$T/log"
check "... with no mounts left" sh -c "! grep -q '$T/int' /proc/self/mountinfo"
check "... and nothing in the output directory" test -z "$(ls -A "$T/int")"
check "... and no dpkg left running" test -z "$(pgrep -f "chroot $T/int" || true)"

# Hyper-V Gen2: Secure Boot through Debian's signed shim, GRUB and kernel, in a VHDX.
timeout 900 "$VMC" build profiles/minimal.yaml --target hyperv-gen2 --cache-dir "$C" -o "$T/hv" >"$T/log" 2>&1
rc=$?
check "minimal --target hyperv-gen2 builds (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
check "... running dpkg: other packages, another root in the cache" sh -c "! grep -q 'not installed again' '$T/log'"
check "qemu-img check: the VHDX is clean" qemu-img check -q -f vhdx "$T/hv/minimal-hyperv-gen2.vhdx"
timeout 400 "$VMC" boot "$T/hv/minimal-hyperv-gen2.vhdx" --firmware secureboot --timeout 300 \
        --serial-log "$T/boot-sb.log" >"$T/boot" 2>&1
rc=$?
check "the shim image boots with Secure Boot enforced (exit $rc): $(grep " up " "$T/boot")" test $rc -eq 0
check "... and the kernel says Secure Boot is on" grep -aq "Secure boot enabled" "$T/boot-sb.log"

# Azure Gen2: systemd-boot, a fixed VHD with Azure's command line and agent.
timeout 900 "$VMC" build profiles/minimal.yaml --target azure-gen2 --cache-dir "$C" -o "$T/az" >"$T/log" 2>&1
rc=$?
check "minimal --target azure-gen2 builds (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
check "vmcompose inspect accepts the Azure VHD" "$VMC" inspect "$T/az/minimal-azure-gen2.vhd"
check "... and the Azure lint passes" grep -q "lint azure: ok" "$T/log"
timeout 400 "$VMC" boot "$T/az/minimal-azure-gen2.vhd" --timeout 300 >"$T/boot" 2>&1
rc=$?
check "... and the Azure VHD boots (rootdelay=300 is a longest wait, not a sleep) (exit $rc): $(grep " up " "$T/boot")" \
        test $rc -eq 0
check "the Azure image carries Azure's command line" \
        jq -e '.kernel.cmdline | contains("rootdelay=300") and contains("earlyprintk=ttyS0")' "$T/az/minimal-azure-gen2.manifest.json"
check "... and cloud-init" jq -e '[.packages[].name] | index("cloud-init") != null' "$T/az/minimal-azure-gen2.manifest.json"

# BIOS: GRUB's boot code written by vmcompose, from an MBR disk and from a GPT disk.
for layout in mbr gpt; do
        timeout 900 "$VMC" build tests/image/bios-$layout.yaml --cache-dir "$C" -o "$T/bios" >"$T/log" 2>&1
        rc=$?
        check "a grub-bios image on $layout builds (exit $rc)" test $rc -eq 0
        [ $rc -eq 0 ] || tail -30 "$T/log"
        timeout 400 "$VMC" boot "$T/bios/bios-$layout.raw" --firmware bios --timeout 300 \
                --serial-log "$T/boot-bios-$layout.log" >"$T/boot" 2>&1
        rc=$?
        check "... and boots with SeaBIOS (exit $rc): $(grep " up " "$T/boot")" test $rc -eq 0
        if [ $rc -ne 0 ]; then
                cat "$T/boot"
                tail -40 "$T/boot-bios-$layout.log"
        fi
done

# A Unified Kernel Image booted directly by the firmware.
timeout 900 "$VMC" build tests/image/uki.yaml --cache-dir "$C" -o "$T/uki" >"$T/log" 2>&1
rc=$?
check "a uki image builds (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
check "... with the UKI as the ESP's loader" env MTOOLS_SKIP_CHECK=1 mdir -i "$T/uki/uki.raw@@1M" ::/EFI/Linux
timeout 400 "$VMC" boot "$T/uki/uki.raw" --firmware uefi --timeout 300 >"$T/boot" 2>&1
rc=$?
check "... and boots (exit $rc): $(grep " up " "$T/boot")" test $rc -eq 0

# GRUB for UEFI (no Secure Boot), its EFI image made by the root's own grub-mkimage.
timeout 900 "$VMC" build tests/image/grub-efi.yaml --cache-dir "$C" -o "$T/gefi" >"$T/log" 2>&1
rc=$?
check "a grub-efi image builds (exit $rc)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
check "... with GRUB as the ESP's fallback loader" env MTOOLS_SKIP_CHECK=1 mdir -i "$T/gefi/grub-efi.raw@@1M" ::/EFI/BOOT/BOOTX64.EFI
timeout 400 "$VMC" boot "$T/gefi/grub-efi.raw" --firmware uefi --timeout 300 >"$T/boot" 2>&1
rc=$?
check "... and boots (exit $rc): $(grep " up " "$T/boot")" test $rc -eq 0

# vmcompose audit: the minimal image is clean; an image vmcompose did not build (mmdebstrap
# and a hand-assembled MBR disk) with a pager and an X11 library is not.
timeout 600 "$VMC" audit "$T/out/minimal.qcow2" >"$T/audit" 2>"$T/audit.err"
rc=$?
check "audit of the minimal qcow2 exits 0 (exit $rc): $(sed -n 2p "$T/audit")" test $rc -eq 0
check "... with its packages and attack surface" grep -q "112 packages\|1[0-9][0-9] packages" "$T/audit"
check "... mounting every filesystem" test -z "$(grep -i "cannot mount" "$T/audit.err")"
mapfile -t repos < <(awk '/^URIs:/{u=$2} /^Suites:/{for (i = 2; i <= NF; i++) print "deb " u " " $i " main"}' /etc/apt/sources.list.d/*.sources)
if command -v mmdebstrap >/dev/null && timeout 600 mmdebstrap --variant=minbase --include=less,libx11-6 \
        --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$T/foreign" "${repos[@]}" >"$T/log" 2>&1; then
        truncate -s 600M "$T/foreign.ext4"
        mkfs.ext4 -q -d "$T/foreign" "$T/foreign.ext4"
        truncate -s 700M "$T/foreign.raw"
        echo 'start=2048, type=83' | sfdisk -q "$T/foreign.raw"
        dd if="$T/foreign.ext4" of="$T/foreign.raw" bs=1M seek=1 conv=notrunc,sparse status=none
        rm -rf "$T/foreign" "$T/foreign.ext4"
        timeout 600 "$VMC" audit --json "$T/foreign.raw" >"$T/audit.json" 2>"$T/audit.err"
        rc=$?
        check "audit of a foreign image with less and libX11 exits 1 (exit $rc)" test $rc -eq 1
        check "... reporting the package less and its /usr/bin/less" jq -e \
                '[.violations[] | select(.package == "less")] | map(.kind) | index("forbidden-package") != null and index("forbidden-path") != null' "$T/audit.json"
        check "... and libx11-6 with its library" jq -e \
                '[.violations[] | select(.package == "libx11-6") | .subject] | any(startswith("/usr/lib/x86_64-linux-gnu/libX11"))' "$T/audit.json"
        check "... naming the policy rule" jq -e '.violations[0].rule | contains("headless.yaml:")' "$T/audit.json"
        rm -f "$T/foreign.raw"
else
        check "mmdebstrap makes the foreign image for the audit test" false
fi

# The headless policy: a pager asked for by name fails at solve time ...
cat >"$T/with-less.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: with-less
packages:
  install: [less]
EOT
timeout 300 "$VMC" build "$T/with-less.yaml" --cache-dir "$C" -o "$T/out2" >"$T/log" 2>&1
check "a profile that asks for less fails" test $? -eq 1
check "... at solve time, naming the policy" grep -q "package less is forbidden by policy headless" "$T/log"
# ... and a file a script drops into a forbidden path fails the final verification.
cat >"$T/sneaky.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: sneaky
system:
  scripts:
    - run: printf '#!/bin/sh\n' > /usr/bin/less
      why: a test of the final verification
EOT
timeout 600 "$VMC" build "$T/sneaky.yaml" --cache-dir "$C" -o "$T/out3" >"$T/log" 2>&1
check "a forbidden file dropped by a script fails the build" test $? -eq 1
check "... naming the path and the rule" grep -q "policy: /usr/bin/less (forbidden by policy headless" "$T/log"
check "... and nothing is written" test -z "$(ls -A "$T/out3" 2>/dev/null)"
# ... unless the profile carries a reasoned exception for that path.
cat >"$T/excused.yaml" <<EOT
extends: $T/sneaky.yaml
name: excused
allow:
  - name: /usr/bin/less
    why: a test of allow:, the policies' exception list
EOT
timeout 600 "$VMC" build "$T/excused.yaml" --until policy --cache-dir "$C" -o "$T/out4" >"$T/log" 2>&1
check "an allow: exception lets the final verification pass" test $? -eq 0
check "no mounts left after the failures" sh -c "! grep -q '$T' /proc/self/mountinfo"

echo "$failures failure(s)"
[ $failures -eq 0 ]
