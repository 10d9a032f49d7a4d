/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"

/* Clamps every inode's timestamps in the ext4 filesystem at byte base of the file at path to
 * timestamp and recomputes the
 * inode checksums (composer/disk/ext4-clamp.c). 0, -EBADMSG when it is not ext4, or -errno. */
int ext4_clamp_times(const char *path, uint64_t base, uint64_t timestamp);

/* Reads the partition table back with libfdisk and compares it with l (table.c). */
int disk_verify_table(const DiskLayout *l, const char *path);

/* Writes an ext4 filesystem holding the tree at dir into the partition p of the disk image
 * disk_fd (already sized, zero where nothing was written), at p->offset: composer/disk/ext4.c.
 * Times are clamped to timestamp. Returns 0, -E2BIG when the tree does not fit, -EOPNOTSUPP
 * when the tree holds something this writer does not represent (ACLs, other xattr namespaces,
 * a file in more than 340 pieces): the caller then uses mke2fs. */
int ext4_write_tree(const Partition *p, const char *dir, uint64_t inodes, uint64_t timestamp,
                    int disk_fd);
