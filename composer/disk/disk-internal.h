/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"

/* Clamps every inode's timestamps in the ext4 filesystem at byte base of the file at path to
 * timestamp and recomputes the
 * inode checksums (composer/disk/ext4-clamp.c). 0, -EBADMSG when it is not ext4, or -errno. */
int ext4_clamp_times(const char *path, uint64_t base, uint64_t timestamp);

/* Reads the partition table back with libfdisk and compares it with l (table.c). */
int disk_verify_table(const DiskLayout *l, const char *path);
