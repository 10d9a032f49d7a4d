/* SPDX-License-Identifier: MIT */
/* Unpacking a .deb's data into the root, confined to it. Every path is resolved with openat2()
 * and RESOLVE_IN_ROOT: a symlink in the root (merged /usr's /bin -> usr/bin, or a hostile
 * "evil -> /etc") is followed as if the root were "/", never out of it. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/sparse.h"
#include "vmcompose/util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

/* Removes what is at name unless it is a directory (which the caller keeps). */
static int clear(int dir_fd, const char *name) {
        struct stat st;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
}

static void apply_xattrs(struct archive_entry *e, int fd) {
        const char *name;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
                if (fsetxattr(fd, name, value, size, 0) < 0)
                        log_warning("install: cannot set %s: %s", name, strerror(errno));
}

static int write_file(struct archive *a, struct archive_entry *e, int dir_fd, const char *name) {
        int r = clear(dir_fd, name);
        if (r < 0)
                return r;
        _cleanup_close_ int fd =
                openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        const void *buf;
        size_t size;
        la_int64_t offset;
        while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK)
                if (pwrite(fd, buf, size, offset) != (ssize_t)size)
                        return -errno;
        if (r != ARCHIVE_EOF)
                return -EIO;
        if (ftruncate(fd, archive_entry_size(e)) < 0)
                return -errno;
        /* Owner first: chown clears setuid and setgid bits. */
        if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 ||
            fchmod(fd, archive_entry_perm(e)) < 0)
                return -errno;
        apply_xattrs(e, fd);
        struct timespec ts[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
        (void)futimens(fd, ts);
        return 0;
}

static int extract_entry(struct archive *a, struct archive_entry *e, int root_fd,
                         const InstallOptions *o, ExtractStats *st, const char *deb) {
        _cleanup_free_ char *path = NULL;
        const char *member = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        _cleanup_free_ char *name = NULL;
        int r;

        if (!install_member_path_ok(member, &path)) {
                log_error("install: %s: refusing archive member '%s' (absolute or with '..')", deb,
                          member);
                return -EBADMSG;
        }
        if (!*path)
                return 0; /* "./" itself */
        _cleanup_free_ char *abs = xasprintf("/%s", path);
        if (type != AE_IFDIR && o && install_path_excluded(abs, o->path_exclude, o->path_include)) {
                st->excluded++;
                return 0;
        }
        if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK) {
                log_warning("install: %s: skipping special file %s", deb, abs);
                st->skipped++;
                return 0;
        }

        /* dpkg archives list directories first; a missing one is created anyway. */
        _cleanup_close_ int dir = root_open_parent(root_fd, path, true, &name);
        if (dir < 0) {
                log_error("install: %s: cannot place %s: %s", deb, abs, strerror(-dir));
                return dir == -EXDEV ? -EBADMSG : dir;
        }
        const char *hardlink = archive_entry_hardlink(e);
        if (hardlink) {
                _cleanup_free_ char *target = NULL;
                _cleanup_free_ char *tname = NULL;
                if (!install_member_path_ok(hardlink, &target) || !*target) {
                        log_error("install: %s: refusing hardlink to '%s'", deb, hardlink);
                        return -EBADMSG;
                }
                _cleanup_close_ int tdir = root_open_parent(root_fd, target, true, &tname);
                if (tdir < 0)
                        return tdir;
                (void)clear(dir, name);
                if (linkat(tdir, tname, dir, name, 0) < 0)
                        return log_error_errno(errno, "install: %s: hardlink %s: %m", deb, abs);
                st->links++;
                return 0;
        }
        switch (type) {
        case AE_IFDIR: {
                struct stat s;
                /* An existing directory, or a symlink to one (merged /usr), stays. */
                _cleanup_close_ int fd = root_open(root_fd, path, O_PATH | O_DIRECTORY, 0);
                if (fd >= 0)
                        return 0;
                if (mkdirat(dir, name, archive_entry_perm(e)) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "install: %s: mkdir %s: %m", deb, abs);
                if (fstatat(dir, name, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(s.st_mode)) {
                        (void)fchownat(dir, name, (uid_t)archive_entry_uid(e),
                                       (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
                        (void)fchmodat(dir, name, archive_entry_perm(e), 0);
                }
                st->dirs++;
                return 0;
        }
        case AE_IFLNK:
                r = clear(dir, name);
                if (r < 0 || symlinkat(archive_entry_symlink(e), dir, name) < 0)
                        return log_error_errno(r < 0 ? r : errno, "install: %s: symlink %s: %m",
                                               deb, abs);
                (void)fchownat(dir, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                               AT_SYMLINK_NOFOLLOW);
                st->links++;
                return 0;
        case AE_IFREG:
                r = write_file(a, e, dir, name);
                if (r < 0)
                        return log_error_errno(r, "install: %s: cannot write %s: %m", deb, abs);
                st->files++;
                return 0;
        default:
                log_warning("install: %s: skipping %s of unknown type", deb, abs);
                st->skipped++;
                return 0;
        }
}

/* Reads the ar member whose name starts with prefix into memory. */
static int read_member(const char *deb, const char *prefix, void **ret, size_t *ret_size) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        struct archive_entry *e;

        archive_read_support_format_ar(a);
        if (archive_read_open_filename(a, deb, 1 << 16) != ARCHIVE_OK)
                return log_error_errno(EBADMSG, "install: %s: not a .deb: %s", deb,
                                       archive_error_string(a));
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                if (!strneq(archive_entry_pathname(e), prefix, strlen(prefix)))
                        continue;
                la_int64_t size = archive_entry_size(e);
                if (size < 0 || size > (la_int64_t)1 << 31)
                        return -EBADMSG;
                void *buf = xmalloc((size_t)size + 1);
                la_ssize_t n = archive_read_data(a, buf, (size_t)size);
                if (n != size) {
                        free(buf);
                        return log_error_errno(EBADMSG, "install: %s: truncated %s", deb, prefix);
                }
                *ret = buf;
                *ret_size = (size_t)size;
                return 0;
        }
        return log_error_errno(EBADMSG, "install: %s: no %s member", deb, prefix);
}

/* Opens the .deb's data.tar (any compression) for reading; *ret_data holds its bytes and
 * must outlive the archive. */
static int open_data_tar(const char *deb_path, void **ret_data, struct archive **ret) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        _cleanup_free_ void *data = NULL;
        size_t size = 0;
        int r;

        r = read_member(deb_path, "data.tar", &data, &size);
        if (r < 0)
                return r;
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, data, size) != ARCHIVE_OK)
                return log_error_errno(EBADMSG, "install: %s: bad data.tar: %s", deb_path,
                                       archive_error_string(a));
        *ret_data = TAKE_PTR(data);
        *ret = TAKE_PTR(a);
        return 0;
}

int deb_extract(int root_fd, const char *deb_path, const InstallOptions *o, ExtractStats *stats) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        _cleanup_free_ void *data = NULL;
        struct archive_entry *e;
        ExtractStats st = {};
        int r;

        r = open_data_tar(deb_path, &data, &a);
        if (r < 0)
                return r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                r = extract_entry(a, e, root_fd, o, &st, deb_path);
                if (r < 0)
                        return r;
        }
        if (r != ARCHIVE_EOF)
                return log_error_errno(EBADMSG, "install: %s: %s", deb_path,
                                       archive_error_string(a));
        if (stats)
                *stats = st;
        return 0;
}

int deb_list_members(const char *deb_path,
                     int (*fn)(const char *path, uint64_t size, bool directory, void *userdata),
                     void *userdata) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        _cleanup_free_ void *data = NULL;
        struct archive_entry *e;
        int r;

        r = open_data_tar(deb_path, &data, &a);
        if (r < 0)
                return r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                _cleanup_free_ char *rel = NULL;
                if (!install_member_path_ok(archive_entry_pathname(e), &rel) || !*rel)
                        continue;
                _cleanup_free_ char *abs = xasprintf("/%s", rel);
                /* A hard link's data is its target's: size 0. */
                bool has_data = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
                r = fn(abs, has_data ? (uint64_t)MAX(archive_entry_size(e), (la_int64_t)0) : 0,
                       archive_entry_filetype(e) == AE_IFDIR, userdata);
                if (r < 0)
                        return r;
        }
        if (r != ARCHIVE_EOF)
                return log_error_errno(EBADMSG, "%s: %s", deb_path, archive_error_string(a));
        return 0;
}

/* One ar member header: name, mtime 0, owner 0, mode 100644, size (padded as ar wants). */
static void ar_header(char h[60], const char *name, uint64_t size) {
        char buf[61];
        snprintf(buf, sizeof(buf), "%-16.16s%-12s%-6s%-6s%-8s%-10llu`\n", name, "0", "0", "0",
                 "100644", (unsigned long long)size);
        memcpy(h, buf, 60);
}

/* Writes the member name with the data of a compressed tar, decompressed, at out_fd's end. */
static int write_plain_member(int out_fd, const char *name, const void *data, size_t size) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        struct archive_entry *e;
        char h[60], buf[1 << 16];
        uint64_t total = 0;

        off_t at = lseek(out_fd, 0, SEEK_END);
        if (at < 0)
                return -errno;
        ar_header(h, name, 0);
        int r = pwrite_all(out_fd, h, sizeof(h), (uint64_t)at);
        if (r < 0)
                return r;
        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        if (archive_read_open_memory(a, data, size) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK)
                return -EBADMSG;
        for (;;) {
                la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
                if (n < 0)
                        return -EBADMSG;
                if (n == 0)
                        break;
                r = pwrite_all(out_fd, buf, (size_t)n, (uint64_t)at + 60 + total);
                if (r < 0)
                        return r;
                total += (uint64_t)n;
        }
        if (total % 2 && (r = pwrite_all(out_fd, "\n", 1, (uint64_t)at + 60 + total)) < 0)
                return r;
        ar_header(h, name, total);
        return pwrite_all(out_fd, h, sizeof(h), (uint64_t)at);
}

int deb_repack_plain(const char *deb_path, int out_fd) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        struct archive_entry *e;
        int r;

        archive_read_support_format_ar(a);
        if (archive_read_open_filename(a, deb_path, 1 << 16) != ARCHIVE_OK)
                return -EBADMSG;
        if ((r = pwrite_all(out_fd, "!<arch>\n", 8, 0)) < 0)
                return r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                la_int64_t size = archive_entry_size(e);
                if (!name || size < 0 || size > (la_int64_t)1 << 31)
                        return -EBADMSG;
                _cleanup_free_ char *data = xmalloc((size_t)size + 1);
                if (archive_read_data(a, data, (size_t)size) != size)
                        return -EBADMSG;
                /* control.tar.xz -> control.tar, data.tar.zst -> data.tar; the rest as is. */
                const char *plain = strneq(name, "control.tar.", 12) ? "control.tar"
                                    : strneq(name, "data.tar.", 9)   ? "data.tar"
                                                                     : NULL;
                if (plain) {
                        r = write_plain_member(out_fd, plain, data, (size_t)size);
                        if (r < 0)
                                return r;
                        continue;
                }
                off_t at = lseek(out_fd, 0, SEEK_END);
                char h[60];
                ar_header(h, name, (uint64_t)size);
                if (at < 0)
                        return -errno;
                if ((r = pwrite_all(out_fd, h, 60, (uint64_t)at)) < 0 ||
                    (r = pwrite_all(out_fd, data, (size_t)size, (uint64_t)at + 60)) < 0 ||
                    (size % 2 && (r = pwrite_all(out_fd, "\n", 1, (uint64_t)at + 60 + size)) < 0))
                        return r;
        }
        return r == ARCHIVE_EOF ? 0 : -EBADMSG;
}
