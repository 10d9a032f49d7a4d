#!/usr/bin/env bash
# Builds a small signed RPM distribution for the RPM backend's tests (issue #13) from the host:
# rpmbuild, rpmsign, createrepo_c and gpg with a throwaway key made here; what the host lacks
# (Debian's signed shim and GRUB, the arm64 packages) comes from its apt sources.
#
# Usage: make-fixture.sh [--cache DIR] [--variants] [--arch x86_64|aarch64] OUTDIR
#
# OUTDIR/repo/            the rpm-md repository: *.rpm, repodata/ (gz, and comps with the
#                         group core), repodata/repomd.xml.asc
# OUTDIR/RPM-GPG-KEY-fixture   the public key (also in repo/), armored
# OUTDIR/gnupg/           the key's homedir (secret key, no passphrase)
# OUTDIR/other-key.asc    a second key's public half (the negative "signed with another key")
# OUTDIR/kernel-version   the kernel-core package's kernel version
#
# The packages (x86_64, or aarch64 with --arch aarch64, unless noarch):
#   filesystem            the merged-/usr skeleton (/bin -> usr/bin, ...)
#   busybox               the host's static busybox, with sh, ls, cat, mount, ... links in /usr/bin;
#                         Provides: /bin/sh (as Fedora's bash does; /bin is a link)
#   fixture-init          /usr/sbin/init: prints VMCOMPOSE-RPM-FIXTURE-OK on the console and powers
#                         off; Requires: /usr/bin/sh (a file dependency), Recommends:
#                         fixture-recommended (weak: not installed by default)
#   kernel-core           the host's kernel: /usr/lib/modules/VER/{vmlinuz,config,System.map} and
#                         the modules tree, and /boot/vmlinuz-VER, /boot/config-VER
#   systemd-boot-unsigned /usr/lib/systemd/boot/efi/{systemd-bootx64.efi,linuxx64.efi.stub}
#   shim-x64              Debian's signed shim and MokManager (shim-signed, shim-helpers-amd64-
#                         signed) at Fedora's paths: /boot/efi/EFI/fedora/{shimx64,mmx64}.efi
#   grub2-efi-x64         Debian's signed GRUB (grub-efi-amd64-signed) at Fedora's path:
#                         /boot/efi/EFI/fedora/grubx64.efi (it reads grub.cfg from /EFI/debian,
#                         else beside itself, $cmdpath); these two are left out, with a note on
#                         stderr, when the host neither has those Debian packages nor can
#                         download them (apt-get download): OUTDIR/shim-grub says they are there
#   fixture-rich          Requires: (fixture-alt-a or fixture-alt-b)       a rich dependency
#   fixture-alt-a, fixture-alt-b
#   fixture-tools         Requires: /usr/lib/fixture/helper: a file dependency only filelists has
#   fixture-helper        ships /usr/lib/fixture/helper
#   fixture-old 1.0       obsoleted by fixture-new 2.0 (Obsoletes: fixture-old < 2, Provides:
#   fixture-new 2.0       fixture-old = 2.0)
#   fixture-conflict-a    Conflicts: fixture-conflict-b
#   fixture-conflict-b
#   fixture-pager-user    Requires: fixture-pager-helper, which Requires: less (a forbidden package
#   fixture-pager-helper  pulled in by a dependency)
#   less
#   fixture-scriptlet     %post reads /proc/self/status, writes /dev/null (a device) and
#                         /etc/fixture-scriptlet-ran
#   fixture-post-fails    %post exits 1 (only the negative tests install it)
#   fixture-broken        Requires: fixture-does-not-exist (a missing dependency)
#   fixture-recommended
#   fixture-escape-link   /usr/lib/fixture-escape -> /tmp/vmcompose-rpm-escape (an absolute link out
#   fixture-escape-file   of the root) and a file below that link: installing both must write
#                         nothing on the host
#
# --variants adds OUTDIR/variants/NAME/, each a repository (hard links to repo/'s packages)
# with one thing wrong or different:
#   zstd, xz              repodata compressed with zstd / xz (valid)
#   tampered-primary      primary.xml.gz changed after repomd.xml was made and signed
#   unsigned-repomd       no repomd.xml.asc
#   wrong-key-repomd      repomd.xml.asc made by the other key
#   payload-changed       fixture-alt-a's payload altered after signing (repodata made after, so
#                         its checksums match: only the package signature check can refuse it)
#   other-key             fixture-alt-a signed by the other key only
#   unsigned-package      fixture-alt-a without a signature
#   hostile-dotdot        fixture-dotdot: a header file name /usr/lib/../../../../tmp/vmcompose-
#                         rpm-dotdot (made by rewriting the built package, see make_dotdot below)
#
# Deterministic where rpm allows: SOURCE_DATE_EPOCH for build times and file dates, a fixed
# build host, createrepo_c's revision as its timestamps, the key's creation date fixed. The key
# itself is random, so signatures differ between fixture builds.
#
# --cache DIR keeps the finished fixture in DIR/rpm-fixture-KEY (--cache auto: in
# ${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}/rpm-fixture when writable) (KEY: this script, the host's
# busybox, kernel and systemd-boot files and the tools' versions), so a second call copies it
# (the way tests/setup/ keeps its mmdebstrap tarball).
#
# --arch aarch64: busybox, kernel-core and systemd-boot-unsigned are made for aarch64 from
# Debian's arm64 packages (busybox-static, the newest linux-image-*-cloud-arm64,
# systemd-boot-efi), downloaded from the host's apt sources with a private apt state (the
# host's own dpkg architectures are left alone) instead of the host's files.
set -euo pipefail

cache= variants=0 ARCH=x86_64
while [ $# -gt 1 ]; do
        case $1 in
        --cache) cache=$2; shift 2 ;;
        --variants) variants=1; shift ;;
        --arch) ARCH=$2; shift 2 ;;
        *) break ;;
        esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--cache DIR] [--variants] [--arch x86_64|aarch64] OUTDIR" >&2; exit 2; }
case $ARCH in
x86_64) EFI=x64 ;;
aarch64) EFI=aa64 ;;
*) echo "$0: --arch $ARCH: x86_64 or aarch64" >&2; exit 2 ;;
esac
# auto: the test cache, as tests/setup/ uses it (VMCOMPOSE_TEST_CACHE), when it is writable.
if [ "$cache" = auto ]; then
        cache=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}/rpm-fixture
        mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=
fi
OUT=$1
for t in rpmbuild rpmsign createrepo_c gpg; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
W=$(mktemp -d /tmp/vmcrpm-XXXXXX)
G=$W/g    # short: gpg-agent's socket lives in the homedir
G2=$W/g2
cleanup() {
        gpgconf --homedir "$G" --kill gpg-agent 2>/dev/null || true
        gpgconf --homedir "$G2" --kill gpg-agent 2>/dev/null || true
        rm -rf "$W"
}
trap cleanup EXIT

# SRC: where the architecture's busybox, kernel and systemd-boot files are (/ on x86_64: the
# host's own); SOURCES: what the cache key says of them.
if [ $ARCH = x86_64 ]; then
        SRC=
        KVER=$(cd /lib/modules && ls -d *-amd64 2>/dev/null | sort -V | tail -1)
        [ -n "$KVER" ] && [ -r /boot/vmlinuz-$KVER ] || { echo "SKIP: no readable host kernel"; exit 77; }
        SOURCES=$(sha256sum /bin/busybox /boot/vmlinuz-$KVER /usr/lib/systemd/boot/efi/systemd-bootx64.efi)
else
        SRC=$W/arm64 A=$W/apt
        mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$W/arm64-debs"
        APT=(-q -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache" -o Dir::State::status=/dev/null
                -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
        apt-get "${APT[@]}" update >"$W/apt.log" 2>&1 || { cat "$W/apt.log"; echo "SKIP: apt-get update for arm64 failed"; exit 77; }
        kpkg=$(apt-cache "${APT[@]}" depends linux-image-cloud-arm64 2>/dev/null |
                sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-arm64\)$/\1/p' | head -1)
        [ -n "$kpkg" ] || { echo "SKIP: the host's apt sources carry no linux-image-cloud-arm64"; exit 77; }
        KVER=${kpkg#linux-image-}
        SOURCES=$(apt-cache "${APT[@]}" show --no-all-versions busybox-static systemd-boot-efi "$kpkg" |
                grep -E '^(Package|Version|SHA256):')
fi
BB=$SRC/bin/busybox
SDBOOT=$SRC/usr/lib/systemd/boot/efi
if [ $ARCH = x86_64 ]; then
        [ -x $BB ] || { echo "SKIP: /bin/busybox (busybox-static) is not installed"; exit 77; }
        [ -f $SDBOOT/systemd-bootx64.efi ] || { echo "SKIP: $SDBOOT/systemd-bootx64.efi is missing"; exit 77; }
fi

# Debian's signed shim, MokManager and GRUB: the host's when installed, else from the Debian
# packages (apt-get download, unpacked in $W/debs). SHIM_FILES: shim, MokManager, GRUB; empty
# when neither works.
debian_file() { # PACKAGE PATH: prints where PATH of PACKAGE is on this host
        local pkg=$1 path=$2
        if [ -r "$path" ]; then
                echo "$path"
                return
        fi
        mkdir -p "$W/debs"
        if [ ! -d "$W/debs/$pkg" ]; then
                (cd "$W/debs" && apt-get -q download "$pkg" >"$W/debs/$pkg.log" 2>&1) &&
                        dpkg-deb -x "$W"/debs/"$pkg"_*.deb "$W/debs/$pkg" || return 1
        fi
        [ -r "$W/debs/$pkg$path" ] && echo "$W/debs/$pkg$path"
}
# What the cache key says of them, without downloading: each file's digest where the host has
# it, else the package's version and digest in the host's apt sources.
SHIM_WANT="shim-signed:/usr/lib/shim/shimx64.efi.signed
shim-helpers-amd64-signed:/usr/lib/shim/mmx64.efi.signed
grub-efi-amd64-signed:/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
SHIM_SOURCES=
if [ $ARCH = x86_64 ]; then
        SHIM_SOURCES=$(for w in $SHIM_WANT; do
                if [ -r "${w#*:}" ]; then
                        sha256sum <"${w#*:}"
                else
                        apt-cache show --no-all-versions "${w%%:*}" 2>/dev/null |
                                grep -E '^(Package|Version|SHA256):'
                fi
        done)
fi

if [ -n "$cache" ]; then
        key=$( {
                sha256sum "$0"
                echo "$SOURCES"
                echo "$SHIM_SOURCES"
                echo "$ARCH $KVER $variants"
                rpm --version; createrepo_c --version
        } | sha256sum | cut -c1-16)
        if [ -f "$cache/rpm-fixture-$key/.complete" ]; then
                mkdir -p "$OUT"
                cp -a "$cache/rpm-fixture-$key/." "$OUT/"
                rm -f "$OUT/.complete"
                exit 0
        fi
fi

SHIM_FILES=
if [ $ARCH != x86_64 ]; then
        : # shim-x64 and grub2-efi-x64 only
elif s=$(debian_file shim-signed /usr/lib/shim/shimx64.efi.signed) &&
        m=$(debian_file shim-helpers-amd64-signed /usr/lib/shim/mmx64.efi.signed) &&
        g=$(debian_file grub-efi-amd64-signed /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed); then
        SHIM_FILES="$s $m $g"
else
        echo "note: no Debian signed shim and GRUB (installed or from apt-get download):" \
                "the fixture has no shim-x64 or grub2-efi-x64" >&2
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ $ARCH = aarch64 ]; then
        (cd "$W/arm64-debs" && apt-get "${APT[@]}" download busybox-static systemd-boot-efi "$kpkg") >"$W/apt.log" 2>&1 ||
                { cat "$W/apt.log"; echo "apt-get download of the arm64 packages failed" >&2; exit 1; }
        for d in "$W"/arm64-debs/*.deb; do dpkg-deb -x "$d" "$SRC"; done
        # The package's postinst makes modules.dep; the host's /lib/modules already has one.
        depmod -b "$SRC" "$KVER"
fi

export SOURCE_DATE_EPOCH=1767225600 # 2026-01-01
export TZ=UTC LC_ALL=C

# The keys: RSA (what rpm 4.18's own OpenPGP parser reads), no passphrase, a fixed creation date.
mkdir -m 700 "$G" "$G2"
genkey() {
        gpg --homedir "$1" --batch --quiet --gen-key <<EOF
%no-protection
Key-Type: RSA
Key-Length: 2048
Key-Usage: sign
Name-Real: $2
Name-Email: $3
Creation-Date: 20260101T000000
Expire-Date: 0
%commit
EOF
}
genkey "$G" "vmcompose fixture" fixture@vmcompose.test 2>"$W/gpg.log" || { cat "$W/gpg.log"; exit 1; }
genkey "$G2" "vmcompose other" other@vmcompose.test 2>"$W/gpg.log" || { cat "$W/gpg.log"; exit 1; }

RPMDEFS=(
        --define "_topdir $W/build"
        --define "_buildhost fixture.vmcompose.test"
        --define "use_source_date_epoch_as_buildtime 1"
        --define "clamp_mtime_to_source_date_epoch 1"
        --define "_binary_payload w3.zstdio"
        --define "debug_package %{nil}"
        --define "__os_install_post %{nil}"
        --define "_build_id_links none"
        --define "_vendor vmcompose"
        --define "distribution vmcompose fixture"
)
mkdir -p "$W/build/SPECS" "$W/src"

# spec NAME VERSION ARCH "HEADER LINES" "INSTALL SCRIPT" "FILES" ["SCRIPTLETS"]
spec() {
        local name=$1 version=$2 arch=$3 header=$4 install=$5 files=$6 scripts=${7:-}
        # An architecture's package takes rpmbuild's --target (a BuildArch: aarch64 is refused
        # on an x86_64 host).
        local buildarch="BuildArch: $arch"
        [ "$arch" = noarch ] || buildarch="# BuildArch: rpmbuild --target $arch"
        cat >"$W/build/SPECS/$name.spec" <<EOF
Name: $name
Version: $version
Release: 1.fx
Summary: vmcompose RPM fixture: $name
License: MIT
$buildarch
$header

%description
Part of the small RPM distribution vmcompose's tests build (tests/rpm/make-fixture.sh).

%prep
%build
%install
set -e
$install

$scripts

%files
$files
EOF
}

spec filesystem 1.0 noarch "AutoReqProv: no" '
for d in usr/bin usr/sbin usr/lib usr/lib64 usr/share etc var/lib var/tmp tmp proc sys dev run root boot; do mkdir -p %{buildroot}/$d; done
ln -s usr/bin %{buildroot}/bin; ln -s usr/sbin %{buildroot}/sbin
ln -s usr/lib %{buildroot}/lib; ln -s usr/lib64 %{buildroot}/lib64
printf "root:x:0:0:root:/root:/bin/sh\n" >%{buildroot}/etc/passwd
printf "root:x:0:\n" >%{buildroot}/etc/group' '
/bin
/sbin
/lib
/lib64
%dir /usr
%dir /usr/bin
%dir /usr/sbin
%dir /usr/lib
%dir /usr/lib64
%dir /usr/share
%dir /etc
%dir /var
%dir /var/lib
%dir /var/tmp
%dir /tmp
%dir /proc
%dir /sys
%dir /dev
%dir /run
%dir /root
%dir /boot
%config(noreplace) /etc/passwd
%config(noreplace) /etc/group'

applets="sh ash ls cat cp mv rm ln mkdir rmdir mount umount echo sleep dmesg uname poweroff reboot
        grep sed head tail sync stat find chmod chown true false test"
spec busybox 1.35.0 $ARCH "AutoReqProv: no
Requires: filesystem
Provides: /bin/sh" "
install -D -m 0755 $BB %{buildroot}/usr/bin/busybox
for a in $(echo $applets); do ln -s busybox %{buildroot}/usr/bin/\$a; done" '
/usr/bin/*'

spec fixture-init 1.0 noarch "Requires: /usr/bin/sh
Requires: filesystem
Recommends: fixture-recommended" '
mkdir -p %{buildroot}/usr/sbin
cat >%{buildroot}/usr/sbin/init <<'"'INIT'"'
#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "VMCOMPOSE-RPM-FIXTURE-OK $(uname -r)" >/dev/console
sync
poweroff -f
INIT
chmod 0755 %{buildroot}/usr/sbin/init' '
/usr/sbin/init'

# The kernel: Fedora's layout (the image under /usr/lib/modules/VER, kernel-install copies it to
# /boot) plus the /boot copies a boot loader reads directly.
spec kernel-core "${KVER%%-*}" $ARCH "AutoReqProv: no
Provides: kernel = ${KVER%%-*}
Requires: filesystem" "
m=%{buildroot}/usr/lib/modules/$KVER
mkdir -p \$m %{buildroot}/boot
cp -a $SRC/lib/modules/$KVER/. \$m/
rm -f \$m/build \$m/source
install -m 0644 $SRC/boot/vmlinuz-$KVER \$m/vmlinuz
install -m 0644 $SRC/boot/config-$KVER \$m/config
install -m 0644 $SRC/boot/vmlinuz-$KVER %{buildroot}/boot/vmlinuz-$KVER
install -m 0644 $SRC/boot/config-$KVER %{buildroot}/boot/config-$KVER
[ -r $SRC/boot/System.map-$KVER ] && install -m 0644 $SRC/boot/System.map-$KVER \$m/System.map || :" "
/usr/lib/modules/$KVER
/boot/vmlinuz-$KVER
/boot/config-$KVER"

spec systemd-boot-unsigned 252 $ARCH "AutoReqProv: no
Requires: filesystem" "
d=%{buildroot}/usr/lib/systemd/boot/efi
mkdir -p \$d
install -m 0644 $SDBOOT/systemd-boot$EFI.efi \$d/
install -m 0644 $SDBOOT/linux$EFI.efi.stub \$d/" "
/usr/lib/systemd/boot/efi/systemd-boot$EFI.efi
/usr/lib/systemd/boot/efi/linux$EFI.efi.stub"

# Fedora's shim-x64 and grub2-efi-x64 put the signed chain in the ESP's vendor directory,
# /boot/efi/EFI/fedora; here with Debian's signed binaries (Debian's key in shim, which GRUB and
# the Debian kernel of kernel-core are signed with).
if [ -n "$SHIM_FILES" ]; then
        set -- $SHIM_FILES
        spec shim-x64 16.1 x86_64 "AutoReqProv: no
Requires: filesystem" "
d=%{buildroot}/boot/efi/EFI/fedora
mkdir -p \$d
install -m 0644 $1 \$d/shimx64.efi
install -m 0644 $2 \$d/mmx64.efi" '
/boot/efi/EFI/fedora/shimx64.efi
/boot/efi/EFI/fedora/mmx64.efi'
        spec grub2-efi-x64 2.06 x86_64 "AutoReqProv: no
Requires: filesystem" "
d=%{buildroot}/boot/efi/EFI/fedora
mkdir -p \$d
install -m 0644 $3 \$d/grubx64.efi" '
/boot/efi/EFI/fedora/grubx64.efi'
        set --
fi

# A package that only ships a marker file under /usr/share/fixture.
simple() {
        local name=$1 version=$2 header=$3
        spec "$name" "$version" noarch "$header" "
mkdir -p %{buildroot}/usr/share/fixture
echo $name-$version >%{buildroot}/usr/share/fixture/$name" "
/usr/share/fixture/$name" "${4:-}"
}

simple fixture-rich 1.0 "Requires: (fixture-alt-a or fixture-alt-b)"
simple fixture-alt-a 1.0 ""
simple fixture-alt-b 1.0 ""
simple fixture-tools 1.0 "Requires: /usr/lib/fixture/helper"
spec fixture-helper 1.0 noarch "" '
install -d %{buildroot}/usr/lib/fixture
printf "#!/bin/sh\necho helper\n" >%{buildroot}/usr/lib/fixture/helper
chmod 0755 %{buildroot}/usr/lib/fixture/helper' '
/usr/lib/fixture/helper'
simple fixture-old 1.0 ""
simple fixture-new 2.0 "Obsoletes: fixture-old < 2
Provides: fixture-old = 2.0"
simple fixture-conflict-a 1.0 "Conflicts: fixture-conflict-b"
simple fixture-conflict-b 1.0 ""
simple fixture-pager-user 1.0 "Requires: fixture-pager-helper"
simple fixture-pager-helper 1.0 "Requires: less"
simple less 608 ""
simple fixture-scriptlet 1.0 "Requires(post): /bin/sh" '
%post
# What a scriptlet may expect of the root: /proc, and /dev/null a device it can write to.
read -r status </proc/self/status || exit 1
[ -c /dev/null ] && echo ignored >/dev/null || exit 1
echo "fixture-scriptlet %{version} ran ($status)" >/etc/fixture-scriptlet-ran'
simple fixture-post-fails 1.0 "Requires(post): /bin/sh" '
%post
echo "fixture-post-fails: failing on purpose" >&2
exit 1'
simple fixture-broken 1.0 "Requires: fixture-does-not-exist"
simple fixture-recommended 1.0 ""
spec fixture-escape-link 1.0 noarch "" '
mkdir -p %{buildroot}/usr/lib
ln -s /tmp/vmcompose-rpm-escape %{buildroot}/usr/lib/fixture-escape' '
/usr/lib/fixture-escape'
spec fixture-escape-file 1.0 noarch "Requires: fixture-escape-link" '
mkdir -p %{buildroot}/usr/lib/fixture-escape
echo escaped >%{buildroot}/usr/lib/fixture-escape/pwned' '
/usr/lib/fixture-escape/pwned'
# Built with the same name length as its hostile form (make_dotdot rewrites the path) and an
# uncompressed payload, so the rewrite is a same-length byte substitution.
spec fixture-dotdot 1.0 noarch "" '
mkdir -p %{buildroot}/usr/lib/XX/XX/XX/XX/tmp
echo escaped >%{buildroot}/usr/lib/XX/XX/XX/XX/tmp/vmcompose-rpm-dotdot' '
/usr/lib/XX/XX/XX/XX/tmp/vmcompose-rpm-dotdot'

for s in "$W"/build/SPECS/*.spec; do
        extra=()
        case $s in */fixture-dotdot.spec) extra=(--define "_binary_payload w0.ufdio") ;; esac
        nice -n 10 rpmbuild --target "$ARCH" "${RPMDEFS[@]}" "${extra[@]}" --quiet -bb "$s" >"$W/rpmbuild.log" 2>&1 ||
                { cat "$W/rpmbuild.log"; echo "rpmbuild failed: $s" >&2; exit 1; }
done

SIGN=(--define "__gpg /usr/bin/gpg" --define "_gpg_path $G" --define "_gpg_name fixture@vmcompose.test")
SIGN2=(--define "__gpg /usr/bin/gpg" --define "_gpg_path $G2" --define "_gpg_name other@vmcompose.test")
sign() { rpmsign "$@" >"$W/sign.log" 2>&1 || { cat "$W/sign.log"; exit 1; }; }

rm -rf "$OUT/repo" "$OUT/variants" "$OUT/gnupg"
mkdir -p "$OUT/repo"
for f in "$W"/build/RPMS/*/*.rpm; do
        case $f in */fixture-dotdot-*) continue ;; esac
        cp "$f" "$OUT/repo/"
done
sign "${SIGN[@]}" --addsign "$OUT"/repo/*.rpm

gpg --homedir "$G" --armor --export fixture@vmcompose.test >"$OUT/RPM-GPG-KEY-fixture"
gpg --homedir "$G2" --armor --export other@vmcompose.test >"$OUT/other-key.asc"
cp "$OUT/RPM-GPG-KEY-fixture" "$OUT/repo/"
echo "$KVER" >"$OUT/kernel-version"
rm -f "$OUT/shim-grub"
[ -z "$SHIM_FILES" ] || echo "shim-x64 grub2-efi-x64" >"$OUT/shim-grub"

# createrepo_c DIR [options]: the metadata, then repomd.xml signed with KEYHOME (unless "").
mkrepo() {
        local dir=$1 home=$2 name=$3
        shift 3
        createrepo_c --quiet --revision 1 --set-timestamp-to-revision --no-database \
                --distro "vmcompose-fixture" "$@" "$dir" >"$W/createrepo.log" 2>&1 ||
                { cat "$W/createrepo.log"; exit 1; }
        if [ -n "$home" ]; then
                gpg --homedir "$home" --batch --quiet --yes --local-user "$name" --armor \
                        --detach-sign -o "$dir/repodata/repomd.xml.asc" "$dir/repodata/repomd.xml"
        fi
}
# The comps groups (dnf's @core): mandatory and default packages are installed, optional ones
# not; less is there for the policy to leave out, fixture-not-built for a name no repository has.
cat >"$W/comps.xml" <<'COMPS'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <description>The fixture's smallest bootable set</description>
    <default>false</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">filesystem</packagereq>
      <packagereq type="mandatory">busybox</packagereq>
      <packagereq type="mandatory">fixture-not-built</packagereq>
      <packagereq type="default">fixture-init</packagereq>
      <packagereq type="default">less</packagereq>
      <packagereq type="optional">fixture-recommended</packagereq>
    </packagelist>
  </group>
</comps>
COMPS
mkrepo "$OUT/repo" "$G" fixture@vmcompose.test -g "$W/comps.xml"

if [ $variants = 1 ]; then
        V=$OUT/variants
        # variant NAME: a repository of hard links to repo/'s packages.
        variant() {
                mkdir -p "$V/$1"
                ln "$OUT"/repo/*.rpm "$V/$1/"
        }
        # Debian 12's createrepo_c has no zstd: the gz files are recompressed and repomd.xml's
        # location, checksum and size rewritten (open-checksum stays), then signed.
        variant zstd
        mkrepo "$V/zstd" "" ""
        python3 - "$V/zstd/repodata" <<'PY'
import hashlib, os, re, subprocess, sys
d = sys.argv[1]
md = open(os.path.join(d, "repomd.xml")).read()
for gz in sorted(f for f in os.listdir(d) if f.endswith(".xml.gz")):
    raw = subprocess.run(["zcat", os.path.join(d, gz)], check=True, capture_output=True).stdout
    z = subprocess.run(["zstd", "-q", "-19", "-c"], input=raw, check=True, capture_output=True).stdout
    old_sum, kind = gz.split("-", 1)
    new_sum = hashlib.sha256(z).hexdigest()
    new = "%s-%s" % (new_sum, kind.replace(".gz", ".zst"))
    open(os.path.join(d, new), "wb").write(z)
    os.unlink(os.path.join(d, gz))
    md = md.replace(gz, new)
    md = re.sub(r'(<checksum type="sha256">)%s(</checksum>)' % old_sum, r"\g<1>%s\g<2>" % new_sum, md)
    md = re.sub(r"(%s</checksum>\s*<open-checksum[^>]*>[0-9a-f]+</open-checksum>\s*<location[^>]*/>\s*<timestamp>\d+</timestamp>\s*<size>)\d+" % new_sum,
                lambda m: m.group(1) + str(len(z)), md)
open(os.path.join(d, "repomd.xml"), "w").write(md)
PY
        gpg --homedir "$G" --batch --quiet --yes --local-user fixture@vmcompose.test --armor \
                --detach-sign -o "$V/zstd/repodata/repomd.xml.asc" "$V/zstd/repodata/repomd.xml"
        variant xz
        mkrepo "$V/xz" "$G" fixture@vmcompose.test --general-compress-type xz

        variant tampered-primary
        mkrepo "$V/tampered-primary" "$G" fixture@vmcompose.test
        p=$(ls "$V"/tampered-primary/repodata/*-primary.xml.gz)
        zcat "$p" | sed 's|<summary>vmcompose RPM fixture: less</summary>|<summary>vmcompose RPM fixture: lesS</summary>|' |
                gzip -n >"$p.new"
        mv "$p.new" "$p"

        variant unsigned-repomd
        mkrepo "$V/unsigned-repomd" "" ""

        variant wrong-key-repomd
        mkrepo "$V/wrong-key-repomd" "$G2" other@vmcompose.test

        # The payload is the end of the file (zstd): flip a byte well inside it.
        variant payload-changed
        f=$(ls "$V"/payload-changed/fixture-alt-a-*.rpm)
        cp --remove-destination "$(readlink -f "$f")" "$f.new" && mv "$f.new" "$f"
        size=$(stat -c %s "$f")
        printf '\x5a' | dd of="$f" bs=1 seek=$((size - 40)) conv=notrunc status=none
        mkrepo "$V/payload-changed" "$G" fixture@vmcompose.test

        variant other-key
        f=$(ls "$V"/other-key/fixture-alt-a-*.rpm)
        rm "$f" && cp "$W"/build/RPMS/noarch/fixture-alt-a-*.rpm "$V/other-key/"
        sign "${SIGN2[@]}" --addsign "$f"
        mkrepo "$V/other-key" "$G" fixture@vmcompose.test

        variant unsigned-package
        f=$(ls "$V"/unsigned-package/fixture-alt-a-*.rpm)
        rm "$f" && cp "$W"/build/RPMS/noarch/fixture-alt-a-*.rpm "$V/unsigned-package/"
        mkrepo "$V/unsigned-package" "$G" fixture@vmcompose.test

        # make_dotdot: rpmbuild refuses no file name it finds in the build root, but a build
        # root holds no "..", so the hostile name is made by rewriting the built package: the
        # uncompressed cpio payload and the header's dirnames hold "XX/XX/XX/XX" where the
        # hostile form has "../../../..", a same-length substitution; then the header's
        # payload digests (SHA-256 of the payload, hex strings in the header) are replaced by
        # the new payload's, the signature header's digests of the header and of the package
        # are made anew (rpmsign refuses a package whose digests are wrong), and the package is
        # re-signed (rpmsign --delsign, --addsign). rpm -K then
        # reports the package as correctly signed: only the installer's path check refuses it.
        variant hostile-dotdot
        f=$V/hostile-dotdot/fixture-dotdot-1.0-1.fx.noarch.rpm
        cp "$W"/build/RPMS/noarch/fixture-dotdot-*.rpm "$f"
        python3 - "$f" <<'PY'
import hashlib, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
orig = bytes(data)
# lead (96 bytes), signature header (padded to 8), header; then the payload.
def header_end(off):
    il, dl = struct.unpack(">II", data[off + 8:off + 16])
    return off + 16 + il * 16 + dl
sig_end = header_end(96)
sig_end += (8 - sig_end % 8) % 8
hdr_end = header_end(sig_end)
old_payload = bytes(data[hdr_end:])
old_digest = hashlib.sha256(old_payload).hexdigest().encode()
data = data.replace(b"XX/XX/XX/XX", b"../../../..")
new_digest = hashlib.sha256(bytes(data[hdr_end:])).hexdigest().encode()
assert data.count(old_digest) >= 1, "payload digest not found"  # and the "alt" one: equal, uncompressed
data = data.replace(old_digest, new_digest)
# The signature header's digests of the header (SHA-1, SHA-256 as hex) and of header + payload
# (MD5, binary): rpmsign refuses a package whose digests do not match, so they are made anew.
old_hdr = bytes(orig[sig_end:hdr_end])
new_hdr = bytes(data[sig_end:hdr_end])
sig = bytes(data[96:sig_end])
for old, new in ((hashlib.sha1(old_hdr).hexdigest().encode(), hashlib.sha1(new_hdr).hexdigest().encode()),
                 (hashlib.sha256(old_hdr).hexdigest().encode(), hashlib.sha256(new_hdr).hexdigest().encode()),
                 (hashlib.md5(bytes(orig[sig_end:])).digest(), hashlib.md5(bytes(data[sig_end:])).digest())):
    if sig.count(old) == 1:
        sig = sig.replace(old, new)
data[96:sig_end] = sig
open(path, "wb").write(data)
PY
        sign --delsign "$f"
        sign "${SIGN[@]}" --addsign "$f"
        mkrepo "$V/hostile-dotdot" "$G" fixture@vmcompose.test
fi

# The secret key, for tests that sign more (gpg-agent is stopped by cleanup).
gpgconf --homedir "$G" --kill gpg-agent 2>/dev/null || true
# Not its sockets: the agent going away removes them while they are copied.
mkdir -m 700 -p "$OUT/gnupg"
for f in "$G"/*; do
        case ${f##*/} in
        S.*) ;;
        *) cp -a "$f" "$OUT/gnupg/" ;;
        esac
done

if [ -n "$cache" ]; then
        mkdir -p "$cache"
        rm -rf "$cache/rpm-fixture-$key.tmp"
        cp -a "$OUT" "$cache/rpm-fixture-$key.tmp"
        touch "$cache/rpm-fixture-$key.tmp/.complete"
        rm -rf "$cache/rpm-fixture-$key"
        mv "$cache/rpm-fixture-$key.tmp" "$cache/rpm-fixture-$key"
fi
