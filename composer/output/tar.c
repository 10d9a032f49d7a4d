/* SPDX-License-Identifier: MIT */
/* tar: the root directory as a reproducible pax archive for container use: entries sorted by
 * name, numeric owners only, mtimes clamped to source-date-epoch, hardlinks kept, xattrs (file
 * capabilities included) carried. The tree is walked with openat() and O_NOFOLLOW below the
 * root's directory fd: a symlink in the root is archived as a symlink, never followed. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "output-internal.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);

typedef struct TarWalk {
        struct archive *a;
        uint64_t timestamp;
        struct Link {
                dev_t dev;
                ino_t ino;
                char *path;
        } * links;
        size_t n_links;
} TarWalk;

static int map_archive(struct archive *a, int r, const char *path) {
        if (r == ARCHIVE_OK)
                return 0;
        if (r == ARCHIVE_WARN) {
                log_warning("tar: %s: %s", path, archive_error_string(a));
                return 0;
        }
        log_error("tar: %s: %s", path, archive_error_string(a));
        return -EIO;
}

static void add_xattrs(struct archive_entry *e, int fd) {
        char names[65536];
        ssize_t n = flistxattr(fd, names, sizeof(names));
        for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(names + i) + 1) {
                char value[65536];
                ssize_t v = fgetxattr(fd, names + i, value, sizeof(value));
                if (v >= 0)
                        archive_entry_xattr_add_entry(e, names + i, value, (size_t)v);
        }
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_entry(TarWalk *w, int dir_fd, const char *name, const char *path);

static int write_dir_contents(TarWalk *w, int fd, const char *path) {
        int dup_fd = dup(fd);
        if (dup_fd < 0)
                return -errno;
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                int r = -errno;
                close(dup_fd);
                return r;
        }
        _cleanup_strv_free_ char **names = NULL;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        strv_extend(&names, de->d_name);
        closedir(d);
        if (!names)
                return 0;
        qsort(names, strv_length(names), sizeof(char *), cmp_names);
        for (char **n = names; *n; n++) {
                _cleanup_free_ char *sub = *path ? xasprintf("%s/%s", path, *n) : xstrdup(*n);
                int r = write_entry(w, fd, *n, sub);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_entry(TarWalk *w, int dir_fd, const char *name, const char *path) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (signals_interrupted())
                return -EINTR;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return log_error_errno(errno, "tar: %s: %m", path);

        archive_entry_set_pathname(e, path);
        archive_entry_copy_stat(e, &st);
        archive_entry_set_uname(e, NULL);
        archive_entry_set_gname(e, NULL);
        archive_entry_unset_atime(e);
        archive_entry_unset_ctime(e);
        archive_entry_unset_birthtime(e);
        if (w->timestamp && (uint64_t)st.st_mtime > w->timestamp)
                archive_entry_set_mtime(e, (time_t)w->timestamp, 0);
        else
                archive_entry_set_mtime(e, st.st_mtime, 0);

        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return log_error_errno(errno, "tar: %s: %m", path);
                target[n] = 0;
                archive_entry_set_symlink(e, target);
        } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
                fd = openat(dir_fd, name,
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
                if (fd < 0)
                        return log_error_errno(errno, "tar: %s: %m", path);
                add_xattrs(e, fd);
        }

        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
                for (size_t i = 0; i < w->n_links; i++)
                        if (w->links[i].dev == st.st_dev && w->links[i].ino == st.st_ino) {
                                archive_entry_set_hardlink(e, w->links[i].path);
                                archive_entry_set_size(e, 0);
                                return map_archive(w->a, archive_write_header(w->a, e), path);
                        }
                w->links = xrealloc(w->links, (w->n_links + 1) * sizeof(*w->links));
                w->links[w->n_links++] = (struct Link){st.st_dev, st.st_ino, xstrdup(path)};
        }

        r = map_archive(w->a, archive_write_header(w->a, e), path);
        if (r < 0)
                return r;
        if (S_ISREG(st.st_mode)) {
                char buf[1 << 16];
                for (;;) {
                        ssize_t n = read(fd, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return log_error_errno(errno, "tar: %s: %m", path);
                        if (n == 0)
                                break;
                        if (archive_write_data(w->a, buf, (size_t)n) < 0)
                                return map_archive(w->a, ARCHIVE_FATAL, path);
                }
        }
        if (S_ISDIR(st.st_mode))
                return write_dir_contents(w, fd, path);
        return 0;
}

static int tar_write(int root_fd, int out_fd, const OutputOptions *o) {
        _cleanup_(archive_write_freep) struct archive *a = archive_write_new();
        TarWalk w = {.a = a, .timestamp = o->timestamp};
        int r;

        if (!a)
                return -ENOMEM;
        archive_write_set_format_pax(a);
        /* SCHILY.xattr headers only: what GNU tar and bsdtar both read. */
        archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
        if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
                return map_archive(a, ARCHIVE_FATAL, "(output)");
        r = write_dir_contents(&w, root_fd, "");
        if (r == 0)
                r = map_archive(a, archive_write_close(a), "(output)");
        for (size_t i = 0; i < w.n_links; i++)
                free(w.links[i].path);
        free(w.links);
        return r;
}

const OutputFormat output_tar = {
        .name = "tar",
        .suffix = "tar",
        .write_tree = tar_write,
};
