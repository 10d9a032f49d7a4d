/* SPDX-License-Identifier: MIT */
/* mke2fs -d copies each file's atime, ctime and mtime from the host, so two builds from the
 * same tree differ (ctime and atime change whenever the tree is touched or read). This pass
 * rewrites the inode tables of a finished ext4 image: mtime clamped to source-date-epoch,
 * atime and ctime set to that mtime, crtime clamped, and the inode checksums recomputed.
 * Layout: the ext4 disk format (kernel.org ext4 wiki, "Disk layout"). */
#include <fcntl.h>
#include <string.h>

#include "disk-internal.h"
#include "vmcompose/crc32c.h"
#include "vmcompose/sparse.h"

#define SB_OFFSET 1024
#define EXT4_MAGIC 0xEF53
#define INCOMPAT_64BIT 0x80
#define INCOMPAT_CSUM_SEED 0x2000
#define RO_COMPAT_METADATA_CSUM 0x400
#define BG_INODE_UNINIT 0x1

static void clamp_inode(uint8_t *ino, size_t inode_size, uint32_t inum, uint32_t csum_seed,
                        bool csum, uint32_t epoch) {
        uint16_t extra = inode_size > 128 ? le16(ino + 0x80) : 0;
        uint32_t mtime = le32(ino + 0x10);
        /* Times past 2038 carry epoch bits in the extra fields: treat them as newer. */
        bool mtime_high = extra >= 12 && (le32(ino + 0x88) & 3) != 0;

        if (mtime > epoch || mtime_high)
                mtime = epoch;
        put_le32(ino + 0x08, mtime); /* atime */
        put_le32(ino + 0x0C, mtime); /* ctime */
        put_le32(ino + 0x10, mtime); /* mtime */
        if (extra >= 8)
                put_le32(ino + 0x84, 0); /* ctime_extra: nanoseconds and epoch */
        if (extra >= 12)
                put_le32(ino + 0x88, 0); /* mtime_extra */
        if (extra >= 16)
                put_le32(ino + 0x8C, 0); /* atime_extra */
        if (extra >= 24) {
                if (le32(ino + 0x90) > epoch || (le32(ino + 0x94) & 3))
                        put_le32(ino + 0x90, epoch); /* crtime */
                put_le32(ino + 0x94, 0);
        }

        if (csum) {
                uint8_t num[4], gen[4];
                put_le32(num, inum);
                memcpy(gen, ino + 0x64, 4);
                bool has_hi = extra >= 4;
                put_le16(ino + 0x7C, 0);
                if (has_hi)
                        put_le16(ino + 0x82, 0);
                uint32_t c = crc32c_update(csum_seed, num, 4);
                c = crc32c_update(c, gen, 4);
                c = crc32c_update(c, ino, inode_size);
                put_le16(ino + 0x7C, (uint16_t)c);
                if (has_hi)
                        put_le16(ino + 0x82, (uint16_t)(c >> 16));
        }
}

int ext4_clamp_times(const char *path, uint64_t base, uint64_t timestamp) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        uint8_t sb[1024];
        int r;

        if (fd < 0)
                return -errno;
        r = pread_all(fd, sb, sizeof(sb), base + SB_OFFSET);
        if (r < 0)
                return r;
        if (le16(sb + 0x38) != EXT4_MAGIC)
                return -EBADMSG;

        uint32_t inodes_count = le32(sb + 0x00);
        uint32_t first_data_block = le32(sb + 0x14);
        uint64_t block_size = UINT64_C(1024) << le32(sb + 0x18);
        uint32_t inodes_per_group = le32(sb + 0x28);
        size_t inode_size = le16(sb + 0x58);
        uint32_t incompat = le32(sb + 0x60), ro_compat = le32(sb + 0x64);
        size_t desc_size = (incompat & INCOMPAT_64BIT) ? le16(sb + 0xFE) : 32;
        bool csum = ro_compat & RO_COMPAT_METADATA_CSUM;
        uint32_t csum_seed = (incompat & INCOMPAT_CSUM_SEED) ? le32(sb + 0x270)
                                                             : crc32c_update(~0u, sb + 0x68, 16);
        uint32_t epoch = timestamp > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)timestamp;

        if (inodes_per_group == 0 || inode_size < 128 || desc_size < 32 || block_size > 65536)
                return -EBADMSG;
        uint32_t groups = (inodes_count + inodes_per_group - 1) / inodes_per_group;
        uint64_t gdt = (uint64_t)(first_data_block + 1) * block_size;
        size_t table_bytes = (size_t)inodes_per_group * inode_size;
        _cleanup_free_ uint8_t *descs = xmalloc((size_t)groups * desc_size);
        _cleanup_free_ uint8_t *table = xmalloc(table_bytes);
        _cleanup_free_ uint8_t *bitmap = xmalloc(block_size);

        r = pread_all(fd, descs, (size_t)groups * desc_size, base + gdt);
        if (r < 0)
                return r;

        for (uint32_t g = 0; g < groups; g++) {
                const uint8_t *d = descs + (size_t)g * desc_size;
                if (le16(d + 0x12) & BG_INODE_UNINIT)
                        continue;
                uint64_t bitmap_block = le32(d + 0x04), table_block = le32(d + 0x08);
                if (desc_size >= 64) {
                        bitmap_block |= (uint64_t)le32(d + 0x24) << 32;
                        table_block |= (uint64_t)le32(d + 0x28) << 32;
                }
                r = pread_all(fd, bitmap, block_size, base + bitmap_block * block_size);
                if (r < 0)
                        return r;
                r = pread_all(fd, table, table_bytes, base + table_block * block_size);
                if (r < 0)
                        return r;
                size_t used_end = 0; /* write back only up to the last used inode: the rest of
                                      * the table stays a hole in a sparse image */
                for (uint32_t i = 0; i < inodes_per_group; i++) {
                        if (!(bitmap[i / 8] & (1u << (i % 8))))
                                continue;
                        uint32_t inum = g * inodes_per_group + i + 1;
                        clamp_inode(table + (size_t)i * inode_size, inode_size, inum, csum_seed,
                                    csum, epoch);
                        used_end = (size_t)(i + 1) * inode_size;
                }
                if (used_end > 0) {
                        used_end = (used_end + block_size - 1) / block_size * block_size;
                        r = pwrite_all(fd, table, MIN(used_end, table_bytes),
                                       base + table_block * block_size);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}
