/* SPDX-License-Identifier: MIT */
/* After writing: read the disk back the way the boot will, and compare with what we meant. */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>

#include "disk-internal.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe);

static const char *blkid_type(FsType fs) {
        switch (fs) {
        case FS_VFAT:
                return "vfat";
        case FS_EXT4:
                return "ext4";
        case FS_EROFS:
                return "erofs";
        case FS_SWAP:
                return "swap";
        default:
                return NULL;
        }
}

static int verify_fs(int fd, const Partition *p, size_t index) {
        _cleanup_(blkid_free_probep) blkid_probe pr = blkid_new_probe();
        const char *type = NULL, *uuid = NULL, *label = NULL;
        char want_uuid[37];
        int bad = 0;

        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t)p->offset, (blkid_loff_t)p->size) < 0)
                return -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID |
                                                      BLKID_SUBLKS_LABEL);
        int r = blkid_do_safeprobe(pr);
        if (r != 0) {
                log_error("verify: partition %zu (%s): no filesystem found (blkid: %s)", index + 1,
                          p->where, r == -2 ? "ambiguous" : "nothing");
                return -EBADMSG;
        }
        (void)blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
        (void)blkid_probe_lookup_value(pr, "UUID", &uuid, NULL);
        (void)blkid_probe_lookup_value(pr, "LABEL", &label, NULL);

        disk_fs_uuid(p, want_uuid);
        if (!type || !streq(type, blkid_type(p->fs))) {
                log_error("verify: partition %zu holds %s, expected %s", index + 1,
                          type ? type : "nothing", blkid_type(p->fs));
                bad++;
        }
        if (!uuid || strcasecmp(uuid, want_uuid)) {
                log_error("verify: partition %zu filesystem UUID is %s, expected %s", index + 1,
                          uuid ? uuid : "none", want_uuid);
                bad++;
        }
        /* mkfs.vfat stores labels upper case; erofs in Debian 12 cannot store one. */
        if (p->label && p->fs != FS_EROFS &&
            (!label ||
             (p->fs == FS_VFAT ? strcasecmp(label, p->label) : strcmp(label, p->label)))) {
                log_error("verify: partition %zu filesystem label is '%s', expected '%s'",
                          index + 1, label ? label : "", p->label);
                bad++;
        }
        return bad ? -EBADMSG : 0;
}

int disk_verify(const DiskLayout *l, const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r, ret = 0;

        if (fd < 0)
                return log_error_errno(errno, "verify: cannot open %s: %m", path);
        r = disk_verify_table(l, path);
        if (r < 0)
                ret = r;
        for (size_t i = 0; i < l->n_partitions; i++) {
                if (!blkid_type(l->partitions[i].fs))
                        continue;
                r = verify_fs(fd, &l->partitions[i], i);
                if (r < 0)
                        ret = r;
        }
        return ret;
}
