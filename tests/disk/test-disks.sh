#!/usr/bin/env bash
# The disk stage end to end, without root privileges, loop devices or mounts:
#   vmcompose build PROFILE --root DIR --esp DIR
# then read the image back with independent tools (sfdisk, blkid, debugfs, e2fsck, mtools).
# Usage: test-disk.sh VMCOMPOSE   (run from the source tree's top directory)
set -u
VMC=${1:?usage: test-disk.sh VMCOMPOSE}
HERE=tests/disk
for t in sfdisk debugfs e2fsck mdir mkfs.erofs setcap blkid jq; do
        command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done

T=$(mktemp -d /tmp/vmcompose-disk-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

# --- a small root with everything a filesystem must carry over ---
R=$T/root E=$T/esp
mkdir -p "$R"/etc "$R"/usr/bin "$R"/var/empty "$R"/home/user "$E"/EFI/BOOT
echo "hello" >"$R"/etc/motd
printf '#!/bin/sh\necho tool\n' >"$R"/usr/bin/tool
chmod 4755 "$R"/usr/bin/tool
printf "#!/bin/sh\nexit 0\n" >"$R"/usr/bin/pinger
setcap cap_net_raw+ep "$R"/usr/bin/pinger
ln -s ../usr/bin/tool "$R"/etc/tool-link
ln "$R"/etc/motd "$R"/etc/motd.hard
echo data >"$R"/home/user/file
truncate -s 64M "$R"/var/sparse # a hole: must not cost 64 MiB
touch -d @2000000000 "$R"/etc/motd # newer than source-date-epoch: clamped
touch -d @1000000000 "$R"/usr/bin/tool # older: kept
if [ "$(id -u)" = 0 ]; then
        chown 1234:5678 "$R"/home/user/file
        owned=1
else
        owned=0
fi
echo "efi" >"$E"/EFI/BOOT/BOOTX64.EFI

run_build() { # PROFILE OUTDIR [extra args]
        local profile=$1 out=$2
        shift 2
        timeout 300 "$VMC" -q build "$profile" --root "$R" --esp "$E" -o "$out" "$@" >"$T/log" 2>&1
}

# --- GPT: ESP + ext4 root ---
run_build $HERE/small.yaml "$T/out1"
rc=$?
check "build small.yaml exits 0 (got $rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$T/log"
IMG=$T/out1/small.raw
check "small.raw exists" test -f "$IMG"
check "no temporary files left in the output directory" \
        test -z "$(find "$T/out1" -name '.vmcompose*' -print -quit)"
check "sfdisk --verify is clean" sfdisk --verify "$IMG"
sfdisk --dump "$IMG" | sed "s|$IMG|DISK|" >"$T/dump"
if [ -n "${UPDATE_GOLDEN:-}" ]; then cp "$T/dump" $HERE/small.sfdisk; fi
check "sfdisk --dump matches the golden layout" diff -u $HERE/small.sfdisk "$T/dump"
size=$(stat -c %s "$IMG")
check "disk size is a whole MiB ($size)" test $((size % 1048576)) -eq 0
alloc=$(($(stat -c %b "$IMG") * 512))
check "the raw image is sparse ($alloc of $size bytes allocated)" test $alloc -lt $((size / 2))

start=$(sfdisk --json "$IMG" | jq '.partitiontable.partitions[1].start')
ROOTFS="$IMG?offset=$((start * 512))"
check "e2fsck finds the root filesystem clean" e2fsck -fn "$ROOTFS"
stat_of() { debugfs -R "stat $1" "$ROOTFS" 2>/dev/null; }
check "setuid mode survives" grep -q 'Mode:  04755' <(stat_of /usr/bin/tool)
check "file capability survives" grep -q 'security.capability' <(debugfs -R 'ea_list /usr/bin/pinger' "$ROOTFS" 2>/dev/null)
check "the ESP's mount point /boot/efi is a directory in the root" grep -q 'Type: directory' <(stat_of /boot/efi)
check "symlink survives" grep -q 'Fast link dest: "../usr/bin/tool"' <(stat_of /etc/tool-link)
ino1=$(debugfs -R 'ls -l /etc' "$ROOTFS" 2>/dev/null | awk '$NF == "motd" {print $1}')
ino2=$(debugfs -R 'ls -l /etc' "$ROOTFS" 2>/dev/null | awk '$NF == "motd.hard" {print $1}')
check "hardlink survives (inodes $ino1 $ino2)" test -n "$ino1" -a "$ino1" = "$ino2"
if [ $owned = 1 ]; then
        check "ownership survives" grep -q 'User:  1234   Group:  5678' <(stat_of /home/user/file)
fi
check "a newer mtime is clamped to source-date-epoch" grep -q 'mtime: 0x6553f100' <(stat_of /etc/motd)
check "an older mtime is kept" grep -q 'mtime: 0x3b9aca00' <(stat_of /usr/bin/tool)
check "ctime follows the clamped mtime" grep -q 'ctime: 0x3b9aca00' <(stat_of /usr/bin/tool)
sparse_blocks=$(stat_of /var/sparse | sed -n 's/.*Blockcount: \([0-9]*\).*/\1/p')
check "a sparse file stays sparse (blockcount ${sparse_blocks:-?})" test "${sparse_blocks:-1}" -lt 1024

root_uuid=$(blkid -p -O $((start * 512)) -s UUID -o value "$IMG")
check "fstab names the root filesystem's UUID ($root_uuid)" grep -q "^UUID=$root_uuid / ext4 " "$R/etc/fstab"
check "the ESP holds the --esp tree" env MTOOLS_SKIP_CHECK=1 mdir -i "$IMG@@1M" ::/EFI/BOOT/BOOTX64.EFI
esp_uuid=$(blkid -p -O 1048576 -s UUID -o value "$IMG")
check "fstab mounts the ESP by its serial ($esp_uuid)" grep -q "^UUID=$esp_uuid /boot/efi vfat" "$R/etc/fstab"

# --- an independent reader: libguestfs (its own kernel, under TCG) opens the image ---
if command -v guestfish >/dev/null; then
        LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg timeout 600 \
                guestfish --ro -a "$IMG" run : mount /dev/sda2 / : ls /etc : cat /etc/motd \
                : umount-all : mount /dev/sda1 / : ls /EFI/BOOT >"$T/guestfs" 2>&1
        check "libguestfs opens the image and reads both filesystems" test $? -eq 0
        check "... finding the files put in" grep -qx "tool-link" "$T/guestfs"
        check "... with their content" grep -qx "hello" "$T/guestfs"
        check "... and the ESP's" grep -qx "BOOTX64.EFI" "$T/guestfs"
else
        fail "guestfish is not installed (scripts/install-deps.sh check installs libguestfs-tools)"
fi

# --- reproducible: the same root and profile give the same bytes ---
cat "$R"/etc/motd "$R"/usr/bin/tool >/dev/null # reading changes atimes
run_build $HERE/small.yaml "$T/out2"
check "a second build succeeds" test $? -eq 0
check "two builds are byte-identical" cmp "$IMG" "$T/out2/small.raw"

# --- MBR on a fixed-size disk: erofs root grows to fill, swap ---
run_build $HERE/small-mbr.yaml "$T/out3"
rc=$?
check "build small-mbr.yaml exits 0 (got $rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$T/log"
M=$T/out3/small-mbr.raw
check "MBR disk is exactly the requested 96 MiB" test "$(stat -c %s "$M")" -eq $((96 << 20))
check "MBR table" grep -q 'label: dos' <(sfdisk --dump "$M")
check "root is active (bootable)" grep -q 'bootable' <(sfdisk --dump "$M")
s1=$(sfdisk --json "$M" | jq '.partitiontable.partitions[0].start')
s2=$(sfdisk --json "$M" | jq '.partitiontable.partitions[1].start')
check "erofs root" test "$(blkid -p -O $((s1 * 512)) -s TYPE -o value "$M")" = erofs
check "swap" test "$(blkid -p -O $((s2 * 512)) -s TYPE -o value "$M")" = swap
check "swap ends at the end of the disk" test $(((s2 + $(sfdisk --json "$M" | jq '.partitiontable.partitions[1].size')) * 512)) -eq $((96 << 20))

# --- does not fit: a clear error, and nothing written ---
mkdir -p "$T/out4"
run_build $HERE/too-small.yaml "$T/out4"
rc=$?
check "a layout that does not fit exits 1 (got $rc)" test $rc -eq 1
check "the error names the partition and the shortfall" grep -q 'partition 2 (root) does not fit.*short by' "$T/log"
check "the error names the profile line" grep -q 'small.yaml:11:7' "$T/log"
check "nothing is left in the output directory" test -z "$(ls -A "$T/out4")"

# --- an older image at the target path survives a failed build ---
mkdir -p "$T/out5"
echo old >"$T/out5/small.raw"
head -c 40M /dev/zero >"$E/too-big-for-the-esp"
run_build $HERE/small.yaml "$T/out5"
check "a build whose ESP content does not fit exits 1" test $? -eq 1
check "the error says the ESP content does not fit" grep -q 'partition.*(esp) does not fit' "$T/log"
check "the older image is untouched" grep -qx old "$T/out5/small.raw"
check "no temporary files are left" test "$(ls -A "$T/out5")" = small.raw
rm -f "$E/too-big-for-the-esp"

# --- what stretches vmcompose's ext4 writer: a directory of 3000 entries (many blocks), a
# 255-byte name, a symlink target too long for the inode, a file of 10 pieces (an extent tree
# with a leaf block), a file over 128 MiB (more than one extent) ---
mkdir -p "$R/var/many"
(cd "$R/var/many" && seq -f 'entry-with-a-longish-name-%g' 1 3000 | xargs touch)
long=$(printf 'n%.0s' $(seq 255))
echo long >"$R/var/many/$long"
ln -s "/$(printf 'target/%.0s' $(seq 25))end" "$R/var/longlink"
for i in $(seq 0 9); do
        printf y | dd of="$R/var/pieces" bs=4096 seek=$((i * 3)) conv=notrunc status=none
done
head -c 140M /dev/urandom >"$R/var/large"
run_build $HERE/small.yaml "$T/out10"
check "a tree that stretches the ext4 writer builds (got $?)" test -f "$T/out10/small.raw"
start=$(sfdisk --json "$T/out10/small.raw" | jq '.partitiontable.partitions[1].start')
FS="$T/out10/small.raw?offset=$((start * 512))"
check "... to a clean filesystem" e2fsck -fn "$FS"
check "... the 10-piece file through an extent tree block" grep -q 'ETB0' <(debugfs -R 'stat /var/pieces' "$FS" 2>/dev/null)
for f in pieces large many/$long; do
        debugfs -R "dump /var/$f $T/dumped" "$FS" >/dev/null 2>&1
        check "... /var/${f:0:20} reads back byte for byte" cmp -s "$T/dumped" "$R/var/$f"
done
check "... the long symlink's target" grep -q "$(readlink "$R/var/longlink")" <(debugfs -R 'cat /var/longlink' "$FS" 2>/dev/null)
check "... all 3000 entries of the big directory" test "$(debugfs -R 'ls /var/many' "$FS" 2>/dev/null | grep -o 'entry-with-a-longish-name-[0-9]*' | sort -u | wc -l)" -eq 3000
rm -rf "$R/var/many" "$R/var/longlink" "$R/var/pieces" "$R/var/large" "$T/out10" "$T/dumped"

# --- interrupted: SIGTERM mid-build leaves nothing behind ---
head -c 300M /dev/urandom >"$R/var/big"
mkdir -p "$T/out6"
timeout 300 "$VMC" -q build $HERE/small.yaml --root "$R" --esp "$E" -o "$T/out6" >"$T/log" 2>&1 &
pid=$!
# Interrupt while the root filesystem's data goes into the disk image, not after a fixed sleep
# (a fast machine finishes).
for _ in $(seq 3000); do
        mib=$(du -sm "$T"/out6/.vmcompose-*/disk.raw 2>/dev/null | cut -f1 | head -1)
        [ "${mib:-0}" -ge 8 ] && break
        sleep 0.01
done
kill -TERM $pid
wait $pid
rc=$?
check "an interrupted build exits 1 (got $rc)" test $rc -eq 1
check "the interruption is reported" grep -q 'interrupted by signal 15' "$T/log"
check "an interrupted build leaves nothing" test -z "$(ls -A "$T/out6")"
rm -f "$R/var/big"

# --- mke2fs, which vmcompose uses for what its own ext4 writer does not represent (ACLs),
# makes the same tree: both filesystems clean, the same files with the same attributes ---
tree_of() { # IMAGE DIR: the root filesystem's files, copied out with debugfs, listed
        local img=$1 dir=$2 start
        start=$(sfdisk --json "$img" | jq '.partitiontable.partitions[1].start')
        mkdir -p "$dir"
        debugfs -R "rdump / $dir" "$img?offset=$((start * 512))" >/dev/null 2>&1
        # (debugfs gives the symlinks it makes no time of their own: leave those out)
        (cd "$dir" && find . \( -type l -printf '%p %y %m %U %G %s %l\n' \) -o \
                -printf '%p %y %m %U %G %T@ %s\n' | sort)
}
VMCOMPOSE_EXT4_WRITER=mke2fs run_build $HERE/small.yaml "$T/out7"
check "VMCOMPOSE_EXT4_WRITER=mke2fs builds (got $?)" test -f "$T/out7/small.raw"
start=$(sfdisk --json "$T/out7/small.raw" | jq '.partitiontable.partitions[1].start')
check "... a clean filesystem" e2fsck -fn "$T/out7/small.raw?offset=$((start * 512))"
tree_of "$IMG" "$T/tree-own" >"$T/list-own"
tree_of "$T/out7/small.raw" "$T/tree-mke2fs" >"$T/list-mke2fs"
check "... holding what vmcompose's own writer wrote ($(wc -l <"$T/list-own") entries)" \
        diff -u "$T/list-mke2fs" "$T/list-own"
check "... byte for byte" diff -r "$T/tree-mke2fs" "$T/tree-own"
rm -rf "$T/tree-own" "$T/tree-mke2fs"
if command -v setfacl >/dev/null; then
        setfacl -m u:1234:r "$R/etc/motd"
        setfacl -d -m g:4:rx "$R/home/user"
        run_build $HERE/small.yaml "$T/out8"
        check "a tree with ACLs builds" test $? -eq 0
        start=$(sfdisk --json "$T/out8/small.raw" | jq '.partitiontable.partitions[1].start')
        check "... to a clean filesystem" e2fsck -fn "$T/out8/small.raw?offset=$((start * 512))"
        # ext4's on-disk form: version 1, 4-byte entries but for named users and groups.
        check "... with the access ACL in ext4's form" grep -q 'system.posix_acl_access (28) = 01 00 00 00 01 00 06 00 02 00 04 00 d2 04 00 00 04 00 04 00 10 00 04 00 20 00 04 00' \
                <(debugfs -R 'ea_list /etc/motd' "$T/out8/small.raw?offset=$((start * 512))" 2>/dev/null)
        check "... and the default ACL" grep -q 'system.posix_acl_default' \
                <(debugfs -R 'ea_list /home/user' "$T/out8/small.raw?offset=$((start * 512))" 2>/dev/null)
        setfacl -b "$R/etc/motd" "$R/home/user"
fi
# A file in more than 340 pieces needs a deeper extent tree than vmcompose writes: mke2fs.
for i in $(seq 0 400); do
        printf x | dd of="$R/var/holes" bs=4096 seek=$((i * 2)) conv=notrunc status=none
done
timeout 300 "$VMC" build $HERE/small.yaml --root "$R" --esp "$E" -o "$T/out9" >"$T/log" 2>&1
check "a file of 401 pieces builds" test $? -eq 0
check "... through mke2fs, saying so" grep -q "using mke2fs" "$T/log"
start=$(sfdisk --json "$T/out9/small.raw" | jq '.partitiontable.partitions[1].start')
check "... to a clean filesystem" e2fsck -fn "$T/out9/small.raw?offset=$((start * 512))"
rm -f "$R/var/holes"

echo "$failures failure(s)"
[ $failures -eq 0 ]
