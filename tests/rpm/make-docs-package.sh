#!/bin/bash
# SPDX-License-Identifier: MIT
# One package beside the fixture distribution (make-fixture.sh) for the install's path
# exclusions, which the fixture's packages do not exercise: fixture-docs, with a program, a %doc
# file, a copyright file, a %lang(de) translation and a man page, signed with the fixture's key.
# Usage: make-docs-package.sh FIXTURE OUT   (writes OUT/fixture-docs-1.0-1.fx.noarch.rpm)
set -euo pipefail

FIX=${1:?usage: make-docs-package.sh FIXTURE OUT}
OUT=${2:?usage: make-docs-package.sh FIXTURE OUT}
mkdir -p "$OUT"
work=$(mktemp -d /tmp/vmc-docs-XXXXXX) # short: gpg-agent's socket lives in the homedir
trap 'gpgconf --homedir "$work/g" --kill gpg-agent 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$FIX/gnupg" "$work/g"
chmod 700 "$work/g"
mkdir -p "$work/SPECS"
cat >"$work/SPECS/fixture-docs.spec" <<'SPEC'
Name: fixture-docs
Version: 1.0
Release: 1.fx
Summary: a program with documentation, translations and a manual
License: MIT AND (GPL-2.0-only OR BSD-3-Clause)
BuildArch: noarch
%description
A vmcompose test package for the policies' path exclusions.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/doc/fixture-docs \
        %{buildroot}/usr/share/locale/de/LC_MESSAGES %{buildroot}/usr/share/man/man1
echo hello >%{buildroot}/usr/bin/fixture-docs
echo readme >%{buildroot}/usr/share/doc/fixture-docs/README
echo copyright >%{buildroot}/usr/share/doc/fixture-docs/copyright
echo hallo >%{buildroot}/usr/share/locale/de/LC_MESSAGES/fixture-docs.mo
echo manual >%{buildroot}/usr/share/man/man1/fixture-docs.1
%files
/usr/bin/fixture-docs
%doc /usr/share/doc/fixture-docs/README
/usr/share/doc/fixture-docs/copyright
%lang(de) /usr/share/locale/de/LC_MESSAGES/fixture-docs.mo
/usr/share/man/man1/fixture-docs.1
SPEC
rpmbuild --quiet --define "_topdir $work" --define "__os_install_post %{nil}" \
        -bb "$work/SPECS/fixture-docs.spec" >/dev/null 2>&1
cp "$work"/RPMS/noarch/fixture-docs-1.0-1.fx.noarch.rpm "$OUT/"
rpmsign --define "__gpg /usr/bin/gpg" --define "_gpg_path $work/g" \
        --define "_gpg_name fixture@vmcompose.test" --addsign "$OUT/fixture-docs-1.0-1.fx.noarch.rpm" \
        >/dev/null 2>&1
