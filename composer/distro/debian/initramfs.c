/* SPDX-License-Identifier: MIT */
/* The Debian backend's initramfs maker, initramfs-tools: its settings, written before the
 * kernel is configured, and its lister (moved from composer/pipeline/stage-install.c and
 * stage-bootloader.c). */
#include <stdio.h>
#include <string.h>

#include "debian.h"
#include "vmcompose/spawn.h"

/* initramfs-tools sleeps for the whole of rootdelay= before it even looks for the root disk
 * (its init script), then waits up to that long for it (scripts/local). Azure documents
 * rootdelay=300 as the longest wait for its disk: these two hooks keep that meaning, and drop
 * the unconditional five-minute sleep. /conf/param.conf is read back by initramfs-tools after
 * every hook. */
static const char rootdelay_top[] =
        "#!/bin/sh\n"
        "# Written by vmcompose: rootdelay= is the longest wait for the root disk, not a sleep.\n"
        "case \"$1\" in prereqs) exit 0 ;; esac\n"
        "[ -n \"$ROOTDELAY\" ] || exit 0\n"
        "echo \"export VMCOMPOSE_ROOTDELAY=$ROOTDELAY\" >>/conf/param.conf\n"
        "echo \"ROOTDELAY=\" >>/conf/param.conf\n";
static const char rootdelay_local[] =
        "#!/bin/sh\n"
        "# Written by vmcompose: rootdelay= back for the wait for the root disk (scripts/local).\n"
        "case \"$1\" in prereqs) exit 0 ;; esac\n"
        "[ -n \"$VMCOMPOSE_ROOTDELAY\" ] || exit 0\n"
        "echo \"ROOTDELAY=$VMCOMPOSE_ROOTDELAY\" >>/conf/param.conf\n";

/* The target's drivers go into the initramfs through a hook, not through
 * /etc/initramfs-tools/modules: that file also loads each at boot, while udev in the initramfs
 * loads only what the machine has (a QEMU guest no Hyper-V drivers, and no SCSI stack for a
 * virtio-blk disk). */
static char *drivers_hook(char *const *drivers) {
        Buffer hook = {};
        buffer_puts(&hook, "#!/bin/sh\n"
                           "# Written by vmcompose: the kernel target's initramfs drivers.\n"
                           "[ \"$1\" = prereqs ] && exit 0\n"
                           ". /usr/share/initramfs-tools/hook-functions\n"
                           "manual_add_modules");
        for (char *const *d = drivers; d && *d; d++) {
                _cleanup_free_ char *q = shell_quote(*d);
                buffer_printf(&hook, " %s", q);
        }
        buffer_puts(&hook, "\n");
        return hook.data;
}

/* initramfs-tools reads these when the kernel is configured: the root filesystem's type (or
 * the initramfs has no fsck for it), the target's drivers, the rootdelay= hooks and, for
 * kernel.initramfs-modules: target, MODULES=list (only the target's drivers and what they
 * need: a smaller initramfs that unpacks and probes faster, for this platform only). */
void debian_initramfs_settings(const DistroInitramfsSettings *s, InstallFile **ret, size_t *ret_n) {
        InstallFile files[] = {
                {"etc/initramfs-tools/conf.d/vmcompose-fstype",
                 s->root_fstype ? xasprintf("# Written by vmcompose\nFSTYPE=%s\n", s->root_fstype)
                                : xstrdup("FSTYPE=ext4\n"),
                 0644},
                {"etc/initramfs-tools/hooks/vmcompose-drivers", drivers_hook(s->drivers), 0755},
                {"etc/initramfs-tools/scripts/init-top/vmcompose-rootdelay", xstrdup(rootdelay_top),
                 0755},
                {"etc/initramfs-tools/scripts/local-top/vmcompose-rootdelay",
                 xstrdup(rootdelay_local), 0755},
                {"etc/initramfs-tools/conf.d/vmcompose-modules",
                 xstrdup("# Written by vmcompose: kernel.initramfs-modules: target\n"
                         "MODULES=list\n"),
                 0644},
        };
        size_t n = ELEMENTSOF(files) - (s->only_target_modules ? 0 : 1);
        if (!s->only_target_modules)
                free((char *)files[n].content);
        *ret = xcalloc(n + 1, sizeof(InstallFile));
        memcpy(*ret, files, n * sizeof(InstallFile));
        *ret_n = n;
}

int debian_initramfs_list(const char *root_dir, const char *version, Buffer *out) {
        _cleanup_free_ char *initrd = xasprintf("/boot/initrd.img-%s", version);
        char *const argv[] = {(char *)"chroot", (char *)root_dir, (char *)"lsinitramfs", initrd,
                              NULL};
        int r = spawn_run_in_root(argv, NULL, out);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}
