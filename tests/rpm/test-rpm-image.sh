#!/usr/bin/env bash
# The RPM backend end to end on the signed fixture distribution (tests/rpm/make-fixture.sh): a
# profile over its repository builds raw, qcow2 and VHD images with librpm, the qcow2 boots under
# UEFI (systemd-boot, vmcompose's initramfs) to the fixture init's marker, the manifest and the
# SPDX document come from the rpmdb, and `vmcompose audit` reads the image's rpmdb through
# libguestfs. Then each package the install must refuse: a payload changed after signing, a
# package signed by another key, an unsigned one, a hostile path, a failing scriptlet, and a link
# out of the root: a clear error naming the package, nothing outside the root, nothing at the
# target path. Needs root (librpm chroots for the scriptlets). And the shim boot loader on RPM:
# shim-x64 and grub2-efi-x64 (Debian's signed binaries at Fedora's paths) installed, the image
# booted with Secure Boot enforced through shim, GRUB and the kernel to the marker; the fixture
# as a UKI; the fixture made for aarch64, built and booted under AAVMF.
# Usage: test-rpm-image.sh VMCOMPOSE [shim-grub|aarch64]   (from the source tree's top directory;
# shim-grub, aarch64: only that part)
set -u
VMC=$(realpath "${1:?usage: test-rpm-image.sh VMCOMPOSE [shim-grub|aarch64]}")
only=${2:-}
[ "$(id -u)" = 0 ] || { echo "SKIP: building images needs root"; exit 77; }
for t in qemu-system-x86_64 jq; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: ovmf is not installed"; exit 77; }
C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}
T=$(mktemp -d /tmp/vmcompose-rpm-image-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0 skipped=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); return 1; fi; }

F=$T/fixture
bash tests/rpm/make-fixture.sh --cache "$C" --variants "$F" >"$T/fixture.log" 2>&1
rc=$?
[ $rc = 77 ] && { cat "$T/fixture.log"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: make-fixture.sh:"; cat "$T/fixture.log"; exit 1; }

# profile NAME REPO [GPGCHECK [PACKAGE...]]: a profile over the fixture repository REPO, with
# $bootloader and $outputs, for ARCH (Debian's name, default amd64) with its serial console
# CONSOLE (default ttyS0), signed by KEY (default the fixture's key).
bootloader=systemd-boot outputs="raw, qcow2, vhd"
profile() {
        local name=$1 repo=$2 gpgcheck=${3:-true}
        shift 3 2>/dev/null || shift $#
        {
                cat <<EOF
name: $name
description: the signed RPM fixture distribution
distro:
  family: fedora
  release: fedora-43
  architecture: ${ARCH:-amd64}
  repositories:
    - uri: file://$repo
      suite: fixture
      signed-by: ${KEY:-$F/RPM-GPG-KEY-fixture}
      gpgcheck: $gpgcheck
policy:
  - name: headless
    why: the fixture's image is a VM's
  - name: minimal-docs
    why: no documentation on the image
packages:
  base: none
  install:
    - name: fixture-init
      why: the init that prints the marker
    - name: fixture-scriptlet
      why: a scriptlet that writes a file
EOF
                for p in "$@"; do printf '    - name: %s\n      why: under test\n' "$p"; done
                cat <<EOF
kernel:
  why: the host's kernel, packaged as kernel-core
  package: kernel-core
  initramfs: vmcompose
  initramfs-modules: target
  target: qemu
  cmdline:
    - arg: console=${CONSOLE:-ttyS0}
      why: the boot test reads the serial console
    - arg: rw
      why: no fsck in the fixture
bootloader: $bootloader
disk:
  table: gpt
  size: auto
  partitions:
    - role: esp
      size: 64M
      fs: vfat
      label: ESP
    - role: root
      size: auto
      free: 32M
      fs: ext4
      label: root
system:
  why: the fixture has no release package
  files:
    - path: /etc/os-release
      why: libguestfs recognises the distribution (and its rpm database) by it
      content: |
        NAME="Fedora Linux"
        ID=fedora
        VERSION_ID=43
outputs: [$outputs]
reproducible:
  seed: rpm-fixture
  source-date-epoch: 1700000000
EOF
        } >"$T/$name.yaml"
}

# --- shim + GRUB: the fedora family's signed chain from shim-x64 and grub2-efi-x64 ---
# The boot data (bootloader/distro/fedora.yaml) says where they are in the root; the image
# boots under Secure Boot (OVMF with Microsoft's keys: the shim is Microsoft-signed, GRUB and
# the kernel Debian-signed, checked by shim) to the fixture init's marker.
shim_grub() {
        if [ ! -f "$F/shim-grub" ]; then
                echo "SKIP (shim-grub): the fixture has no shim-x64 or grub2-efi-x64:"
                grep note: "$T/fixture.log"
                skipped=$((skipped + 1))
                return
        fi
        bootloader=shim outputs=raw profile rpm-shim "$F/repo"
        timeout 600 "$VMC" build "$T/rpm-shim.yaml" --cache-dir "$C" -o "$T/shim" >"$T/shim.log" 2>&1
        check "shim-grub: the profile builds" grep -q "built rpm-shim" "$T/shim.log" || cat "$T/shim.log"
        check "... with shim-x64 and grub2-efi-x64 (the boot data's packages)" \
                jq -e '[.packages[].name] | index("shim-x64") and index("grub2-efi-x64")' \
                "$T/shim/rpm-shim.manifest.json"
        # What shim-x64 and grub2-efi-x64 install below /boot/efi (the boot data's esp-mount) is
        # on the ESP at the same paths, byte for byte, and no longer in the root filesystem, where
        # the mounted ESP would hide it (rpm -V would find it missing).
        local raw=$T/shim/rpm-shim.raw parts esp root f pkg
        parts=$(sfdisk -J "$raw" | jq -r '.partitiontable.partitions[] | "\(.type) \(.start)"')
        esp=$(awk '$1 == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" { print $2 * 512 }' <<<"$parts")
        root=$(awk '$1 == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" { print $2 * 512 }' <<<"$parts")
        for f in shimx64.efi:shim-x64 mmx64.efi:shim-x64 grubx64.efi:grub2-efi-x64; do
                pkg=${f#*:} f=${f%:*}
                rpm2cpio "$(find "$F/repo" -name "$pkg-[0-9]*.rpm" | head -1)" |
                        cpio -i --quiet --to-stdout "./boot/efi/EFI/fedora/$f" >"$T/pkg-$f"
                MTOOLS_SKIP_CHECK=1 mtype -i "$raw@@$esp" "::/EFI/fedora/$f" >"$T/esp-$f" 2>/dev/null
                check "... the ESP holds $pkg's /boot/efi/EFI/fedora/$f as EFI/fedora/$f" \
                        test -s "$T/pkg-$f" -a -s "$T/esp-$f"
                check "... byte for byte" cmp "$T/pkg-$f" "$T/esp-$f"
        done
        debugfs -R "ls -p /boot/efi" "$raw?offset=$root" 2>/dev/null |
                awk -F/ 'NF > 6 { printf "%s ", $6 }' >"$T/root-esp"
        check "... and the root filesystem's /boot/efi is only the ESP's mount point (empty)" \
                test "$(cat "$T/root-esp")" = ". .. " || { cat "$T/root-esp"; echo; }
        local t0=$SECONDS
        timeout 300 "$VMC" boot --firmware secureboot --expect VMCOMPOSE-RPM-FIXTURE-OK \
                --timeout 240 --serial-log "$T/shim-serial.log" "$T/shim/rpm-shim.raw" \
                >"$T/shim-boot.log" 2>&1
        check "shim-grub: the raw image boots with Secure Boot enforced ($((SECONDS - t0)) s)" \
                grep -q "up (firmware secureboot" "$T/shim-boot.log" ||
                { cat "$T/shim-boot.log"; tail -20 "$T/shim-serial.log"; }
        check "... through GRUB (the grub.cfg beside it) and the kernel, to the init's marker" \
                grep -aq "VMCOMPOSE-RPM-FIXTURE-OK" "$T/shim-serial.log"
        check "... and the kernel says Secure Boot is on" grep -aq "Secure boot enabled" \
                "$T/shim-serial.log"
        rm -rf "$T/shim"
        shim_esp_refused
}

# A package whose file below /boot/efi vfat cannot hold (a symbolic link) fails the build, naming
# the file and the package, and leaves no image: the fixture's repository plus fixture-esp-link,
# signed with the fixture's key.
shim_esp_refused() {
        local R=$T/esp-repo g w
        w=$(mktemp -d /tmp/vmc-esp-XXXXXX) # short: gpg-agent's socket lives in the homedir
        g=$w/g
        cp -al "$F/repo" "$R" && rm -rf "$R/repodata"
        cp -r "$F/gnupg" "$g" && chmod 700 "$g"
        mkdir -p "$w/SPECS"
        cat >"$w/SPECS/fixture-esp-link.spec" <<'SPEC'
Name: fixture-esp-link
Version: 1.0
Release: 1.fx
Summary: a symbolic link below the ESP's mount point
License: MIT
BuildArch: noarch
%description
A vmcompose test package: vfat holds no symbolic link.
%install
mkdir -p %{buildroot}/boot/efi/EFI/fedora
ln -s shimx64.efi %{buildroot}/boot/efi/EFI/fedora/BOOTX64.CSV
%files
/boot/efi/EFI/fedora/BOOTX64.CSV
SPEC
        rpmbuild --quiet --define "_topdir $w" --define "__os_install_post %{nil}" \
                -bb "$w/SPECS/fixture-esp-link.spec" >"$T/esp-rpmbuild.log" 2>&1 &&
                cp "$w"/RPMS/noarch/fixture-esp-link-1.0-1.fx.noarch.rpm "$R/" &&
                rpmsign --define "__gpg /usr/bin/gpg" --define "_gpg_path $g" \
                        --define "_gpg_name fixture@vmcompose.test" \
                        --addsign "$R/fixture-esp-link-1.0-1.fx.noarch.rpm" >>"$T/esp-rpmbuild.log" 2>&1 &&
                createrepo_c --quiet "$R" >>"$T/esp-rpmbuild.log" 2>&1 &&
                gpg --homedir "$g" --batch --quiet --yes --local-user fixture@vmcompose.test --armor \
                        --detach-sign -o "$R/repodata/repomd.xml.asc" "$R/repodata/repomd.xml" \
                        >>"$T/esp-rpmbuild.log" 2>&1
        check "shim-grub: a repository with fixture-esp-link" test $? = 0 || cat "$T/esp-rpmbuild.log"
        gpgconf --homedir "$g" --kill gpg-agent 2>/dev/null
        rm -rf "$w"
        bootloader=shim outputs=raw profile rpm-esp-link "$R" true fixture-esp-link
        timeout 600 "$VMC" build "$T/rpm-esp-link.yaml" --cache-dir "$C" -o "$T/esp-link" \
                >"$T/esp-link.log" 2>&1
        check "... a symbolic link below /boot/efi fails the build, naming the file and package" \
                grep -q "/boot/efi/EFI/fedora/BOOTX64.CSV (package fixture-esp-link) cannot go onto the ESP: a symbolic link" \
                "$T/esp-link.log" || cat "$T/esp-link.log"
        check "... and leaves no image" test ! -e "$T/esp-link/rpm-esp-link.raw"
}
# --- the fixture distribution for aarch64 (arm64 built on this host) builds and boots ---
# Its busybox, kernel-core and systemd-boot-unsigned are made from Debian's arm64 packages;
# librpm installs them into the foreign root, the scriptlets run under qemu-user (binfmt_misc).
aarch64_fixture() {
        if ! command -v qemu-system-aarch64 >/dev/null || [ ! -r /usr/share/AAVMF/AAVMF_CODE.fd ] ||
                ! grep -qs '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
                echo "SKIP: aarch64: qemu-system-aarch64, AAVMF or an F-flag qemu-aarch64 binfmt handler is missing"
                skipped=$((skipped + 1))
        else
                FA=$T/fixture-aarch64
                bash tests/rpm/make-fixture.sh --cache "$C" --arch aarch64 "$FA" >"$T/fixture-aarch64.log" 2>&1
                rc=$?
                if [ $rc = 77 ]; then
                        echo "SKIP: aarch64: $(tail -1 "$T/fixture-aarch64.log")"
                        skipped=$((skipped + 1))
                        return
                fi
                check "make-fixture.sh --arch aarch64 (exit $rc)" test $rc = 0 || cat "$T/fixture-aarch64.log"
                ARCH=arm64 CONSOLE=ttyAMA0 KEY=$FA/RPM-GPG-KEY-fixture profile rpm-fixture-arm64 "$FA/repo"
                timeout 600 "$VMC" build "$T/rpm-fixture-arm64.yaml" --cache-dir "$C" -o "$T/arm64" >"$T/arm64.log" 2>&1
                check "the aarch64 fixture profile builds" grep -q "built rpm-fixture-arm64" "$T/arm64.log" ||
                        cat "$T/arm64.log"
                check "... its scriptlet ran emulated" grep -qE "built .*, [0-9.]+ s of it emulated" "$T/arm64.log"
                MA=$T/arm64/rpm-fixture-arm64.manifest.json
                check "... the manifest says arm64, with aarch64 packages" jq -e '.architecture == "arm64" and
                        ([.packages[] | select(.name == "busybox" or .name == "kernel-core") | .architecture] == ["aarch64", "aarch64"])' "$MA"
                check "... the SBOM's purls say arch=aarch64" jq -e '.packages[] | select(.name == "busybox") |
                        .externalRefs[] | select(.referenceLocator | test("^pkg:rpm/fedora/busybox@.*\\?arch=aarch64&distro=fedora-43$"))' \
                        "$T/arm64/rpm-fixture-arm64.spdx.json"
                timeout 400 "$VMC" boot --expect VMCOMPOSE-RPM-FIXTURE-OK --timeout 360 \
                        --serial-log "$T/serial-arm64.log" "$T/arm64/rpm-fixture-arm64.qcow2" >"$T/boot-arm64.log" 2>&1
                check "... the aarch64 qcow2 boots under AAVMF to the init's marker" grep -q "up (firmware uefi" "$T/boot-arm64.log" ||
                        { cat "$T/boot-arm64.log"; tail -20 "$T/serial-arm64.log"; }
                check "... running the arm64 kernel" grep -aq "VMCOMPOSE-RPM-FIXTURE-OK .*-arm64" "$T/serial-arm64.log"
                rm -rf "$T/arm64"
        fi
}
if [ "$only" = aarch64 ]; then
        aarch64_fixture
        echo "$failures failure(s)"
        [ "$failures" = 0 ] || exit 1
        [ "$skipped" = 0 ] || exit 77
        exit 0
fi
if [ "$only" = shim-grub ]; then
        shim_grub
        echo "$failures failure(s)"
        [ "$failures" = 0 ] || exit 1
        [ "$skipped" = 0 ] || exit 77
        exit 0
fi

# --- the fixture distribution builds, boots and is audited ---
profile rpm-fixture "$F/repo"
timeout 600 "$VMC" build "$T/rpm-fixture.yaml" --cache-dir "$C" -o "$T/out" >"$T/log" 2>&1
check "the fixture profile builds" grep -q "built rpm-fixture" "$T/log" || cat "$T/log"
for f in raw qcow2 vhd; do
        check "... its $f image" test -s "$T/out/rpm-fixture.$f"
done
check "... no boot report unit in a root without systemd" grep -q "no systemd in the root" "$T/log"
M=$T/out/rpm-fixture.manifest.json
S=$T/out/rpm-fixture.spdx.json
check "the manifest lists the rpmdb's packages" \
        jq -e '[.packages[].name] | index("fixture-init") and index("busybox") and index("kernel-core")' "$M"
check "... not the weak dependency (Recommends off)" \
        jq -e '[.packages[].name] | index("fixture-recommended") | not' "$M"
check "the SBOM's purls are rpm's, with the distro" \
        jq -e '.packages[] | select(.name == "fixture-init") | .externalRefs[] | select(.referenceLocator | test("^pkg:rpm/fedora/fixture-init@1.0-1.fx\\?arch=noarch&distro=fedora-43$"))' "$S"
lic=$(rpm -qp --qf '%{LICENSE}' "$F"/repo/fixture-init-*.rpm 2>/dev/null)
check "... and the licence from the License tag ($lic)" \
        jq -e --arg l "$lic" '.packages[] | select(.name == "fixture-init") | .licenseDeclared == $l and $l != ""' "$S"

# librpm's install (the rpmdb's times included) is reproducible: a second build, installed
# again rather than taken from the root cache, gives the same bytes.
timeout 600 "$VMC" build "$T/rpm-fixture.yaml" --no-root-cache --cache-dir "$C" -o "$T/again" >"$T/again.log" 2>&1
check "a second build without the root cache gives the same image" \
        cmp "$T/out/rpm-fixture.raw" "$T/again/rpm-fixture.raw"
rm -rf "$T/again"

timeout 300 "$VMC" boot --expect VMCOMPOSE-RPM-FIXTURE-OK --timeout 240 \
        --serial-log "$T/serial.log" "$T/out/rpm-fixture.qcow2" >"$T/boot.log" 2>&1
check "the qcow2 boots under UEFI to the init's marker" grep -q "up (firmware uefi" "$T/boot.log" ||
        { cat "$T/boot.log"; tail -20 "$T/serial.log"; }
check "... through systemd-boot and vmcompose's initramfs" grep -q "VMCOMPOSE-RPM-FIXTURE-OK" "$T/serial.log"

timeout 600 "$VMC" audit "$T/out/rpm-fixture.qcow2" >"$T/audit.log" 2>&1
check "vmcompose audit reads the image's rpmdb" grep -qE "fedora 43.*, [0-9]+ packages \(rpm\)" "$T/audit.log" ||
        cat "$T/audit.log"
check "... and finds the policies kept" grep -q "policy: clean" "$T/audit.log"

aarch64_fixture

# --- refused installs: a clear error, nothing outside the root, nothing at the target path ---
# refused NAME REPO GPGCHECK REGEX PACKAGE...: the build fails with REGEX in its log.
refused() {
        local name=$1 repo=$2 gpgcheck=$3 regex=$4
        shift 4
        profile "$name" "$repo" "$gpgcheck" "$@"
        timeout 600 "$VMC" build "$T/$name.yaml" --cache-dir "$C" -o "$T/$name" >"$T/$name.log" 2>&1
        local rc=$?
        check "$name: the build fails" test $rc != 0
        check "$name: ... saying /$regex/" grep -qE -- "$regex" "$T/$name.log" || cat "$T/$name.log"
        check "$name: ... with nothing at the target path" \
                test -z "$(ls -A "$T/$name" 2>/dev/null)"
}
rm -rf /tmp/vmcompose-rpm-dotdot /tmp/vmcompose-rpm-escape
refused payload-changed "$F/variants/payload-changed" true \
        "package fixture-alt-a refused: .*payload does not match the signed header" fixture-alt-a
refused other-key "$F/variants/other-key" true \
        "package fixture-alt-a refused: .*not signed by the repository's key" fixture-alt-a
refused unsigned-package "$F/variants/unsigned-package" true \
        "package fixture-alt-a refused: .*unsigned, and the repository requires" fixture-alt-a
refused hostile-dotdot "$F/variants/hostile-dotdot" true \
        "package fixture-dotdot refused: .*the path '/usr/lib/\.\./\.\./" fixture-dotdot
check "hostile-dotdot: nothing written outside the root" test ! -e /tmp/vmcompose-rpm-dotdot
refused post-fails "$F/repo" true \
        "the %post scriptlet of package fixture-post-fails failed" fixture-post-fails
mkdir -p /tmp/vmcompose-rpm-escape
profile escape "$F/repo" true fixture-escape-file
timeout 600 "$VMC" build "$T/escape.yaml" --cache-dir "$C" -o "$T/escape" >"$T/escape.log" 2>&1
check "escape: a file below a package's link out of the root stays in the root" \
        test -z "$(ls -A /tmp/vmcompose-rpm-escape)"
rm -rf /tmp/vmcompose-rpm-escape

shim_grub

# --- a Unified Kernel Image (the bootloader table's uki row) of the fixture boots ---
# systemd-boot-unsigned's stub, the kernel, vmcompose's initramfs and the os-release the profile
# writes to /etc (os-release(5): /etc first, the fixture has no /usr/lib/os-release) in one PE.
bootloader=uki outputs=qcow2 profile rpm-uki "$F/repo"
timeout 600 "$VMC" build "$T/rpm-uki.yaml" --cache-dir "$C" -o "$T/uki" >"$T/uki.log" 2>&1
check "uki: the profile builds" grep -q "built rpm-uki" "$T/uki.log" || cat "$T/uki.log"
timeout 300 "$VMC" boot --expect VMCOMPOSE-RPM-FIXTURE-OK --timeout 240 \
        --serial-log "$T/uki-serial.log" "$T/uki/rpm-uki.qcow2" >"$T/uki-boot.log" 2>&1
check "... the UKI boots under UEFI to the init's marker" grep -q "up (firmware uefi" "$T/uki-boot.log" ||
        { cat "$T/uki-boot.log"; tail -20 "$T/uki-serial.log"; }
rm -rf "$T/uki"

# gpgcheck: false installs the unsigned package, and says so as a security deviation.
profile unchecked "$F/variants/unsigned-package" false fixture-alt-a
timeout 600 "$VMC" build "$T/unchecked.yaml" --cache-dir "$C" -o "$T/unchecked" >"$T/unchecked.log" 2>&1
check "gpgcheck: false builds with the unsigned package" grep -q "built unchecked" "$T/unchecked.log" ||
        cat "$T/unchecked.log"
check "... and the deviation report lists it under security" \
        jq -e '.deviations[] | select(.kind == "package-signatures-unchecked" and .category == "security")' \
        "$T/unchecked/unchecked.deviations.json"

echo "$failures failure(s)"
[ "$failures" = 0 ]
