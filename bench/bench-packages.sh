#!/usr/bin/env bash
# Packages into a configured root: vmcompose (resolve, fetch, install, up to the installed root)
# against mmdebstrap installing the same package set (--variant=custom --include=...) from the
# same repositories, cold cache and warm cache, RUNS runs each. Prints wall time and peak memory
# and the ratios vmcompose / mmdebstrap. Warm, vmcompose finds the root it installed from the
# same packages in its root cache and runs no dpkg; the "warm-nrc" line is vmcompose warm with
# --no-root-cache (dpkg runs again), against the same mmdebstrap warm runs.
# With ROOTLESS=USER (a user with a subordinate id range in /etc/subuid and /etc/subgid), also a
# cold build as USER: vmcompose in its user namespace against mmdebstrap --mode=unshare, the same
# package set and options (the "rootless" line).
# What each side's time holds besides the same packages installed: vmcompose's the index download
# and solve, writing its root cache (a tar of the root) and removing its temporary root at the
# end; mmdebstrap's apt-get update and solve, and the initramfs made twice (by the kernel's
# postinst hook and again by initramfs-tools' trigger; vmcompose makes it once, with INITRD=No),
# its root left in place and removed after the measurement. Neither has a download cache (both
# cold). vmcompose's programs in the root do not wait for the disk (spawn_filter_sync()), which
# mmdebstrap's do unless given its eatmydata hook (not used here).
# Run as root from the source tree's top directory:
#   bench/bench-packages.sh [BUILD_DIR]        (RUNS=3 by default)
#   ROOTLESS=vmcompose-test bench/bench-packages.sh   (ONLY=rootless: that line alone)
set -euo pipefail
VMC=${1:-build}/vmcompose
RUNS=${RUNS:-3}
W=$(mktemp -d /var/tmp/vmcompose-bench-XXXXXX)
trap 'rm -rf "$W"' EXIT
command -v mmdebstrap >/dev/null || { echo "install mmdebstrap first"; exit 1; }

# The same repositories as the profile's "system": the host's apt sources.
mapfile -t repos < <(awk '/^URIs:/{u=$2} /^Suites:/{for (i = 2; i <= NF; i++) print "deb " u " " $i " main"}' /etc/apt/sources.list.d/*.sources)
# The same package set: what vmcompose resolves for the profile.
"$VMC" -q lock profiles/minimal.yaml --cache-dir "$W/lockcache"
mv profiles/minimal.lock "$W/minimal.lock"
pkgs=$(awk -F'"' '/^  - name:/{print $2}' "$W/minimal.lock" | paste -sd,)
echo "package set: $(echo "$pkgs" | tr , '\n' | wc -l) packages (the minimal profile's plan)"

measure() { # LABEL CMD...: appends "seconds peak-KiB" to $W/LABEL
        local label=$1
        shift
        /usr/bin/time -f "%e %M" -o "$W/t" "$@" >"$W/log" 2>&1 || { cat "$W/log"; exit 1; }
        cat "$W/t" >>"$W/$label"
}

# The same work on both sides: what the minimal profile's policies keep out (dpkg path-exclude,
# as vmcompose writes it), and Debian's standard initramfs (initramfs-tools, MODULES=most) on
# both: the minimal profile's own initramfs (kernel.initramfs: vmcompose) is made later, by the
# bootloader stage, so the install stage would otherwise skip work mmdebstrap does.
dpkgopts=()
for d in doc man info locale lintian linda; do
        dpkgopts+=(--dpkgopt="path-exclude=/usr/share/$d/*")
done
dpkgopts+=(--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-include=/usr/share/locale/locale.alias')
initramfs='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo FSTYPE=ext4 >"$1/etc/initramfs-tools/conf.d/fstype"'
cat >"$W/bench.yaml" <<EOT
extends: $PWD/profiles/minimal.yaml
name: bench
kernel:
  initramfs: initramfs-tools
  initramfs-modules: most
EOT

mmd_args=(--variant=custom --include="$pkgs" --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
        --aptopt='Acquire::Check-Valid-Until "false"'
        --aptopt='Acquire::Languages "none"'
        "${dpkgopts[@]}" --essential-hook="$initramfs")
mmd() { # MODE
        local args=("${mmd_args[@]}")
        if [ "$1" = warm ]; then
                args+=(--skip=download/empty --skip=essential/unlink
                        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/'
                        --setup-hook="sync-in $W/mmd-cache /var/cache/apt/archives/")
        else
                args+=(--skip=essential/unlink --customize-hook="sync-out /var/cache/apt/archives $W/mmd-cache")
        fi
        rm -rf "$W/mmd-root"
        mkdir -p "$W/mmd-cache"
        measure "mmdebstrap-$1" mmdebstrap "${args[@]}" bookworm "$W/mmd-root" "${repos[@]}"
}

vmc() { # MODE
        local extra=()
        [ "$1" = cold ] && rm -rf "$W/vmc-cache"
        [ "$1" = warm-nrc ] && extra=(--no-root-cache)
        measure "vmcompose-$1" "$VMC" -q build "$W/bench.yaml" --until install \
                --cache-dir "$W/vmc-cache" -o "$W/out" "${extra[@]}"
}

# Rootless, cold: both as the user, in a directory of the user's.
RU=${ROOTLESS:-}
if [ -n "$RU" ]; then
        chmod 755 "$W"
        mkdir -p "$W/user"
        chown "$RU": "$W/user"
        as_user=(setpriv --reuid="$RU" --regid="$RU" --init-groups --reset-env
                env HOME="$(getent passwd "$RU" | cut -d: -f6)" USER="$RU" PATH=/usr/bin:/bin:/usr/sbin:/sbin)
fi
rootless() {
        rm -rf "$W/user/vmc-cache" "$W/user/mmd-root"
        measure vmcompose-rootless "${as_user[@]}" "$VMC" -q build "$W/bench.yaml" --until install \
                --cache-dir "$W/user/vmc-cache" -o "$W/user/out"
        measure mmdebstrap-rootless "${as_user[@]}" mmdebstrap --mode=unshare "${mmd_args[@]}" \
                --skip=essential/unlink bookworm "$W/user/mmd-root" "${repos[@]}"
        rm -rf "$W/user/mmd-root" # as root: the subordinate ids own it
}

for i in $(seq "$RUNS"); do
        if [ "${ONLY:-}" != rootless ]; then
                vmc cold
                mmd cold
                vmc warm
                vmc warm-nrc
                mmd warm
        fi
        [ -z "$RU" ] || rootless
done
rm -rf "$W/mmd-root"

stats() { # FILE -> "median-seconds peak-MiB"
        sort -n "$1" | awk '{t[NR] = $1; m = ($2 > m ? $2 : m)} END {printf "%.2f %.0f", t[int((NR + 1) / 2)], m / 1024}'
}
printf '%-8s %-22s %-22s %s\n' cache "vmcompose s / MiB" "mmdebstrap s / MiB" "ratio time / memory"
for mode in cold warm warm-nrc ${RU:+rootless}; do
        [ -e "$W/vmcompose-$mode" ] || continue
        read -r vt vm <<<"$(stats "$W/vmcompose-$mode")"
        read -r mt mm <<<"$(stats "$W/mmdebstrap-${mode%-nrc}")"
        printf '%-8s %-22s %-22s %.2f / %.2f\n' $mode "$vt / $vm" "$mt / $mm" \
                "$(echo "$vt / $mt" | bc -l)" "$(echo "$vm / $mm" | bc -l)"
done
echo "(median of $RUNS runs; peak memory is the largest resident set of the process tree's"
echo " biggest process, as GNU time reports it; targets: cold <= 0.8, warm <= 0.5, rootless <= 0.6)"
