/* SPDX-License-Identifier: MIT */
/* The one way into an image root: every read and write below a root directory fd resolves
 * its path inside that root (openat2 RESOLVE_IN_ROOT), so that a symlink shipped by a package
 * (/boot -> /, /etc/kernel -> /home/someone) leads back into the root, never onto the build
 * host. Where the kernel has no openat2 (-ENOSYS), the same resolution is done one component
 * at a time with O_NOFOLLOW, reading each symlink and restarting at the root for an absolute
 * one. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "vmcompose/rootfs.h"
#include "vmcompose/sparse.h"
#include "vmcompose/util.h"

#define ROOT_MAX_SYMLINKS 40
#define ROOT_MAX_DEPTH 256

static const char *skip_slashes(const char *p) {
        while (*p == '/')
                p++;
        return p;
}

/* Pops dirs[] down to depth, closing what it leaves. dirs[0] is the caller's root_fd. */
static void pop_to(int *dirs, size_t *depth, size_t to) {
        while (*depth > to)
                close(dirs[(*depth)--]);
}

int root_open_walk(int root_fd, const char *path, int flags, mode_t mode) {
        int dirs[ROOT_MAX_DEPTH + 1] = {root_fd};
        size_t depth = 0;
        unsigned links = 0;
        _cleanup_free_ char *todo = xstrdup(path);
        int r;

        for (;;) {
                const char *p = skip_slashes(todo);
                if (!*p) {
                        /* Nothing left: the directory reached so far is what was asked for. */
                        r = openat(dirs[depth], ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC);
                        r = r < 0 ? -errno : r;
                        break;
                }
                size_t l = strcspn(p, "/");
                _cleanup_free_ char *name = xstrndup(p, l);
                const char *rest = p + l;
                bool last = !*skip_slashes(rest);
                if (streq(name, ".")) {
                        memmove(todo, rest, strlen(rest) + 1);
                        continue;
                }
                if (streq(name, "..")) {
                        /* Never above the root, as RESOLVE_IN_ROOT. */
                        if (depth > 0)
                                pop_to(dirs, &depth, depth - 1);
                        memmove(todo, rest, strlen(rest) + 1);
                        continue;
                }
                struct stat st;
                if (fstatat(dirs[depth], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT || !last) {
                                r = -errno;
                                break;
                        }
                        st.st_mode = 0; /* not there: the last component may be created */
                }
                if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(dirs[depth], name, target, sizeof(target) - 1);
                        if (n < 0) {
                                r = -errno;
                                break;
                        }
                        if (++links > ROOT_MAX_SYMLINKS) {
                                r = -ELOOP;
                                break;
                        }
                        target[n] = 0;
                        if (target[0] == '/')
                                pop_to(dirs, &depth, 0);
                        char *next = xasprintf("%s%s", target, rest);
                        free(todo);
                        todo = next;
                        continue;
                }
                if (last) {
                        r = openat(dirs[depth], name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                        r = r < 0 ? -errno : r;
                        break;
                }
                if (depth >= ROOT_MAX_DEPTH) {
                        r = -ENAMETOOLONG;
                        break;
                }
                int fd = openat(dirs[depth], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                dirs[++depth] = fd;
                memmove(todo, rest, strlen(rest) + 1);
        }
        pop_to(dirs, &depth, 0);
        return r;
}

int root_open(int root_fd, const char *path, int flags, mode_t mode) {
        static bool no_openat2;
        if (!no_openat2) {
                struct open_how how = {
                        .flags = (uint64_t)(flags | O_CLOEXEC),
                        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                };
                const char *p = *path ? path : ".";
                int fd = (int)syscall(SYS_openat2, root_fd, p, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno != ENOSYS)
                        return -errno;
                no_openat2 = true;
        }
        return root_open_walk(root_fd, path, flags, mode);
}

int root_open_parent(int root_fd, const char *path, bool mkdir_parents, char **ret_name) {
        const char *p = skip_slashes(path);
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == '/')
                len--;
        const char *slash = memrchr(p, '/', len);
        _cleanup_free_ char *name =
                slash ? xstrndup(slash + 1, len - (size_t)(slash + 1 - p)) : xstrndup(p, len);
        /* The name must be an entry of the parent: "." or ".." would be another directory. */
        if (!*name || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        _cleanup_free_ char *dir = xstrndup(p, slash ? (size_t)(slash - p) : 0);
        if (mkdir_parents) {
                int r = root_mkdir_p(root_fd, dir, 0755);
                if (r < 0)
                        return r;
        }
        int fd = root_open(root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        *ret_name = TAKE_PTR(name);
        return fd;
}

int root_mkdir_p(int root_fd, const char *path, mode_t mode) {
        const char *p = skip_slashes(path);
        if (!*p)
                return 0;
        int fd = root_open(root_fd, p, O_PATH | O_DIRECTORY, 0);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        if (fd != -ENOENT)
                return fd;
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int parent = root_open_parent(root_fd, p, true, &name);
        if (parent < 0)
                return parent;
        if (mkdirat(parent, name, mode) < 0)
                /* EEXIST here is a dangling symlink in the way: refused, not followed. */
                return errno == EEXIST ? -ELOOP : -errno;
        return 0;
}

/* A fresh name for a temporary entry in a directory: ".vmcompose-" and 12 hex digits. */
static void temp_name(char buf[static 32]) {
        uint64_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)buf;
        snprintf(buf, 32, ".vmcompose-%012llx", (unsigned long long)(v & 0xffffffffffffULL));
}

int root_write_file(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                    RootWriteFlags flags) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = root_open_parent(root_fd, path, flags & ROOT_WRITE_MKDIR, &name);
        _cleanup_close_ int fd = -1;
        char tmp[32];
        int r;

        if (dir < 0)
                return dir;
        for (unsigned i = 0; fd < 0; i++) {
                temp_name(tmp);
                fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && (errno != EEXIST || i >= 100))
                        return -errno;
        }
        r = write_all(fd, data, size);
        if (r == 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0 || renameat(dir, tmp, dir, name) < 0))
                r = -errno;
        if (r < 0)
                (void)unlinkat(dir, tmp, 0);
        return r;
}

int root_symlink(int root_fd, const char *target, const char *path, RootWriteFlags flags) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = root_open_parent(root_fd, path, flags & ROOT_WRITE_MKDIR, &name);
        char tmp[32];
        int r = -EEXIST;

        if (dir < 0)
                return dir;
        for (unsigned i = 0; r == -EEXIST && i < 100; i++) {
                temp_name(tmp);
                r = symlinkat(target, dir, tmp) < 0 ? -errno : 0;
        }
        if (r < 0)
                return r;
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                r = -EISDIR;
        else if (renameat(dir, tmp, dir, name) < 0)
                r = -errno;
        if (r < 0)
                (void)unlinkat(dir, tmp, 0);
        return r;
}

int root_open_file(int root_fd, const char *path) {
        _cleanup_close_ int fd = root_open(root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
        struct stat st;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (fcntl(fd, F_SETFL, 0) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int root_read_file(int root_fd, const char *path, size_t max, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = root_open_file(root_fd, path);
        if (fd < 0)
                return fd;
        return read_full_fd(fd, max, ret_data, ret_size);
}

int root_unlink(int root_fd, const char *path, int flags) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = root_open_parent(root_fd, path, false, &name);
        if (dir < 0)
                return dir == -ENOENT ? 0 : dir;
        if (unlinkat(dir, name, flags) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Empties the directory fd (consumed), not crossing into other filesystems. */
static int remove_contents(int fd, dev_t dev) {
        DIR *d = fdopendir(fd);
        int r = 0;
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r == 0)
                                r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                r = r ?: -EXDEV;
                                continue;
                        }
                        int sub = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        int q = sub < 0 ? -errno : remove_contents(sub, dev);
                        if (q == 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
                                q = -errno;
                        r = r ?: q;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = r ?: -errno;
        }
        closedir(d);
        return r;
}

int root_rm_rf(int root_fd, const char *path) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = root_open_parent(root_fd, path, false, &name);
        struct stat st;
        if (dir < 0)
                return dir == -ENOENT ? 0 : dir;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dir, name, 0) < 0 ? -errno : 0;
        int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = remove_contents(fd, st.st_dev);
        if (r == 0 && unlinkat(dir, name, AT_REMOVEDIR) < 0)
                r = -errno;
        return r;
}

int root_copy_file(int from_root_fd, const char *from, int to_root_fd, const char *to,
                   mode_t mode) {
        _cleanup_close_ int in = root_open_file(from_root_fd, from);
        _cleanup_close_ int out = -1;
        struct stat st;

        if (in < 0)
                return in;
        if (fstat(in, &st) < 0)
                return -errno;
        out = root_open(to_root_fd, to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
        if (out < 0)
                return out;
        int r = sparse_copy(in, 0, (uint64_t)st.st_size, out, 0);
        if (r == 0 && ftruncate(out, st.st_size) < 0)
                r = -errno;
        return r;
}
