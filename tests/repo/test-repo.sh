#!/usr/bin/env bash
# Repositories, trust and resolution through the binary, offline: the test builds its own signed
# repository (dpkg-deb, dpkg-scanpackages, a throwaway gpg key) and checks that vmcompose
# accepts it, and refuses it unsigned, signed by the wrong key, tampered or expired; that
# allow-unsigned works and warns; conflicts, missing dependencies and a forbidden package pulled
# in by a dependency fail with the solver's words; --locked notices a changed package; and, as
# root and as an ordinary user (a test user made here), that malicious packages cannot write
# outside the root.
# Usage: test-repo.sh VMCOMPOSE   (from the source tree's top directory)
set -u
VMC=${1:?usage: test-repo.sh VMCOMPOSE}
for t in gpg dpkg-deb dpkg-scanpackages xz ar; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
T=$(mktemp -d /tmp/vmcompose-repo-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

export GNUPGHOME=$T/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key "vmcompose test <test@example.invalid>" ed25519 sign never 2>/dev/null
gpg --batch -q --passphrase '' --quick-gen-key "someone else <other@example.invalid>" ed25519 sign never 2>/dev/null
gpg --batch -q --export test@example.invalid >"$T/key.gpg"
gpg --batch -q --export other@example.invalid >"$T/other.gpg"

# deb NAME VERSION [CONTROL-LINES...]
deb() {
        local name=$1 version=$2 d=$T/build/$1
        shift 2
        rm -rf "$d"
        mkdir -p "$d/DEBIAN" "$d/usr/share/$name"
        {
                echo "Package: $name"
                echo "Version: $version"
                echo "Architecture: all"
                echo "Maintainer: test <test@example.invalid>"
                for l in "$@"; do echo "$l"; done
                echo "Description: vmcompose test package $name"
        } >"$d/DEBIAN/control"
        echo "$name $version" >"$d/usr/share/$name/version"
        mkdir -p "$T/repo/pool"
        dpkg-deb --root-owner-group -Zxz --build "$d" "$T/repo/pool/${name}_${version}_all.deb" >/dev/null
}

# publish [extra Release fields]: Packages, Packages.xz, a Release, signed as InRelease.
publish() {
        local dist=$T/repo/dists/stable bin=$T/repo/dists/stable/main/binary-amd64
        mkdir -p "$bin"
        (cd "$T/repo" && dpkg-scanpackages -m pool /dev/null 2>/dev/null) >"$bin/Packages"
        xz -kf "$bin/Packages"
        {
                echo "Origin: vmcompose-test"
                echo "Suite: stable"
                echo "Codename: stable"
                echo "Date: $(date -u -R)"
                for l in "$@"; do echo "$l"; done
                echo "Architectures: amd64"
                echo "Components: main"
                echo "SHA256:"
                for f in main/binary-amd64/Packages main/binary-amd64/Packages.xz; do
                        echo " $(sha256sum <"$dist/$f" | cut -d' ' -f1) $(stat -c %s "$dist/$f") $f"
                done
        } >"$dist/Release"
        rm -f "$dist/InRelease" "$dist/Release.gpg"
        gpg --batch -q --yes --local-user test@example.invalid --clearsign -o "$dist/InRelease" "$dist/Release"
}

deb libdep 1.0
deb app 1.0 "Depends: libdep (>= 1.0)"
deb left 1.0 "Conflicts: right"
deb right 1.0
deb broken 1.0 "Depends: ghost"
deb pager 1.0
deb viewer 1.0 "Depends: pager"
publish

# profile FILE NAME [REPO-EXTRA-YAML] [PACKAGES-YAML] [EXTRA-YAML]
profile() {
        cat >"$1" <<EOT
name: $2
distro:
  family: debian
  release: stable
  architecture: amd64
  repositories:
    - uri: file://$T/repo
      suite: stable
      components: [main]
${3:-      signed-by: $T/key.gpg}
packages:
  base: none
  install: [${4:-app}]
${5:-}
EOT
}
C=$T/cache
lock() { timeout 60 "$VMC" lock --cache-dir "$C" "$@" >"$T/log" 2>&1; }

profile "$T/ok.yaml" ok
lock "$T/ok.yaml"
check "lock over a signed file:// repository exits 0" test $? -eq 0
check "the lock file lists app and its dependency" grep -q 'name: "libdep"' "$T/ok.lock"
grep -q 'name: "app"' "$T/ok.lock" && grep -q 'sha256: "[0-9a-f]\{64\}"' "$T/ok.lock"
check "the lock file pins SHA-256 digests" test $? -eq 0

# The input digest (docs/manifest.md): the same inputs give the same one, wherever the files
# lie; a profile value or the repository's metadata changed gives another.
digest() { sed -n 's/^input digest: //p' "$T/log"; }
d1=$(digest)
check "lock prints the input digest" grep -qE '^input digest: sha256:[0-9a-f]{64}$' "$T/log"
lock "$T/ok.yaml"
check "... the same for the same inputs" test "$(digest)" = "$d1"
mkdir -p "$T/elsewhere"
cp "$T/key.gpg" "$T/elsewhere/key.gpg"
profile "$T/elsewhere/ok.yaml" ok "      signed-by: key.gpg"
lock "$T/elsewhere/ok.yaml"
check "... the same for the same profile and keyring in another directory" test "$(digest)" = "$d1"
profile "$T/changed.yaml" ok "" "" "description: another"
lock "$T/changed.yaml"
check "... another when a profile value changes" test -n "$(digest)" -a "$(digest)" != "$d1"
publish "Label: republished"
lock "$T/ok.yaml"
check "... another when the repository's Release changes" test -n "$(digest)" -a "$(digest)" != "$d1"
publish

profile "$T/wrongkey.yaml" wrongkey "      signed-by: $T/other.gpg"
lock "$T/wrongkey.yaml"
check "a repository signed by another key fails" test $? -eq 1
check "... saying so" grep -q "signed by an unknown key" "$T/log"

# repositories: system, from an apt .sources file whose Signed-By is the key itself (armored,
# inline, as deb822 allows).
inline_sources() { # EMAIL
        mkdir -p "$T/apt/sources.list.d"
        {
                printf 'Types: deb\nURIs: file://%s/repo\nSuites: stable\nComponents: main\nSigned-By:\n' "$T"
                gpg --batch -q --armor --export "$1" | sed 's/^$/./; s/^/ /'
        } >"$T/apt/sources.list.d/fixture.sources"
}
cat >"$T/system.yaml" <<EOT
name: system
distro:
  family: debian
  release: stable
  architecture: amd64
  repositories: [system]
packages:
  base: none
  install: [app]
EOT
inline_sources test@example.invalid
VMCOMPOSE_APT_DIR=$T/apt lock "$T/system.yaml"
check "an inline Signed-By key in a .sources file verifies the repository" test $? -eq 0
check "... and no warning about it" sh -c "! grep -q 'inline Signed-By' '$T/log'"
inline_sources other@example.invalid
VMCOMPOSE_APT_DIR=$T/apt lock "$T/system.yaml"
check "an inline key that did not sign it fails" test $? -eq 1
check "... saying so" grep -q "signed by an unknown key" "$T/log"

profile "$T/allow.yaml" allow "      allow-unsigned: true"
mv "$T/repo/dists/stable/InRelease" "$T/InRelease.saved"
lock "$T/wrongkey.yaml"
check "an unsigned repository fails" test $? -eq 1
check "... saying it is not signed" grep -q "is not signed" "$T/log"
lock "$T/allow.yaml"
check "allow-unsigned accepts it" test $? -eq 0
check "... with a warning" grep -q "allow-unsigned: NOT verifying" "$T/log"
mv "$T/InRelease.saved" "$T/repo/dists/stable/InRelease"

# Tampered: the index changes after signing.
cp "$T/repo/pool/app_1.0_all.deb" "$T/app.saved"
deb app 1.0 "Depends: libdep (>= 1.0)" "Recommends: right"
bin=$T/repo/dists/stable/main/binary-amd64
cp "$bin/Packages.xz" "$T/Packages.xz.saved"
(cd "$T/repo" && dpkg-scanpackages -m pool /dev/null 2>/dev/null) | xz >"$bin/Packages.xz"
rm -rf "$C"
lock "$T/ok.yaml"
check "a tampered Packages index fails" test $? -eq 1
check "... on its size or SHA-256" grep -qE "SHA-256 mismatch|the signed index says" "$T/log"
check "... and the cache holds no unverified file" test -z "$(find "$C" -type f 2>/dev/null | grep -v /tmp/)"
cp "$T/Packages.xz.saved" "$bin/Packages.xz"

# Expired.
publish "Valid-Until: $(date -u -R -d '2 days ago')"
lock "$T/ok.yaml"
check "an expired Release fails" test $? -eq 1
check "... saying it expired" grep -q "expired (Valid-Until" "$T/log"
publish

# The solver's words.
profile "$T/conflict.yaml" conflict "" "left, right"
lock "$T/conflict.yaml"
check "a conflict fails" test $? -eq 1
check "... with libsolv's problem text" grep -q "problem 1:.*left.*right\|problem 1:.*right.*left" "$T/log"
profile "$T/broken.yaml" broken "" "broken"
lock "$T/broken.yaml"
check "a missing dependency fails" test $? -eq 1
check "... naming it" grep -q "nothing provides ghost" "$T/log"
mkdir -p "$T/policies"
cat >"$T/nopager.yaml" <<EOT
name: nopager
forbid:
  packages:
    - pattern: pager
      why: no pagers
EOT
profile "$T/forbid.yaml" forbid "" "viewer" "policy: [nopager.yaml]"
lock "$T/forbid.yaml"
check "a forbidden package pulled in by a dependency fails" test $? -eq 1
check "... printing the chain" grep -q "forbidden package needed: pager-1.0.all <- viewer-1.0.all (Depends: pager) <- requested by the profile" "$T/log"
check "... and the rule" grep -q "forbidden by policy nopager (.*nopager.yaml:4:16)" "$T/log"
profile "$T/asks.yaml" asks "" "pager" "policy: [nopager.yaml]"
lock "$T/asks.yaml"
check "asking for a forbidden package fails" test $? -eq 1
check "... before solving" grep -q "package pager is forbidden by policy nopager" "$T/log"
profile "$T/allowed.yaml" allowed "" "viewer" "policy: [nopager.yaml]
allow:
  - name: pager
    why: this fleet's operators page through logs on the console"
lock "$T/allowed.yaml"
check "an allow: exception with a why lets the forbidden package in" test $? -eq 0
check "... into the lock file" grep -q 'name: "pager"' "$T/allowed.lock"
profile "$T/allowed2.yaml" allowed2 "" "viewer" "policy: [nopager.yaml]
allow: [pager]"
lock "$T/allowed2.yaml"
check "an allow: exception without a why is refused (exit 2)" test $? -eq 2
check "... naming its line" grep -q "allowed2.yaml:15:9: the exception 'pager' needs a why:" "$T/log"

# --locked notices a package that changed under the same version.
profile "$T/pinned.yaml" pinned
lock "$T/pinned.yaml"
deb libdep 1.0 "Provides: something-new"
publish
timeout 60 "$VMC" build --locked --cache-dir "$C" -o "$T/out" "$T/pinned.yaml" >"$T/log" 2>&1
check "build --locked fails when a pinned package changed" test $? -eq 1
check "... naming it" grep -q "pinned package libdep 1.0 (all) changed" "$T/log"
rm -f "$T/repo/pool/libdep_1.0_all.deb"
publish
timeout 60 "$VMC" build --locked --cache-dir "$C" -o "$T/out" "$T/pinned.yaml" >"$T/log" 2>&1
check "build --locked fails when a pinned package is gone" test $? -eq 1
check "... naming it" grep -q "pinned package libdep 1.0 (all) is not in any repository" "$T/log"
deb libdep 1.0
publish

# Malicious packages (built as root, and as an ordinary user in a user namespace). Marked
# Essential, they are unpacked by vmcompose itself; a sentinel outside the root must stay
# untouched.
if [ "$(id -u)" = 0 ]; then
        S=$T/sentinel
        S2=$T/sentinel2
        # evil NAME: a .deb whose data.tar is built by tar from $T/evil-data with TAR-ARGS.
        evil() {
                local name=$1 d=$T/evil/$1
                shift
                rm -rf "$d"
                mkdir -p "$d"
                printf '2.0\n' >"$d/debian-binary"
                printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nEssential: yes\nMaintainer: t <t@example.invalid>\nDescription: evil\n' "$name" >"$d/control"
                tar -C "$d" -cJf "$d/control.tar.xz" ./control
                (cd "$T/evil-data" && tar "$@") | xz >"$d/data.tar.xz"
                (cd "$d" && ar rc "$T/repo/pool/${name}_1.0_all.deb" debian-binary control.tar.xz data.tar.xz)
        }
        rm -rf "$T/evil-data"
        mkdir -p "$T/evil-data"
        echo pwned >"$T/evil-data/pwned"
        ln -s "$S" "$T/evil-data/escape"
        evil dotdot -cf - --transform="s,^\./pwned,./../../../../../..$S/dotdot," ./pwned
        evil absolute -P -cf - --transform="s,^\./pwned,$S/absolute," ./pwned
        evil symlink -cf - ./escape --transform="s,^\./pwned,./escape/symlinked," ./pwned
        evil device -cf - ./pwned --transform="s,^\./pwned,./dev-null," -C /dev ./null
        # Symlinked directories a package may ship (each entry is legal on its own): the
        # build's own writes (the staged .debs under /var/cache, the mounts on /proc) stay in
        # the root. S2 holds a file where the staged .debs would go through var -> S2.
        rm -rf "$T/evil-data"
        mkdir -p "$T/evil-data"
        ln -s "$S2" "$T/evil-data/var"
        ln -s / "$T/evil-data/boot"
        evil linkedvar -cf - ./var ./boot
        rm -rf "$T/evil-data"
        mkdir -p "$T/evil-data"
        ln -s "$S" "$T/evil-data/proc"
        evil linkedproc -cf - ./proc
        publish

        # hostile WHO CACHE OWNER: the builds, run by "${RUN[@]}" with the cache CACHE, the
        # sentinels and outputs owned by OWNER (who could write there, were a path to escape).
        hostile() {
                local who=$1 cache=$2 owner=$3 e rc
                rm -rf "$S" "$S2"
                mkdir -p "$S" "$S2/cache"
                echo untouched >"$S/file"
                echo untouched >"$S2/cache/vmcompose-debs"
                chown -R "$owner" "$S" "$S2"
                for e in dotdot absolute symlink; do
                        profile "$T/$e.yaml" "$e" "" "$e"
                        rm -rf "$T/out-$e" && mkdir "$T/out-$e" && chown "$owner" "$T/out-$e"
                        timeout 120 "${RUN[@]}" "$VMC" build --cache-dir "$cache" -o "$T/out-$e" "$T/$e.yaml" >"$T/log" 2>&1
                        rc=$?
                        check "$who: malicious package $e: the build fails (got $rc)" test $rc -eq 1
                        check "... refused by the extraction" \
                                grep -Eq "install: .*(refusing archive member|cannot place)" "$T/log"
                        check "... nothing written outside the root" \
                                test "$(ls -A "$S")" = file -a "$(cat "$S/file")" = untouched
                done
                for e in linkedvar linkedproc; do
                        profile "$T/$e.yaml" "$e" "" "$e"
                        rm -rf "$T/out-$e" && mkdir "$T/out-$e" && chown "$owner" "$T/out-$e"
                        timeout 120 "${RUN[@]}" "$VMC" build --cache-dir "$cache" -o "$T/out-$e" "$T/$e.yaml" >"$T/log" 2>&1
                        rc=$?
                        check "$who: package $e (a directory linked to the host): the build fails (got $rc)" \
                                test $rc -eq 1
                        case $e in
                        linkedvar) check "... the .debs are not staged through var -> host" \
                                grep -q "cannot make /var/cache/vmcompose-debs" "$T/log" ;;
                        linkedproc) check "... /proc is not mounted through proc -> host" \
                                grep -q "root/proc is not a directory" "$T/log" ;;
                        esac
                        check "... nothing staged or removed in the host directory" \
                                test "$(ls -A "$S2/cache")" = vmcompose-debs -a "$(cat "$S2/cache/vmcompose-debs")" = untouched
                        check "... nothing written in the other sentinel" \
                                test "$(ls -A "$S")" = file -a "$(cat "$S/file")" = untouched
                done
                check "$who: no mounts are left behind" sh -c "! grep -q '$T' /proc/self/mountinfo"
        }
        RUN=()
        hostile root "$C" root
        # The same as an ordinary user: the build runs in a user namespace as its uid 0.
        . "$(dirname "$0")/../rootless/test-user.sh"
        if command -v newuidmap >/dev/null && test_user vmcompose-test; then
                as_user vmcompose-test
                RUN=("${AS_USER[@]}")
                chmod 755 "$T"
                mkdir -p "$T/user-cache" && chown vmcompose-test: "$T/user-cache"
                if "${RUN[@]}" test -x "$VMC"; then
                        hostile vmcompose-test "$T/user-cache" vmcompose-test:
                else
                        echo "skipping the malicious-package checks as a user: vmcompose-test cannot run $VMC"
                fi
        else
                echo "skipping the malicious-package checks as a user: no uidmap or no test user"
        fi
else
        echo "skipping the malicious-package checks: not root"
fi

echo "$failures failure(s)"
[ $failures -eq 0 ]
