/* SPDX-License-Identifier: MIT */
/* The API file systems a package manager's scripts expect in the root (Debian's maintainer
 * scripts, RPM's scriptlets): /proc, /sys and a minimal /dev, mounted only while they run and
 * unmounted on every path, as root or as uid 0 of the user namespace of a rootless build
 * (core/userns.c). */
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

int install_unmount_all(InstallMounts *m, char **ret_failed) {
        int ret = 0;
        while (m->n > 0) {
                char *p = m->paths[--m->n];
                if (umount2(p, UMOUNT_NOFOLLOW) < 0 &&
                    umount2(p, UMOUNT_NOFOLLOW | MNT_DETACH) < 0 && ret == 0) {
                        ret = -errno;
                        if (ret_failed)
                                *ret_failed = TAKE_PTR(p);
                }
                free(p);
        }
        return ret;
}

/* Mounts src on the directory dir of the root: a real directory there (a package's
 * "proc -> /" is refused, not followed), reached through its fd, never by a path the kernel
 * would resolve again. */
static int mount_one(InstallMounts *m, const char *root, int root_fd, const char *dir,
                     const char *src, const char *type, unsigned long flags, const char *data,
                     char **ret_error) {
        (void)mkdirat(root_fd, dir, 0755);
        _cleanup_close_ int fd = root_open(root_fd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0)
                return fail(ret_error, fd, "%s/%s is not a directory", root, dir);
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (mount(src, proc, type, flags, data) < 0)
                return fail(ret_error, -errno, "cannot mount %s on %s/%s", src, root, dir);
        /* A mount point can be neither removed nor renamed while mounted: the path stays. */
        assert(m->n < ELEMENTSOF(m->paths));
        m->paths[m->n++] = path_join(root, dir);
        return 0;
}

/* Binds the host's device node /dev/name on an empty file of the same name in dev_fd. */
static int bind_device(int dev_fd, const char *name) {
        _cleanup_free_ char *host = path_join("/dev", name);
        _cleanup_close_ int fd =
                openat(dev_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        return mount(host, proc, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
}

/* A minimal /dev, the same as root and in a user namespace (where no device node can be made):
 * a tmpfs with the host's null, zero, full, random, urandom and tty bound on it, a devpts of
 * its own, and the usual links. What the packages' scripts write there stays out of the image
 * and off the host. */
static int mount_dev(InstallMounts *m, const char *root, int root_fd, char **ret_error) {
        static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
        static const char *const links[][2] = {
                {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},
                {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
                {"stderr", "/proc/self/fd/2"},
        };
        int r = mount_one(m, root, root_fd, "dev", "tmpfs", "tmpfs", MS_NOSUID, "mode=0755",
                          ret_error);
        if (r < 0)
                return r;
        _cleanup_close_ int dev = root_open(root_fd, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (dev < 0)
                return fail(ret_error, dev, "cannot open %s/dev", root);
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                r = bind_device(dev, nodes[i]);
                if (r < 0)
                        return fail(ret_error, r, "cannot bind /dev/%s on %s/dev/%s", nodes[i],
                                    root, nodes[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlinkat(links[i][1], dev, links[i][0]) < 0)
                        return fail(ret_error, -errno, "cannot make %s/dev/%s", root, links[i][0]);
        if (mkdirat(dev, "shm", 01777) < 0 || fchmodat(dev, "shm", 01777, 0) < 0 ||
            mkdirat(dev, "pts", 0755) < 0)
                return fail(ret_error, -errno, "cannot make %s/dev/shm, pts", root);
        _cleanup_close_ int pts = openat(dev, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pts);
        if (pts < 0 || mount("devpts", proc, "devpts", MS_NOSUID | MS_NOEXEC,
                             "newinstance,ptmxmode=0666,mode=0620") < 0)
                return fail(ret_error, -errno, "cannot mount devpts on %s/dev/pts", root);
        return 0;
}

int install_mount_api(InstallMounts *m, const char *root, int root_fd, char **ret_error) {
        int r = mount_one(m, root, root_fd, "proc", "proc", "proc",
                          MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, ret_error);
        if (r == 0) {
                /* A user namespace may not mount a sysfs (it has no network namespace of
                 * its own): it gets the host's, bound. */
                if (userns_active())
                        r = mount_one(m, root, root_fd, "sys", "/sys", NULL, MS_BIND | MS_REC, NULL,
                                      ret_error);
                else
                        r = mount_one(m, root, root_fd, "sys", "sysfs", "sysfs",
                                      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
                                      ret_error);
        }
        if (r == 0)
                r = mount_dev(m, root, root_fd, ret_error);
        return r;
}
