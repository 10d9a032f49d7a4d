#!/usr/bin/env bash
# `make install` stages the binary, the shipped profiles, kernel-config, the boot loader data,
# docs and the man page, and the installed binary works from its data directory.
# Usage: test-install.sh BUILD_DIR   (run from the source tree's top directory)
set -u
BUILD=${1:?usage: test-install.sh BUILD_DIR}
T=$(mktemp -d /tmp/vmcompose-install-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }

DESTDIR=$T/stage cmake --install "$BUILD" --prefix /opt/vmc >"$T/log" 2>&1
check "cmake --install succeeds" test $? -eq 0
R=$T/stage/opt/vmc
check "binary installed" test -x "$R/bin/vmcompose"
check "profiles installed" test -f "$R/share/vmcompose/profiles/minimal.yaml"
check "targets installed" test -f "$R/share/vmcompose/profiles/targets/azure-gen2.yaml"
check "policies installed" test -f "$R/share/vmcompose/profiles/policies/headless.yaml"
check "kernel-config installed" test -f "$R/share/vmcompose/kernel-config/azure.yaml"
for f in distro/debian.yaml systemd-boot/entry.conf systemd-boot/loader.conf grub/grub.cfg \
        grub/early.cfg vmcompose-ready.service; do
        check "boot loader data installed: $f" cmp -s "bootloader/$f" "$R/share/vmcompose/bootloader/$f"
done
check "man page installed" test -f "$R/share/man/man1/vmcompose.1"
check "profile reference installed" test -f "$R/share/doc/vmcompose/profile.md"
check "licence installed" test -f "$R/share/doc/vmcompose/LICENSE"
if command -v man >/dev/null; then
        check "man page renders" man -l "$R/share/man/man1/vmcompose.1" >/dev/null
fi
# Run from elsewhere, so the build tree's data directory cannot be used by accident.
cd "$T" || exit 1
VMCOMPOSE_DATA_DIR=$R/share/vmcompose "$R/bin/vmcompose" profile validate --target azure-gen2 \
        "$R/share/vmcompose/profiles/minimal.yaml" >"$T/log" 2>&1
check "the installed binary validates the installed profiles" test $? -eq 0
"$R/bin/vmcompose" --version | grep -q '^vmcompose '
check "the installed binary runs" test $? -eq 0
[ $failures -eq 0 ]
