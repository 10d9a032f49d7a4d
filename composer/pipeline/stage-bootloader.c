/* SPDX-License-Identifier: MIT */
/* The bootloader stage: the kernel command line from the disk layout, the profile and the
 * kernel target; the ESP's contents; the boot report unit. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "stages.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/spawn.h"

static void add_args(char ***args, const Node *list) {
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *a = node_map_get(list->items[i], "arg");
                if (a && !strv_contains(*args, a->scalar))
                        strv_extend(args, a->scalar);
        }
}

char *build_kernel_cmdline(BuildContext *ctx) {
        _cleanup_strv_free_ char **args = NULL;
        Diagnostics diag = {};
        DiskLayout l = {};

        if (disk_layout_from_profile(ctx->profile, ctx->seed, &l, &diag) == 0) {
                _cleanup_free_ char *root = disk_root_cmdline(&l);
                if (root)
                        for (char *save = NULL, *t = strtok_r(root, " ", &save); t;
                             t = strtok_r(NULL, " ", &save))
                                strv_extend(&args, t);
                disk_layout_done(&l);
        }
        diag_done(&diag);
        add_args(&args, node_lookup(ctx->profile->tree, "kernel.cmdline"));
        if (ctx->profile->kernel_target.tree)
                add_args(&args, node_lookup(ctx->profile->kernel_target.tree, "cmdline"));
        Buffer b = {};
        for (char **a = args; a && *a; a++)
                buffer_printf(&b, "%s%s", b.len ? " " : "", *a);
        return buffer_steal(&b);
}

/* /etc/.updated and /var/.updated, as systemd-update-done writes them: /etc and /var match
 * /usr already (the packages' scripts ran at build time), so the first boot skips the units
 * with ConditionNeedsUpdate= (systemd-sysusers and the like) instead of redoing their work. */
static int mark_updated(const char *root, int root_fd, uint64_t epoch) {
        _cleanup_close_ int usr = root_open(root_fd, "usr", O_PATH | O_DIRECTORY, 0);
        struct stat st;
        if (usr < 0 || fstat(usr, &st) < 0)
                return log_error_errno(usr < 0 ? usr : -errno, "bootloader: cannot stat %s/usr: %m",
                                       root);
        /* The time /usr will have in the image: the filesystem writers clamp every time to
         * source-date-epoch, without nanoseconds. */
        if (epoch > 0 && (uint64_t)st.st_mtim.tv_sec >= epoch)
                st.st_mtim = (struct timespec){.tv_sec = (time_t)epoch};
        uint64_t nsec = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
        _cleanup_free_ char *text =
                xasprintf("# Written by vmcompose: this directory matches /usr, as after\n"
                          "# systemd-update-done.service(8).\nTIMESTAMP_NSEC=%llu\n",
                          (unsigned long long)nsec);
        static const char *const dirs[] = {"etc/.updated", "var/.updated"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = root_write_file(root_fd, dirs[i], text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "bootloader: cannot write %s/%s: %m", root,
                                               dirs[i]);
                const struct timespec times[2] = {st.st_mtim, st.st_mtim};
                _cleanup_close_ int fd = root_open(root_fd, dirs[i], O_RDONLY | O_NOFOLLOW, 0);
                if (fd < 0 || futimens(fd, times) < 0)
                        return log_error_errno(fd < 0 ? fd : -errno,
                                               "bootloader: cannot set the time of %s/%s: %m", root,
                                               dirs[i]);
        }
        return 0;
}

static int install_ready_unit(const char *root, int root_fd) {
        static const char path[] = "etc/systemd/system/vmcompose-ready.service";
        int r = root_write_file(root_fd, path, boot_ready_unit, strlen(boot_ready_unit), 0644, 0);
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot write %s/%s: %m", root, path);
        char *const argv[] = {(char *)"chroot",
                              (char *)root,
                              (char *)"systemctl",
                              (char *)"enable",
                              (char *)"vmcompose-ready.service",
                              NULL};
        Buffer out = {};
        r = spawn_run_in_root(argv, NULL, &out);
        if (r != 0)
                log_error("bootloader: systemctl enable vmcompose-ready.service failed:\n%s",
                          out.data ? out.data : "");
        buffer_done(&out);
        return r == 0 ? 0 : -EIO;
}

/* Does the kernel have every Kconfig option the target needs? */
static int check_kconfig(const BuildContext *ctx, int root_fd, const BootKernel *k,
                         const Node *kconfig, const char *target) {
        _cleanup_free_ char *path = xasprintf("boot/config-%s", k->version);
        _cleanup_free_ char *config = NULL;
        int r = root_read_file(root_fd, path, 16 << 20, &config, NULL), bad = 0;
        if (r < 0)
                return log_error_errno(r, "kernel: cannot read %s/%s: %m", ctx->root_path, path);
        for (size_t i = 0; kconfig && i < kconfig->n_items; i++) {
                const Node *opt = node_map_get(kconfig->items[i], "option");
                const Node *val = node_map_get(kconfig->items[i], "value");
                const char *want = val ? val->scalar : "y|m";
                _cleanup_free_ char *y = xasprintf("\n%s=y\n", opt->scalar);
                _cleanup_free_ char *m = xasprintf("\n%s=m\n", opt->scalar);
                bool has_y = strstr(config, y), has_m = strstr(config, m);
                bool good = streq(want, "y") ? has_y : streq(want, "m") ? has_m : has_y || has_m;
                if (!good) {
                        log_error("kernel %s: %s is %s, the %s target needs %s (%s:%u)", k->version,
                                  opt->scalar,
                                  has_y   ? "built in"
                                  : has_m ? "a module"
                                          : "not set",
                                  target, streq(want, "y|m") ? "it" : want, opt->mark.file,
                                  opt->mark.line);
                        bad++;
                }
        }
        return bad ? -EBADMSG : 0;
}

/* Every module the initramfs holds and every one built into the kernel, by name ("hv_vmbus"),
 * for the platform lints. */
static char **initramfs_modules(const char *list, const char *builtin) {
        char **names = NULL;
        const char *const texts[] = {list, builtin};
        for (size_t t = 0; t < ELEMENTSOF(texts); t++)
                for (const char *line = texts[t]; line && *line;) {
                        size_t len = strcspn(line, "\n");
                        const char *slash = memrchr(line, '/', len);
                        const char *ko = slash ? strstr(slash, ".ko") : NULL;
                        if (ko && ko < line + len) {
                                char *name = xstrndup(slash + 1, (size_t)(ko - slash - 1));
                                for (char *c = name; *c; c++)
                                        if (*c == '-')
                                                *c = '_';
                                strv_push(&names, name);
                        }
                        line += len + (line[len] == '\n');
                }
        return names;
}

/* Is every driver the target needs in the initramfs, as a module or built into the kernel? */
static int check_initramfs(BuildContext *ctx, int root_fd, const BootKernel *k, const Node *drivers,
                           const char *target) {
        _cleanup_free_ char *initrd = xasprintf("/boot/initrd.img-%s", k->version);
        char *const argv[] = {(char *)"chroot", ctx->root_path, (char *)"lsinitramfs", initrd,
                              NULL};
        _cleanup_free_ char *builtin_path = xasprintf("lib/modules/%s/modules.builtin", k->version);
        _cleanup_free_ char *builtin = NULL;
        Buffer list = {};
        int bad = 0;

        /* Ours is read here; initramfs-tools' (an early microcode archive, then a compressed
         * one) by its own lister. */
        const Node *maker = node_lookup(ctx->profile->tree, "kernel.initramfs");
        int r = 0;
        if (maker && streq(maker->scalar, "vmcompose"))
                r = initramfs_list(root_fd, k->initrd, &list);
        else if ((r = spawn_run_in_root(argv, NULL, &list)) != 0)
                r = log_error_errno(r < 0 ? r : EIO, "kernel: lsinitramfs %s failed", initrd);
        if (r < 0) {
                buffer_done(&list);
                return r;
        }
        (void)root_read_file(root_fd, builtin_path, 16 << 20, &builtin, NULL);
        for (size_t i = 0; drivers && i < drivers->n_items; i++) {
                const Node *n = node_map_get(drivers->items[i], "name");
                /* Module file names use '-' or '_' interchangeably. */
                _cleanup_free_ char *a = xasprintf("/%s.ko", n->scalar);
                _cleanup_free_ char *b = xstrdup(a);
                for (char *c = b; *c; c++)
                        if (*c == '_')
                                *c = '-';
                bool found = (list.data && (strstr(list.data, a) || strstr(list.data, b))) ||
                             (builtin && (strstr(builtin, a) || strstr(builtin, b)));
                if (!found) {
                        log_error("kernel %s: the initramfs lacks %s, which the %s target needs "
                                  "(%s:%u)",
                                  k->version, n->scalar, target, n->mark.file, n->mark.line);
                        bad++;
                }
        }
        strv_free(ctx->initramfs_modules);
        ctx->initramfs_modules = initramfs_modules(list.data, builtin);
        buffer_done(&list);
        return bad ? -EBADMSG : 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* kernel.initramfs: vmcompose: the initramfs of each kernel in /boot, written here (the
 * install stage ran no update-initramfs): init, the target's drivers and the root
 * filesystem's driver, with what they depend on. */
static int make_initramfs(BuildContext *ctx, int root_fd) {
        const Node *maker = node_lookup(ctx->profile->tree, "kernel.initramfs");
        const Node *target = ctx->profile->kernel_target.tree;
        _cleanup_strv_free_ char **drivers = NULL, **wheres = NULL;

        if (!maker || !streq(maker->scalar, "vmcompose"))
                return 0;
        const Node *list = target ? node_lookup(target, "initramfs-drivers") : NULL;
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *n = node_map_get(list->items[i], "name");
                strv_extend(&drivers, n->scalar);
                strv_push(&wheres, xasprintf("%s:%u", n->mark.file, n->mark.line));
        }
        const Node *parts = node_lookup(ctx->profile->tree, "disk.partitions");
        for (size_t i = 0; parts && i < parts->n_items; i++) {
                const Node *role = node_map_get(parts->items[i], "role");
                const Node *fs = node_map_get(parts->items[i], "fs");
                if (!streq(role->scalar, "root"))
                        continue;
                strv_extend(&drivers, fs ? fs->scalar : "ext4");
                strv_push(&wheres, xasprintf("%s:%u", role->mark.file, role->mark.line));
        }
        int fd = root_open(root_fd, "boot", O_RDONLY | O_DIRECTORY, 0);
        _cleanup_(closedirp) DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = fd < 0 ? fd : -errno;
                if (fd >= 0)
                        close(fd);
                return log_error_errno(r, "bootloader: %s/boot: %m", ctx->root_path);
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (!strneq(de->d_name, "vmlinuz-", 8))
                        continue;
                _cleanup_free_ char *out = xasprintf("boot/initrd.img-%s", de->d_name + 8);
                InitramfsRequest req = {
                        .root_dir = ctx->root_path,
                        .version = de->d_name + 8,
                        .architecture =
                                node_lookup(ctx->profile->tree, "distro.architecture")->scalar,
                        .drivers = drivers,
                        .driver_wheres = wheres,
                        .init_path = vmcompose_init_path(),
                        .mtime = ctx->timestamp,
                        .out_path = out,
                };
                int r = initramfs_write(&req);
                if (r < 0)
                        return log_error_errno(r,
                                               "kernel.initramfs: vmcompose (%s:%u): no "
                                               "initramfs for %s",
                                               maker->mark.file, maker->mark.line, req.version);
        }
        return 0;
}

/* The command line must not carry what the target forbids (Azure: quiet, crashkernel). */
static int check_cmdline(const BuildContext *ctx, const char *cmdline, const char *target) {
        const Node *forbid = node_lookup(ctx->profile->kernel_target.tree, "forbid-cmdline");
        int bad = 0;
        for (size_t i = 0; forbid && i < forbid->n_items; i++) {
                const char *arg = node_map_get(forbid->items[i], "arg")->scalar;
                size_t l = strlen(arg);
                for (const char *p = cmdline; (p = strstr(p, arg)); p += l)
                        if ((p == cmdline || p[-1] == ' ') &&
                            (p[l] == 0 || p[l] == ' ' || p[l] == '=')) {
                                log_error("kernel: the command line carries %s, which the %s "
                                          "target forbids",
                                          arg, target);
                                bad++;
                                break;
                        }
        }
        return bad ? -EBADMSG : 0;
}

int stage_bootloader(BuildContext *ctx) {
        const Node *bl = node_lookup(ctx->profile->tree, "bootloader");
        const char *tmp;
        BootKernel k = {};
        int r;

        if (!bl)
                return log_error_errno(EINVAL, "bootloader: the profile names no bootloader");
        const Bootloader *b = bootloader_find(bl->scalar);
        if (!b)
                return log_error_errno(ENOSYS,
                                       "bootloader: %s (%s:%u) is not implemented yet "
                                       "(issue #5); systemd-boot is",
                                       bl->scalar, bl->mark.file, bl->mark.line);
        /* A vmcompose initramfs that cannot be made (a driver the kernel lacks) still lets the
         * target checks below name everything else the kernel lacks. */
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "bootloader: %s: %m", ctx->root_path);
        int ri = make_initramfs(ctx, root_fd);
        r = boot_kernel_find(root_fd, ri == 0, &k);
        if (r == -ENOTUNIQ)
                return log_error_errno(r, "bootloader: more than one kernel in %s/boot",
                                       ctx->root_path);
        if (r < 0)
                return log_error_errno(r,
                                       "bootloader: no kernel with an initramfs in %s/boot "
                                       "(kernel.package and initramfs-tools installed?)",
                                       ctx->root_path);
        r = build_tmp_dir(ctx, &tmp);
        if (r < 0) {
                boot_kernel_done(&k);
                return r;
        }
        ctx->esp_path = path_join(tmp, "esp");
        if (mkdir(ctx->esp_path, 0755) < 0 && errno != EEXIST) {
                boot_kernel_done(&k);
                return log_error_errno(errno, "bootloader: %s: %m", ctx->esp_path);
        }
        _cleanup_free_ char *cmdline = build_kernel_cmdline(ctx);
        const Node *target = ctx->profile->kernel_target.tree;
        if (target) {
                const char *name = node_map_get(target, "name")->scalar;
                int k1 = check_kconfig(ctx, root_fd, &k, node_lookup(target, "kconfig"), name);
                /* -ENXIO: drivers the kernel lacks, which is the target's business. */
                int k2 = ri == -ENXIO ? ri
                         : ri < 0     ? 0
                                      : check_initramfs(ctx, root_fd, &k,
                                                        node_lookup(target, "initramfs-drivers"), name);
                int k3 = check_cmdline(ctx, cmdline, name);
                if (k1 < 0 || k2 < 0 || k3 < 0) {
                        log_error("kernel: %s does not meet the %s target (%s)", k.version, name,
                                  ctx->profile->kernel_target.path);
                        boot_kernel_done(&k);
                        return -EBADMSG;
                }
                log_info("kernel %s meets the %s target: Kconfig, initramfs drivers, command "
                         "line",
                         k.version, name);
        }
        if (ri < 0) {
                boot_kernel_done(&k);
                return ri;
        }
        /* The root filesystem's UUID, for loaders that read the kernel from it. */
        char root_uuid[37] = "";
        DiskLayout l = {};
        Diagnostics diag = {};
        if (disk_layout_from_profile(ctx->profile, ctx->seed, &l, &diag) == 0) {
                for (size_t i = 0; i < l.n_partitions; i++)
                        if (l.partitions[i].role == ROLE_ROOT)
                                disk_fs_uuid(&l.partitions[i], root_uuid);
                disk_layout_done(&l);
        }
        diag_done(&diag);
        ctx->boot_work = path_join(tmp, "boot");
        if (mkdir(ctx->boot_work, 0755) < 0 && errno != EEXIST) {
                boot_kernel_done(&k);
                return log_error_errno(errno, "bootloader: %s: %m", ctx->boot_work);
        }
        _cleanup_close_ int esp_fd = open(ctx->esp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int work_fd = open(ctx->boot_work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (esp_fd < 0 || work_fd < 0) {
                boot_kernel_done(&k);
                return log_error_errno(errno, "bootloader: %s: %m",
                                       esp_fd < 0 ? ctx->esp_path : ctx->boot_work);
        }
        BootParams params = {
                .root_fs_uuid = *root_uuid ? root_uuid : NULL,
                .root_dir = ctx->root_path,
                .root_fd = root_fd,
                .esp_dir = ctx->esp_path,
                .esp_fd = esp_fd,
                .work_dir = ctx->boot_work,
                .work_fd = work_fd,
                .kernel = &k,
                .cmdline = cmdline,
                .title = ctx->profile->name,
        };
        r = b->prepare(&params);
        if (r == 0)
                r = install_ready_unit(ctx->root_path, root_fd);
        if (r == 0)
                r = mark_updated(ctx->root_path, root_fd, ctx->timestamp);
        if (r == 0) {
                ctx->esp_dir = ctx->esp_path;
                ctx->kernel_version = xstrdup(k.version);
                ctx->kernel_cmdline = xstrdup(cmdline);
                log_info("bootloader: %s, kernel %s, command line: %s", b->name, k.version,
                         cmdline);
        }
        boot_kernel_done(&k);
        return r;
}

/* After the disk stage: boot code outside the filesystems (GRUB for BIOS). */
int stage_bootcode(BuildContext *ctx) {
        const Node *bl = node_lookup(ctx->profile->tree, "bootloader");
        const Bootloader *b = bl ? bootloader_find(bl->scalar) : NULL;
        const DiskLayout *l = &ctx->layout;
        uint64_t sector = 1, room = 0;

        if (!b || !b->embed || !ctx->boot_work)
                return 0;
        if (l->gpt) {
                for (size_t i = 0; i < l->n_partitions; i++)
                        if (l->partitions[i].role == ROLE_BIOS_BOOT) {
                                sector = l->partitions[i].offset / DISK_SECTOR_SIZE;
                                room = l->partitions[i].size / DISK_SECTOR_SIZE;
                        }
                if (room == 0)
                        return log_error_errno(EINVAL,
                                               "bootloader: %s on GPT needs a bios-boot "
                                               "partition",
                                               b->name);
        } else
                room = l->n_partitions ? l->partitions[0].offset / DISK_SECTOR_SIZE - 1 : 0;
        return b->embed(ctx->boot_work, ctx->raw_path, sector, room);
}
