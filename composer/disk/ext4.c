/* SPDX-License-Identifier: MIT */
/* An ext4 filesystem written from a directory tree straight into the disk image, the way
 * mke2fs -d would make it but in one pass: file data is copied with copy_file_range() into
 * blocks allocated contiguously, metadata is built in memory and written once. The features
 * are mke2fs's ext4 defaults on Debian 12 less resize_inode: has_journal, ext_attr, dir_index,
 * filetype, extent, 64bit, flex_bg, sparse_super, large_file, huge_file, dir_nlink,
 * extra_isize, metadata_csum. Directories are linear (the kernel indexes them as they grow).
 * What it cannot represent (ACLs, xattr namespaces other than user/trusted/security) makes it
 * return -EOPNOTSUPP before writing anything, and the caller uses mke2fs instead.
 * Layout: the ext4 disk format (kernel.org ext4 wiki, "Disk layout"). */
#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "disk-internal.h"
#include "vmcompose/copier.h"
#include "vmcompose/crc32c.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"
#include "vmcompose/util.h"

#define BS 4096u
#define BPG 32768u /* blocks per group */
#define INODE_SIZE 256u
#define EXTRA_ISIZE 32u
#define DESC_SIZE 64u
#define FIRST_INO 11u
#define LPF_INO 11u
#define JOURNAL_INO 8u
#define ROOT_INO 2u
#define MAX_EXTENT_LEN 32768u
#define TAIL 12u /* the directory block checksum entry */

#define EXT4_EXTENTS_FL 0x80000u

typedef struct {
        uint64_t start; /* physical block */
        uint32_t len;
        uint32_t logical;
} Run;

typedef struct {
        dev_t dev;
        ino_t ino;
        uint32_t inum;
} LinkSeen;

typedef struct {
        int fd;        /* the disk image */
        uint64_t base; /* the filesystem's byte offset in it */
        uint64_t blocks;
        uint32_t groups, ipg, itb; /* inodes per group, inode table blocks per group */
        uint32_t gdt_blocks;
        uint32_t inodes;
        uint8_t uuid[16];
        uint32_t csum_seed;
        uint32_t epoch;
        uint8_t *bbitmap; /* one bit per block of the whole filesystem */
        uint8_t *ibitmap; /* one bit per inode, inode 1 is bit 0 */
        uint8_t *itable;  /* the inodes up to itable_cap, in memory until the end */
        uint32_t itable_cap;
        uint32_t *used_dirs;
        uint64_t *bb, *ib, *it; /* each group's block bitmap, inode bitmap, inode table */
        uint64_t cursor;        /* the next block to try */
        uint32_t next_ino;
        LinkSeen *links;
        size_t n_links;
        uint64_t files, bytes;
        Copier copier;
} Ext4;

static bool bit(const uint8_t *map, uint64_t i) {
        return map[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *map, uint64_t i) {
        map[i / 8] |= (uint8_t)(1u << (i % 8));
}

static uint8_t *inode_at(Ext4 *e, uint32_t inum) {
        return e->itable + (size_t)(inum - 1) * INODE_SIZE;
}

/* Groups 0, 1 and powers of 3, 5 and 7 carry a superblock and descriptor copy. */
static bool has_super(uint32_t g) {
        if (g <= 1)
                return true;
        for (uint32_t b = 3; b <= 7; b += 2) {
                uint64_t p = b;
                while (p < g)
                        p *= b;
                if (p == g)
                        return true;
        }
        return false;
}

static int write_at(Ext4 *e, const void *data, size_t size, uint64_t block) {
        return pwrite_all(e->fd, data, size, e->base + block * BS);
}

/* Allocates up to want blocks as one run at or after the cursor; 0 when the disk is full. */
static uint32_t alloc_run(Ext4 *e, uint32_t want, uint64_t *ret_start) {
        uint64_t b = e->cursor;
        while (b < e->blocks && bit(e->bbitmap, b))
                b++;
        if (b >= e->blocks)
                return 0;
        uint32_t n = 0;
        while (n < want && n < MAX_EXTENT_LEN && b + n < e->blocks && !bit(e->bbitmap, b + n))
                n++;
        for (uint32_t i = 0; i < n; i++)
                set_bit(e->bbitmap, b + i);
        e->cursor = b + n;
        *ret_start = b;
        return n;
}

/* Allocates want contiguous blocks at or after the cursor (an inode table). */
static int alloc_contig(Ext4 *e, uint32_t want, uint64_t *ret_start) {
        uint64_t b = e->cursor;
        for (;;) {
                while (b < e->blocks && bit(e->bbitmap, b))
                        b++;
                if (b + want > e->blocks)
                        return -E2BIG;
                uint32_t n = 0;
                while (n < want && !bit(e->bbitmap, b + n))
                        n++;
                if (n == want)
                        break;
                b += n; /* too short before a superblock copy: left free for data */
        }
        for (uint32_t i = 0; i < want; i++)
                set_bit(e->bbitmap, b + i);
        e->cursor = b + want;
        *ret_start = b;
        return 0;
}

/* Allocates count blocks for logical blocks [logical, logical + count) as runs appended to
 * *runs. -E2BIG when the filesystem is full. */
static int alloc_blocks(Ext4 *e, uint32_t logical, uint64_t count, Run **runs, size_t *n) {
        while (count > 0) {
                uint64_t start;
                uint32_t got = alloc_run(e, (uint32_t)MIN(count, (uint64_t)MAX_EXTENT_LEN), &start);
                if (got == 0)
                        return -E2BIG;
                if (*n > 0 && (*runs)[*n - 1].start + (*runs)[*n - 1].len == start &&
                    (*runs)[*n - 1].logical + (*runs)[*n - 1].len == logical &&
                    (*runs)[*n - 1].len + got <= MAX_EXTENT_LEN)
                        (*runs)[*n - 1].len += got;
                else {
                        *runs = xrealloc(*runs, (*n + 1) * sizeof(Run));
                        (*runs)[(*n)++] = (Run){start, got, logical};
                }
                logical += got;
                count -= got;
        }
        return 0;
}

/* One block for metadata (an extent leaf, an xattr block): its number or -E2BIG. */
static int alloc_one(Ext4 *e, uint64_t *ret) {
        Run *run = NULL;
        size_t n = 0;
        int r = alloc_blocks(e, 0, 1, &run, &n);
        if (r == 0)
                *ret = run[0].start;
        free(run);
        return r;
}

static void put_extent(uint8_t *x, const Run *run) {
        put_le32(x, run->logical);
        put_le16(x + 4, (uint16_t)run->len);
        put_le16(x + 6, (uint16_t)(run->start >> 32));
        put_le32(x + 8, (uint32_t)run->start);
}

static uint32_t inode_seed(const Ext4 *e, uint32_t inum) {
        uint8_t b[4];
        put_le32(b, inum);
        uint32_t c = crc32c_update(e->csum_seed, b, 4);
        put_le32(b, 0); /* generation */
        return crc32c_update(c, b, 4);
}

/* Writes the extent tree of runs into the inode (up to 4 extents), or an index to one leaf
 * block (up to 340). Returns the metadata blocks used (0 or 1), or -E2BIG. */
static int write_extents(Ext4 *e, uint32_t inum, uint8_t *ino, const Run *runs, size_t n) {
        uint8_t *ib = ino + 0x28;
        memset(ib, 0, 60);
        put_le16(ib, 0xF30A);
        put_le16(ib + 4, 4);
        if (n <= 4) {
                put_le16(ib + 2, (uint16_t)n);
                for (size_t i = 0; i < n; i++)
                        put_extent(ib + 12 + 12 * i, &runs[i]);
                return 0;
        }
        if (n > (BS - 12 - 4) / 12)
                return -EOPNOTSUPP; /* more than 340 pieces: a file full of holes */
        uint64_t leaf = 0;
        int r = alloc_one(e, &leaf);
        if (r < 0)
                return r;
        uint8_t blk[BS] = {0};
        put_le16(blk, 0xF30A);
        put_le16(blk + 2, (uint16_t)n);
        put_le16(blk + 4, (uint16_t)((BS - 12 - 4) / 12));
        for (size_t i = 0; i < n; i++)
                put_extent(blk + 12 + 12 * i, &runs[i]);
        put_le32(blk + BS - 4, crc32c_update(inode_seed(e, inum), blk, BS - 4));
        r = write_at(e, blk, BS, leaf);
        if (r < 0)
                return r;
        put_le16(ib + 2, 1);
        put_le16(ib + 6, 1); /* depth */
        put_le32(ib + 12, 0);
        put_le32(ib + 16, (uint32_t)leaf);
        put_le16(ib + 20, (uint16_t)(leaf >> 32));
        return 1;
}

static uint32_t clamp(const Ext4 *e, int64_t t) {
        if (t < 0)
                return 0;
        return (uint64_t)t > e->epoch ? e->epoch : (uint32_t)t;
}

/* The fields every inode gets from its source's stat (times clamped as ext4_clamp_times()
 * does: atime and ctime are the mtime, no nanoseconds). */
static void fill_inode(Ext4 *e, uint8_t *ino, const struct stat *st, uint64_t size) {
        uint32_t t = clamp(e, st->st_mtim.tv_sec);
        put_le16(ino + 0x00, (uint16_t)st->st_mode);
        put_le16(ino + 0x02, (uint16_t)st->st_uid);
        put_le16(ino + 0x78, (uint16_t)(st->st_uid >> 16));
        put_le16(ino + 0x18, (uint16_t)st->st_gid);
        put_le16(ino + 0x7A, (uint16_t)(st->st_gid >> 16));
        put_le32(ino + 0x04, (uint32_t)size);
        put_le32(ino + 0x6C, (uint32_t)(size >> 32));
        put_le32(ino + 0x08, t);
        put_le32(ino + 0x0C, t);
        put_le32(ino + 0x10, t);
        put_le32(ino + 0x90, t); /* crtime */
        put_le16(ino + 0x80, EXTRA_ISIZE);
}

static void add_blocks(uint8_t *ino, uint64_t fs_blocks) {
        uint64_t sectors = (uint64_t)le32(ino + 0x1C) | (uint64_t)le16(ino + 0x74) << 32;
        sectors += fs_blocks * (BS / 512);
        put_le32(ino + 0x1C, (uint32_t)sectors);
        put_le16(ino + 0x74, (uint16_t)(sectors >> 32));
}

/* Finishes a file's block map: extents, flags, i_blocks. */
static int set_extents(Ext4 *e, uint32_t inum, const Run *runs, size_t n) {
        uint8_t *ino = inode_at(e, inum);
        uint64_t data = 0;
        for (size_t i = 0; i < n; i++)
                data += runs[i].len;
        int r = write_extents(e, inum, ino, runs, n);
        if (r < 0)
                return r;
        put_le32(ino + 0x20, le32(ino + 0x20) | EXT4_EXTENTS_FL);
        add_blocks(ino, data + (uint64_t)r);
        return 0;
}

static int write_xattrs(Ext4 *e, uint32_t inum, const Ext4Xattr *l, size_t n) {
        uint8_t *ino = inode_at(e, inum);
        if (n == 0)
                return 0;
        uint8_t *in = ino + 128 + EXTRA_ISIZE;
        uint8_t space[INODE_SIZE] = {0};
        if (ext4_xattrs_layout(l, n, space + 4, space + 4,
                               space + (INODE_SIZE - 128 - EXTRA_ISIZE))) {
                put_le32(space, 0xEA020000);
                memcpy(in, space, INODE_SIZE - 128 - EXTRA_ISIZE);
                return 0;
        }
        /* Too big for the inode: one block of its own. */
        uint8_t blk[BS] = {0};
        if (!ext4_xattrs_layout(l, n, blk, blk + 32, blk + BS))
                return -E2BIG;
        uint64_t b = 0;
        int r = alloc_one(e, &b);
        if (r < 0)
                return r;
        put_le32(blk, 0xEA020000);
        put_le32(blk + 4, 1); /* refcount */
        put_le32(blk + 8, 1); /* blocks */
        /* ext2fs_ext_attr_block_rehash(): the block hash from the entries' hashes. */
        uint32_t h = 0;
        for (uint8_t *ent = blk + 32; le32(ent) != 0; ent += EXT4_XATTR_ENTRY_SIZE(ent[0])) {
                uint32_t eh = le32(ent + 12);
                if (eh == 0) {
                        h = 0;
                        break;
                }
                h = (h << 16) ^ (h >> 16) ^ eh;
        }
        put_le32(blk + 12, h);
        uint8_t nb[8];
        for (int i = 0; i < 8; i++)
                nb[i] = (uint8_t)(b >> (8 * i));
        uint32_t c = crc32c_update(e->csum_seed, nb, 8);
        put_le32(blk + 16, crc32c_update(c, blk, BS));
        r = write_at(e, blk, BS, b);
        if (r < 0)
                return r;
        put_le32(ino + 0x68, (uint32_t)b);
        put_le16(ino + 0x76, (uint16_t)(b >> 32));
        add_blocks(ino, 1);
        return 0;
}

static uint32_t new_inode(Ext4 *e) {
        if (e->next_ino > e->inodes)
                return 0;
        if (e->next_ino > e->itable_cap) {
                uint32_t cap = MIN(e->inodes, e->itable_cap * 2);
                e->itable = xrealloc(e->itable, (size_t)cap * INODE_SIZE);
                memset(e->itable + (size_t)e->itable_cap * INODE_SIZE, 0,
                       (size_t)(cap - e->itable_cap) * INODE_SIZE);
                e->itable_cap = cap;
        }
        uint32_t inum = e->next_ino++;
        set_bit(e->ibitmap, inum - 1);
        return inum;
}

typedef struct {
        char *name;
        uint32_t inum;
        uint8_t type;
        bool fresh; /* first sight of this inode: its content is still to be written */
        struct stat st;
} DirEntry;

static uint8_t file_type(mode_t m) {
        switch (m & S_IFMT) {
        case S_IFREG:
                return 1;
        case S_IFDIR:
                return 2;
        case S_IFCHR:
                return 3;
        case S_IFBLK:
                return 4;
        case S_IFIFO:
                return 5;
        case S_IFSOCK:
                return 6;
        case S_IFLNK:
                return 7;
        default:
                return 0;
        }
}

/* Writes a directory's entries as linear blocks with checksum tails. */
static int write_dir_blocks(Ext4 *e, uint32_t inum, uint32_t parent, const DirEntry *ents, size_t n,
                            uint32_t min_blocks) {
        size_t cap = 16;
        uint8_t *data = xcalloc(cap, BS);
        uint32_t nb = 1;
        size_t off = 0; /* in the current block */
        uint8_t *last = NULL;
        int r;

        for (size_t i = 0; i < n + 2; i++) {
                const char *name = i == 0 ? "." : i == 1 ? ".." : ents[i - 2].name;
                uint32_t target = i == 0 ? inum : i == 1 ? parent : ents[i - 2].inum;
                uint8_t type = i < 2 ? 2 : ents[i - 2].type;
                size_t nl = strlen(name);
                size_t rec = (8 + nl + 3) & ~(size_t)3;
                if (off + rec > BS - TAIL) {
                        put_le16(last + 4, (uint16_t)(data + (size_t)nb * BS - TAIL - last));
                        if (nb == cap) {
                                data = xrealloc(data, cap * 2 * BS);
                                memset(data + cap * BS, 0, cap * BS);
                                cap *= 2;
                        }
                        nb++;
                        off = 0;
                }
                uint8_t *d = data + (size_t)(nb - 1) * BS + off;
                put_le32(d, target);
                put_le16(d + 4, (uint16_t)rec);
                d[6] = (uint8_t)nl;
                d[7] = type;
                memcpy(d + 8, name, nl);
                last = d;
                off += rec;
        }
        put_le16(last + 4, (uint16_t)(data + (size_t)nb * BS - TAIL - last));
        while (nb < min_blocks) { /* lost+found: empty blocks to take entries without growing */
                if (nb == cap) {
                        data = xrealloc(data, cap * 2 * BS);
                        memset(data + cap * BS, 0, cap * BS);
                        cap *= 2;
                }
                put_le16(data + (size_t)nb * BS + 4, BS - TAIL);
                nb++;
        }
        uint32_t seed = inode_seed(e, inum);
        for (uint32_t b = 0; b < nb; b++) {
                uint8_t *t = data + (size_t)b * BS + BS - TAIL;
                put_le32(t, 0);
                put_le16(t + 4, TAIL);
                t[6] = 0;
                t[7] = 0xDE;
                put_le32(t + 8, crc32c_update(seed, data + (size_t)b * BS, BS - TAIL));
        }

        Run *runs = NULL;
        size_t nr = 0;
        r = alloc_blocks(e, 0, nb, &runs, &nr);
        for (size_t i = 0; r == 0 && i < nr; i++)
                r = write_at(e, data + (size_t)runs[i].logical * BS, (size_t)runs[i].len * BS,
                             runs[i].start);
        if (r == 0)
                r = set_extents(e, inum, runs, nr);
        uint8_t *ino = inode_at(e, inum);
        put_le32(ino + 0x04, nb * BS);
        free(runs);
        free(data);
        return r;
}

/* Copies a regular file's data regions into newly allocated blocks. */
/* Allocates blocks for a regular file's data regions and queues their copy. */
static int write_file_data(Ext4 *e, uint32_t inum, int dir_fd, const char *name,
                           const struct stat *st) {
        if (st->st_size == 0)
                return set_extents(e, inum, NULL, 0);
        int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        Run *runs = NULL;
        size_t nr = 0;
        uint64_t size = (uint64_t)st->st_size, pos = 0, s = 0, end = 0;
        int r;

        /* A file with as many blocks as bytes has no holes: no need to look for them. */
        bool dense = (uint64_t)st->st_blocks * 512 >= size;
        while ((r = dense ? pos < size : sparse_next_data(fd, pos, size, &s, &end)) > 0) {
                if (dense) {
                        s = 0;
                        end = size;
                }
                s = s / BS * BS;
                end = MIN((end + BS - 1) / BS * BS, (size + BS - 1) / BS * BS);
                size_t first = nr;
                r = alloc_blocks(e, (uint32_t)(s / BS), (end - s) / BS, &runs, &nr);
                if (r < 0)
                        break;
                /* A run merged into the previous region's last one starts before s. */
                for (size_t i = first > 0 ? first - 1 : 0; i < nr && r == 0; i++) {
                        uint64_t ls = (uint64_t)runs[i].logical * BS;
                        uint64_t le = ls + (uint64_t)runs[i].len * BS;
                        uint64_t from = MAX(ls, s), to = MIN(MIN(le, end), size);
                        if (from < to)
                                r = copier_push(&e->copier, (CopyJob){fd, from, to - from,
                                                                      e->base + runs[i].start * BS +
                                                                              (from - ls),
                                                                      dense, false});
                }
                if (r < 0)
                        break;
                pos = end;
        }
        int k = copier_push(&e->copier, (CopyJob){.fd = fd, .last = true}); /* closes fd */
        if (r == 0)
                r = k;
        if (r == 0)
                r = set_extents(e, inum, runs, nr);
        free(runs);
        e->bytes += size;
        return r;
}

static int write_symlink(Ext4 *e, uint32_t inum, int dir_fd, const char *name) {
        char target[BS];
        ssize_t n = readlinkat(dir_fd, name, target, sizeof(target));
        if (n < 0)
                return -errno;
        if (n >= (ssize_t)sizeof(target))
                return -ENAMETOOLONG;
        uint8_t *ino = inode_at(e, inum);
        if (n < 60) { /* a fast symlink: the target in i_block */
                memcpy(ino + 0x28, target, (size_t)n);
                return 0;
        }
        Run *runs = NULL;
        size_t nr = 0;
        int r = alloc_blocks(e, 0, 1, &runs, &nr);
        if (r == 0)
                r = write_at(e, target, (size_t)n, runs[0].start);
        if (r == 0)
                r = set_extents(e, inum, runs, nr);
        free(runs);
        return r;
}

static int cmp_entries(const void *a, const void *b) {
        return strcmp(((const DirEntry *)a)->name, ((const DirEntry *)b)->name);
}

static uint32_t link_find(const Ext4 *e, const struct stat *st) {
        for (size_t i = e->n_links; i > 0; i--)
                if (e->links[i - 1].dev == st->st_dev && e->links[i - 1].ino == st->st_ino)
                        return e->links[i - 1].inum;
        return 0;
}

static int write_tree(Ext4 *e, int dir_fd, uint32_t inum, uint32_t parent, bool top,
                      const char *path);

/* The content and attributes of one new inode. */
static int write_entry(Ext4 *e, int dir_fd, DirEntry *d, uint32_t parent, const char *path) {
        uint8_t *ino = inode_at(e, d->inum);
        uint64_t size =
                S_ISREG(d->st.st_mode) || S_ISLNK(d->st.st_mode) ? (uint64_t)d->st.st_size : 0;
        int r;

        fill_inode(e, ino, &d->st, size);
        if (S_ISCHR(d->st.st_mode) || S_ISBLK(d->st.st_mode)) {
                unsigned ma = major(d->st.st_rdev), mi = minor(d->st.st_rdev);
                if (ma < 256 && mi < 256)
                        put_le32(ino + 0x28, ma << 8 | mi);
                else
                        put_le32(ino + 0x2C, (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12));
        }
        Ext4Xattr *x = NULL;
        size_t nx = 0;
        r = ext4_xattrs_read(dir_fd, d->name, &x, &nx);
        if (r == 0)
                r = write_xattrs(e, d->inum, x, nx);
        ext4_xattrs_free(x, nx);
        if (r < 0)
                return r;
        if (S_ISREG(d->st.st_mode))
                r = write_file_data(e, d->inum, dir_fd, d->name, &d->st);
        else if (S_ISLNK(d->st.st_mode))
                r = write_symlink(e, d->inum, dir_fd, d->name);
        else if (S_ISDIR(d->st.st_mode)) {
                _cleanup_close_ int fd =
                        openat(dir_fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                _cleanup_free_ char *sub = path_join(path, d->name);
                r = write_tree(e, fd, d->inum, parent, false, sub);
        }
        return r;
}

/* Writes the directory dir_fd as inode inum and everything below it. */
static int write_tree(Ext4 *e, int dir_fd, uint32_t inum, uint32_t parent, bool top,
                      const char *path) {
        DIR *d = fdopendir(dup(dir_fd));
        DirEntry *ents = NULL;
        size_t n = 0;
        uint32_t subdirs = 0;
        int r = 0;

        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                ents = xrealloc(ents, (n + 1) * sizeof(DirEntry));
                ents[n] = (DirEntry){.name = xstrdup(de->d_name)};
                if (fstatat(dir_fd, de->d_name, &ents[n].st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        n++;
                        goto finish;
                }
                n++;
        }
        if (n > 0)
                qsort(ents, n, sizeof(DirEntry), cmp_entries);

        for (size_t i = 0; i < n; i++) {
                DirEntry *x = &ents[i];
                if (top && streq(x->name, "lost+found") && S_ISDIR(x->st.st_mode)) {
                        x->inum = LPF_INO; /* ours; whatever was in the tree's is dropped */
                        x->type = 2;
                        subdirs++;
                        continue;
                }
                x->type = file_type(x->st.st_mode);
                if (x->type == 0) {
                        r = -EOPNOTSUPP;
                        goto finish;
                }
                if (S_ISDIR(x->st.st_mode))
                        subdirs++;
                if (!S_ISDIR(x->st.st_mode) && x->st.st_nlink > 1 &&
                    (x->inum = link_find(e, &x->st)) != 0) {
                        uint8_t *ino = inode_at(e, x->inum);
                        put_le16(ino + 0x1A, (uint16_t)(le16(ino + 0x1A) + 1));
                        continue;
                }
                x->inum = new_inode(e);
                if (x->inum == 0) {
                        r = -E2BIG;
                        goto finish;
                }
                x->fresh = true;
                put_le16(inode_at(e, x->inum) + 0x1A, 1); /* links found later add to it */
                if (!S_ISDIR(x->st.st_mode) && x->st.st_nlink > 1) {
                        e->links = xrealloc(e->links, (e->n_links + 1) * sizeof(LinkSeen));
                        e->links[e->n_links++] = (LinkSeen){x->st.st_dev, x->st.st_ino, x->inum};
                }
        }
        if (top) {
                bool has_lpf = false;
                for (size_t i = 0; i < n; i++)
                        has_lpf |= ents[i].inum == LPF_INO;
                if (!has_lpf) {
                        ents = xrealloc(ents, (n + 1) * sizeof(DirEntry));
                        ents[n++] = (DirEntry){
                                .name = xstrdup("lost+found"), .inum = LPF_INO, .type = 2};
                        qsort(ents, n, sizeof(DirEntry), cmp_entries);
                        subdirs++;
                }
        }
        r = write_dir_blocks(e, inum, parent, ents, n, 1);
        if (r < 0)
                goto finish;
        uint8_t *ino = inode_at(e, inum);
        uint32_t nlink = 2 + subdirs;
        put_le16(ino + 0x1A, (uint16_t)(nlink >= 65000 ? 1 : nlink));
        e->used_dirs[(inum - 1) / e->ipg]++;

        for (size_t i = 0; i < n && r == 0; i++) {
                if (!ents[i].fresh)
                        continue;
                if (signals_interrupted())
                        r = -EINTR;
                else
                        r = write_entry(e, dir_fd, &ents[i], inum, path);
                e->files++;
        }
finish:
        if (r == -EOPNOTSUPP)
                log_debug_sub("disk", "ext4: cannot represent something in %s", path);
        for (size_t i = 0; i < n; i++)
                free(ents[i].name);
        free(ents);
        closedir(d);
        return r;
}

static int write_lost_found(Ext4 *e) {
        uint8_t *ino = inode_at(e, LPF_INO);
        struct stat st = {.st_mode = S_IFDIR | 0700, .st_mtim = {e->epoch, 0}};
        set_bit(e->ibitmap, LPF_INO - 1);
        fill_inode(e, ino, &st, 0);
        put_le16(ino + 0x1A, 2);
        e->used_dirs[0]++;
        return write_dir_blocks(e, LPF_INO, ROOT_INO, NULL, 0, 4); /* 16 KiB, as mke2fs */
}

static int write_journal(Ext4 *e, uint8_t *sb) {
        uint32_t jb = ext4_journal_blocks(e->blocks);
        uint8_t *ino = inode_at(e, JOURNAL_INO);
        struct stat st = {.st_mode = S_IFREG | 0600, .st_mtim = {e->epoch, 0}};
        Run *runs = NULL;
        size_t nr = 0;

        if (jb == 0)
                return 0;
        /* In the middle of the filesystem, as mke2fs puts it, away from the data. */
        uint64_t saved = e->cursor;
        e->cursor = MAX(e->cursor, e->blocks / 2 > jb ? e->blocks / 2 - jb / 2 : 0);
        int r = alloc_blocks(e, 0, jb, &runs, &nr);
        e->cursor = saved;
        if (r < 0) {
                free(runs);
                return r;
        }
        fill_inode(e, ino, &st, (uint64_t)jb * BS);
        put_le16(ino + 0x1A, 1);
        r = set_extents(e, JOURNAL_INO, runs, nr);
        if (r == 0) {
                uint8_t j[1024] = {0};
                put_be32(j + 0x00, 0xC03B3998); /* JBD2 magic */
                put_be32(j + 0x04, 4);          /* superblock v2 */
                put_be32(j + 0x0C, BS);
                put_be32(j + 0x10, jb);
                put_be32(j + 0x14, 1); /* first log block */
                put_be32(j + 0x18, 1); /* sequence */
                memcpy(j + 0x30, e->uuid, 16);
                put_be32(j + 0x40, 1); /* users */
                r = write_at(e, j, sizeof(j), runs[0].start);
        }
        /* The superblock keeps a copy of the journal's block map for e2fsck. */
        memcpy(sb + 0x10C, ino + 0x28, 60);
        put_le32(sb + 0x10C + 60, le32(ino + 0x6C));
        put_le32(sb + 0x10C + 64, le32(ino + 0x04));
        sb[0xFD] = 1; /* EXT3_JNL_BACKUP_BLOCKS */
        free(runs);
        return r;
}

static uint32_t reserved_at(const Ext4 *e, uint32_t g) {
        return has_super(g) ? 1 + e->gdt_blocks : 0;
}

int ext4_write_tree(const Partition *p, const char *dir, uint64_t inodes, uint64_t timestamp,
                    int disk_fd) {
        Ext4 e = {.fd = disk_fd, .base = p->offset};
        _cleanup_close_ int root_fd = -1;
        uint8_t sb[1024] = {0};
        int r;

        e.blocks = p->size / BS;
        e.groups = (uint32_t)((e.blocks + BPG - 1) / BPG);
        /* A last group too small for anything useful is left out, as mke2fs does. */
        if (e.groups > 1 && e.blocks - (uint64_t)(e.groups - 1) * BPG < 512) {
                e.groups--;
                e.blocks = (uint64_t)e.groups * BPG;
        }
        if (e.blocks < 1024)
                return -E2BIG;
        uint64_t want = MAX(inodes + FIRST_INO + 16, e.blocks * BS / 16384);
        e.ipg = (uint32_t)((want + e.groups - 1) / e.groups);
        e.ipg = (e.ipg + 15) / 16 * 16; /* whole inode table blocks */
        e.ipg = MIN(e.ipg, BPG);
        e.inodes = e.ipg * e.groups;
        e.itb = e.ipg * INODE_SIZE / BS;
        e.gdt_blocks = (e.groups * DESC_SIZE + BS - 1) / BS;
        e.epoch = timestamp > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)timestamp;
        memcpy(e.uuid, p->fs_uuid, 16);
        e.csum_seed = crc32c_update(~0u, e.uuid, 16);
        e.bbitmap = xcalloc((e.blocks + 7) / 8 + BS, 1);
        e.ibitmap = xcalloc((e.inodes + 7) / 8 + BS, 1);
        e.itable_cap = (uint32_t)MIN((uint64_t)e.inodes, inodes + FIRST_INO + 64);
        e.itable = xcalloc(e.itable_cap, INODE_SIZE);
        e.used_dirs = xcalloc(e.groups, sizeof(uint32_t));
        e.bb = xcalloc(e.groups, sizeof(uint64_t));
        e.ib = xcalloc(e.groups, sizeof(uint64_t));
        e.it = xcalloc(e.groups, sizeof(uint64_t));
        e.next_ino = FIRST_INO + 1;

        /* Superblock and descriptor copies, then (flex_bg) all bitmaps and inode tables
         * together from the start, around the copies in later groups. */
        for (uint32_t g = 0; g < e.groups; g++)
                for (uint32_t i = 0; i < reserved_at(&e, g); i++)
                        set_bit(e.bbitmap, (uint64_t)g * BPG + i);
        e.cursor = 1 + e.gdt_blocks;
        for (int kind = 0; kind < 3; kind++)
                for (uint32_t g = 0; g < e.groups; g++) {
                        uint64_t *where = kind == 0 ? &e.bb[g] : kind == 1 ? &e.ib[g] : &e.it[g];
                        r = alloc_contig(&e, kind == 2 ? e.itb : 1, where);
                        if (r < 0)
                                goto finish;
                }
        for (uint32_t i = 1; i <= FIRST_INO - 1; i++)
                set_bit(e.ibitmap, i - 1);

        r = write_journal(&e, sb);
        if (r < 0)
                goto finish;
        r = write_lost_found(&e);
        if (r < 0)
                goto finish;

        /* The root directory and everything below it. */
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat rst;
        if (root_fd < 0 || fstat(root_fd, &rst) < 0) {
                r = -errno;
                goto finish;
        }
        fill_inode(&e, inode_at(&e, ROOT_INO), &rst, 0);
        {
                Ext4Xattr *x = NULL;
                size_t nx = 0;
                r = ext4_xattrs_read(root_fd, ".", &x, &nx);
                if (r == 0)
                        r = write_xattrs(&e, ROOT_INO, x, nx);
                ext4_xattrs_free(x, nx);
                if (r < 0)
                        goto finish;
        }
        copier_start(&e.copier, disk_fd);
        r = write_tree(&e, root_fd, ROOT_INO, ROOT_INO, true, "/");
        int k = copier_finish(&e.copier);
        if (r == 0)
                r = k;
        if (r < 0)
                goto finish;

        /* Inode checksums, now that link counts are final; reserved inodes get their
         * extra size too. */
        for (uint32_t i = 1; i < e.next_ino; i++) {
                if (!bit(e.ibitmap, i - 1))
                        continue;
                uint8_t *ino = inode_at(&e, i);
                put_le16(ino + 0x80, EXTRA_ISIZE);
                put_le16(ino + 0x7C, 0);
                put_le16(ino + 0x82, 0);
                uint32_t c = crc32c_update(inode_seed(&e, i), ino, INODE_SIZE);
                put_le16(ino + 0x7C, (uint16_t)c);
                put_le16(ino + 0x82, (uint16_t)(c >> 16));
        }

        /* Group descriptors, bitmaps, inode tables. */
        uint64_t free_blocks = 0, free_inodes = 0;
        uint8_t *gdt = xcalloc(e.gdt_blocks, BS);
        uint8_t *bmp = xmalloc(BS);
        for (uint32_t g = 0; g < e.groups && r == 0; g++) {
                uint8_t *d = gdt + (size_t)g * DESC_SIZE;
                uint64_t first = (uint64_t)g * BPG;
                uint64_t count = MIN((uint64_t)BPG, e.blocks - first);
                uint32_t fb = 0, fi = 0, last_used = 0;

                memset(bmp, 0, BS);
                for (uint64_t b = 0; b < BPG; b++)
                        if (b >= count || bit(e.bbitmap, first + b))
                                set_bit(bmp, b);
                        else
                                fb++;
                put_le32(d + 0x00, (uint32_t)e.bb[g]);
                put_le32(d + 0x20, (uint32_t)(e.bb[g] >> 32));
                put_le16(d + 0x18, (uint16_t)crc32c_update(e.csum_seed, bmp, BPG / 8));
                put_le16(d + 0x38, (uint16_t)(crc32c_update(e.csum_seed, bmp, BPG / 8) >> 16));
                r = write_at(&e, bmp, BS, e.bb[g]);

                memset(bmp, 0, BS);
                for (uint32_t i = 0; i < BS * 8; i++)
                        if (i >= e.ipg || bit(e.ibitmap, (uint64_t)g * e.ipg + i)) {
                                set_bit(bmp, i);
                                if (i < e.ipg)
                                        last_used = i + 1;
                        } else
                                fi++;
                put_le32(d + 0x04, (uint32_t)e.ib[g]);
                put_le32(d + 0x24, (uint32_t)(e.ib[g] >> 32));
                uint32_t ic = crc32c_update(e.csum_seed, bmp, e.ipg / 8);
                put_le16(d + 0x1A, (uint16_t)ic);
                put_le16(d + 0x3A, (uint16_t)(ic >> 16));
                if (r == 0)
                        r = write_at(&e, bmp, BS, e.ib[g]);

                uint64_t table = e.it[g];
                put_le32(d + 0x08, (uint32_t)table);
                put_le32(d + 0x28, (uint32_t)(table >> 32));
                /* Only the used part: the rest of the table is a hole, zeros. */
                if (r == 0 && last_used > 0)
                        r = write_at(&e, e.itable + (size_t)g * e.ipg * INODE_SIZE,
                                     ((size_t)last_used * INODE_SIZE + BS - 1) / BS * BS, table);
                put_le16(d + 0x0C, (uint16_t)fb);
                put_le16(d + 0x2C, (uint16_t)(fb >> 16));
                put_le16(d + 0x0E, (uint16_t)fi);
                put_le16(d + 0x2E, (uint16_t)(fi >> 16));
                put_le16(d + 0x10, (uint16_t)e.used_dirs[g]);
                put_le16(d + 0x30, (uint16_t)(e.used_dirs[g] >> 16));
                put_le16(d + 0x12, 0x4); /* EXT4_BG_INODE_ZEROED */
                put_le16(d + 0x1C, (uint16_t)(e.ipg - last_used));
                put_le16(d + 0x32, (uint16_t)((e.ipg - last_used) >> 16));
                uint8_t gn[4];
                put_le32(gn, g);
                uint32_t c = crc32c_update(e.csum_seed, gn, 4);
                c = crc32c_update(c, d, 0x1E);
                uint8_t zero[2] = {0};
                c = crc32c_update(c, zero, 2);
                c = crc32c_update(c, d + 0x20, DESC_SIZE - 0x20);
                put_le16(d + 0x1E, (uint16_t)c);
                free_blocks += fb;
                free_inodes += fi;
        }
        free(bmp);

        /* The superblock. */
        put_le32(sb + 0x00, e.inodes);
        put_le32(sb + 0x04, (uint32_t)e.blocks);
        put_le32(sb + 0x150, (uint32_t)(e.blocks >> 32));
        put_le32(sb + 0x08, (uint32_t)(e.blocks / 100)); /* 1% reserved, as -m 1 */
        put_le32(sb + 0x0C, (uint32_t)free_blocks);
        put_le32(sb + 0x158, (uint32_t)(free_blocks >> 32));
        put_le32(sb + 0x10, (uint32_t)free_inodes);
        put_le32(sb + 0x14, 0);
        put_le32(sb + 0x18, 2); /* 4096 = 1024 << 2 */
        put_le32(sb + 0x1C, 2);
        put_le32(sb + 0x20, BPG);
        put_le32(sb + 0x24, BPG);
        put_le32(sb + 0x28, e.ipg);
        put_le32(sb + 0x30, e.epoch); /* wtime */
        put_le16(sb + 0x36, 0xFFFF);  /* max mount count: -1 */
        put_le16(sb + 0x38, 0xEF53);
        put_le16(sb + 0x3A, 1); /* clean */
        put_le16(sb + 0x3C, 1); /* errors: continue */
        put_le32(sb + 0x40, e.epoch);
        put_le32(sb + 0x4C, 1); /* dynamic revision */
        put_le32(sb + 0x54, FIRST_INO);
        put_le16(sb + 0x58, INODE_SIZE);
        put_le32(sb + 0x5C, 0x4 | 0x8 | 0x20);          /* has_journal ext_attr dir_index */
        put_le32(sb + 0x60, 0x2 | 0x40 | 0x80 | 0x200); /* filetype extent 64bit flex_bg */
        put_le32(sb + 0x64, 0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x400); /* sparse_super large_file
                                                                     * huge_file dir_nlink
                                                                     * extra_isize metadata_csum */
        memcpy(sb + 0x68, e.uuid, 16);
        if (p->label)
                strncpy((char *)sb + 0x78, p->label, 16);
        put_le32(sb + 0xE0, JOURNAL_INO);
        /* The directory hash seed: derived from the UUID, as for mke2fs -E hash_seed. */
        uint8_t hs[16];
        memcpy(hs, e.uuid, 16);
        hs[15] ^= 0x5a;
        memcpy(sb + 0xEC, hs, 16);
        sb[0xFC] = 1; /* half_md4 */
        put_le16(sb + 0xFE, DESC_SIZE);
        put_le32(sb + 0x100, 0x4 | 0x8); /* user_xattr acl */
        put_le32(sb + 0x108, e.epoch);   /* mkfs time */
        put_le16(sb + 0x15C, EXTRA_ISIZE);
        put_le16(sb + 0x15E, EXTRA_ISIZE);
        put_le32(sb + 0x160, 0x1); /* signed directory hash */
        sb[0x174] = 4;             /* 16 groups per flex group */
        sb[0x175] = 1;             /* crc32c */
        for (uint32_t g = 0; g < e.groups && r == 0; g++) {
                if (!has_super(g))
                        continue;
                put_le16(sb + 0x5A, (uint16_t)g);
                put_le32(sb + 0x3FC, crc32c_update(~0u, sb, 0x3FC));
                uint8_t blk[BS] = {0};
                memcpy(blk + (g == 0 ? 1024 : 0), sb, sizeof(sb));
                r = write_at(&e, blk, BS, (uint64_t)g * BPG);
                if (r == 0)
                        r = write_at(&e, gdt, (size_t)e.gdt_blocks * BS, (uint64_t)g * BPG + 1);
        }
        free(gdt);
        if (r == 0)
                log_debug_sub("disk", "ext4: %llu files, %llu MiB of data, %u groups, %u inodes",
                              (unsigned long long)e.files, (unsigned long long)(e.bytes >> 20),
                              e.groups, e.inodes);
finish:
        free(e.bbitmap);
        free(e.ibitmap);
        free(e.itable);
        free(e.used_dirs);
        free(e.links);
        free(e.bb);
        free(e.ib);
        free(e.it);
        return r;
}
