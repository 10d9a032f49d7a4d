#!/usr/bin/env bash
# Installs the Debian packages vmcompose needs to build, test and run, if any are missing.
# Usage: scripts/install-deps.sh [build|check|image|fuzz]...   (default: check)
set -euo pipefail

# crossbuild-essential-arm64: vmcompose-init.arm64, the initramfs init of arm64 images, is
# cross-compiled by `make build`.
build=(build-essential crossbuild-essential-arm64 cmake pkg-config libguestfs-dev libyaml-dev libssl-dev libfdisk-dev libblkid-dev libsolv-dev libsolvext-dev libcurl4-openssl-dev libzstd-dev zlib1g-dev libarchive-dev libext2fs-dev librpm-dev)
# libguestfs's appliance (supermin) boots the host's kernel from /boot: a fresh machine or a
# container may have none, hence the kernel package in the check set.
check=(libcmocka-dev jq faketime clang clang-format e2fsprogs dosfstools mtools erofs-utils fdisk libcap2-bin qemu-system-x86 ovmf cpio qemu-utils zstd gnupg xz-utils e2fsprogs dosfstools mtools gpgv libguestfs-tools linux-image-cloud-amd64 python3-jsonschema node-spdx-expression-parse mmdebstrap acl rpm createrepo-c busybox-static systemd-boot-efi uidmap qemu-user-static binfmt-support qemu-efi-aarch64 qemu-system-arm libxml2-utils file)
# uidmap: newuidmap and newgidmap, for builds as an ordinary user. qemu-user-static and
# binfmt-support: an arm64 image's maintainer scripts run on an x86 host through binfmt_misc
# (vmcompose build --arch arm64). busybox-static and file: containers-e2e's test image.
image=(e2fsprogs dosfstools mtools erofs-utils gpgv gnupg xz-utils ca-certificates uidmap qemu-user-static binfmt-support)
fuzz=(clang libclang-rt-14-dev)

want=("${build[@]}")
for what in "${@:-check}"; do
        case "$what" in
        build) ;;
        check) want+=("${check[@]}") ;;
        image) want+=("${image[@]}") ;;
        fuzz) want+=("${fuzz[@]}") ;;
        *) echo "install-deps.sh: unknown set '$what'" >&2; exit 2 ;;
        esac
done

missing=()
for p in "${want[@]}"; do
        if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing+=("$p")
        fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "install-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
