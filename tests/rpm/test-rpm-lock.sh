#!/usr/bin/env bash
# `vmcompose lock` and `vmcompose build --locked --until resolve` on the fixture RPM distribution
# (tests/rpm/make-fixture.sh --variants FIXTURE): the plan a fedora profile gets (obsoletes, rich
# and file dependencies, no Recommends), the lock file, a lock that no longer matches, a missing
# dependency, a forbidden package pulled in by a dependency (policy headless forbids less), a
# tampered primary.xml and an unsigned repomd.xml, each refused with the repository and file named
# and no lock file written.
# Usage: test-rpm-lock.sh VMCOMPOSE FIXTURE
set -u
VMC=$1
FX=$2
[ -f "$FX/repo/repodata/repomd.xml" ] || { echo "SKIP: no fixture at $FX"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-rpmlock-XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
failures=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; failures=$((failures + 1)); }
expect() { # WHAT PATTERN FILE
        if grep -qF -- "$2" "$3"; then ok "$1"; else bad "$1 (no '$2' in:)"; sed 's/^/    /' "$3"; fi
}

profile() { # NAME REPO-DIR PACKAGES [EXTRA YAML]
        cat >"$T/$1.yaml" <<EOF
name: $1
distro:
  family: fedora
  release: "43"
  architecture: amd64
  repositories:
    - uri: file://$2
      suite: fixture
      signed-by: $FX/RPM-GPG-KEY-fixture
packages:
  base: none
  install: [$3]
${4:-}
EOF
}
lock() { "$VMC" ${VERBOSE:-} lock "$T/$1.yaml" --cache-dir "$T/cache-$1" >"$T/$1.out" 2>&1; }

profile good "$FX/repo" "filesystem, busybox, fixture-init, kernel-core, systemd-boot-unsigned, fixture-rich, fixture-tools, fixture-old, fixture-scriptlet"
lock good
rc=$?
if grep -q "distro.family: no backend for fedora" "$T/good.out"; then
        echo "SKIP: the fedora row is not in distros[] yet (composer/distro/distro.c)"
        exit 77
fi
[ $rc -eq 0 ] && ok "vmcompose lock resolves the fixture" || { bad "vmcompose lock (exit $rc)"; cat "$T/good.out"; }
L=$T/good.lock
names=$(awk -F'"' '/^  - name:/{print $2}' "$L" 2>/dev/null | paste -sd' ')
[ "$names" = "busybox filesystem fixture-alt-a fixture-helper fixture-init fixture-new fixture-rich fixture-scriptlet fixture-tools kernel-core systemd-boot-unsigned" ] ||
        [ "$names" = "busybox filesystem fixture-alt-b fixture-helper fixture-init fixture-new fixture-rich fixture-scriptlet fixture-tools kernel-core systemd-boot-unsigned" ] &&
        ok "the plan: fixture-new for the obsoleted fixture-old, one alternative of the rich dependency, the file dependency's fixture-helper, no Recommends" ||
        bad "the plan is: $names"
expect "the lock pins rpm versions and architectures" 'version: "1.0-1.fx"' "$L"
expect "... x86_64 for the kernel" 'architecture: "x86_64"' "$L"

"$VMC" build --locked --until resolve "$T/good.yaml" --cache-dir "$T/cache-good" >"$T/locked.out" 2>&1 &&
        ok "build --locked --until resolve takes the lock" || { bad "build --locked"; cat "$T/locked.out"; }
sed -i '0,/sha256: "[0-9a-f]*"/s//sha256: "0000000000000000000000000000000000000000000000000000000000000000"/' "$L"
"$VMC" build --locked --until resolve "$T/good.yaml" --cache-dir "$T/cache-good" >"$T/stale.out" 2>&1 &&
        bad "a lock whose SHA-256 no longer matches is accepted" ||
        expect "a lock that no longer matches the repository is refused" "no longer matches the repositories" "$T/stale.out"

profile missing "$FX/repo" "filesystem, fixture-broken"
lock missing && bad "a missing dependency resolves" ||
        expect "a missing dependency is named" "nothing provides fixture-does-not-exist needed by fixture-broken-1.0-1.fx.noarch" "$T/missing.out"

profile forbidden "$FX/repo" "filesystem, fixture-pager-user" "policy:
  - name: headless
    why: the test
    category: security"
lock forbidden && bad "a forbidden package pulled in by a dependency resolves" ||
        expect "the chain that pulls the forbidden less in" "forbidden package needed: less-608-1.fx.noarch <- fixture-pager-helper-1.0-1.fx.noarch (Requires: less) <- fixture-pager-user-1.0-1.fx.noarch (Requires: fixture-pager-helper) <- requested by the profile" "$T/forbidden.out"
expect "... and the rule" "forbidden by policy headless" "$T/forbidden.out"

profile tampered "$FX/variants/tampered-primary" "filesystem"
lock tampered && bad "a tampered primary.xml is accepted" ||
        expect "a tampered primary.xml is refused, naming the repository and the file" "repository fixture: file://$FX/variants/tampered-primary/repodata/" "$T/tampered.out"

profile unsigned "$FX/variants/unsigned-repomd" "filesystem"
lock unsigned && bad "an unsigned repomd.xml is accepted" ||
        expect "an unsigned repomd.xml is refused" "repository fixture: file://$FX/variants/unsigned-repomd/repodata/repomd.xml is not signed" "$T/unsigned.out"

profile wrongkey "$FX/variants/wrong-key-repomd" "filesystem"
lock wrongkey && bad "a repomd.xml signed by another key is accepted" ||
        expect "a repomd.xml signed by another key is refused" "repomd.xml: signed by an unknown key" "$T/wrongkey.out"

profile group "$FX/repo" "fixture-scriptlet" "  groups: [core]
policy:
  - name: headless
    why: the test
    category: security"
VERBOSE=-v lock group && ok "packages.groups: [core] resolves" || { bad "packages.groups (exit $?)"; cat "$T/group.out"; }
names=$(awk -F'"' '/^  - name:/{print $2}' "$T/group.lock" 2>/dev/null | paste -sd' ')
[ "$names" = "busybox filesystem fixture-init fixture-scriptlet" ] &&
        ok "the group's mandatory and default packages, without the forbidden less or the optional one" ||
        bad "the group's plan is: $names"
expect "a forbidden group member is left out, said so (-v)" "group core's package less is forbidden by policy, leaving it out" "$T/group.out"
expect "a group member no repository has is skipped with a warning" "group core lists fixture-not-built, which no repository has" "$T/group.out"

for n in missing forbidden tampered unsigned wrongkey; do
        [ ! -e "$T/$n.lock" ] || bad "$n: a lock file was written"
done
[ $failures -eq 0 ] && echo "all passed" || echo "$failures failed"
[ $failures -eq 0 ]
