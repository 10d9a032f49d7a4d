/* SPDX-License-Identifier: MIT */
/* vmcompose's initramfs init (kernel.initramfs: vmcompose): PID 1 from the kernel's start
 * until the root filesystem is mounted, then the image's own init. A static program with no
 * shell, no udev and no configuration beyond the kernel command line and one list:
 *   1. mount /dev (devtmpfs), /proc and /sys;
 *   2. load the modules in /vmcompose/modules ("NAME PATH" lines, dependencies first), with
 *      their parameters from the command line; a driver for hardware that is not there fails
 *      and is ignored (a Hyper-V driver under QEMU);
 *   3. wait for root= (/dev/NAME, PARTUUID=, PARTLABEL=, UUID=, LABEL=) up to rootdelay=
 *      seconds (180 by default; rootwait: for ever), polling every 10 ms;
 *   4. read the root filesystem's superblock: when e2fsck -p would check it (not cleanly
 *      unmounted, errors recorded, mount count or interval reached, fsck.mode=force) mount it
 *      read-only, so that systemd-fsck-root.service checks it and systemd-remount-fs makes it
 *      writable; otherwise mount it as ro/rw say;
 *   5. move /dev, /proc and /sys under it, empty the initramfs, make it / and exec init=
 *      (/sbin/init) with the arguments the kernel gave us.
 * Any failure prints why (with the block devices and the modules that failed) and exits,
 * which the kernel turns into a panic that `vmcompose boot` reports. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "vmcompose/macro.h"

#define RAMFS_MAGIC_ 0x858458f6
#define TMPFS_MAGIC_ 0x01021994
#define MAX_WORDS 1024 /* x86 command lines hold 2048 bytes */
#define MAX_FAILED 32

static struct timespec start;
static bool debug;
static int kmsg_fd = -1;
static char failed[MAX_FAILED][96]; /* modules that did not load, for the error report */
static size_t n_failed;

static double elapsed(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
}

/* One line into the kernel's log (/dev/kmsg), at a syslog level: the console shows it among
 * the kernel's own lines, never split by one of them, and journald keeps it. Before /dev is
 * mounted, and for vmcompose.debug's many lines (kmsg rate-limits writers), the console. */
__attribute__((format(printf, 2, 3))) static void say(int level, const char *fmt, ...) {
        char line[2048];
        va_list ap;
        int prefix = snprintf(line, sizeof(line), "<%d>", level);
        int n = prefix +
                snprintf(line + prefix, sizeof(line) - (size_t)prefix, "vmcompose-initrd: ");
        va_start(ap, fmt);
        int k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        size_t len = (size_t)n + (k < 0 ? 0 : MIN((size_t)k, sizeof(line) - (size_t)n - 2));
        line[len++] = '\n';
        if (kmsg_fd >= 0 && level != LOG_DEBUG && write(kmsg_fd, line, len) == (ssize_t)len)
                return;
        (void)!write(STDERR_FILENO, line + prefix, len - (size_t)prefix);
}

static int read_line_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        int e = errno;
        close(fd);
        if (n < 0)
                return -e;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static int mount_api_filesystems(void) {
        /* The flags systemd mounts them with: they move to the real root as they are, and
         * device nodes may be mapped executable (SGX), so /dev is not noexec. */
        static const struct {
                const char *what, *where, *type;
                unsigned long flags;
                const char *data;
        } m[] = {
                {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
                {"proc", "/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL},
                {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                if (i == 1)
                        kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
                (void)mkdir(m[i].where, 0755);
                if (mount(m[i].what, m[i].where, m[i].type, m[i].flags, m[i].data) < 0 &&
                    errno != EBUSY) {
                        say(LOG_ERR, "cannot mount %s on %s: %s", m[i].type, m[i].where,
                            strerror(errno));
                        return -1;
                }
        }
        return 0;
}

static void load_modules(char **words, size_t n_words) {
        FILE *f = fopen("/vmcompose/modules", "re");
        char line[4096], params[1024];
        unsigned loaded = 0;

        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *path = strchr(line, ' ');
                if (!path)
                        continue;
                *path++ = 0;
                if (initrd_module_params(words, n_words, line, params, sizeof(params)) < 0) {
                        say(LOG_WARNING, "parameters for %s too long, loading it without them",
                            line);
                        params[0] = 0;
                }
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                int r = fd < 0 ? -1 : (int)syscall(SYS_finit_module, fd, params, 0);
                int e = errno;
                if (fd >= 0)
                        close(fd);
                if (r == 0 || e == EEXIST) {
                        loaded++;
                        if (debug)
                                say(LOG_DEBUG, "%.3f s: loaded %s %s", elapsed(), line, params);
                        continue;
                }
                /* Expected for drivers of hardware this machine lacks (and what needs them). */
                if (n_failed < MAX_FAILED)
                        snprintf(failed[n_failed++], sizeof(failed[0]), "%.60s (%s)", line,
                                 strerror(e));
                if (debug)
                        say(LOG_DEBUG, "%.3f s: %s: %s", elapsed(), line, strerror(e));
        }
        fclose(f);
        if (debug)
                say(LOG_DEBUG, "%.3f s: %u modules loaded", elapsed(), loaded);
}

static int pread_full(uint64_t offset, void *buf, size_t len, void *userdata) {
        int fd = *(int *)userdata;
        ssize_t n = pread(fd, buf, len, (off_t)offset);
        return n == (ssize_t)len ? 0 : -1;
}

/* "vda2": its partition number and the disk it is on, from sysfs. */
static int partition_of(const char *name, unsigned *ret_partno, char *disk, size_t disk_size) {
        char path[512], buf[512];

        snprintf(path, sizeof(path), "/sys/class/block/%s/partition", name);
        if (read_line_file(path, buf, sizeof(buf)) < 0)
                return -1;
        *ret_partno = (unsigned)strtoul(buf, NULL, 10);
        snprintf(path, sizeof(path), "/sys/class/block/%s", name);
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        char *last = strrchr(buf, '/');
        if (!last)
                return -1;
        *last = 0;
        char *parent = strrchr(buf, '/');
        snprintf(disk, disk_size, "%s", parent ? parent + 1 : buf);
        return 0;
}

static bool spec_is(const char *spec, const char *key, const char **ret_value) {
        size_t l = strlen(key);
        if (strncmp(spec, key, l) != 0)
                return false;
        *ret_value = spec + l;
        return true;
}

/* Does block device name (in /dev) match root=spec? */
static bool matches(const char *name, const char *spec) {
        const char *want;
        char dev[300];

        snprintf(dev, sizeof(dev), "/dev/%s", name);
        if (spec_is(spec, "PARTUUID=", &want) || spec_is(spec, "PARTLABEL=", &want)) {
                unsigned partno;
                char disk[512], sz[32], uuid[37], label[80];
                if (partition_of(name, &partno, disk, sizeof(disk)) < 0)
                        return false;
                char p[600];
                snprintf(p, sizeof(p), "/sys/class/block/%s/queue/logical_block_size", disk);
                unsigned sector = read_line_file(p, sz, sizeof(sz)) == 0
                                          ? (unsigned)strtoul(sz, NULL, 10)
                                          : 512;
                snprintf(p, sizeof(p), "/dev/%s", disk);
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                uint8_t s0[512];
                bool ok = fd >= 0 && pread_full(0, s0, sizeof(s0), &fd) == 0 &&
                          initrd_partuuid(s0, sector ? sector : 512, partno, pread_full, &fd, uuid,
                                          label, sizeof(label)) == 0;
                if (fd >= 0)
                        close(fd);
                if (!ok)
                        return false;
                return spec[4] == 'U' ? strcasecmp(uuid, want) == 0 : strcmp(label, want) == 0;
        }
        if (spec_is(spec, "UUID=", &want) || spec_is(spec, "LABEL=", &want)) {
                static uint8_t buf[FS_PROBE_SIZE];
                int fd = open(dev, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return false;
                ssize_t n = pread(fd, buf, sizeof(buf), 0);
                close(fd);
                FsInfo fs;
                initrd_probe_fs(buf, n > 0 ? (size_t)n : 0, &fs);
                if (!*fs.type)
                        return false;
                return spec[0] == 'U' ? strcasecmp(fs.uuid, want) == 0
                                      : strcmp(fs.label, want) == 0;
        }
        return spec_is(spec, "/dev/", &want) && strcmp(want, name) == 0;
}

/* Finds the device root= names. 0 and dev; -1, with *open_errno set when a device matched but
 * did not open (yet). */
static int find_root(const char *spec, char *dev, size_t dev_size, int *open_errno) {
        DIR *d = opendir("/sys/class/block");
        int r = -1;

        if (!d)
                return -1;
        for (struct dirent *de; r < 0 && (de = readdir(d));) {
                if (de->d_name[0] == '.' || !matches(de->d_name, spec))
                        continue;
                /* sysfs and the /dev node come before the device can be opened (an
                 * asynchronous SCSI probe): until it opens, keep waiting. */
                snprintf(dev, dev_size, "/dev/%s", de->d_name);
                int fd = open(dev, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        close(fd);
                        r = 0;
                } else
                        *open_errno = errno;
        }
        closedir(d);
        return r;
}

static int not_dot(const struct dirent *de) {
        return de->d_name[0] != '.';
}

static void report_devices(void) {
        struct dirent **names = NULL;
        char list[1024] = "";
        size_t used = 0;
        int n = scandir("/sys/class/block", &names, not_dot, alphasort);
        for (int i = 0; i < n; i++) {
                if (used < sizeof(list))
                        used += (size_t)snprintf(list + used, sizeof(list) - used, " %s",
                                                 names[i]->d_name);
                free(names[i]);
        }
        free(names);
        say(LOG_ERR, "block devices:%s",
            n > 0    ? list
            : n == 0 ? " none"
                     : " (/sys/class/block unreadable)");
        for (size_t i = 0; i < n_failed; i++)
                say(LOG_ERR, "module not loaded: %s", failed[i]);
}

static int wait_for_root(const InitParams *p, char *dev, size_t dev_size) {
        const char *v;
        bool dev_name = spec_is(p->root, "/dev/", &v) && !strchr(v, '/');
        bool partuuid = spec_is(p->root, "PARTUUID=", &v) && !strchr(v, '/');
        if (!dev_name && !partuuid && !spec_is(p->root, "PARTLABEL=", &v) &&
            !spec_is(p->root, "UUID=", &v) && !spec_is(p->root, "LABEL=", &v)) {
                /* /dev/disk/by-id/... and /dev/mapper/... are udev's and LVM's, PARTNROFF= the
                 * kernel's: none of them ever appears here. */
                say(LOG_ERR,
                    "root=%s: not supported by this initramfs; use /dev/NAME, PARTUUID=, "
                    "PARTLABEL=, UUID= or LABEL= (or kernel.initramfs: initramfs-tools)",
                    p->root);
                return -1;
        }
        double limit = p->wait ? 1e18 : p->delay ? p->delay : 180;
        bool told = false;
        for (;;) {
                int open_errno = 0;
                if (find_root(p->root, dev, dev_size, &open_errno) == 0)
                        return 0;
                double t = elapsed();
                if (t >= limit) {
                        if (open_errno)
                                say(LOG_ERR, "root=%s is %s, which did not open within %.0f s: %s",
                                    p->root, dev, limit, strerror(open_errno));
                        else
                                say(LOG_ERR, "root=%s did not appear within %.0f s", p->root,
                                    limit);
                        report_devices();
                        return -1;
                }
                if (!told && (debug || t >= 2)) {
                        say(LOG_NOTICE, "%.3f s: waiting for root=%s (up to %.0f s)", t, p->root,
                            limit);
                        told = true;
                }
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        }
}

static int mount_root(const InitParams *p, const char *dev) {
        static uint8_t buf[FS_PROBE_SIZE];
        FsInfo fs;
        char why[96];

        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                say(LOG_ERR, "cannot open %s: %s", dev, strerror(errno));
                return -1;
        }
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        close(fd);
        initrd_probe_fs(buf, n > 0 ? (size_t)n : 0, &fs);
        const char *type = p->fstype ? p->fstype : fs.type;
        if (!*type) {
                say(LOG_ERR,
                    "cannot tell the filesystem on %s (root=%s); name it with rootfstype=", dev,
                    p->root);
                return -1;
        }
        bool check = initrd_wants_check(&fs, p->fsck_mode, (uint64_t)time(NULL), why, sizeof(why));
        bool ro = !p->rw || check;
        if (check && p->rw)
                say(LOG_NOTICE,
                    "%s needs a check (%s): mounting it read-only for systemd-fsck-root", dev, why);
        (void)mkdir("/sysroot", 0755);
        if (mount(dev, "/sysroot", type, ro ? MS_RDONLY : 0, p->flags) < 0) {
                say(LOG_ERR, "cannot mount %s (root=%s) as %s%s%s: %s", dev, p->root, type,
                    p->flags ? " with " : "", p->flags ? p->flags : "", strerror(errno));
                return -1;
        }
        say(LOG_NOTICE, "%.3f s: root %s (%s) mounted %s", elapsed(), dev, type,
            ro ? "read-only" : "rw");
        return 0;
}

/* Removes everything on the initramfs (it is RAM), without crossing into other mounts. */
static void empty_dir(int dir_fd, dev_t root_dev) {
        DIR *d = fdopendir(dir_fd);
        if (!d) {
                close(dir_fd);
                return;
        }
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_dev != root_dev)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0)
                                empty_dir(sub, root_dev);
                        (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
                } else
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
}

static int switch_root(const char *init) {
        static const char *const api[] = {"/dev", "/proc", "/sys"};
        char target[64];
        struct stat st;

        for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
                snprintf(target, sizeof(target), "/sysroot%s", api[i]);
                if (stat(target, &st) == 0 && S_ISDIR(st.st_mode) &&
                    mount(api[i], target, NULL, MS_MOVE, NULL) == 0)
                        continue;
                (void)umount2(api[i], MNT_DETACH);
        }
        struct statfs sfs;
        if (stat("/", &st) == 0 && statfs("/", &sfs) == 0 &&
            ((unsigned long)sfs.f_type == RAMFS_MAGIC_ ||
             (unsigned long)sfs.f_type == TMPFS_MAGIC_)) {
                int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0)
                        empty_dir(fd, st.st_dev);
        }
        if (chdir("/sysroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0) {
                say(LOG_ERR, "cannot make the root filesystem /: %s", strerror(errno));
                return -1;
        }
        if (access(init, X_OK) < 0) {
                say(LOG_ERR, "init=%s: %s in the root filesystem", init, strerror(errno));
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        static char cmdline[8192];
        char *words[MAX_WORDS];
        char dev[300];
        InitParams p;

        (void)argc;
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (getpid() != 1) {
                fprintf(stderr, "vmcompose-initrd: this is an initramfs's init (PID 1), not a "
                                "command\n");
                return 2;
        }
        if (mount_api_filesystems() < 0)
                return 1;
        if (read_line_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0) {
                say(LOG_ERR, "cannot read /proc/cmdline: %s", strerror(errno));
                return 1;
        }
        size_t n = initrd_split_cmdline(cmdline, words, MAX_WORDS);
        initrd_parse_params(words, n, &p);
        debug = p.debug;
        if (!p.root) {
                say(LOG_ERR, "no root= on the kernel command line");
                return 1;
        }
        load_modules(words, n);
        if (wait_for_root(&p, dev, sizeof(dev)) < 0 || mount_root(&p, dev) < 0 ||
            switch_root(p.init) < 0)
                return 1;
        argv[0] = (char *)p.init;
        execv(p.init, argv);
        say(LOG_ERR, "cannot run %s: %s", p.init, strerror(errno));
        return 1;
}
