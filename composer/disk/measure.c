/* SPDX-License-Identifier: MIT */
/* How big a filesystem must be to hold a tree. Generous on purpose: a build that guesses too
 * small retries larger, one that guesses too large wastes only sparse space. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#include "disk-internal.h"

#define BLOCK 4096u

typedef struct Tally {
        uint64_t data, dir_bytes, entries, dirs;
        struct {
                dev_t dev;
                ino_t ino;
        } * links; /* inodes with more than one link, counted once */
        size_t n_links;
} Tally;

static Tally *tally; /* nftw() has no user pointer */

static uint64_t round_block(uint64_t v) {
        return (v + BLOCK - 1) / BLOCK * BLOCK;
}

static bool seen_link(Tally *t, const struct stat *st) {
        for (size_t i = 0; i < t->n_links; i++)
                if (t->links[i].dev == st->st_dev && t->links[i].ino == st->st_ino)
                        return true;
        t->links = xrealloc(t->links, (t->n_links + 1) * sizeof(*t->links));
        t->links[t->n_links].dev = st->st_dev;
        t->links[t->n_links].ino = st->st_ino;
        t->n_links++;
        return false;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        Tally *t = tally;
        size_t name_len = strlen(path + ftw->base);

        t->dir_bytes += (name_len + 8 + 3) & ~(size_t)3; /* an ext4 directory entry */
        if (type == FTW_D || type == FTW_DP) {
                t->dirs++;
                t->entries++;
                return 0;
        }
        if (type == FTW_DNR || type == FTW_NS)
                return -EACCES;
        if (S_ISREG(st->st_mode) && st->st_nlink > 1 && seen_link(t, st))
                return 0;
        t->entries++;
        /* Holes stay holes (mke2fs -d and mcopy keep them): count what is allocated. */
        if (S_ISREG(st->st_mode))
                t->data += round_block(MIN((uint64_t)st->st_size, (uint64_t)st->st_blocks * 512));
        else if (S_ISLNK(st->st_mode) && st->st_size >= 60)
                t->data += BLOCK; /* longer targets do not fit in the inode */
        return 0;
}

uint32_t ext4_journal_blocks(uint64_t blocks) {
        static const struct {
                uint64_t below;
                uint32_t journal_blocks;
        } steps[] = {
                {2048, 0},
                {32768, 1024},
                {256 * 1024, 4096},
                {512 * 1024, 8192},
                {4096 * 1024, 16384},
                {8192 * 1024, 32768},
                {16384 * 1024, 65536},
                {32768 * 1024, 131072},
        };
        for (size_t i = 0; i < ELEMENTSOF(steps); i++)
                if (blocks < steps[i].below)
                        return steps[i].journal_blocks;
        return 262144;
}

int disk_measure_tree(const char *dir, FsType fs, uint64_t *ret_bytes, uint64_t *ret_inodes) {
        Tally t = {};
        int r = 0;

        if (dir) {
                tally = &t;
                r = nftw(dir, visit, 64, FTW_PHYS);
                tally = NULL;
                free(t.links);
                if (r != 0)
                        return r < 0 && errno ? -errno : -EIO;
        }

        uint64_t content = t.data + round_block(t.dir_bytes) + t.dirs * BLOCK;
        uint64_t inodes = t.entries + t.entries / 5 + 256;
        uint64_t size;

        switch (fs) {
        case FS_EXT4: {
                /* Inode tables, the journal, bitmaps and descriptors, 5% reserved blocks. */
                size = content + inodes * 256;
                size += (uint64_t)ext4_journal_blocks(size / BLOCK) * BLOCK + size / 64 +
                        (UINT64_C(4) << 20);
                size = size / 95 * 100;
                break;
        }
        case FS_VFAT:
                /* Two FATs of 4 bytes per 4 KiB cluster, directories, reserved sectors. */
                size = content + content / 512 + (UINT64_C(2) << 20);
                break;
        case FS_EROFS:
                size = content + inodes * 64 + (UINT64_C(1) << 20);
                break;
        case FS_SWAP:
        case FS_NONE:
        default:
                size = UINT64_C(1) << 20;
                break;
        }
        *ret_bytes = size;
        if (ret_inodes)
                *ret_inodes = inodes;
        return 0;
}
