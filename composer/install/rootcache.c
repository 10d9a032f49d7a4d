/* SPDX-License-Identifier: MIT */
/* The cache of installed roots: the install stage's output kept under CACHE/roots/KEY, KEY the
 * SHA-256 of everything the backend's install_root reads (the packages' names, versions, digests
 * and dependency order, the dpkg path rules, the files written before configuration, the layout),
 * the way osbuild's object store keeps each stage's tree under the hash of its inputs. A build
 * whose install inputs did not change copies the tree instead of running dpkg again. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "vmcompose/hash.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/macro.h"
#include "vmcompose/signals.h"
#include "vmcompose/util.h"

/* Bump when the backend's install_root changes what it makes from the same inputs. */
#define ROOT_CACHE_FORMAT "vmcompose-root-cache 3"

static void key_strv(Sha256 *h, const char *label, char **l) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s %zu\n", label, strv_length(l));
        sha256_update(h, buf, strlen(buf));
        for (char **s = l; s && *s; s++)
                sha256_update(h, *s, strlen(*s) + 1);
}

static void key_str(Sha256 *h, const char *label, const char *s) {
        sha256_update_field(h, label, s);
}

char *install_root_key(const InstallPackage *pkgs, size_t n, const InstallOptions *o) {
        Sha256 *h = sha256_new();
        uint8_t d[SHA256_DIGEST_SIZE];
        char count[32], hex[2 * SHA256_DIGEST_SIZE + 1];

        key_str(h, "format", ROOT_CACHE_FORMAT);
        key_str(h, "version", VMCOMPOSE_VERSION);
        snprintf(count, sizeof(count), "%zu", n);
        key_str(h, "packages", count);
        for (size_t i = 0; i < n; i++) {
                key_str(h, "name", pkgs[i].name);
                key_str(h, "version", pkgs[i].version);
                key_str(h, "architecture", pkgs[i].architecture);
                key_str(h, "sha256", pkgs[i].sha256);
                key_str(h, "essential", pkgs[i].essential ? "yes" : "no");
                key_strv(h, "depends", pkgs[i].depends);
                key_strv(h, "pre-depends", pkgs[i].pre_depends);
                /* RPM: the key a package was checked against (none for Debian: its .debs are
                 * checked through the signed index, the key is unchanged). */
                if (pkgs[i].signing_key || pkgs[i].unsigned_ok)
                        key_str(h, "signing-key",
                                pkgs[i].unsigned_ok ? "(gpgcheck: false)" : pkgs[i].signing_key);
        }
        key_str(h, "merged-usr", o->merged_usr ? "yes" : "no");
        key_str(h, "architecture", o->architecture);
        key_str(h, "initramfs", o->no_initramfs ? "none" : "update-initramfs");
        key_strv(h, "path-exclude", o->path_exclude);
        key_strv(h, "path-include", o->path_include);
        snprintf(count, sizeof(count), "%llu", (unsigned long long)o->source_date_epoch);
        key_str(h, "source-date-epoch", count);
        for (size_t i = 0; i < o->n_files; i++) {
                char mode[16];
                snprintf(mode, sizeof(mode), "%o", (unsigned)o->files[i].mode);
                key_str(h, "file", o->files[i].path);
                key_str(h, "mode", mode);
                key_str(h, "content", o->files[i].content);
        }
        sha256_finish(h, d);
        sha256_hex(d, hex);
        return xstrdup(hex);
}

static int map_archive(struct archive *a, int r, const char *what) {
        if (r >= ARCHIVE_WARN)
                return 0;
        log_debug_sub("install", "root cache: %s: %s", what, archive_error_string(a));
        int e = archive_errno(a);
        return e > 0 ? -e : -EIO;
}

/* Moves every entry of in to out, each path with the prefix strip replaced by prefix. in is a
 * disk reader (walked, hard links resolved) or a tar reader. */
typedef struct {
        struct archive *in, *out;
        bool from_disk;
        const char *strip, *prefix;
} Pump;

static char *repath(const Pump *p, const char *path) {
        size_t n = strlen(p->strip);
        if (strneq(path, p->strip, n))
                path += n;
        return xasprintf("%s%s", p->prefix, path);
}

static int pump_entry(const Pump *p, struct archive_entry *e) {
        _cleanup_free_ char *to = repath(p, archive_entry_pathname(e));
        const char *link = archive_entry_hardlink(e);
        int r;

        archive_entry_set_pathname(e, to);
        if (link) {
                _cleanup_free_ char *lt = repath(p, link);
                archive_entry_set_hardlink(e, lt);
        }
        /* Holes go into the archive as the pax sparse map read_disk found (SEEK_HOLE), and the
         * extraction makes exactly those holes again, no more: a run of zeros dpkg wrote stays
         * data. The tree restored from the cache is then the tree installed, holes included,
         * and so is the filesystem the ext4 writer makes from it (it keeps holes as holes). */
        r = map_archive(p->out, archive_write_header(p->out, e), to);
        if (r < 0)
                return r;
        if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0 && !link) {
                const void *buf;
                size_t size;
                static const char zeros[64 << 10];
                la_int64_t off, pos = 0;
                int ar;
                while ((ar = archive_read_data_block(p->in, &buf, &size, &off)) == ARCHIVE_OK) {
                        la_ssize_t w = 0;
                        if (!p->from_disk)
                                w = archive_write_data_block(p->out, buf, size, off);
                        else {
                                /* The pax writer takes the whole file in order and leaves
                                 * out what its sparse map calls holes. */
                                for (; pos < off && w >= 0; pos += w)
                                        w = archive_write_data(
                                                p->out, zeros,
                                                (size_t)MIN(off - pos, (la_int64_t)sizeof(zeros)));
                                if (w >= 0)
                                        w = archive_write_data(p->out, buf, size);
                                pos = off + (la_int64_t)size;
                        }
                        if (w < 0)
                                return map_archive(p->out, ARCHIVE_FATAL, to);
                }
                if (ar != ARCHIVE_EOF)
                        return map_archive(p->in, ar, to);
        }
        return map_archive(p->out, archive_write_finish_entry(p->out), to);
}

static int pump(const Pump *p) {
        struct archive_entry_linkresolver *links = NULL;
        struct archive_entry *e = NULL, *spare = NULL;
        int r = 0;

        if (p->from_disk) {
                links = archive_entry_linkresolver_new();
                if (!links)
                        return -ENOMEM;
                archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
        }
        for (;;) {
                e = archive_entry_new();
                int ar = archive_read_next_header2(p->in, e);
                if (ar == ARCHIVE_EOF)
                        break;
                r = map_archive(p->in, ar, "reading");
                if (r < 0)
                        break;
                if (signals_interrupted()) {
                        r = -EINTR;
                        break;
                }
                if (p->from_disk) {
                        if (archive_read_disk_can_descend(p->in))
                                archive_read_disk_descend(p->in);
                        archive_entry_linkify(links, &e, &spare);
                }
                if (e && (r = pump_entry(p, e)) < 0)
                        break;
                archive_entry_free(e);
                e = NULL;
                if (spare && (r = pump_entry(p, spare)) < 0)
                        break;
                archive_entry_free(spare);
                spare = NULL;
        }
        archive_entry_free(e);
        archive_entry_free(spare);
        if (links)
                archive_entry_linkresolver_free(links);
        return r;
}

/* Writes the tree root_dir as a pax archive to fd: numeric owners, xattrs, ACLs, hard links;
 * symlinks not followed, other filesystems not entered. */
static int tree_to_tar(const char *root_dir, int fd) {
        struct archive *in = archive_read_disk_new(), *out = archive_write_new();
        int r;

        if (!in || !out) {
                r = -ENOMEM;
                goto finish;
        }
        archive_read_disk_set_symlink_physical(in);
        archive_read_disk_set_behavior(in, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
        archive_write_set_format_pax(out);
        archive_write_set_bytes_in_last_block(out, 1);
        r = map_archive(out, archive_write_open_fd(out, fd), "cache");
        if (r < 0)
                goto finish;
        r = map_archive(in, archive_read_disk_open(in, root_dir), root_dir);
        if (r < 0)
                goto finish;
        r = pump(
                &(Pump){.in = in, .out = out, .from_disk = true, .strip = root_dir, .prefix = "."});
        if (r == 0)
                r = map_archive(out, archive_write_close(out), "cache");
finish:
        archive_read_free(in);
        archive_write_free(out);
        return r;
}

/* Extracts the cache archive fd into root_dir (not existing yet) with owners, modes, times,
 * xattrs, ACLs, hard links and device nodes. */
static int tar_to_tree(int fd, const char *root_dir) {
        struct archive *in = archive_read_new(), *out = archive_write_disk_new();
        int r;

        if (!in || !out) {
                r = -ENOMEM;
                goto finish;
        }
        archive_read_support_format_tar(in);
        archive_write_disk_set_options(
                out, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                             ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL |
                             ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
        r = map_archive(in, archive_read_open_fd(in, fd, 1 << 20), "cache");
        if (r < 0)
                goto finish;
        r = pump(&(Pump){.in = in, .out = out, .strip = ".", .prefix = root_dir});
        if (r == 0) /* directory modes and times are set at the end */
                r = map_archive(out, archive_write_close(out), root_dir);
finish:
        archive_read_free(in);
        archive_write_free(out);
        return r;
}

static int lock_roots(const char *roots, int how) {
        _cleanup_free_ char *p = path_join(roots, ".lock");
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, how) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static char *roots_dir(const char *cache_dir) {
        char *roots = path_join(cache_dir, "roots");
        if (mkdir_p(roots) < 0 || chmod(roots, 0700) < 0) {
                free(roots);
                return NULL;
        }
        return roots;
}

int install_root_cache_restore(const char *cache_dir, const char *key, const char *root_dir) {
        _cleanup_free_ char *roots = roots_dir(cache_dir);
        if (!roots)
                return 0; /* an unusable cache is no cache */
        _cleanup_free_ char *name = xasprintf("%s.tar", key);
        _cleanup_free_ char *entry = path_join(roots, name);
        /* Open, the archive stays readable even if another build evicts it meanwhile. */
        _cleanup_close_ int fd = open(entry, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        int r = tar_to_tree(fd, root_dir);
        if (r < 0) {
                (void)rm_rf(root_dir);
                return r;
        }
        (void)futimens(fd, NULL); /* recently used: evicted last */
        return 1;
}

typedef struct {
        char *name;
        struct timespec mtime;
} RootEntry;

static int cmp_newest_first(const void *a, const void *b) {
        const RootEntry *x = a, *y = b;
        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
        return strcmp(x->name, y->name);
}

/* Under the exclusive lock: removes all but the keep most recently used roots, and what
 * killed builds left while storing. */
static void evict(const char *roots, unsigned keep) {
        DIR *d = opendir(roots);
        RootEntry *l = NULL;
        size_t n = 0;
        struct dirent *de;

        while (d && (de = readdir(d))) {
                struct stat st;
                if (strneq(de->d_name, ".store-", 7)) {
                        (void)unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len < 5 || !streq(de->d_name + len - 4, ".tar") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                l = xrealloc(l, (n + 1) * sizeof(*l));
                l[n++] = (RootEntry){xstrdup(de->d_name), st.st_mtim};
        }
        if (n > 0)
                qsort(l, n, sizeof(*l), cmp_newest_first);
        for (size_t i = 0; i < n; i++) {
                if (i >= keep) {
                        log_debug_sub("install", "root cache: evicting %s", l[i].name);
                        (void)unlinkat(dirfd(d), l[i].name, 0);
                }
                free(l[i].name);
        }
        free(l);
        if (d)
                closedir(d);
}

int install_root_cache_store(const char *cache_dir, const char *key, const char *root_dir,
                             unsigned keep) {
        _cleanup_free_ char *roots = roots_dir(cache_dir);
        int r;

        if (!roots)
                return -errno;
        {
                /* Stores run under a shared lock, eviction under an exclusive one. */
                _cleanup_close_ int lock = lock_roots(roots, LOCK_SH);
                if (lock < 0)
                        return lock;
                _cleanup_free_ char *tmp = path_join(roots, ".store-XXXXXX");
                _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                _cleanup_free_ char *name = xasprintf("%s.tar", key);
                _cleanup_free_ char *entry = path_join(roots, name);
                r = tree_to_tar(root_dir, fd);
                if (r == 0 && (fchmod(fd, 0600) < 0 || rename(tmp, entry) < 0))
                        r = -errno;
                if (r < 0) {
                        (void)unlink(tmp);
                        return r;
                }
        }
        _cleanup_close_ int lock = lock_roots(roots, LOCK_EX);
        if (lock >= 0)
                evict(roots, keep);
        return 0;
}
