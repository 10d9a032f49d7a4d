/* SPDX-License-Identifier: MIT */
/* The build's root in memory (workdir.h). A warm build restores a root of a few hundred MiB
 * from the root cache and removes it at the end: on a disk that is seconds of writes and frees
 * (more on a busy disk), in a tmpfs a fraction of one. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vmcompose/log.h"
#include "vmcompose/macro.h"
#include "vmcompose/util.h"
#include "vmcompose/workdir.h"

int workdir_tmpfs_decide(const char *env, uint64_t mem_available, bool *ret_use,
                         uint64_t *ret_size) {
        if (env && *env && !streq(env, "auto") && !streq(env, "0"))
                return -EINVAL;
        *ret_use = !(env && streq(env, "0")) && mem_available >= WORKDIR_TMPFS_MIN_MEMORY;
        *ret_size = *ret_use ? mem_available / 2 : 0;
        return 0;
}

int workdir_parse_meminfo(const char *text, uint64_t *ret_bytes) {
        static const char key[] = "MemAvailable:";
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                if (!strneq(l, key, strlen(key)))
                        continue;
                char *end = NULL;
                errno = 0;
                unsigned long long kib = strtoull(l + strlen(key), &end, 10);
                if (errno != 0 || end == l + strlen(key) || kib > UINT64_MAX / 1024)
                        return -EBADMSG;
                *ret_bytes = (uint64_t)kib * 1024;
                return 0;
        }
        return -ENOENT;
}

/* The number of threads of this process (its /proc/self/task entries). */
static int count_threads(void) {
        DIR *d = opendir("/proc/self/task");
        int n = 0;
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

int workdir_mount_tmpfs(const char *dir, uint64_t size) {
        /* unshare(CLONE_NEWNS) moves only the calling thread: another thread would go on
         * seeing the empty directory under the mount. */
        int threads = count_threads();
        if (threads != 1) {
                log_debug_sub("workdir", "%d threads: the working directory stays on the disk",
                              threads);
                return 0;
        }
        if (unshare(CLONE_NEWNS) < 0) {
                log_debug_sub("workdir", "unshare(CLONE_NEWNS): %m; staying on the disk");
                return 0;
        }
        /* The host's mounts still reach us; ours (this tmpfs, the root's /proc, /sys and /dev
         * while maintainer scripts run) never reach the host. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
                log_debug_sub("workdir", "making / a slave mount: %m; staying on the disk");
                return 0;
        }
        /* huge=never: a page-sized allocation unit like the disk's block, so that a file's
         * allocated size (st_blocks, which the disk stage measures) is what it is on a disk; a
         * kernel without transparent huge pages knows no huge= and allocates pages anyway. */
        char options[80];
        snprintf(options, sizeof(options), "mode=0700,size=%" PRIu64 ",huge=never", size);
        int r = mount("tmpfs", dir, "tmpfs", 0, options) < 0 ? -errno : 0;
        if (r == -EINVAL) {
                snprintf(options, sizeof(options), "mode=0700,size=%" PRIu64, size);
                r = mount("tmpfs", dir, "tmpfs", 0, options) < 0 ? -errno : 0;
        }
        if (r < 0) {
                log_debug_sub("workdir", "mount tmpfs on %s: %s; staying on the disk", dir,
                              strerror(-r));
                return 0;
        }
        return 1;
}

int workdir_unmount(const char *dir) {
        if (umount2(dir, MNT_DETACH) < 0)
                return -errno;
        if (rmdir(dir) < 0)
                return -errno;
        return 0;
}
