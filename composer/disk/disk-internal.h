/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/disk.h"
#include "vmcompose/endian.h"

/* mke2fs's journal size in 4 KiB blocks for a filesystem of this many (its
 * ext2fs_default_journal_size()), composer/disk/measure.c. */
uint32_t ext4_journal_blocks(uint64_t blocks);

/* An extended attribute as ext4 stores it (composer/disk/ext4-xattr.c): the name index
 * (1 user, 2 ACL access, 3 ACL default, 4 trusted, 6 security), the name after its prefix,
 * the value (ACLs already in ext4's form). */
typedef struct Ext4Xattr {
        int index;
        char *name;
        uint8_t *value;
        size_t size;
} Ext4Xattr;

/* Reads the xattrs of name in dir_fd (without following a symlink), sorted as ext4 sorts
 * them. Returns 0, -EOPNOTSUPP for what ext4 has no form for here, or -errno. */
int ext4_xattrs_read(int dir_fd, const char *name, Ext4Xattr **ret, size_t *ret_n);
void ext4_xattrs_free(Ext4Xattr *l, size_t n);
/* Lays out the entries from first and the values back from end, offsets relative to base
 * (the first entry in an inode, the block in an xattr block), with their hashes. false when
 * they do not fit. */
bool ext4_xattrs_layout(const Ext4Xattr *l, size_t n, uint8_t *base, uint8_t *first, uint8_t *end);
/* Where an entry with a name this long ends: entries are 16 bytes and the name, rounded to 4. */
#define EXT4_XATTR_ENTRY_SIZE(name_len) ((16u + (name_len) + 3u) & ~3u)

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
