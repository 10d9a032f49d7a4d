/* SPDX-License-Identifier: MIT */
/* Filesystems built from a directory into a plain file, with the standard tools, made
 * reproducible: fixed UUIDs and hash seeds, fake build time, clamped inode times. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "disk-internal.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"

static int create_sized(const char *path, uint64_t size) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        return 0;
}

/* Runs a tool; maps "the content does not fit in the filesystem" to -E2BIG (the caller may
 * retry larger) and logs the output of other failures, a full host disk among them. */
static int run_tool(char *const argv[], char *const env[], const char *what) {
        Buffer out = {};
        int r = spawn_run(argv, env, &out);

        if (r == -ENOENT)
                log_error("%s: %s is not installed", what, argv[0]);
        else if (r != 0 && out.data && strstr(out.data, "No space left on device")) {
                log_error("%s: %s: the disk the image is built on is full", what, argv[0]);
                r = -ENOSPC;
        } else if (r != 0 && out.data &&
                   (strstr(out.data, "Could not allocate block") || strstr(out.data, "Disk full") ||
                    strstr(out.data, "not enough space") || strstr(out.data, "too small")))
                r = -E2BIG;
        else if (r != 0) {
                _cleanup_free_ char *cmd = spawn_format(argv);
                log_error("%s: %s failed (%s%d):\n%s", what, cmd, r < 0 ? "error " : "exit ", r,
                          out.data ? out.data : "");
                r = r < 0 ? r : -EIO;
        }
        buffer_done(&out);
        return r;
}

/* Builds the filesystem in place, at the partition's offset in the disk image: no separate
 * file to splice in afterwards. */
static int mkfs_ext4(const Partition *p, const char *dir, uint64_t inodes, uint64_t ts,
                     const char *disk_path) {
        char uuid[37], seed[37], kib[32], nodes[32];
        int r;

        uuid_format(p->fs_uuid, uuid);
        /* The directory hash seed: another fixed value derived from the filesystem UUID. */
        uint8_t hs[16];
        memcpy(hs, p->fs_uuid, 16);
        hs[15] ^= 0x5a;
        uuid_format(hs, seed);
        _cleanup_free_ char *ext = xasprintf(
                "offset=%llu,hash_seed=%s,lazy_itable_init=1,lazy_journal_init=1,nodiscard,"
                "root_owner=0:0",
                (unsigned long long)p->offset, seed);
        /* With -b, a bare number would count 4 KiB blocks: say "k". */
        snprintf(kib, sizeof(kib), "%lluk", (unsigned long long)(p->size / 1024));
        snprintf(nodes, sizeof(nodes), "%llu", (unsigned long long)inodes);

        const char *argv[32] = {"mkfs.ext4", "-q", "-F", "-t", "ext4", "-b", "4096", "-I",
                                "256",       "-U", uuid, "-E", ext,    "-m", "1"};
        size_t n = 15;
        if (p->label) {
                argv[n++] = "-L";
                argv[n++] = p->label;
        }
        /* mke2fs gives one inode per 16 KiB; a tree of many small files needs more. */
        if (inodes > p->size / 16384) {
                argv[n++] = "-N";
                argv[n++] = nodes;
        }
        if (dir) {
                argv[n++] = "-d";
                argv[n++] = dir;
        }
        argv[n++] = disk_path;
        argv[n++] = kib;
        argv[n] = NULL;

        _cleanup_free_ char *fake = xasprintf("E2FSPROGS_FAKE_TIME=%llu", (unsigned long long)ts);
        char *env[] = {fake, NULL};
        r = run_tool((char *const *)argv, env, "ext4");
        if (r < 0)
                return r;
        r = ext4_clamp_times(disk_path, p->offset, ts);
        if (r < 0)
                return log_error_errno(r, "ext4: failed to clamp timestamps in %s: %m", disk_path);
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mkfs_vfat(const Partition *p, const char *dir, uint64_t ts, const char *path) {
        char serial[16], kib[32];
        int r;

        snprintf(serial, sizeof(serial), "%02X%02X%02X%02X", p->fs_uuid[0], p->fs_uuid[1],
                 p->fs_uuid[2], p->fs_uuid[3]);
        snprintf(kib, sizeof(kib), "%llu", (unsigned long long)(p->size / 1024));
        const char *argv[16] = {"mkfs.vfat", "--invariant", "-i", serial};
        size_t n = 4;
        if (p->label) {
                argv[n++] = "-n";
                argv[n++] = p->label;
        }
        argv[n++] = "-C";
        argv[n++] = path;
        argv[n++] = kib;
        argv[n] = NULL;
        r = run_tool((char *const *)argv, NULL, "vfat");
        if (r < 0 || !dir)
                return r;

        /* mcopy DIR/<each entry> ::/, entries in a fixed order. */
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        if (!d)
                return log_error_errno(errno, "vfat: cannot read %s: %m", dir);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        strv_push(&names, path_join(dir, de->d_name));
        closedir(d);
        if (!names)
                return 0;
        qsort(names, strv_length(names), sizeof(char *), cmp_names);

        _cleanup_strv_free_ char **mcopy = NULL;
        /* Every entry's times are source-date-epoch (mtools reads SOURCE_DATE_EPOCH instead
         * of the clock; without -m it does not copy the file's own time), in UTC: FAT stores
         * local time, and the build host's zone must not change the bytes. */
        static const char *const head[] = {"mcopy", "-s", "-p", "-Q", "-i"};
        for (size_t i = 0; i < ELEMENTSOF(head); i++)
                strv_extend(&mcopy, head[i]);
        strv_extend(&mcopy, path);
        for (char **s = names; *s; s++)
                strv_extend(&mcopy, *s);
        strv_extend(&mcopy, "::/");
        _cleanup_free_ char *sde =
                ts ? xasprintf("SOURCE_DATE_EPOCH=%llu", (unsigned long long)ts) : NULL;
        char *env[] = {(char *)"MTOOLS_SKIP_CHECK=1", (char *)"TZ=UTC0", sde, NULL};
        return run_tool(mcopy, env, "vfat");
}

static int mkfs_erofs(const Partition *p, const char *dir, uint64_t ts, const char *path,
                      const char *tmp_dir) {
        char uuid[37];
        struct stat st;
        int r;

        uuid_format(p->fs_uuid, uuid);
        _cleanup_free_ char *u = xasprintf("-U%s", uuid);
        _cleanup_free_ char *t = xasprintf("-T%llu", (unsigned long long)ts);
        /* An empty source still makes a valid (empty) filesystem. */
        _cleanup_free_ char *empty = NULL;
        if (!dir) {
                empty = path_join(tmp_dir, "empty");
                if (mkdir(empty, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        const char *argv[] = {"mkfs.erofs", "--quiet", u, t, path, dir ? dir : empty, NULL};
        r = run_tool((char *const *)argv, NULL, "erofs");
        if (r < 0)
                return r;
        if (stat(path, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size > p->size)
                return -E2BIG;
        return 0;
}

static int mkfs_swap(const Partition *p, const char *path) {
        char uuid[37];
        int r;

        uuid_format(p->fs_uuid, uuid);
        r = create_sized(path, p->size);
        if (r < 0)
                return r;
        const char *argv[8] = {"mkswap", "-U", uuid};
        size_t n = 3;
        if (p->label) {
                argv[n++] = "-L";
                argv[n++] = p->label;
        }
        argv[n++] = path;
        argv[n] = NULL;
        return run_tool((char *const *)argv, NULL, "swap");
}

int disk_mkfs(const Partition *p, const char *dir, uint64_t inodes, uint64_t timestamp,
              const char *disk_path, int disk_fd, const char *tmp_dir) {
        struct stat st;
        int r;

        if (p->fs == FS_NONE)
                return 0;
        if (p->fs == FS_EXT4) {
                const char *how = getenv("VMCOMPOSE_EXT4_WRITER");
                if (dir && !(how && streq(how, "mke2fs"))) {
                        r = ext4_write_tree(p, dir, inodes, timestamp, disk_fd);
                        if (r != -EOPNOTSUPP)
                                return r == -E2BIG
                                               ? log_error_errno(
                                                         r,
                                                         "ext4: %s does not fit "
                                                         "in %llu MiB",
                                                         dir, (unsigned long long)(p->size >> 20))
                                               : r;
                        log_notice("ext4: the tree holds what vmcompose's ext4 writer does not "
                                   "represent (VMCOMPOSE_DEBUG=disk says what), using mke2fs");
                        if (fallocate(disk_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                      (off_t)p->offset, (off_t)p->size) < 0)
                                return -errno;
                }
                return mkfs_ext4(p, dir, inodes, timestamp, disk_path);
        }

        /* The others are built as a file of their own and spliced in. */
        _cleanup_free_ char *name = xasprintf("partition-%llu.img", (unsigned long long)p->offset);
        _cleanup_free_ char *path = path_join(tmp_dir, name);
        (void)unlink(path);
        switch (p->fs) {
        case FS_VFAT:
                r = mkfs_vfat(p, dir, timestamp, path);
                break;
        case FS_EROFS:
                r = mkfs_erofs(p, dir, timestamp, path, tmp_dir);
                break;
        case FS_SWAP:
                r = mkfs_swap(p, path);
                break;
        default:
                r = -EOPNOTSUPP;
        }
        if (r == 0 && stat(path, &st) < 0)
                r = -errno;
        /* A filesystem larger than its partition would be cut off when spliced in. */
        if (r == 0 && (uint64_t)st.st_size > p->size)
                r = log_error_errno(EFBIG,
                                    "%s: the filesystem image is %llu bytes, larger "
                                    "than its %llu-byte partition",
                                    fs_type_to_string(p->fs), (unsigned long long)st.st_size,
                                    (unsigned long long)p->size);
        if (r == 0) {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                r = fd < 0 ? -errno : sparse_copy(fd, 0, (uint64_t)st.st_size, disk_fd, p->offset);
        }
        (void)unlink(path);
        return r;
}
