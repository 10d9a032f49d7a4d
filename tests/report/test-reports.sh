#!/usr/bin/env bash
# The reports stage without root: a synthetic root with a dpkg database and copyright files,
# built with `vmcompose build --root`; the SBOM is checked by tests/report/validate-spdx.py
# (JSON schema + spdx-expression-parse), and its content against what the root holds.
# Usage: test-reports.sh VMCOMPOSE   (run from the source tree's top directory)
set -u
VMC=${1:?usage: test-reports.sh VMCOMPOSE}
for t in python3 node jq mkfs.ext4 mcopy; do
        command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
[ -d /usr/share/nodejs/spdx-expression-parse ] || { echo "SKIP: node-spdx-expression-parse is not installed"; exit 77; }

T=$(mktemp -d /tmp/vmcompose-report-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
check() { local what=$1; shift; if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi; }
VALIDATE="python3 tests/report/validate-spdx.py"

R=$T/root E=$T/esp
mkdir -p "$R"/var/lib/dpkg "$R"/etc "$E"
cat >"$R"/var/lib/dpkg/status <<EOT
Package: alpha
Status: install ok installed
Architecture: amd64
Version: 1:2.0+dfsg-3
Source: alpha-src (2.0+dfsg-2)

Package: beta
Status: install ok installed
Architecture: all
Version: 1.0

Package: gamma
Status: install ok installed
Architecture: amd64
Version: 0.9

Package: evil
Status: install ok installed
Architecture: amd64
Version: 1

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 5
EOT
mkdir -p "$R"/usr/share/doc/alpha "$R"/usr/share/doc/beta "$R"/usr/share/doc/gamma "$R"/usr/share/doc/evil
cat >"$R"/usr/share/doc/alpha/copyright <<EOT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: alpha

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: lib/*
Copyright: 2021 Someone Else
License: Expat or Apache-2.0

Files: debian/*
Copyright: 2022 A Maintainer
License: public-domain

Files: extra/*
Copyright: 2022 A Maintainer
License: GPL-3+ with OpenSSL exception

License: public-domain
 The author placed this work in the public domain.
EOT
printf 'This is free-form text, not the machine-readable format.\nGPL-2\n' >"$R"/usr/share/doc/beta/copyright
# gamma's copyright file is a symlink that leaves the root: it must be read inside the root.
cat >"$T"/host-copyright <<EOT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: the host
License: MIT
EOT
ln -s "$T"/host-copyright "$R"/usr/share/doc/evil/copyright
ln -s ../alpha/copyright "$R"/usr/share/doc/gamma/copyright

cat >"$T"/p.yaml <<EOT
extends: $PWD/profiles/base/debian-12.yaml
name: reports
disk:
  partitions:
    - {role: esp, size: 32M, fs: vfat}
    - {role: root, size: auto, fs: ext4, free: 16M}
outputs: [raw]
reproducible:
  seed: report-test
  source-date-epoch: 1700000000
EOT
"$VMC" -q build "$T"/p.yaml --root "$R" --esp "$E" -o "$T"/out >"$T"/log 2>&1
check "a build from a root writes the SBOM" test -s "$T"/out/reports.spdx.json
S=$T/out/reports.spdx.json
$VALIDATE "$S" >"$T"/v 2>&1
check "the SBOM validates: $(tail -1 "$T"/v)" test $? -eq 0
check "... listing every installed package and the image, not the removed one" \
        test "$(jq -r '[.packages[].name] | sort | join(" ")' "$S")" = "alpha beta evil gamma reports"
check "... the Files licences joined with AND, each mapped to SPDX" \
        test "$(jq -r '.packages[] | select(.name == "alpha") | .licenseDeclared' "$S")" = \
        "GPL-2.0-or-later AND (MIT OR Apache-2.0) AND LicenseRef-public-domain AND LicenseRef-GPL-3--with-OpenSSL-exception"
check "... a LicenseRef carrying the copyright file's own text" \
        jq -e '.hasExtractedLicensingInfos[] | select(.licenseId == "LicenseRef-public-domain") | .extractedText | contains("public domain")' "$S"
check "... a free-form copyright file declares NOASSERTION" \
        test "$(jq -r '.packages[] | select(.name == "beta") | .licenseDeclared' "$S")" = NOASSERTION
check "... a symlink inside the root is followed inside the root" \
        test "$(jq -r '.packages[] | select(.name == "gamma") | .licenseDeclared' "$S")" != NOASSERTION
check "... a symlink out of the root reads nothing from the host" \
        test "$(jq -r '.packages[] | select(.name == "evil") | .licenseDeclared' "$S")" = NOASSERTION
check "... a purl with the epoch percent-encoded and the source named" \
        jq -e '.packages[] | select(.name == "alpha") | (.externalRefs[0].referenceLocator == "pkg:deb/debian/alpha@1%3A2.0%2Bdfsg-3?arch=amd64&distro=bookworm") and (.sourceInfo | contains("alpha-src"))' "$S"
check "... the creation time from source-date-epoch" jq -e '.creationInfo.created == "2023-11-14T22:13:20Z"' "$S"
mv "$S" "$T"/first.json
"$VMC" -q build "$T"/p.yaml --root "$R" --esp "$E" -o "$T"/out >"$T"/log 2>&1
check "a second build writes the same SBOM byte for byte" cmp -s "$T"/first.json "$S"

# The deviation report: each item with the profile line that caused it, its why: and category.
mkdir -p "$T"/overlay/etc/ssh
echo "Port 2222" >"$T"/overlay/etc/ssh/sshd_config.d-port
cat >"$T"/d.yaml <<EOT
extends: $T/p.yaml
name: devs
packages:
  install:
    - name: openssh-server
      why: remote administration
      category: customization
  remove:
    - name: tzdata
system:
  overlay:
    - path: overlay
      why: the SSH port this fleet uses
      category: security
  scripts:
    - run: echo hi
      why: say hi
EOT
"$VMC" build "$T"/d.yaml --root "$R" --esp "$E" -o "$T"/dout >"$T"/log 2>&1
D=$T/dout/devs.deviations.json
check "the deviation report is written, in JSON and Markdown" test -s "$D" -a -s "$T"/dout/devs.deviations.md
dev() { jq -r --arg k "$1" --arg s "$2" '.deviations[] | select(.kind == $k and .subject == $s) | "\(.where) \(.category) \(.why)"' "$D"; }
check "... an added package at its line, with its why and category" \
        test "$(dev package-added openssh-server)" = "$T/d.yaml:5 customization remote administration"
check "... a removed package at its line, undocumented" test "$(dev package-removed tzdata)" = "$T/d.yaml:9 null null"
check "... an overlay file at the overlay's line" \
        test "$(dev file /etc/ssh/sshd_config.d-port)" = "$T/d.yaml:12 security the SSH port this fleet uses"
check "... a script at its line" test "$(dev script "echo hi")" = "$T/d.yaml:16 null say hi"
check "... counted by category" jq -e '.summary == {"security": 1, "customization": 1, "uncategorized": 1, "undocumented": 1} and .undocumented == 1' "$D"
check "... saying the root was given, not built" jq -e '.root | startswith("given with --root")' "$D"
check "... the Markdown groups the undocumented item" \
        sh -c "sed -n '/^## undocumented/,\$p' '$T/dout/devs.deviations.md' | grep -q 'tzdata'"
check "without --strict-audit, an undocumented deviation is a warning" grep -q "1 deviation without a why:" "$T"/log
rm -rf "$T"/dout
"$VMC" build "$T"/d.yaml --strict-audit --root "$R" --esp "$E" -o "$T"/dout >"$T"/log 2>&1
check "with --strict-audit, it fails the build (exit 1)" test $? -eq 1
check "... naming the file, line and item" grep -q "$T/d.yaml:9: package-removed tzdata" "$T"/log
check "... before anything is written" test -z "$(ls -A "$T"/dout 2>/dev/null)"
for t in "" qemu azure-gen1 azure-gen2 hyperv-gen2; do
        "$VMC" -q build profiles/minimal.yaml ${t:+--target $t} --strict-audit --until profile -o "$T"/sa >"$T"/log 2>&1
        check "the shipped profile minimal${t:+ --target $t} passes --strict-audit" test $? -eq 0
done

# The validator must fail on what a consumer would reject.
bad() {
        local what=$1 filter=$2
        jq "$filter" "$S" >"$T"/bad.json
        $VALIDATE "$T"/bad.json >"$T"/v 2>&1
        check "the validator rejects $what" test $? -eq 1
}
bad "an unknown licence identifier" '(.packages[1].licenseDeclared) = "GPL-2.0-bogus"'
bad "an undeclared LicenseRef" '.hasExtractedLicensingInfos = []'
bad "a relationship to nothing" '.relationships[0].relatedSpdxElement = "SPDXRef-nothing"'
bad "a misspelt field" '.packages[1].licenceDeclared = "MIT"'
bad "a malformed purl" '.packages[1].externalRefs[0].referenceLocator = "deb alpha"'
bad "a wrong SPDX version" '.spdxVersion = "SPDX-2.2"'

echo "$failures failure(s)"
[ $failures -eq 0 ]
