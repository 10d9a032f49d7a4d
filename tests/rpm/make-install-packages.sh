#!/bin/bash
# SPDX-License-Identifier: MIT
# Small RPM packages for the install half of the RPM backend (tests/unit/test-rpm-install.c),
# made with rpmbuild and signed with a throwaway key: OUT/key.asc (the repository's key),
# OUT/other.asc (another key) and OUT/*.rpm:
#   tsh.rpm              /bin/sh (busybox-static): the shell the scriptlets run with
#   hello.rpm            a program, a %doc file, a %lang(de) file, a man page, a %post that
#                        writes /var/lib/hello/posted
#   hello-unsigned.rpm   hello, not signed
#   hello-other.rpm      hello, signed with the other key
#   hello-tampered.rpm   hello, its payload changed after signing
#   fails.rpm            a %post that fails
#   evil.rpm             a signed package whose header writes /../../x/evil
#   esclink.rpm          /opt/esc, a symbolic link to OUT/outside (a host directory)
#   escfile.rpm          /opt/esc/pwned: written through esclink's link
# Skips (exit 77) without rpmbuild, rpmsign, gpg or busybox-static.
set -euo pipefail

OUT=${1:?usage: make-install-packages.sh OUT}
for t in rpmbuild rpmsign gpg perl; do
        command -v "$t" >/dev/null || { echo "SKIP: $t is not installed" >&2; exit 77; }
done
[ -x /bin/busybox ] || { echo "SKIP: busybox-static is not installed" >&2; exit 77; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'vmcompose test repository <repo@example.invalid>' rsa2048 sign never 2>/dev/null
gpg --batch --quiet --passphrase '' --quick-gen-key 'someone else <other@example.invalid>' rsa2048 sign never 2>/dev/null
gpg --batch --armor --export 'vmcompose test repository' >"$OUT/key.asc"
gpg --batch --armor --export 'someone else' >"$OUT/other.asc"
mkdir -p "$OUT/outside"

top=$work/rpmbuild
mkdir -p "$top/SPECS"
build() { # NAME ARCH: builds $top/SPECS/NAME.spec, copies the package to OUT/NAME.rpm
        rpmbuild --quiet --define "_topdir $top" --define "__os_install_post %{nil}" \
                --define "_build_id_links none" -bb "$top/SPECS/$1.spec" >/dev/null 2>&1
        cp "$top/RPMS/$2/$1-"*.rpm "$OUT/$1.rpm"
}
sign() { # FILE KEY-NAME
        rpmsign --define "__gpg /usr/bin/gpg" --define "_gpg_name $2" --addsign "$1" \
                >/dev/null 2>&1
}
spec() { # NAME ARCH: the spec's header; the rest comes on stdin
        { cat <<EOF
Name: $1
Version: 1.0
Release: 1
Summary: vmcompose test package $1
License: MIT AND (GPL-2.0-only OR BSD-3-Clause)
BuildArch: $2
%description
A vmcompose test package.
EOF
          cat; } >"$top/SPECS/$1.spec"
}

spec tsh x86_64 <<'EOF'
AutoReqProv: no
Provides: /bin/sh
%install
mkdir -p %{buildroot}/bin
cp /bin/busybox %{buildroot}/bin/busybox
ln -s busybox %{buildroot}/bin/sh
%files
/bin/busybox
/bin/sh
EOF
build tsh x86_64
sign "$OUT/tsh.rpm" 'vmcompose test repository'

spec hello noarch <<'EOF'
Requires(post): /bin/sh
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/doc/hello \
        %{buildroot}/usr/share/locale/de/LC_MESSAGES %{buildroot}/usr/share/man/man1
echo hello >%{buildroot}/usr/bin/hello
echo readme >%{buildroot}/usr/share/doc/hello/README
echo copyright >%{buildroot}/usr/share/doc/hello/copyright
echo hallo >%{buildroot}/usr/share/locale/de/LC_MESSAGES/hello.mo
echo manual >%{buildroot}/usr/share/man/man1/hello.1
%post
mkdir -p /var/lib/hello
echo "posted by $0" >/var/lib/hello/posted
echo "hello: post-install scriptlet ran"
%files
/usr/bin/hello
%doc /usr/share/doc/hello/README
/usr/share/doc/hello/copyright
%lang(de) /usr/share/locale/de/LC_MESSAGES/hello.mo
/usr/share/man/man1/hello.1
EOF
build hello noarch
cp "$OUT/hello.rpm" "$OUT/hello-unsigned.rpm"
cp "$OUT/hello.rpm" "$OUT/hello-other.rpm"
sign "$OUT/hello.rpm" 'vmcompose test repository'
sign "$OUT/hello-other.rpm" 'someone else'
# The last byte of the compressed payload changed: the header and its signature are intact.
cp "$OUT/hello.rpm" "$OUT/hello-tampered.rpm"
size=$(stat -c %s "$OUT/hello-tampered.rpm")
last=$(tail -c 1 "$OUT/hello-tampered.rpm" | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(((last + 1) % 256)))" |
        dd of="$OUT/hello-tampered.rpm" bs=1 seek=$((size - 1)) conv=notrunc status=none

spec fails noarch <<'EOF'
Requires(post): /bin/sh
%install
mkdir -p %{buildroot}/usr/share/fails
echo data >%{buildroot}/usr/share/fails/data
%post
echo "fails: this scriptlet fails on purpose" >&2
exit 3
%files
/usr/share/fails/data
EOF
build fails noarch
sign "$OUT/fails.rpm" 'vmcompose test repository'

# A hostile package: its header names /../../x/evil. rpmbuild makes only clean paths, so the
# header is edited, its digests made again (as a hostile packager's tools would) and signed.
spec evil noarch <<'EOF'
%install
mkdir -p %{buildroot}/aaa/bbb
echo pwned >%{buildroot}/aaa/bbb/evil
%files
/aaa/bbb/evil
EOF
build evil noarch
perl -0777 -pi -e 's{/aaa/bbb/}{/../../x/}g' "$OUT/evil.rpm"
{ rpm -Kv "$OUT/evil.rpm" 2>&1 || true; } | sed -n 's/.*Expected \([0-9a-f]*\) != \([0-9a-f]*\)).*/\1 \2/p' |
        while read -r want got; do
                perl -0777 -pi -e "\$a = pack('H*', '$want'); \$b = pack('H*', '$got');
                                   s/\\Q\$a\\E/\$b/g; s/$want/$got/g" "$OUT/evil.rpm"
        done
sign "$OUT/evil.rpm" 'vmcompose test repository'

spec esclink noarch <<EOF
%install
mkdir -p %{buildroot}/opt
ln -s $OUT/outside %{buildroot}/opt/esc
%files
/opt/esc
EOF
build esclink noarch
sign "$OUT/esclink.rpm" 'vmcompose test repository'

spec escfile noarch <<'EOF'
Requires: esclink
%install
mkdir -p %{buildroot}/opt/esc
echo pwned >%{buildroot}/opt/esc/pwned
%files
/opt/esc/pwned
EOF
build escfile noarch
sign "$OUT/escfile.rpm" 'vmcompose test repository'
