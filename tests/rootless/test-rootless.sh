#!/usr/bin/env bash
# Rootless builds: `vmcompose build` as an ordinary user (a test user with a subordinate id range,
# made here: the suite itself runs as root) runs in a user namespace and gives the same bytes as
# the same build made as root.
#   errors: a user without subordinate ids, or without newuidmap, or whose user namespaces are
#           disabled by sysctl, gets the error that says so, exit 1, and nothing is written
#           (seconds).
#   build:  profiles/minimal.yaml built as the user and as root: raw, vhd, qcow2, the manifest and
#           the SBOM equal byte for byte; inside, /usr/bin/passwd setuid root, /etc/shadow
#           root:shadow 0640, /var/log/journal of the group systemd-journal that systemd's
#           maintainer script made; inspect, diff, profile, lock, audit and one boot as the user;
#           a build interrupted by SIGINT leaves no process and no temporary tree; minimal
#           --arch arm64 as the user and as root, the same bytes (minutes).
#   cache:  a cache shared by root's and a user's builds: root's additions to a user's cache
#           are the user's; root's cache is refused to a user with what to do; both at once
#           (seconds, downloads from the host's apt sources).
# Usage: test-rootless.sh VMCOMPOSE errors|cache|build   (from the source tree's top directory)
set -u
VMC=$(realpath "${1:?usage: test-rootless.sh VMCOMPOSE errors|cache|build}")
MODE=${2:?usage: test-rootless.sh VMCOMPOSE errors|cache|build}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (it makes the test users, and the root build to compare)"; exit 77; }
for t in useradd setpriv newuidmap newgidmap debugfs sfdisk; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
. "$(dirname "$0")/test-user.sh"
U=vmcompose-test
test_user $U || { echo "FAIL: cannot make the test user $U"; exit 1; }
as_user $U
"${AS_USER[@]}" test -x "$VMC" || { echo "SKIP: $U cannot run $VMC (a directory above it is private)"; exit 77; }
HOME_U=$(getent passwd $U | cut -d: -f6)
T=$(mktemp -d /tmp/vmcompose-rootless-XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }
# A directory the test user owns, for its outputs.
user_dir() { mkdir -p "$1" && chown $U: "$1"; }

if [ "$MODE" = errors ]; then
        N=vmcompose-nosub
        test_user $N nosubids || { echo "FAIL: cannot make the test user $N"; exit 1; }
        as_user $N
        H=$(getent passwd $N | cut -d: -f6)
        rm -rf "$H/.cache/vmcompose"
        mkdir -p "$T/n" && chown $N: "$T/n"
        "${AS_USER[@]}" "$VMC" build profiles/minimal.yaml -o "$T/n/out" >"$T/log" 2>&1
        check "a user without subordinate ids: exit 1" test $? -eq 1
        check "... the error names /etc/subuid and the line to add" \
                grep -Eq "/etc/subuid has no range of 65536 subordinate user ids for $N.*" "$T/log"
        check "... the line itself" grep -Eq "^  $N:[0-9]+:65536\$" "$T/log"
        check "... and the usermod command" grep -q "usermod --add-subuids [0-9]*-[0-9]* $N" "$T/log"
        check "... nothing written (no output directory)" test ! -e "$T/n/out"
        check "... no cache directory made" test ! -e "$H/.cache/vmcompose"
        grep -q "subordinate" "$T/log" || cat "$T/log"
        # A disk from a prepared root (--root) installs nothing: no namespace, no ids needed.
        mkdir -p "$T/n/root/etc" "$T/n/esp/EFI/BOOT"
        echo hello >"$T/n/root/etc/motd"
        echo efi >"$T/n/esp/EFI/BOOT/BOOTX64.EFI"
        chown -R $N: "$T/n"
        "${AS_USER[@]}" "$VMC" build tests/disk/small.yaml --root "$T/n/root" --esp "$T/n/esp" \
                -o "$T/n/disk" >"$T/log" 2>&1
        check "... yet builds a disk from a prepared root (--root) without a namespace" test $? -eq 0
        check "... owned by the user" test "$(stat -c %U "$T/n/disk/small.raw")" = $N
        check "... with no cache directory made" test ! -e "$H/.cache/vmcompose"
        # Subordinate user ids but no group ids: the error names /etc/subgid.
        test_user $N
        sed -i "/^$N:/d" /etc/subgid
        "${AS_USER[@]}" "$VMC" build profiles/minimal.yaml -o "$T/n/out" >"$T/log" 2>&1
        check "no subordinate group ids: exit 1, naming /etc/subgid" \
                grep -q "/etc/subgid has no range of 65536 subordinate group ids for $N" "$T/log"
        test_user $N nosubids
        # newuidmap not on PATH (the package uidmap not installed).
        as_user $U
        "${AS_USER[@]}" env PATH=/nonexistent "$VMC" build profiles/minimal.yaml \
                -o "$T/n/out" >"$T/log" 2>&1
        check "no newuidmap: exit 1" test $? -eq 1
        check "... the error names newuidmap and the package uidmap" \
                grep -q "newuidmap is not installed: it comes with the package uidmap" "$T/log"
        check "... nothing written" test ! -e "$T/n/out"
        # User namespaces disabled (user.max_user_namespaces=0), without touching the host's
        # sysctl: that limit is per user namespace, so the test user makes one of its own (uid 0
        # is the user, 1-65536 its subordinate ids), sets the limit to 0 there, and runs
        # vmcompose in it as an ordinary user again (its own uid, one of the subordinate ids
        # outside), whose subordinate ids and newuidmap are all in place.
        if unshare --help | grep -q -- --map-users; then
                uid=$(id -u $U)
                gid=$(id -g $U)
                sub=$(awk -F: -v u=$U '$1 == u { print $2 }' /etc/subuid)
                subg=$(awk -F: -v u=$U '$1 == u { print $2 }' /etc/subgid)
                mkdir -p "$T/d/home" && chmod 1777 "$T/d" "$T/d/home"
                "${AS_USER[@]}" unshare --user --map-root-user --map-users=$sub,1,65536 \
                        --map-groups=$subg,1,65536 sh -c '
                        echo 0 >/proc/sys/user/max_user_namespaces || exit 99
                        exec setpriv --reuid=$1 --regid=$2 --clear-groups env HOME=$3 \
                                "$4" build profiles/minimal.yaml -o "$5"' \
                        sh "$uid" "$gid" "$T/d/home" "$VMC" "$T/d/out" >"$T/log" 2>&1
                check "user namespaces disabled by sysctl: exit 1" test $? -eq 1
                check "... the error names the sysctl user.max_user_namespaces" \
                        grep -q "user namespaces are disabled: the sysctl user.max_user_namespaces is 0" "$T/log"
                check "... and the line that changes it" \
                        grep -q "sysctl -w user.max_user_namespaces=" "$T/log"
                check "... nothing written (no output directory)" test ! -e "$T/d/out"
                check "... no cache directory made" test ! -e "$T/d/home/.cache"
                grep -q "max_user_namespaces" "$T/log" || cat "$T/log"
        else
                echo "skip: user namespaces disabled (unshare has no --map-users: util-linux < 2.38)"
        fi
        echo "$failures failure(s)"
        [ $failures -eq 0 ]
        exit
fi
if [ "$MODE" = cache ]; then
        # A cache a user's builds and root's share is the user's: what a root build adds to it
        # is given to the user; a cache of root's is refused to the user before anything is
        # written, saying what to do; a root build and a user build at once, both downloading
        # into the same empty cache (flock on each partial file), both succeed.
        fetch() { # WHO CACHE OUT: build --until fetch as root or as the user; log in $T/log
                local who=$1 cache=$2 out=$3
                if [ "$who" = root ]; then
                        timeout 600 "$VMC" -v build profiles/minimal.yaml --until fetch \
                                --cache-dir "$cache" -o "$out" >"$T/log" 2>&1
                else
                        timeout 600 "${AS_USER[@]}" "$VMC" -v build profiles/minimal.yaml \
                                --until fetch --cache-dir "$cache" -o "$out" >"$T/log" 2>&1
                fi
        }
        user_dir "$T/u"
        C=$T/u/cache
        user_dir "$C"
        chmod 700 "$C"
        fetch root "$C" "$T/rootout"
        check "as root, in the user's cache: builds up to fetch (exit $?)" test $? -eq 0
        check "... and what it added is the user's" test -z "$(find "$C" ! -user $U -print -quit)"
        fetch user "$C" "$T/u/out1"
        check "then as the user, in the same cache: builds up to fetch (exit $?)" test $? -eq 0
        check "... from root's downloads" grep -q "fetch: 0 downloaded" "$T/log"
        grep -q "fetch: 0 downloaded" "$T/log" || tail -5 "$T/log"

        # Root's cache: refused, with what to do; nothing written.
        mkdir -p "$T/rootcache"
        fetch user "$T/rootcache" "$T/u/out2"
        check "as the user, in root's cache: exit 1" test $? -eq 1
        check "... the error names the cache, its owner and the way out" grep -q \
                "cannot add to the cache $T/rootcache: the directory is owned by uid 0, not writable for uid $(id -u $U) (Permission denied).*--cache-dir DIR.*chown -R $U: $T/rootcache" \
                "$T/log"
        check "... nothing written (no output directory)" test ! -e "$T/u/out2"
        check "... nothing added to the cache" test -z "$(ls -A "$T/rootcache")"
        grep -q "cannot add to the cache" "$T/log" || cat "$T/log"
        # A user's cache with a directory of root's in it (made by a vmcompose older than this
        # one): refused, naming that directory.
        mkdir "$C/sha256/zz"
        fetch user "$C" "$T/u/out3"
        check "as the user, in a cache with a directory of root's: exit 1, naming it" \
                grep -q "cannot add to the cache $C: $C/sha256/zz is owned by uid 0" "$T/log"
        rmdir "$C/sha256/zz"

        # Both at once into one empty cache of the user's.
        C=$T/u/both
        user_dir "$C"
        fetch root "$C" "$T/rootout2" &
        rpid=$!
        timeout 600 "${AS_USER[@]}" "$VMC" -v build profiles/minimal.yaml --until fetch \
                --cache-dir "$C" -o "$T/u/out4" >"$T/log.user" 2>&1
        urc=$?
        wait $rpid
        rrc=$?
        check "root and the user at once in one cache: both build up to fetch (exit $rrc, $urc)" \
                test $rrc -eq 0 -a $urc -eq 0
        [ $urc -eq 0 ] || tail -5 "$T/log.user"
        check "... what root added is the user's" test -z "$(find "$C" ! -user $U -print -quit)"
        fetch user "$C" "$T/u/out5"
        check "... and every package is there, verified, for the next build" \
                grep -q "fetch: 0 downloaded" "$T/log"
        echo "$failures failure(s)"
        [ $failures -eq 0 ]
        exit
fi
[ "$MODE" = build ] || { echo "usage: test-rootless.sh VMCOMPOSE errors|cache|build"; exit 2; }
for t in qemu-system-x86_64 chroot; do
        command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
[ -r /usr/share/OVMF/OVMF_CODE_4M.fd ] || { echo "SKIP: ovmf is not installed"; exit 77; }
C=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}

# The root build, installed by dpkg (not from the root cache, as the user's below).
start=$(date +%s)
timeout 900 "$VMC" build profiles/minimal.yaml --no-root-cache --cache-dir "$C" -o "$T/root" >"$T/log" 2>&1
rc=$?
check "as root: profiles/minimal.yaml builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -20 "$T/log"

# The user's download cache (the default, ~/.cache/vmcompose) holds the same downloads: the
# cache is content-addressed (sha256/XX/SHA256), so the root cache's files are copied in.
UC=$HOME_U/.cache/vmcompose
rm -rf "$UC"
mkdir -p "$UC"
cp -a "$C/sha256" "$UC/"
chown -R $U: "$HOME_U/.cache"
chmod 700 "$UC"
user_dir "$T/user"
start=$(date +%s)
timeout 900 "${AS_USER[@]}" "$VMC" build -v profiles/minimal.yaml --no-root-cache -o "$T/user/out" >"$T/log" 2>&1
rc=$?
check "as $U: profiles/minimal.yaml builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -30 "$T/log"
check "... in a user namespace" grep -q "as uid 0 of a user namespace" "$T/log"
check "... from the user's default cache, with no download" grep -q "fetch: 0 downloaded" "$T/log"
check "... dpkg ran (a cold install)" grep -q "unpacked [0-9]* bootstrap packages" "$T/log"
for f in raw vhd qcow2 manifest.json spdx.json; do
        check "minimal.$f: the same bytes as root's" cmp "$T/root/minimal.$f" "$T/user/out/minimal.$f"
        check "... owned by $U" test "$(stat -c %U "$T/user/out/minimal.$f")" = $U
done
check "no temporary tree left" test -z "$(find "$T/user/out" -name '.vmcompose*' -print -quit)"

# arm64 as the user: the build's namespace has a /proc of its own, where the host's binfmt_misc
# (the kernel's handlers, for every namespace) is bound again for the handler check; the host's
# native programs run in the user namespace too. The same bytes as root's arm64 build.
if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        start=$(date +%s)
        timeout 900 "$VMC" build --arch arm64 --no-root-cache --cache-dir "$C" -o "$T/root64" \
                profiles/minimal.yaml >"$T/log" 2>&1
        rc=$?
        check "as root: minimal --arch arm64 builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || tail -20 "$T/log"
        cp -a "$C/sha256" "$UC/"
        chown -R $U: "$UC"
        start=$(date +%s)
        timeout 900 "${AS_USER[@]}" "$VMC" build -v --arch arm64 --no-root-cache \
                -o "$T/user/out64" profiles/minimal.yaml >"$T/log" 2>&1
        rc=$?
        check "as $U: minimal --arch arm64 builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || tail -30 "$T/log"
        check "... the binfmt_misc handler found from the user namespace" grep -q "arm64 programs run through binfmt_misc's qemu-aarch64 (F flag)" "$T/log"
        for f in raw qcow2 vhd manifest.json; do
                check "minimal-arm64.$f: the same bytes as root's" cmp "$T/root64/minimal-arm64.$f" "$T/user/out64/minimal-arm64.$f"
        done
else
        echo "skipping arm64 as the user: no binfmt_misc handler qemu-aarch64"
fi

# Inside the user's image: the root partition read with debugfs.
R=$T/user/out/minimal.raw
off=$(sfdisk -J "$R" | jq '.partitiontable.partitions[] | select(.type == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709") | .start * 512')
stat_of() { debugfs -R "stat $1" "$R?offset=$off" 2>/dev/null | grep -Eo "(Mode|User|Group): *[0-9]+" | tr -d ' ' | tr '\n' ' '; }
check "/usr/bin/passwd is setuid root (got: $(stat_of /usr/bin/passwd))" \
        test "$(stat_of /usr/bin/passwd)" = "Mode:04755 User:0 Group:0 "
shadow_gid=$(debugfs -R "cat /etc/group" "$R?offset=$off" 2>/dev/null | awk -F: '$1 == "shadow" { print $3 }')
check "/etc/shadow is root:shadow 0640 (got: $(stat_of /etc/shadow), shadow is $shadow_gid)" \
        test "$(stat_of /etc/shadow)" = "Mode:0640 User:0 Group:$shadow_gid "
journal_gid=$(debugfs -R "cat /etc/group" "$R?offset=$off" 2>/dev/null | awk -F: '$1 == "systemd-journal" { print $3 }')
check "/var/log/journal belongs to systemd-journal ($journal_gid), made by systemd's scripts (got: $(stat_of /var/log/journal))" \
        test -n "$journal_gid" -a "$(stat_of /var/log/journal)" = "Mode:02755 User:0 Group:$journal_gid "

# The other commands, as the user.
"${AS_USER[@]}" "$VMC" inspect "$T/user/out/minimal.qcow2" >"$T/inspect" 2>&1
check "inspect as $U" test $? -eq 0
"${AS_USER[@]}" "$VMC" diff "$T/root/minimal.raw" "$T/user/out/minimal.qcow2" >"$T/diff" 2>&1
check "diff as $U: root's raw and the user's qcow2 do not differ (exit $?)" test $? -eq 0
"${AS_USER[@]}" "$VMC" profile validate profiles/minimal.yaml >"$T/profile" 2>&1
check "profile validate as $U" test $? -eq 0
"${AS_USER[@]}" "$VMC" profile show --resolved profiles/minimal.yaml >"$T/profile" 2>&1
check "profile show --resolved as $U" grep -q "^name: minimal" "$T/profile"
cp -r profiles "$T/user/profiles"
chown -R $U: "$T/user/profiles"
"${AS_USER[@]}" "$VMC" lock "$T/user/profiles/minimal.yaml" >"$T/lock" 2>&1
check "lock as $U (exit $?)" test -s "$T/user/profiles/minimal.lock"
if command -v guestfish >/dev/null; then
        start=$(date +%s)
        timeout 900 "${AS_USER[@]}" "$VMC" audit "$T/user/out/minimal.qcow2" >"$T/audit" 2>&1
        rc=$?
        check "audit as $U (libguestfs, direct backend; exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || tail -20 "$T/audit"
else
        echo "skipping audit: libguestfs is not installed"
fi
start=$(date +%s)
timeout 400 "${AS_USER[@]}" "$VMC" boot "$T/user/out/minimal.qcow2" --timeout 300 >"$T/boot" 2>&1
rc=$?
check "the user's image boots, booted by $U (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
[ $rc -eq 0 ] || tail -20 "$T/boot"

# SIGINT while dpkg runs in the namespace: the build stops, says so, and leaves nothing.
user_dir "$T/int"
"${AS_USER[@]}" "$VMC" build -v profiles/minimal.yaml --no-root-cache -o "$T/int/out" >"$T/int.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
        grep -q "unpacked [0-9]* bootstrap packages" "$T/int.log" && break
        sleep 0.5
done
sleep 3
check "the build was installing when interrupted" kill -0 $pid
kill -INT $pid
timeout 120 tail --pid=$pid -f /dev/null
wait $pid
rc=$?
check "SIGINT: the build ends with exit 1 (got $rc)" test $rc -eq 1
check "... saying it was interrupted" grep -q "interrupted by signal 2" "$T/int.log"
sleep 1
check "... no process of $U left (namespace holders, dpkg, scripts)" test -z "$(pgrep -u $U)"
check "... no temporary tree left" test -z "$(find "$T/int" -mindepth 2 -print -quit)"
check "... nothing mounted left" sh -c "! grep -q '$T' /proc/self/mountinfo"
pgrep -u $U -a

echo "$failures failure(s)"
[ $failures -eq 0 ]
