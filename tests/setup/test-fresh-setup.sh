#!/usr/bin/env bash
# A fresh Debian 12 machine's first commands work: in a minbase root (mmdebstrap, from the host's
# apt sources) holding a copy of this source tree, the README's set-up for a plain build runs —
# `scripts/install-deps.sh build image`, `make build` — and the binary runs; every program a
# `vmcompose build` runs on the host is then installed. A package the build needs but
# install-deps.sh's `build` set lacks fails the configure step, and its name is in the output.
# The minbase root is kept as a tarball in the cache (keyed by variant, suite and apt sources),
# the downloaded .debs in an apt archive beside it, so only the first run pays for them.
# Needs root (chroot, mounts). Usage: test-fresh-setup.sh [SOURCE_DIR]   (default: .)
set -u
SRC=$(cd "${1:-.}" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "SKIP: chroot and mounts need root"; exit 77; }
command -v mmdebstrap >/dev/null || { echo "SKIP: mmdebstrap is not installed"; exit 77; }
command -v git >/dev/null || { echo "SKIP: git is not installed"; exit 77; }
shopt -s nullglob
sources=(/etc/apt/sources.list.d/*.sources)
[ ${#sources[@]} -gt 0 ] || { echo "SKIP: the host has no deb822 apt sources"; exit 77; }

C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}/fresh-setup
mkdir -p "$C/archives/partial" || exit 1
T=$(mktemp -d /tmp/vmcompose-fresh-XXXXXX)
R=$T/root
mounted=()
cleanup() {
        local i
        for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
                umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}"
        done
        mounted=()
        # Only once nothing is mounted below it: rm -rf must never reach the host's /dev or /sys.
        grep -q " $T/" /proc/mounts || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }

# The minbase root, made once per (variant, suite, sources).
variant=minbase suite=bookworm
key=$( (echo "$variant $suite"; cat "${sources[@]}") | sha256sum | cut -c1-16)
base=$C/$variant-$suite-$key.tar
if [ ! -s "$base" ]; then
        start=$(date +%s)
        mmdebstrap --quiet --variant=$variant $suite "$base.tmp.tar" "${sources[@]}" >"$T/mmdebstrap.log" 2>&1
        rc=$?
        check "mmdebstrap makes a $variant $suite root (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || { tail -20 "$T/mmdebstrap.log"; rm -f "$base.tmp.tar"; exit 1; }
        mv "$base.tmp.tar" "$base"
fi
mkdir "$R" && tar -C "$R" -xf "$base"
check "the $variant root extracts" test -x "$R/usr/bin/apt-get"
[ $failures -eq 0 ] || exit 1
check "... and has no compiler, cmake or cmocka" test ! -e "$R/usr/bin/cc" -a ! -e "$R/usr/bin/cmake" -a ! -e "$R/usr/include/cmocka.h"

# The source tree as a clone has it: the tracked files, as they are in the working tree.
mkdir "$R/src"
git -C "$SRC" ls-files -z | (cd "$SRC" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        tar -C "$SRC" --null -T - -cf - | tar -C "$R/src" -xf -
check "the source tree is copied" test -f "$R/src/Makefile" -a -x "$R/src/scripts/install-deps.sh"

cp /etc/resolv.conf "$R/etc/resolv.conf"
rm -f "$R"/etc/apt/sources.list "$R"/etc/apt/sources.list.d/*
cp "${sources[@]}" "$R/etc/apt/sources.list.d/"
for m in proc sys dev var/cache/apt/archives; do
        case $m in
        proc) mount -t proc proc "$R/proc" ;;
        sys) mount -t sysfs sysfs "$R/sys" ;;
        dev) mount --bind /dev "$R/dev" ;;
        *) mount --bind "$C/archives" "$R/$m" ;;
        esac || { echo "FAIL: mount $R/$m"; exit 1; }
        mounted+=("$R/$m")
done

in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/sh -c "cd /src && $1" >"$T/$2.log" 2>&1; }
step() {
        local what=$1 cmd=$2 log=$3 start rc
        start=$(date +%s)
        in_root "$cmd" "$log"
        rc=$?
        check "$what (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || { tail -30 "$T/$log.log"; return 1; }
}
# Stops at the first step that fails: the later ones would only fail for the same reason.
step "scripts/install-deps.sh build image installs the build and image sets" \
        "scripts/install-deps.sh build image" deps &&
        step "make build configures and compiles" "make build" build &&
        step "build/vmcompose --version runs" "build/vmcompose --version" version &&
        check "... and prints the version" grep -q '^vmcompose [0-9]' "$T/version.log" &&
        check "make build configured without the tests" grep -q '^BUILD_TESTING:BOOL=OFF$' "$R/src/build/CMakeCache.txt" &&
        # The tests asked for without cmocka: a clear error naming the package and the way out.
        ! in_root "cmake -S . -B build -DBUILD_TESTING=ON" notests &&
        check "configuring the tests without cmocka fails, naming libcmocka-dev" \
                grep -q "The tests need cmocka.*libcmocka-dev" <(tr -s '\n ' ' ' <"$T/notests.log") &&
        # ... and the same build directory switches to the tests once cmocka is there.
        step "with libcmocka-dev, the same build directory configures the tests and builds one" \
                "apt-get install -y -qq --no-install-recommends libcmocka-dev && cmake -S . -B build -DBUILD_TESTING=ON && cmake --build build --target test-core && cd build && ctest -R '^test-core$'" tests
# What `vmcompose build` runs on the host (composer/: spawn_run's argv): mkfs.ext4 (e2fsprogs),
# mkfs.vfat (dosfstools), mcopy (mtools), mkfs.erofs (erofs-utils), mkswap (util-linux), gpg and
# gpgv (keyrings, Release signatures), objcopy (UKIs), chroot, tar and sh; and the keyring the
# host's sources name.
for t in mkfs.ext4 mkfs.vfat mcopy mkfs.erofs mkswap gpg gpgv objcopy chroot tar sh; do
        check "$t is installed" in_root "command -v $t" tool
done
for k in $(sed -n 's/^Signed-By: *//p' "${sources[@]}" | sort -u); do
        check "the keyring $k is installed" test -r "$R$k"
done

cleanup
check "nothing is left mounted" test -z "$(grep " $T" /proc/mounts)"
check "the temporary root is removed" test ! -e "$T"
[ $failures -eq 0 ]
