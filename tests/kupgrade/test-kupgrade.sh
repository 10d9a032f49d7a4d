#!/usr/bin/env bash
# Kernel upgrades that boot: a vmcompose image (profiles/minimal.yaml plus a test driver,
# kupgrade.yaml) boots with --write and a second disk holding another linux-image-*-cloud-amd64
# package from the host's apt sources; inside the VM, dpkg -i installs it (the image's kernel
# hooks put it on the ESP with a boot entry, the default as the newest, and prune its modules
# like the build did) and dpkg --purge removes the image's own kernel (its entry goes); the
# second boot must run the new kernel (uname -r). Two boots. Needs root (build, chroot).
# With "grub", the image boots with shim and Debian's signed GRUB (kupgrade-grub.yaml), whose
# hook rewrites the ESP's grub.cfg for the newest kernel in the root's /boot instead.
# Usage: test-kupgrade.sh VMCOMPOSE [systemd-boot|grub]   (from the source tree's top directory)
set -u
VMC=${1:?usage: test-kupgrade.sh VMCOMPOSE [systemd-boot|grub]}
MODE=${2:-systemd-boot}
case $MODE in
systemd-boot) NAME=kupgrade ;;
grub) NAME=kupgrade-grub ;;
*) echo "usage: test-kupgrade.sh VMCOMPOSE [systemd-boot|grub]"; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "SKIP: building images needs root"; exit 77; }
for t in qemu-system-x86_64 chroot mkfs.ext4 apt-get apt-cache; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: ovmf is not installed"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-kupgrade-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}

start=$(date +%s)
timeout 1200 "$VMC" build tests/kupgrade/$NAME.yaml --cache-dir "$C" -o "$T/out" >"$T/build.log" 2>&1
rc=$?
check "tests/kupgrade/$NAME.yaml builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || { tail -40 "$T/build.log"; exit 1; }
D=$T/out/$NAME.deviations.json
hooks="/etc/kernel/postinst.d/zz-vmcompose /etc/kernel/postrm.d/zz-vmcompose
        /etc/initramfs/post-update.d/zz-vmcompose /etc/kernel/cmdline"
[ "$MODE" = grub ] && hooks="/etc/kernel/postinst.d/zz-vmcompose-grub
        /etc/kernel/postrm.d/zz-vmcompose-grub /usr/lib/vmcompose/grub.cfg.in"
for f in $hooks /etc/kernel/postinst.d/00vmcompose-modules /usr/lib/vmcompose/kernel.conf \
        /usr/lib/vmcompose/modules-keep; do
        check "the deviation report lists $f with its why" jq -e --arg f "$f" \
                '[.deviations[] | select(.kind == "kernel-hook-added" and .subject == $f and (.why | length) > 20)] | length == 1' "$D"
done
old=$(jq -r '.kernel.version' "$T/out/$NAME.manifest.json")

# The second kernel: the newest linux-image-VERSION-cloud-amd64 the host's apt sources carry
# other than the image's (a newer one tests the upgrade: its entry must become the default).
new=$(apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' | cut -d' ' -f1 |
        sed 's/^linux-image-//' | grep -vxF "$old" | sort -V | tail -1)
[ -n "$new" ] || { echo "SKIP: the host's apt sources carry no linux-image-*-cloud-amd64 but $old"; exit 77; }
echo "image's kernel: $old; offered: $new"
mkdir -p "$T/disk" "$C/kupgrade"
(cd "$C/kupgrade" && { ls linux-image-"$new"_*.deb >/dev/null 2>&1 || apt-get download "linux-image-$new" >"$T/download.log" 2>&1; })
deb=$(ls "$C/kupgrade"/linux-image-"$new"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { cat "$T/download.log"; echo "FAIL: apt-get download linux-image-$new"; exit 1; }
cp "$deb" tests/kupgrade/run.sh "$T/disk/"
echo "$new" >"$T/disk/new-version"
echo "$old" >"$T/disk/old-version"
mb=$(($(du -sm "$T/disk" | cut -f1) + 16))
mkfs.ext4 -q -L KUPGRADE -d "$T/disk" "$T/disk.img" "${mb}M"

IMG=$T/out/$NAME.raw
start=$(date +%s)
timeout 1200 "$VMC" boot "$IMG" --write --disk "$T/disk.img" --timeout 1100 --serial-log "$T/boot1.log" >"$T/boot1.out" 2>&1
rc=$?
check "first boot: the kernel package installs and the old one is purged, ready (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
# The script's lines, as the journal copies them to the console ("[ 16.5] sh[137]: kupgrade: ").
lines() { grep -ao 'kupgrade: .*' "$1" | tr -d '\r'; }
L1=$(lines "$T/boot1.log")
echo "$L1"
[ $rc -eq 0 ] || tail -30 "$T/boot1.out"
check "... the image ran $old" grep -qxF "kupgrade: uname -r: $old" <<<"$L1"
check "... dpkg -i exit 0" grep -qxF "kupgrade: install: dpkg -i exit 0" <<<"$L1"
if [ "$MODE" = grub ]; then
        check "... the hook made grub.cfg boot $new (the newest)" \
                grep -qxF "kupgrade: install: grub.cfg: linux /boot/vmlinuz-$new" <<<"$L1"
        in_boot() { grep -q "^kupgrade: $1: /boot: .*$2" <<<"$L1"; }
        check "... $new's initramfs made in the VM, in /boot beside $old's" \
                eval 'in_boot install "initrd.img-$new" && in_boot install "initrd.img-$old"'
        check "... the new kernel's modules pruned to the build's set (fewer than 200 left)" \
                awk -v n=200 '/^kupgrade: install: modules of / { found = 1; if ($NF + 0 >= n || $NF + 0 == 0) exit 1 } END { exit !found }' <<<"$L1"
        check "... update-initramfs -u -k $new run by hand: exit 0" grep -qxF "kupgrade: update-initramfs: exit 0" <<<"$L1"
        check "... dpkg --purge exit 0" grep -qxF "kupgrade: purge: dpkg --purge exit 0" <<<"$L1"
        check "... grub.cfg still boots $new" grep -qxF "kupgrade: purge: grub.cfg: linux /boot/vmlinuz-$new" <<<"$L1"
        check "... $old's files went from /boot, $new's stay" \
                eval 'in_boot purge "vmlinuz-$new" && ! in_boot purge "$old"'
else
        check "... the hook wrote $new's entry and made it the default (the newest)" \
                grep -qxF "kupgrade: install: default vmcompose-$new.conf" <<<"$L1"
        check "... the entry of $old stays beside it" grep -q "^kupgrade: install: entries: .*version $old" <<<"$L1"
        check "... the new kernel's modules pruned to the build's set (fewer than 200 left)" \
                awk -v n=200 '/^kupgrade: install: modules of / { found = 1; if ($NF + 0 >= n || $NF + 0 == 0) exit 1 } END { exit !found }' <<<"$L1"
        check "... an initramfs made in the VM, on the ESP" \
                grep -qE "^kupgrade: install: initramfs on the ESP: [0-9]{6,}$" <<<"$L1"
        check "... update-initramfs -u -k $new run by hand refreshes the ESP's copy" grep -qxF \
                "kupgrade: update-initramfs: | vmcompose: kernel $new: initramfs /boot/efi/vmcompose/$new/initrd updated" <<<"$L1"
        check "... and the root keeps no copy" test -z "$(grep '^kupgrade: update-initramfs: /boot: .*initrd' <<<"$L1")"
        check "... dpkg --purge exit 0" grep -qxF "kupgrade: purge: dpkg --purge exit 0" <<<"$L1"
        purged() {
                grep -q '^kupgrade: purge: entries: ' <<<"$L1" &&
                        ! grep -q "^kupgrade: purge: entries: .*$old" <<<"$L1" &&
                        grep -qxF "kupgrade: purge: kernel files on the ESP: $new" <<<"$L1"
        }
        check "... $old's entry and files went with it" purged
        check "... the default is $new's entry" grep -qxF "kupgrade: purge: default vmcompose-$new.conf" <<<"$L1"

fi

start=$(date +%s)
timeout 600 "$VMC" boot "$IMG" --write --disk "$T/disk.img" --timeout 500 --serial-log "$T/boot2.log" >"$T/boot2.out" 2>&1
rc=$?
check "second boot: ready (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
L2=$(lines "$T/boot2.log")
echo "$L2"
[ $rc -eq 0 ] || tail -30 "$T/boot2.out"
check "... the kernel that runs is $new (uname -r)" grep -qxF "kupgrade: uname -r: $new" <<<"$L2"
check "... its banner on the console" grep -aq "Linux version $new " "$T/boot2.log"
if [ "$MODE" = grub ]; then
        check "... grub.cfg names it" grep -qxF "kupgrade: boot2: grub.cfg: linux /boot/vmlinuz-$new" <<<"$L2"
else
        check "... the root keeps no copy of it in /boot" test -z "$(grep '^kupgrade: boot2: /boot: .*vmlinuz' <<<"$L2")"
        check "... and the ESP only its files" grep -qxF "kupgrade: boot2: kernel files on the ESP: $new" <<<"$L2"
fi

if [ $failures -ne 0 ]; then
        mkdir -p /tmp/vmcompose-kupgrade-failed && cp "$T"/*.log /tmp/vmcompose-kupgrade-failed/
        echo "$failures check(s) failed; logs in /tmp/vmcompose-kupgrade-failed"
        exit 1
fi
echo "all kernel upgrade checks passed"
