/* SPDX-License-Identifier: MIT */
/* The modules stage (kernel.modules: target): Debian's kernel package carries a driver for
 * every machine; an image for one platform keeps only what it needs and removes the rest
 * before the initramfs is made (the bootloader stage), then runs depmod in the root. Kept: the
 * kernel target's initramfs-drivers and modules (kernel-config/NAME.yaml), the root and ESP
 * filesystems' drivers, the profile's kernel.modules-keep, what the root's own configuration
 * loads at boot (modules-load.d, /etc/modules; binfmt_misc for binfmt.d), every module in an
 * initramfs the distribution's maker already wrote (so the root matches what boots), and what
 * all of them pull in through modules.dep and modules.softdep (kmod_closure()). The package
 * database still lists the removed files: the package manager's verify reports them missing, as the
 * deviation report and the manifest count them. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/kmod.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/spawn.h"

typedef struct Prune {
        char **keep; /* sorted paths relative to /lib/modules/VERSION */
        uint64_t removed, removed_bytes, kept;
} Prune;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_module_file(const char *name) {
        const char *ko = strstr(name, ".ko");
        return ko && (ko[3] == 0 || ko[3] == '.');
}

/* Removes every module file under dir_fd (at rel, relative to the kernel's module directory)
 * that p->keep does not list, and the directories left empty. Returns whether dir is empty
 * now, or a negative errno. */
static int prune_dir(int dir_fd, const char *rel, Prune *p) {
        _cleanup_strv_free_ char **names = NULL;
        int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        strv_extend(&names, de->d_name);
        closedir(d);
        if (names)
                qsort(names, strv_length(names), sizeof(char *), cmp_str);
        size_t left = 0;
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, *n) : xstrdup(*n);
                struct stat st;
                if (fstatat(dir_fd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub =
                                openat(dir_fd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                        int r = prune_dir(sub, path, p);
                        if (r < 0)
                                return r;
                        if (r > 0 && unlinkat(dir_fd, *n, AT_REMOVEDIR) < 0)
                                return -errno;
                        left += r == 0;
                        continue;
                }
                if (!S_ISREG(st.st_mode) || !is_module_file(*n)) {
                        left++;
                        continue;
                }
                if (p->keep &&
                    bsearch(&path, p->keep, strv_length(p->keep), sizeof(char *), cmp_str)) {
                        p->kept++;
                        left++;
                        continue;
                }
                if (unlinkat(dir_fd, *n, 0) < 0)
                        return -errno;
                p->removed++;
                p->removed_bytes += (uint64_t)st.st_size;
        }
        return left == 0;
}

/* The drivers a filesystem type needs: vfat names its codepage and character set too (Debian's
 * FAT_DEFAULT_CODEPAGE=437 and FAT_DEFAULT_IOCHARSET=ascii, and utf8 for utf8=1). */
static void add_fs_drivers(char ***wanted, char ***wheres, const char *fstype, const char *where) {
        static const char *const vfat[] = {"vfat", "nls_cp437", "nls_ascii", "nls_utf8"};
        if (!fstype)
                return;
        if (!streq(fstype, "vfat")) {
                strv_extend(wanted, fstype);
                strv_extend(wheres, where ?: "disk.partitions");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(vfat); i++) {
                strv_extend(wanted, vfat[i]);
                strv_extend(wheres, where ?: "disk.partitions");
        }
}

/* The files in the root's directories dirs (sorted, each as "/DIR/NAME"). */
static char **list_config_files(int root_fd, const char *const *dirs, size_t n) {
        char **files = NULL;
        for (size_t i = 0; i < n; i++) {
                int fd = root_open(root_fd, dirs[i], O_RDONLY | O_DIRECTORY, 0);
                DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
                if (!d) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                for (struct dirent *de; (de = readdir(d));)
                        if (de->d_name[0] != '.')
                                strv_push(&files, xasprintf("/%s/%s", dirs[i], de->d_name));
                closedir(d);
        }
        if (files)
                qsort(files, strv_length(files), sizeof(char *), cmp_str);
        return files;
}

/* What the image's own configuration loads at boot: the modules systemd-modules-load reads
 * from modules-load.d (and kmod's /etc/modules), and binfmt_misc when a binfmt.d file asks
 * systemd-binfmt to register a format (python3's .pyc handler). */
static void add_config_modules(int root_fd, char ***wanted, char ***wheres) {
        static const char *const load_dirs[] = {"etc/modules-load.d", "usr/lib/modules-load.d",
                                                "usr/local/lib/modules-load.d"};
        static const char *const binfmt_dirs[] = {"etc/binfmt.d", "usr/lib/binfmt.d",
                                                  "usr/local/lib/binfmt.d"};
        _cleanup_strv_free_ char **load = list_config_files(root_fd, load_dirs, 3);
        strv_extend(&load, "/etc/modules");
        for (char **f = load; f && *f; f++) {
                _cleanup_free_ char *text = NULL;
                if (root_read_file(root_fd, *f + 1, 1 << 20, &text, NULL) < 0)
                        continue;
                for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save)) {
                        l += strspn(l, " \t");
                        size_t len = strcspn(l, " \t#;");
                        if (len == 0)
                                continue;
                        l[len] = 0;
                        strv_extend(wanted, l);
                        strv_extend(wheres, *f);
                }
        }
        _cleanup_strv_free_ char **binfmt = list_config_files(root_fd, binfmt_dirs, 3);
        if (binfmt) {
                strv_extend(wanted, "binfmt_misc");
                strv_extend(wheres, binfmt[0]);
        }
}

/* What the root keeps for kernel version: see the top of this file. */
static int wanted_modules(BuildContext *ctx, int root_fd, const char *version, char ***ret_wanted,
                          char ***ret_wheres) {
        const BuildConfig *c = &ctx->config;
        _cleanup_strv_free_ char **wanted = NULL, **wheres = NULL;
        char **const lists[][2] = {
                {c->target_drivers, c->target_driver_wheres},
                {c->target_modules, c->target_module_wheres},
                {c->modules_keep, c->modules_keep_wheres},
        };
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                for (size_t i = 0; lists[l][0] && lists[l][0][i]; i++) {
                        strv_extend(&wanted, lists[l][0][i]);
                        strv_extend(&wheres, lists[l][1][i]);
                }
        add_fs_drivers(&wanted, &wheres, c->root_fstype, c->root_where);
        add_fs_drivers(&wanted, &wheres, c->esp_fstype, NULL);
        add_config_modules(root_fd, &wanted, &wheres);

        /* An initramfs the distribution's maker wrote at install time: its modules stay. */
        _cleanup_free_ char *initrd = xasprintf("boot/initrd.img-%s", version);
        _cleanup_close_ int ifd = root_open(root_fd, initrd, O_PATH, 0);
        if (!streq(c->initramfs, "vmcompose") && ifd >= 0) {
                Buffer list = {};
                int r = c->distro->initramfs_list(ctx->root_path, version, &list);
                if (r < 0) {
                        buffer_done(&list);
                        return log_error_errno(r, "modules: cannot list %s/%s: %m", ctx->root_path,
                                               initrd);
                }
                _cleanup_strv_free_ char **in = kernel_module_names(list.data, NULL);
                buffer_done(&list);
                _cleanup_free_ char *where = xasprintf("/%s", initrd);
                for (char **m = in; m && *m; m++) {
                        strv_extend(&wanted, *m);
                        strv_extend(&wheres, where);
                }
        }
        *ret_wanted = TAKE_PTR(wanted);
        *ret_wheres = TAKE_PTR(wheres);
        return 0;
}

/* The module's name in path ("kernel/fs/ext4/ext4.ko.xz": "ext4"). */
static char *module_name(const char *path) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        const char *ko = strstr(base, ".ko");
        return xstrndup(base, ko ? (size_t)(ko - base) : strlen(base));
}

/* The modules of kernel version (its files under dir) to keep: the wanted ones with their
 * dependencies, read from its depmod data. Every wanted module the kernel lacks is logged
 * (-ENXIO). */
static int keep_modules(BuildContext *ctx, int root_fd, const char *dir, const char *version,
                        char ***ret_keep) {
        const BuildConfig *c = &ctx->config;
        _cleanup_free_ char *deps = NULL, *softdep = NULL, *alias = NULL, *builtin = NULL;
        _cleanup_strv_free_ char **wanted = NULL, **wheres = NULL, **missing = NULL, **keep = NULL;
        _cleanup_(kmod_done) KernelModules all = {};

        _cleanup_free_ char *dep_path = xasprintf("%s/modules.dep", dir);
        int r = root_read_file(root_fd, dep_path, 64 << 20, &deps, NULL);
        if (r < 0)
                return log_error_errno(r, "modules: %s/%s: %m (kernel %s without depmod?)",
                                       ctx->root_path, dep_path, version);
        static const char *const more[] = {"modules.softdep", "modules.alias", "modules.builtin"};
        char **const texts[] = {&softdep, &alias, &builtin};
        for (size_t i = 0; i < ELEMENTSOF(more); i++) {
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, more[i]);
                (void)root_read_file(root_fd, path, 64 << 20, texts[i], NULL);
        }
        if ((r = wanted_modules(ctx, root_fd, version, &wanted, &wheres)) < 0)
                return r;
        kmod_parse_dep(deps, &all);
        r = kmod_closure(&all, softdep, alias, builtin, wanted, &keep, &missing);
        if (r < 0)
                return log_error_errno(r, "modules: %s/%s names a module it does not list",
                                       ctx->root_path, dep_path);
        /* A target driver the kernel lacks is the bootloader stage's to report, with every
         * other shortfall of the target (check_target()). */
        bool bad = false;
        for (char **m = missing; m && *m; m++) {
                if (strv_contains(c->target_drivers, *m))
                        continue;
                size_t i = 0;
                while (!streq(wanted[i], *m))
                        i++;
                log_error("modules: kernel %s has no module %s (neither in modules.dep nor built "
                          "in), asked for at %s",
                          version, *m, wheres[i]);
                bad = true;
        }
        if (bad)
                return -ENXIO;
        *ret_keep = TAKE_PTR(keep);
        return 0;
}

/* depmod for kernel version in the root, after its modules were pruned. */
static int run_depmod(BuildContext *ctx, const char *version) {
        char *const argv[] = {(char *)"chroot", ctx->root_path, (char *)"depmod", (char *)version,
                              NULL};
        Buffer out = {};
        int r = spawn_run_in_root(argv, NULL, &out);
        if (r != 0) {
                log_error("modules: depmod %s in %s failed:\n%s", version, ctx->root_path,
                          out.data ?: "");
                buffer_done(&out);
                return r < 0 ? r : -EIO;
        }
        buffer_done(&out);
        return 0;
}

/* prune_kernel() adds the names of the modules it kept to *names. */
static int prune_kernel(BuildContext *ctx, int root_fd, const char *version, char ***names) {
        const BuildConfig *c = &ctx->config;
        _cleanup_free_ char *dir = xasprintf("lib/modules/%s", version);
        Prune p = {};

        int r = keep_modules(ctx, root_fd, dir, version, &p.keep);
        if (r < 0)
                return r;
        _cleanup_close_ int dir_fd = root_open(root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        r = dir_fd < 0 ? dir_fd : prune_dir(dir_fd, "", &p);
        for (char **k = p.keep; k && *k; k++) {
                _cleanup_free_ char *name = module_name(*k);
                if (!strv_contains(*names, name))
                        strv_extend(names, name);
        }
        strv_free(p.keep);
        if (r < 0)
                return log_error_errno(r, "modules: cannot prune %s/%s: %m", ctx->root_path, dir);
        r = run_depmod(ctx, version);
        if (r < 0)
                return r;
        log_info("modules: kernel %s keeps %llu modules, %llu removed (%.1f MiB); depmod ran "
                 "(kernel.modules: target, %s)",
                 version, (unsigned long long)p.kept, (unsigned long long)p.removed,
                 (double)p.removed_bytes / (1 << 20), c->modules_where ?: "default");
        ctx->modules_kept += p.kept;
        ctx->modules_removed += p.removed;
        ctx->modules_removed_bytes += p.removed_bytes;
        return 0;
}

int stage_modules(BuildContext *ctx) {
        if (!ctx->config.modules_only_target) {
                log_info("modules: kernel.modules: all, Debian's set is kept");
                return 0;
        }
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "modules: %s: %m", ctx->root_path);
        int fd = root_open(root_fd, "lib/modules", O_RDONLY | O_DIRECTORY, 0);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                log_info("modules: no /lib/modules in the root, nothing to remove");
                return 0;
        }
        _cleanup_strv_free_ char **versions = NULL;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        strv_extend(&versions, de->d_name);
        closedir(d);
        if (versions)
                qsort(versions, strv_length(versions), sizeof(char *), cmp_str);
        for (char **v = versions; v && *v; v++) {
                int r = prune_kernel(ctx, root_fd, *v, &ctx->modules_kept_names);
                if (r < 0)
                        return r;
        }
        if (ctx->modules_kept_names)
                qsort(ctx->modules_kept_names, strv_length(ctx->modules_kept_names), sizeof(char *),
                      cmp_str);
        return 0;
}
