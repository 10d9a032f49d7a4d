/* SPDX-License-Identifier: MIT */
/* The API file systems a package manager's scripts expect in the root (Debian's maintainer
 * scripts, RPM's scriptlets): /proc, /sys and a minimal /dev, mounted only while they run and
 * unmounted on every path, as root or as uid 0 of the user namespace of a rootless build
 * (core/userns.c). Everything is named through file descriptors opened beforehand (the root,
 * the host's /proc, /sys and device nodes), so the same calls work after a chroot into the root
 * (librpm's) and no path in the root is resolved twice. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/install.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/userns.h"
#include "vmcompose/util.h"

static const char *const device_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

/* Saves the error r with its message (fmt, then ": " and strerror(-r)) in *ret_error. */
static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *what = NULL;
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = xasprintf("%s: %s", what ? what : "?", strerror(-r));
        return r;
}

static void close_fd(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

void install_mounts_close(InstallMounts *m) {
        if (!m->open)
                return;
        (void)install_unmount_all(m, NULL);
        close_fd(&m->root_fd);
        close_fd(&m->proc_fd);
        close_fd(&m->sys_fd);
        for (size_t i = 0; i < ELEMENTSOF(m->dev_fds); i++)
                close_fd(&m->dev_fds[i]);
        free(m->root);
        m->root = NULL;
        m->open = false;
}

int install_mounts_open(InstallMounts *m, const char *root, int root_fd, char **ret_error) {
        assert(ELEMENTSOF(m->dev_fds) == ELEMENTSOF(device_nodes));
        *m = (InstallMounts){.open = true, .root = xstrdup(root), .sys_fd = -1};
        for (size_t i = 0; i < ELEMENTSOF(m->fds); i++)
                m->fds[i] = -1;
        for (size_t i = 0; i < ELEMENTSOF(m->dev_fds); i++)
                m->dev_fds[i] = -1;
        m->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        m->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (m->root_fd < 0 || m->proc_fd < 0)
                return fail(ret_error, -errno, "cannot open %s", m->root_fd < 0 ? root : "/proc");
        m->sys_fd = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (m->sys_fd < 0)
                return fail(ret_error, -errno, "cannot open /sys");
        for (size_t i = 0; i < ELEMENTSOF(device_nodes); i++) {
                _cleanup_free_ char *host = path_join("/dev", device_nodes[i]);
                m->dev_fds[i] = open(host, O_PATH | O_CLOEXEC);
                if (m->dev_fds[i] < 0)
                        return fail(ret_error, -errno, "cannot open %s", host);
        }
        return 0;
}

/* mount(2) onto the directory target_fd, from src_fd (a bind) or the file system src, both
 * named through the host's /proc: valid in a chroot, and never resolved again in the root. */
static int mount_at(const InstallMounts *m, const char *src, int src_fd, int target_fd,
                    const char *type, unsigned long flags, const char *data) {
        _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cwd < 0 || fchdir(m->proc_fd) < 0)
                return -errno;
        char s[64], t[64];
        if (src_fd >= 0) {
                snprintf(s, sizeof(s), "self/fd/%d", src_fd);
                src = s;
        }
        snprintf(t, sizeof(t), "self/fd/%d", target_fd);
        int r = mount(src, t, type, flags, data) < 0 ? -errno : 0;
        if (fchdir(cwd) < 0 && r == 0)
                r = -errno;
        return r;
}

/* Detaches the mount fd was opened on (after the mount: the mounted object, wherever a rename
 * moved it since), named through the host's /proc; the working directory stays the root. 0, or
 * -1 with errno. */
static int umount_fd(const InstallMounts *m, int fd) {
        char p[64];
        snprintf(p, sizeof(p), "self/fd/%d", fd);
        int r = fchdir(m->proc_fd) < 0 ? -1 : umount2(p, MNT_DETACH);
        int saved = errno;
        if (fchdir(m->root_fd) < 0 && r == 0)
                return -1;
        errno = saved;
        return r;
}

int install_unmount_above(InstallMounts *m, size_t keep, char **ret_failed) {
        int ret = 0;
        _cleanup_close_ int cwd = m->n > keep ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (m->n > keep && (cwd < 0 || fchdir(m->root_fd) < 0)) {
                ret = -errno;
                if (ret_failed)
                        *ret_failed = xstrdup(m->root);
                return ret;
        }
        while (m->n > keep) {
                /* Relative to the root, its last link not followed. */
                _cleanup_free_ char *dir = m->dirs[--m->n];
                _cleanup_close_ int fd = m->fds[m->n];
                m->fds[m->n] = -1;
                if (fd >= 0) {
                        /* Deeper down, a directory on the way might have become a link, or
                         * been renamed: the mount itself, through its descriptor. */
                        if (umount_fd(m, fd) < 0 && ret == 0) {
                                ret = -errno;
                                if (ret_failed)
                                        *ret_failed = path_join(m->root, dir);
                        }
                        continue;
                }
                if (umount2(dir, UMOUNT_NOFOLLOW) < 0 &&
                    umount2(dir, UMOUNT_NOFOLLOW | MNT_DETACH) < 0 && ret == 0) {
                        ret = -errno;
                        if (ret_failed)
                                *ret_failed = path_join(m->root, dir);
                }
        }
        if (cwd >= 0 && fchdir(cwd) < 0 && ret == 0)
                ret = -errno;
        return ret;
}

int install_unmount_all(InstallMounts *m, char **ret_failed) {
        return install_unmount_above(m, 0, ret_failed);
}

/* Keeps path (mounted on just now) for install_unmount_above(): below the root's top level, with
 * a descriptor of the mount. */
static void record(InstallMounts *m, const char *path) {
        assert(m->n < ELEMENTSOF(m->dirs));
        m->fds[m->n] = strchr(path, '/') ? root_open(m->root_fd, path, O_PATH | O_NOFOLLOW, 0) : -1;
        if (m->fds[m->n] < -1)
                m->fds[m->n] = -1;
        m->dirs[m->n++] = xstrdup(path);
}

/* Mounts src (a file system, or the bind of src_fd) on the directory dir of the root: a real
 * directory there (a package's "proc -> /" is refused, not followed). */
static int mount_one(InstallMounts *m, const char *dir, const char *src, int src_fd,
                     const char *type, unsigned long flags, const char *data, char **ret_error) {
        (void)root_mkdir_p(m->root_fd, dir, 0755); /* inside the root, never through a link */
        _cleanup_close_ int fd = root_open(m->root_fd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0)
                return fail(ret_error, fd, "%s/%s is not a directory", m->root, dir);
        int r = mount_at(m, src, src_fd, fd, type, flags, data);
        if (r < 0)
                return fail(ret_error, r, "cannot mount %s on %s/%s", src, m->root, dir);
        /* A mount point can be neither removed nor renamed while mounted: the name stays (a
         * directory above it can be: install_unmount_above() uses the descriptor there). */
        record(m, dir);
        return 0;
}

int install_bind_dir(InstallMounts *m, int src_fd, const char *path, char **ret_error) {
        assert(m->open);
        return mount_one(m, path, "a directory", src_fd, NULL, MS_BIND, NULL, ret_error);
}

int install_bind_file(InstallMounts *m, int src_fd, const char *path, char **ret_error) {
        assert(m->open);
        _cleanup_close_ int fd = root_open(m->root_fd, path, O_PATH | O_NOFOLLOW, 0);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return fail(ret_error, fd < 0 ? fd : -errno, "cannot open %s/%s", m->root, path);
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, -EINVAL, "%s/%s is not a file", m->root, path);
        int r = mount_at(m, NULL, src_fd, fd, NULL, MS_BIND, NULL);
        if (r < 0)
                return fail(ret_error, r, "cannot bind a file on %s/%s", m->root, path);
        record(m, path);
        return 0;
}

/* Binds the host's device node (host_fd) on an empty file name in dev_fd. */
static int bind_device(const InstallMounts *m, int host_fd, int dev_fd, const char *name) {
        _cleanup_close_ int fd =
                openat(dev_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        return mount_at(m, NULL, host_fd, fd, NULL, MS_BIND, NULL);
}

/* A minimal /dev, the same as root and in a user namespace (where no device node can be made):
 * a tmpfs with the host's null, zero, full, random, urandom and tty bound on it, a devpts of
 * its own, and the usual links. What the packages' scripts write there stays out of the image
 * and off the host. */
static int mount_dev(InstallMounts *m, char **ret_error) {
        static const char *const links[][2] = {
                {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},
                {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
                {"stderr", "/proc/self/fd/2"},
        };
        const char *root = m->root;
        int r = mount_one(m, "dev", "tmpfs", -1, "tmpfs", MS_NOSUID, "mode=0755", ret_error);
        if (r < 0)
                return r;
        _cleanup_close_ int dev =
                root_open(m->root_fd, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (dev < 0)
                return fail(ret_error, dev, "cannot open %s/dev", root);
        for (size_t i = 0; i < ELEMENTSOF(device_nodes); i++) {
                r = bind_device(m, m->dev_fds[i], dev, device_nodes[i]);
                if (r < 0)
                        return fail(ret_error, r, "cannot bind /dev/%s on %s/dev/%s",
                                    device_nodes[i], root, device_nodes[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], dev, links[i][0]) < 0)
                        return fail(ret_error, -errno, "cannot make %s/dev/%s", root, links[i][0]);
        if (mkdirat(dev, "shm", 01777) < 0 || fchmodat(dev, "shm", 01777, 0) < 0 ||
            mkdirat(dev, "pts", 0755) < 0)
                return fail(ret_error, -errno, "cannot make %s/dev/shm, pts", root);
        _cleanup_close_ int pts = openat(dev, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = pts < 0 ? -errno
                    : mount_at(m, "devpts", -1, pts, "devpts", MS_NOSUID | MS_NOEXEC,
                               "newinstance,ptmxmode=0666,mode=0620");
        if (r < 0)
                return fail(ret_error, r, "cannot mount devpts on %s/dev/pts", root);
        return 0;
}

int install_mount_api(InstallMounts *m, char **ret_error) {
        assert(m->open);
        int r = mount_one(m, "proc", "proc", -1, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                          ret_error);
        if (r == 0) {
                /* A user namespace may not mount a sysfs (it has no network namespace of
                 * its own): it gets the host's, bound. */
                if (userns_active())
                        r = mount_one(m, "sys", "/sys", m->sys_fd, NULL, MS_BIND | MS_REC, NULL,
                                      ret_error);
                else
                        r = mount_one(m, "sys", "sysfs", -1, "sysfs",
                                      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                                      ret_error);
        }
        if (r == 0)
                r = mount_dev(m, ret_error);
        return r;
}
