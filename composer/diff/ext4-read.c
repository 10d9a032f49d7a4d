/* SPDX-License-Identifier: MIT */
/* The ext2/3/4 reader of `vmcompose diff`: libext2fs opens the filesystem inside the image file
 * at its offset (the unix io manager's "offset=" option: no mount, no loop device, no root) and
 * this walks its directories, reading every inode's metadata, extended attributes and, for
 * regular files, the content in large chunks to hash it. libext2fs's errcode_t is translated
 * once, here: any failure is -EBADMSG with the library's message. */
#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "vmcompose/diff.h"

#define EXT4_MAX_DEPTH 256
#define EXT4_READ_CHUNK (4u << 20)
#define EXT4_KEEP_MAX (64u << 20)

typedef struct Ext4 {
        ext2_filsys fs;
        DiffTree *tree;
        char *error;
        uint8_t *chunk;
        uint8_t *seen_dirs; /* one bit per inode: directories already walked */
} Ext4;

static void ext4_init_error_table(void) {
        initialize_ext2_error_table();
}

static int ext4_bad(Ext4 *e, errcode_t err, const char *fmt, ...) _printf_(3, 4);
static int ext4_bad(Ext4 *e, errcode_t err, const char *fmt, ...) {
        va_list ap;
        char *what;

        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                oom_fatal();
        va_end(ap);
        if (!e->error)
                e->error = err ? xasprintf("%s: %s", what, error_message(err)) : xstrdup(what);
        free(what);
        return -EBADMSG;
}

typedef struct Child {
        char *name;
        ext2_ino_t ino;
} Child;

typedef struct Children {
        Child *c;
        size_t n, allocated;
        bool bad_name;
} Children;

static int collect_child(ext2_ino_t dir, int entry, struct ext2_dir_entry *dirent, int offset,
                         int blocksize, char *buf, void *userdata) {
        Children *ch = userdata;
        int len = ext2fs_dirent_name_len(dirent);

        if (dirent->inode == 0)
                return 0;
        if ((len == 1 && dirent->name[0] == '.') ||
            (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
                return 0;
        if (len == 0 || memchr(dirent->name, '/', (size_t)len) ||
            memchr(dirent->name, 0, (size_t)len)) {
                ch->bad_name = true;
                return DIRENT_ABORT;
        }
        if (ch->n == ch->allocated) {
                ch->allocated = MAX(ch->allocated * 2, (size_t)16);
                ch->c = xrealloc(ch->c, ch->allocated * sizeof(Child));
        }
        ch->c[ch->n++] = (Child){xstrndup(dirent->name, (size_t)len), dirent->inode};
        return 0;
}

static void children_done(Children *ch) {
        for (size_t i = 0; i < ch->n; i++)
                free(ch->c[i].name);
        free(ch->c);
}

static void xtime(uint32_t base, uint32_t extra, bool has_extra, int64_t *sec, uint32_t *nsec) {
        *sec = (int32_t)base;
        *nsec = 0;
        if (has_extra) {
                *sec += (int64_t)(extra & 3) << 32;
                *nsec = extra >> 2;
        }
}

typedef struct Xattr {
        char *name;
        char *hex;
} Xattr;

typedef struct Xattrs {
        Xattr *x;
        size_t n;
} Xattrs;

static int collect_xattr(char *name, char *value, size_t value_len, void *userdata) {
        Xattrs *xs = userdata;
        if (streq(name, "system.data")) /* inline data: the content, not an attribute */
                return 0;
        xs->x = xrealloc(xs->x, (xs->n + 1) * sizeof(Xattr));
        char *hex = xmalloc(2 * value_len + 1);
        for (size_t i = 0; i < value_len; i++)
                snprintf(hex + 2 * i, 3, "%02x", (uint8_t)value[i]);
        hex[2 * value_len] = 0;
        xs->x[xs->n++] = (Xattr){xstrdup(name), hex};
        return 0;
}

static int xattr_cmp(const void *a, const void *b) {
        return strcmp(((const Xattr *)a)->name, ((const Xattr *)b)->name);
}

static int read_xattrs(Ext4 *e, ext2_ino_t ino, struct ext2_inode_large *inode, DiffFile *f) {
        struct ext2_xattr_handle *h = NULL;
        Xattrs xs = {};
        errcode_t err;

        err = ext2fs_xattrs_open(e->fs, ino, &h);
        if (!err)
                err = ext2fs_xattrs_read_inode(h, inode);
        if (!err)
                err = ext2fs_xattrs_iterate(h, collect_xattr, &xs);
        if (h)
                (void)ext2fs_xattrs_close(&h);
        if (!err && xs.n > 0) {
                Buffer b = {};
                qsort(xs.x, xs.n, sizeof(Xattr), xattr_cmp);
                for (size_t i = 0; i < xs.n; i++)
                        buffer_printf(&b, "%s=%s\n", xs.x[i].name, xs.x[i].hex);
                f->xattrs = buffer_steal(&b);
        }
        for (size_t i = 0; i < xs.n; i++) {
                free(xs.x[i].name);
                free(xs.x[i].hex);
        }
        free(xs.x);
        if (err)
                return ext4_bad(e, err, "%s: cannot read extended attributes", f->path);
        return 0;
}

/* Reads the whole content of ino (through libext2fs's file API, which knows extents, block
 * maps, holes and inline data), hashing it; keeps a copy when keep. */
static int read_content(Ext4 *e, ext2_ino_t ino, struct ext2_inode_large *inode, DiffFile *f,
                        bool keep, Buffer *kept) {
        ext2_file_t file = NULL;
        errcode_t err;
        uint64_t total = 0;

        err = ext2fs_file_open2(e->fs, ino, (struct ext2_inode *)inode, 0, &file);
        if (err)
                return ext4_bad(e, err, "%s: cannot open", f->path);
        Sha256 *h = sha256_new();
        for (;;) {
                unsigned got = 0;
                err = ext2fs_file_read(file, e->chunk, EXT4_READ_CHUNK, &got);
                if (err || got == 0)
                        break;
                sha256_update(h, e->chunk, got);
                if (keep && kept->len + got <= EXT4_KEEP_MAX)
                        buffer_append(kept, (const char *)e->chunk, got);
                total += got;
        }
        (void)ext2fs_file_close(file);
        sha256_finish(h, f->sha256);
        f->has_digest = true;
        if (err)
                return ext4_bad(e, err, "%s: cannot read", f->path);
        if (total != f->size)
                return ext4_bad(e, 0, "%s: read %llu of %llu bytes", f->path,
                                (unsigned long long)total, (unsigned long long)f->size);
        return 0;
}

static int read_symlink(Ext4 *e, ext2_ino_t ino, struct ext2_inode_large *inode, DiffFile *f) {
        if (f->size > 65536)
                return ext4_bad(e, 0, "%s: a symbolic link of %llu bytes", f->path,
                                (unsigned long long)f->size);
        if (ext2fs_is_fast_symlink((struct ext2_inode *)inode)) {
                f->link = xstrndup((const char *)inode->i_block, (size_t)f->size);
                return 0;
        }
        if (inode->i_flags & EXT4_INLINE_DATA_FL) {
                char buf[65536 + 1];
                size_t n = sizeof(buf) - 1;
                errcode_t err =
                        ext2fs_inline_data_get(e->fs, ino, (struct ext2_inode *)inode, buf, &n);
                if (err)
                        return ext4_bad(e, err, "%s: cannot read the link", f->path);
                f->link = xstrndup(buf, MIN(n, (size_t)f->size));
                return 0;
        }
        Buffer b = {};
        int r = read_content(e, ino, inode, f, true, &b);
        f->has_digest = false; /* a link is compared by its target */
        memset(f->sha256, 0, sizeof(f->sha256));
        if (r >= 0)
                f->link = xstrndup(b.data ? b.data : "", b.len);
        buffer_done(&b);
        return r;
}

static int walk_dir(Ext4 *e, ext2_ino_t dir, const char *path, unsigned depth);

static int read_inode(Ext4 *e, ext2_ino_t ino, const char *path, unsigned depth) {
        struct ext2_inode_large inode = {};
        errcode_t err;
        int r;

        err = ext2fs_read_inode_full(e->fs, ino, (struct ext2_inode *)&inode, sizeof(inode));
        if (err)
                return ext4_bad(e, err, "%s: cannot read inode %u", path, ino);
        DiffFile *f = diff_tree_add(e->tree, path);
        bool large = EXT2_INODE_SIZE(e->fs->super) > EXT2_GOOD_OLD_INODE_SIZE;
        size_t extra = large ? EXT2_GOOD_OLD_INODE_SIZE + inode.i_extra_isize : 0;
        bool has_extra = extra >= offsetof(struct ext2_inode_large, i_mtime_extra) + 4;

        f->mode = inode.i_mode;
        f->uid = inode_uid(inode);
        f->gid = inode_gid(inode);
        f->size = EXT2_I_SIZE(&inode);
        xtime(inode.i_mtime, inode.i_mtime_extra, has_extra, &f->mtime, &f->mtime_nsec);
        xtime(inode.i_ctime, inode.i_ctime_extra, has_extra, &f->ctime, &f->ctime_nsec);
        r = read_xattrs(e, ino, &inode, f);
        if (r < 0)
                return r;
        switch (inode.i_mode & S_IFMT) {
        case S_IFREG: {
                bool keep = diff_keep_content(path);
                Buffer kept = {};
                r = read_content(e, ino, &inode, f, keep, &kept);
                if (keep && r >= 0) {
                        f->data_size = kept.len;
                        f->data = buffer_steal(&kept);
                }
                buffer_done(&kept);
                return r;
        }
        case S_IFLNK:
                return read_symlink(e, ino, &inode, f);
        case S_IFCHR:
        case S_IFBLK: {
                uint32_t old = inode.i_block[0], new = inode.i_block[1];
                f->rdev =
                        old ? makedev((old >> 8) & 0xff, old & 0xff)
                            : makedev((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00));
                f->size = 0;
                return 0;
        }
        case S_IFDIR:
                f->size = 0; /* the directory's blocks: not something to compare */
                if (ino >= e->fs->super->s_inodes_count + 1)
                        return ext4_bad(e, 0, "%s: inode %u out of range", path, ino);
                if (e->seen_dirs[ino / 8] & (1u << (ino % 8)))
                        return ext4_bad(e, 0, "%s: directory inode %u reached twice", path, ino);
                e->seen_dirs[ino / 8] |= (uint8_t)(1u << (ino % 8));
                return walk_dir(e, ino, path, depth + 1);
        case S_IFIFO:
        case S_IFSOCK:
                f->size = 0;
                return 0;
        default:
                return ext4_bad(e, 0, "%s: inode %u has an invalid mode 0%o", path, ino,
                                inode.i_mode);
        }
}

static int walk_dir(Ext4 *e, ext2_ino_t dir, const char *path, unsigned depth) {
        Children ch = {};
        errcode_t err;
        int r = 0;

        if (depth > EXT4_MAX_DEPTH)
                return ext4_bad(e, 0, "%s: directories nested deeper than %d", path,
                                EXT4_MAX_DEPTH);
        err = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, collect_child, &ch);
        if (err)
                r = ext4_bad(e, err, "%s: cannot read the directory", path);
        else if (ch.bad_name)
                r = ext4_bad(e, 0, "%s: an entry with an invalid name", path);
        for (size_t i = 0; r >= 0 && i < ch.n; i++) {
                _cleanup_free_ char *child = streq(path, "/")
                                                     ? xasprintf("/%s", ch.c[i].name)
                                                     : xasprintf("%s/%s", path, ch.c[i].name);
                if (ch.c[i].ino < 1 || ch.c[i].ino > e->fs->super->s_inodes_count)
                        r = ext4_bad(e, 0, "%s: inode %u out of range", child, ch.c[i].ino);
                else
                        r = read_inode(e, ch.c[i].ino, child, depth);
        }
        children_done(&ch);
        return r;
}

int diff_ext4_read(const char *path, uint64_t offset, uint64_t size, DiffTree *ret,
                   char **ret_error) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        char options[64];
        Ext4 e = {.tree = ret};
        errcode_t err;
        int r;

        *ret = (DiffTree){};
        pthread_once(&once, ext4_init_error_table);
        snprintf(options, sizeof(options), "offset=%llu", (unsigned long long)offset);
        err = ext2fs_open2(path, options, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &e.fs);
        if (err) {
                *ret_error = xasprintf("cannot open the ext4 filesystem: %s", error_message(err));
                return -EBADMSG;
        }
        uint64_t fs_size = ext2fs_blocks_count(e.fs->super) * (uint64_t)e.fs->blocksize;
        ret->fs_size = fs_size;
        if (fs_size > size)
                r = ext4_bad(&e, 0,
                             "the filesystem (%llu bytes) is larger than its partition "
                             "(%llu bytes)",
                             (unsigned long long)fs_size, (unsigned long long)size);
        else {
                e.chunk = xmalloc(EXT4_READ_CHUNK);
                e.seen_dirs = xcalloc((size_t)e.fs->super->s_inodes_count / 8 + 2, 1);
                r = read_inode(&e, EXT2_ROOT_INO, "/", 0);
        }
        free(e.chunk);
        free(e.seen_dirs);
        (void)ext2fs_close_free(&e.fs);
        if (r < 0) {
                *ret_error = e.error ? e.error : xstrdup("cannot read the filesystem");
                diff_tree_done(ret);
                return r;
        }
        diff_tree_sort(ret);
        return 0;
}
