#!/bin/sh
# Runs in the VM (kupgrade.service), from the second disk: the first boot installs the kernel
# package next to this script and purges the image's own kernel; the second reports the kernel
# that runs. Every line for the test starts with "kupgrade: ". An image that GRUB boots (the
# hook's grub.cfg.in is there) reports the kernel its grub.cfg names instead of BLS entries.
d=/run/kupgrade
new=$(cat $d/new-version)
old=$(cat $d/old-version)
esp=/boot/efi
say() { echo "kupgrade: $*"; }
# The names in a directory on one line (the journal drops a trailing space).
list() { ls "$1" | tr '\n' ' ' | sed 's/ $//'; }
entries() { say "$1: entries: $(cd $esp/loader/entries && grep -H '^version' ./*.conf | tr '\n' ' ' | sed 's/ $//')"; say "$1: $(grep '^default' $esp/loader/loader.conf)"; }
if [ -f /usr/lib/vmcompose/grub.cfg.in ]; then
        . /usr/lib/vmcompose/kernel.conf
        entries() { say "$1: grub.cfg: $(grep -o 'linux [^ ]*' "${GRUB_CFG%% *}")"; say "$1: /boot: $(list /boot)"; }
fi

if [ "$(dpkg-query -W -f '${db:Status-Status}' "linux-image-$new" 2>/dev/null)" = installed ]; then
        say "uname -r: $(uname -r)"
        entries boot2
        say "boot2: kernel files on the ESP: $(list $esp/vmcompose)"
        say "boot2: /boot: $(list /boot)"
        exit 0
fi
say "uname -r: $(uname -r)"
entries before
export DEBIAN_FRONTEND=noninteractive
dpkg -i $d/linux-image-*.deb >/tmp/dpkg.log 2>&1
say "install: dpkg -i exit $?"
sed 's/^/kupgrade: install: | /' /tmp/dpkg.log
entries install
say "install: modules of $new: $(find /lib/modules/$new -name '*.ko*' | wc -l)"
say "install: initramfs on the ESP: $(stat -c %s $esp/vmcompose/$new/initrd 2>&1)"
update-initramfs -u -k "$new" >/tmp/update.log 2>&1
say "update-initramfs: exit $?"
sed 's/^/kupgrade: update-initramfs: | /' /tmp/update.log
say "update-initramfs: /boot: $(list /boot)"
dpkg --purge linux-image-cloud-amd64 "linux-image-$old" >/tmp/dpkg.log 2>&1
say "purge: dpkg --purge exit $?"
sed 's/^/kupgrade: purge: | /' /tmp/dpkg.log
entries purge
say "purge: kernel files on the ESP: $(list $esp/vmcompose)"
sync
say "done"
