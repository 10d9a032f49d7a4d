/* SPDX-License-Identifier: MIT */
/* What a build leaves in the root that differs from one build to the next although every input
 * is the same: logs and caches stamped with the build host's clock, inode numbers or random
 * values. reproducible_clean_root() removes them (each with its why, for the deviation report)
 * and clamps the password-change days of /etc/shadow to source-date-epoch, as file times are
 * clamped. The same inputs then give the same root on any day. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/util.h"

static const ReproducibleRemoval removals[] = {
        {"var/log/dpkg.log", "dpkg's log of the build, stamped with the build host's clock"},
        {"var/log/alternatives.log",
         "update-alternatives' log of the build, stamped with the build host's clock"},
        {"var/log/apt/history.log", "apt's log of the build, stamped with the build host's clock"},
        {"var/log/apt/term.log", "apt's log of the build, stamped with the build host's clock"},
        {"var/log/apt/eipp.log.xz", "apt's solver log of the build, with the build's times"},
        {"var/cache/ldconfig/aux-cache",
         "ldconfig's cache of the build host's inode numbers and times; ldconfig remakes it"},
        {"var/lib/systemd/random-seed",
         "a random seed made at build time: every VM made from the image would share it"},
        {"var/lib/systemd/credential.secret",
         "a secret made at build time: every VM made from the image would share it"},
        {"var/cache/debconf/config.dat-old", "debconf's backup of its state before the last "
                                             "package was configured: a build record"},
        {"var/cache/debconf/templates.dat-old", "debconf's backup of its state before the last "
                                                "package was configured: a build record"},
};

const ReproducibleRemoval *reproducible_removals(size_t *ret_n) {
        *ret_n = ELEMENTSOF(removals);
        return removals;
}

int reproducible_shadow_clamp(const char *text, uint64_t epoch, char **ret) {
        const unsigned long long day = epoch / 86400;
        Buffer out = {};
        int changed = 0;

        for (const char *line = text; *line;) {
                const char *end = strchrnul(line, '\n');
                /* name:password:lastchg:... — only a decimal lastchg after the epoch's day
                 * changes; anything else is kept byte for byte. */
                const char *c1 = memchr(line, ':', (size_t)(end - line));
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
                const char *c3 = c2 ? memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) : NULL;
                bool digits = c3 && c3 > c2 + 1 && c3 - c2 - 1 <= 18;
                for (const char *p = c2 ? c2 + 1 : NULL; digits && p < c3; p++)
                        digits = *p >= '0' && *p <= '9';
                unsigned long long v = digits ? strtoull(c2 + 1, NULL, 10) : 0;
                if (digits && v > day) {
                        buffer_append(&out, line, (size_t)(c2 + 1 - line));
                        buffer_printf(&out, "%llu", day);
                        buffer_append(&out, c3, (size_t)(end - c3));
                        changed++;
                } else
                        buffer_append(&out, line, (size_t)(end - line));
                if (*end == '\n')
                        buffer_putc(&out, '\n');
                line = *end ? end + 1 : end;
        }
        if (!changed) {
                buffer_done(&out);
                *ret = NULL;
                return 0;
        }
        *ret = out.data ? buffer_steal(&out) : xstrdup("");
        return changed;
}

/* Rewrites dir_fd/name with text, keeping its owner and mode: a temporary file in the same
 * directory, renamed over it. */
static int rewrite_at(int dir_fd, const char *name, const struct stat *st, const char *text) {
        _cleanup_free_ char *tmp = xasprintf(".%s.vmcompose", name);
        _cleanup_close_ int fd =
                openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        const struct timespec times[2] = {st->st_atim, st->st_mtim};
        int r = write_all(fd, text, strlen(text));
        if (r == 0 &&
            (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 ||
             futimens(fd, times) < 0 || renameat(dir_fd, tmp, dir_fd, name) < 0))
                r = -errno;
        if (r < 0)
                (void)unlinkat(dir_fd, tmp, 0);
        return r;
}

static int clamp_shadow_file(int etc_fd, const char *name, uint64_t epoch) {
        struct stat st;
        /* O_NONBLOCK: a FIFO of that name must not hang the build (refused below). */
        _cleanup_close_ int fd =
                openat(etc_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_fd(fd, 16u << 20, &text, &size);
        if (r < 0)
                return r;
        if (memchr(text, 0, size))
                return -EBADMSG;
        _cleanup_free_ char *clamped = NULL;
        r = reproducible_shadow_clamp(text, epoch, &clamped);
        if (r <= 0)
                return r;
        return rewrite_at(etc_fd, name, &st, clamped);
}

int reproducible_clean_root(int root_fd, uint64_t epoch, char ***ret_removed) {
        _cleanup_strv_free_ char **removed = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(removals); i++) {
                const char *path = removals[i].path;
                _cleanup_free_ char *dir = path_dirname(path);
                _cleanup_close_ int dfd = root_open(root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
                if (dfd == -ENOENT || dfd == -ENOTDIR)
                        continue;
                if (dfd < 0)
                        return dfd;
                /* The entry itself is removed, never followed; a directory is left alone. */
                if (unlinkat(dfd, strrchr(path, '/') + 1, 0) < 0) {
                        if (errno == ENOENT || errno == EISDIR)
                                continue;
                        return -errno;
                }
                strv_extend(&removed, path);
        }
        if (epoch > 0) {
                _cleanup_close_ int etc = root_open(root_fd, "etc", O_RDONLY | O_DIRECTORY, 0);
                if (etc >= 0) {
                        r = clamp_shadow_file(etc, "shadow", epoch);
                        if (r >= 0)
                                r = clamp_shadow_file(etc, "shadow-", epoch);
                        if (r < 0)
                                return r;
                }
        }
        if (ret_removed)
                *ret_removed = TAKE_PTR(removed);
        return 0;
}
