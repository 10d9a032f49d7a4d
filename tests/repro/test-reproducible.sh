#!/usr/bin/env bash
# Byte-identical images: the same profile built twice from cold (dpkg runs both times), the
# second time three days later by its clock (faketime) and in another time zone, and once more
# from the root cache (for the minimal image twice: the root in memory and on the disk), gives
# the same bytes in every output and report. For the minimal image in
# every output format, for the azure-gen2 and hyperv-gen2 targets, and for a UKI (cold only). On a difference,
# `vmcompose diff` says which files differ. Needs root (the install stage) and the host's
# repositories.
# Usage: test-reproducible.sh VMCOMPOSE   (from the source tree's top directory)
set -u
VMC=$(realpath "${1:?usage: test-reproducible.sh VMCOMPOSE}")
[ "$(id -u)" = 0 ] || { echo "SKIP: building images needs root"; exit 77; }
command -v faketime >/dev/null || { echo "SKIP: faketime is not installed"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-repro-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
check() { local what=$1; shift; if "$@" >/dev/null; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi; }

# The shared download cache, and a root cache of this test's own (hard links to the packages):
# the first build of each image must run dpkg, the third must not.
SHARED=${VMCOMPOSE_TEST_CACHE:-/var/cache/vmcompose}
C=$T/cache
mkdir -p "$C" "$SHARED"
[ -d "$SHARED/sha256" ] && cp -al "$SHARED/sha256" "$C/sha256"

# same NAME A B: every file of directory A is in B with the same bytes, and B has no other.
same() {
        local name=$1 a=$2 b=$3 bad=0 f
        for f in "$a"/* "$b"/*; do
                f=${f##*/}
                if ! cmp -s "$a/$f" "$b/$f"; then
                        echo "  $name: $f differs" >&2
                        bad=1
                        case $f in
                        *.raw | *.vhd | *.vhdx | *.qcow2)
                                "$VMC" diff "$a/$f" "$b/$f" >&2
                                ;;
                        *.json | *.md | *.tar) diff <(cat "$a/$f" | strings) <(cat "$b/$f" | strings) | head -20 >&2 ;;
                        esac
                fi
        done
        return $bad
}

build() { # build NAME OUTDIR ARGS...: the build's log in OUTDIR.log
        local name=$1 out=$2
        shift 2
        local start=$(date +%s)
        timeout 900 "$@" -v --cache-dir "$C" -o "$out" >"$out.log" 2>&1
        local rc=$?
        check "$name builds (exit $rc, $(($(date +%s) - start)) s)" test $rc -eq 0
        [ $rc -eq 0 ] || tail -30 "$out.log"
        return $rc
}

for image in minimal-all azure-gen2 hyperv-gen2 uki; do
        case $image in
        minimal-all) args=(tests/repro/minimal-all.yaml) ;;
        # The UKI (objcopy stamps its PE header with the clock): minimal's packages, so it is
        # built with --no-root-cache both times and not again from the cache.
        uki) args=(tests/image/uki.yaml --no-root-cache) ;;
        *) args=(profiles/minimal.yaml --target "$image") ;;
        esac
        A=$T/$image-a B=$T/$image-b W=$T/$image-warm
        build "$image, cold" "$A" "$VMC" build "${args[@]}" || continue
        check "... dpkg ran (cold)" grep -q "install: unpacked [0-9]* bootstrap packages" "$A.log"
        # Three days later by the build's clock (vmcompose's own: faketime does not reach the
        # programs run in the root, which get no host environment), in another zone.
        build "$image, cold again 3 days later in UTC+14" "$B" \
                env TZ=Pacific/Kiritimati faketime -f +3d "$VMC" build "${args[@]}" --no-root-cache || continue
        check "... dpkg ran (cold)" grep -q "install: unpacked [0-9]* bootstrap packages" "$B.log"
        check "$image: the cold builds are byte-identical ($(ls "$A" | tr '\n' ' '))" same "$image" "$A" "$B"
        [ "$image" = uki ] && continue
        build "$image, from the root cache" "$W" "$VMC" build "${args[@]}" || continue
        check "... dpkg not run (the root cache)" grep -q "not installed again" "$W.log"
        check "$image: the warm build is byte-identical to the cold one" same "$image" "$A" "$W"
        if [ "$image" = minimal-all ]; then
                # The root in a tmpfs (VMCOMPOSE_TMPFS=auto, given the memory) or on the disk:
                # the filesystem under the root leaks into no output.
                avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
                if [ "$avail" -ge $((4 << 20)) ]; then
                        check "... its root was made in memory (a tmpfs)" grep -q "the root in memory" "$W.log"
                else
                        echo "  (less than 4 GiB of memory available: the roots were on the disk)"
                fi
                D=$T/$image-disk
                build "$image, from the root cache, the root on the disk (VMCOMPOSE_TMPFS=0)" "$D" \
                        env VMCOMPOSE_TMPFS=0 "$VMC" build "${args[@]}" &&
                        check "... the root on the disk" test -z "$(grep "the root in memory" "$D.log")" &&
                        check "$image: the build with its root on the disk is byte-identical" same "$image" "$A" "$D"
                rm -rf "$D"
        fi
        rm -rf "$B" "$W"
done
# Two deliberately different builds: vmcompose diff names what differs (the Azure target adds
# cloud-init, and its files under it) and exits 1.
start=$(date +%s.%N)
"$VMC" diff "$T/minimal-all-a/minimal-all.raw" "$T/azure-gen2-a/minimal-azure-gen2.vhd" >"$T/diff" 2>&1
rc=$?
echo "  (vmcompose diff of minimal-all.raw and minimal-azure-gen2.vhd: $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}") s)"
check "vmcompose diff of two different builds exits 1 (exit $rc)" test $rc -eq 1
check "... naming cloud-init as added" grep -q '^  + cloud-init ' "$T/diff"
check "... and its files under it" grep -A3 '^  cloud-init:' "$T/diff"
check "... and the kernel command line file on the ESP" grep -q 'loader/entries/' "$T/diff"
[ $rc -eq 1 ] || cat "$T/diff"
check "minimal-all: every output format was compared" test "$(ls "$T/minimal-all-a" | grep -c -E '\.(raw|raw\.zst|vhd|vhdx|qcow2|tar)$')" -eq 6
check "... and the reports" test "$(ls "$T/minimal-all-a" | grep -c -E '\.(manifest\.json|spdx\.json|deviations\.json|deviations\.md)$')" -eq 4
check "the deviation report lists the build records removed, each with a why" jq -e \
        '[.deviations[] | select(.kind == "build-record-removed")] | length >= 3 and all(.why != null and .category == "reproducibility")' \
        "$T/minimal-all-a/minimal-all.deviations.json"
check "... dpkg's log among them" jq -e '.deviations[] | select(.kind == "build-record-removed" and .subject == "/var/log/dpkg.log")' \
        "$T/minimal-all-a/minimal-all.deviations.json"

echo "$((failures == 0 ? 1 : 0)) passed, $((failures > 0 ? 1 : 0)) failed"
[ $failures -eq 0 ]
