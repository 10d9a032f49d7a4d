/* SPDX-License-Identifier: MIT */
/* The disk stage: measure, lay out, build each filesystem from its directory, splice it in at
 * its offset, verify. Nothing is mounted; no loop device, no root privileges. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "disk-internal.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/sparse.h"

static const char *source_dir(const Partition *p, const DiskSources *src) {
        switch (p->role) {
        case ROLE_ROOT:
                return src->root_dir;
        case ROLE_ESP:
                return src->esp_dir;
        case ROLE_BOOT:
                return src->boot_dir;
        default:
                return NULL;
        }
}

/* Writes /etc/fstab inside the root (core/rootfs.c: the root is untrusted input). Leaves the
 * file alone when it already has this content, so rebuilding from the same root changes
 * nothing in it. */
static int write_fstab(const char *root, const char *text) {
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *old = NULL;

        if (rfd < 0)
                return -errno;
        if (root_read_file(rfd, "etc/fstab", 1 << 20, &old, NULL) == 0 && streq(old, text))
                return 0;
        return root_write_file(rfd, "etc/fstab", text, strlen(text), 0644, ROOT_WRITE_MKDIR);
}

/* Creates the directories the other partitions mount on (/boot, /boot/efi) inside the root,
 * never through a symlink: a root without them boots (systemd makes them), but tools that
 * mount the image's filesystems (libguestfs) and read-only roots need them. */
static int make_mount_points(const char *root, const DiskLayout *l) {
        for (size_t i = 0; i < l->n_partitions; i++) {
                const PartitionRole role = l->partitions[i].role;
                if (l->partitions[i].fs == FS_NONE || (role != ROLE_ESP && role != ROLE_BOOT))
                        continue;
                static const char *const esp[] = {"boot", "efi", NULL}, *const boot[] = {"boot",
                                                                                         NULL};
                _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                for (const char *const *c = role == ROLE_ESP ? esp : boot; *c; c++) {
                        if (mkdirat(fd, *c, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        int sub = openat(fd, *c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                        close(fd);
                        fd = sub;
                }
        }
        return 0;
}

int disk_build(DiskLayout *l, const DiskSources *src, const char *raw_path, const char *tmp_dir) {
        _cleanup_free_ uint64_t *inodes = xcalloc(l->n_partitions, sizeof(uint64_t));
        Diagnostics diag = {};
        int r;

        for (size_t i = 0; i < l->n_partitions; i++) {
                Partition *p = &l->partitions[i];
                uint64_t need;
                r = disk_measure_tree(source_dir(p, src), p->fs, &need, &inodes[i]);
                if (r < 0)
                        return log_error_errno(r, "disk: cannot measure %s: %m",
                                               source_dir(p, src));
                if (p->auto_size)
                        p->content = need;
        }

        /* An estimate can fall short (many tiny files, long names): retry larger, twice. */
        for (unsigned attempt = 0;; attempt++) {
                r = disk_layout_compute(l, &diag);
                if (r < 0) {
                        diag_print(&diag);
                        diag_done(&diag);
                        return r;
                }
                if (src->root_dir) {
                        _cleanup_free_ char *fstab = disk_fstab(l);
                        r = write_fstab(src->root_dir, fstab);
                        if (r < 0)
                                return log_error_errno(r, "disk: cannot write %s/etc/fstab: %m",
                                                       src->root_dir);
                        r = make_mount_points(src->root_dir, l);
                        if (r < 0)
                                return log_error_errno(r,
                                                       "disk: cannot make the mount points in "
                                                       "%s: %m",
                                                       src->root_dir);
                }

                _cleanup_close_ int fd =
                        open(raw_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0)
                        return log_error_errno(errno, "disk: cannot create %s: %m", raw_path);
                if (ftruncate(fd, (off_t)l->size) < 0)
                        return log_error_errno(errno, "disk: cannot size %s: %m", raw_path);
                r = disk_write_table(l, raw_path);
                if (r < 0)
                        return r;

                Partition *short_of = NULL;
                for (size_t i = 0; i < l->n_partitions && r == 0; i++) {
                        Partition *p = &l->partitions[i];
                        if (p->fs != FS_NONE)
                                log_info("disk: partition %zu (%s): %s, %llu MiB", i + 1,
                                         partition_role_to_string(p->role),
                                         fs_type_to_string(p->fs),
                                         (unsigned long long)(p->size >> 20));
                        r = disk_mkfs(p, source_dir(p, src), inodes[i], src->timestamp, raw_path,
                                      fd, tmp_dir);
                        if (r == -E2BIG)
                                short_of = &l->partitions[i];
                }
                if (r == -E2BIG && short_of && short_of->auto_size && l->auto_size && attempt < 2) {
                        log_info("disk: partition %s: estimate too small, retrying larger",
                                 short_of->where);
                        short_of->content += short_of->content / 4 + (UINT64_C(16) << 20);
                        continue;
                }
                if (r == -E2BIG)
                        return log_error_errno(
                                ENOSPC,
                                "disk: the content of partition %s (%s) does not "
                                "fit in %llu MiB",
                                short_of ? short_of->where : "?",
                                short_of ? partition_role_to_string(short_of->role) : "?",
                                short_of ? (unsigned long long)(short_of->size >> 20) : 0ULL);
                if (r < 0)
                        return log_error_errno(r, "disk: building the filesystems failed: %m");
                if (fsync(fd) < 0)
                        return log_error_errno(errno, "disk: cannot sync %s: %m", raw_path);
                break;
        }
        return disk_verify(l, raw_path);
}
