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

char *build_kernel_cmdline(BuildContext *ctx) {
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *root = disk_root_cmdline(&ctx->config.layout);

        if (root)
                for (char *save = NULL, *t = strtok_r(root, " ", &save); t;
                     t = strtok_r(NULL, " ", &save))
                        strv_extend(&args, t);
        for (char **a = ctx->config.cmdline; a && *a; a++)
                if (!strv_contains(args, *a))
                        strv_extend(&args, *a);
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
        _cleanup_free_ char *unit = NULL;
        Diagnostics diag = {};
        int r = boot_ready_unit(vmcompose_data_dir(), &unit, &diag);
        if (r < 0) {
                for (size_t i = 0; i < diag.n_errors; i++)
                        log_error("bootloader: %s", diag.messages[i]);
                diag_done(&diag);
                return r;
        }
        r = root_write_file(root_fd, path, unit, strlen(unit), 0644, 0);
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
static int check_kconfig(const BuildContext *ctx, int root_fd, const BootKernel *k) {
        const char *target = ctx->config.target_name;
        _cleanup_free_ char *path = xasprintf("boot/config-%s", k->version);
        _cleanup_free_ char *config = NULL;
        int r = root_read_file(root_fd, path, 16 << 20, &config, NULL), bad = 0;
        if (r < 0)
                return log_error_errno(r, "kernel: cannot read %s/%s: %m", ctx->root_path, path);
        for (size_t i = 0; i < ctx->config.n_kconfig; i++) {
                const KconfigRequirement *opt = &ctx->config.kconfig[i];
                const char *want = opt->value;
                char state = kconfig_state(config, opt->option);
                if (!kconfig_meets(state, want)) {
                        log_error("kernel %s: %s is %s, the %s target needs %s (%s)", k->version,
                                  opt->option,
                                  state == 'y'   ? "built in"
                                  : state == 'm' ? "a module"
                                                 : "not set",
                                  target, streq(want, "y|m") ? "it" : want, opt->where);
                        bad++;
                }
        }
        return bad ? -EBADMSG : 0;
}

/* Is every driver the target needs in the initramfs, as a module or built into the kernel? */
static int check_initramfs(BuildContext *ctx, int root_fd, const BootKernel *k) {
        const BuildConfig *c = &ctx->config;
        _cleanup_free_ char *builtin_path = xasprintf("lib/modules/%s/modules.builtin", k->version);
        _cleanup_free_ char *builtin = NULL;
        Buffer list = {};
        int bad = 0;

        /* Ours is read here; the family's default maker's (initramfs-tools': an early
         * microcode archive, then a compressed one) by its own lister. */
        int r = 0;
        if (streq(c->initramfs, "vmcompose"))
                r = initramfs_list(root_fd, k->initrd, &list);
        else if ((r = c->distro->initramfs_list(ctx->root_path, k->version, &list)) < 0)
                r = log_error_errno(r, "kernel: cannot list the initramfs %s: %m", k->initrd);
        if (r < 0) {
                buffer_done(&list);
                return r;
        }
        (void)root_read_file(root_fd, builtin_path, 16 << 20, &builtin, NULL);
        for (size_t i = 0; c->target_drivers && c->target_drivers[i]; i++) {
                const char *n = c->target_drivers[i];
                if (!kernel_has_module(list.data, builtin, n)) {
                        log_error("kernel %s: the initramfs lacks %s, which the %s target needs "
                                  "(%s)",
                                  k->version, n, c->target_name, c->target_driver_wheres[i]);
                        bad++;
                }
        }
        strv_free(ctx->initramfs_modules);
        ctx->initramfs_modules = kernel_module_names(list.data, builtin);
        buffer_done(&list);
        return bad ? -EBADMSG : 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* kernel.initramfs: vmcompose: the initramfs of each kernel in /boot, written here (the
 * install stage ran no update-initramfs): init, the target's drivers and the root
 * filesystem's driver, with what they depend on. */
static int make_initramfs(BuildContext *ctx, int root_fd) {
        const BuildConfig *c = &ctx->config;
        _cleanup_strv_free_ char **drivers = NULL, **wheres = NULL;

        if (!streq(c->initramfs, "vmcompose"))
                return 0;
        for (size_t i = 0; c->target_drivers && c->target_drivers[i]; i++) {
                strv_extend(&drivers, c->target_drivers[i]);
                strv_extend(&wheres, c->target_driver_wheres[i]);
        }
        if (c->root_fstype) {
                strv_extend(&drivers, c->root_fstype);
                strv_extend(&wheres, c->root_where);
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
                        .architecture = c->architecture,
                        .drivers = drivers,
                        .driver_wheres = wheres,
                        .init_path = vmcompose_init_path(),
                        .mtime = ctx->timestamp,
                        .out_path = out,
                };
                int r = initramfs_write(&req);
                if (r < 0)
                        return log_error_errno(r,
                                               "kernel.initramfs: vmcompose (%s): no "
                                               "initramfs for %s",
                                               c->initramfs_where ?: "default", req.version);
        }
        return 0;
}

/* The command line must not carry what the target forbids (Azure: quiet, crashkernel). */
static int check_cmdline(const BuildContext *ctx, const char *cmdline) {
        const char *target = ctx->config.target_name;
        int bad = 0;
        for (char **f = ctx->config.forbid_cmdline; f && *f; f++) {
                const char *arg = *f;
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

/* Does the kernel meet the kernel target (Kconfig, initramfs drivers, command line)? ri is
 * make_initramfs()'s result. 0 (or no target), or -EBADMSG with every shortfall logged. */
static int check_target(BuildContext *ctx, int root_fd, const BootKernel *k, int ri,
                        const char *cmdline) {
        const BuildConfig *c = &ctx->config;
        if (!c->target_name)
                return 0;
        int k1 = check_kconfig(ctx, root_fd, k);
        /* -ENXIO: drivers the kernel lacks, which is the target's business. */
        int k2 = ri == -ENXIO ? ri : ri < 0 ? 0 : check_initramfs(ctx, root_fd, k);
        int k3 = check_cmdline(ctx, cmdline);
        if (k1 < 0 || k2 < 0 || k3 < 0) {
                log_error("kernel: %s does not meet the %s target (%s)", k->version, c->target_name,
                          c->target_path);
                return -EBADMSG;
        }
        log_info("kernel %s meets the %s target: Kconfig, initramfs drivers, command line",
                 k->version, c->target_name);
        return 0;
}

/* The ESP and the boot loader's work directory, in the build's temporary directory. */
static int make_boot_dirs(BuildContext *ctx) {
        const char *tmp;
        int r = build_tmp_dir(ctx, &tmp);
        if (r < 0)
                return r;
        ctx->esp_path = path_join(tmp, "esp");
        ctx->boot_work = path_join(tmp, "boot");
        const char *const dirs[] = {ctx->esp_path, ctx->boot_work};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "bootloader: %s: %m", dirs[i]);
        return 0;
}

/* The boot loader's files on the ESP (and in the root), the boot report unit, and the
 * /etc/.updated marks. */
static int prepare_boot(BuildContext *ctx, int root_fd, const BootKernel *k, const char *cmdline) {
        const BuildConfig *c = &ctx->config;
        _cleanup_close_ int esp_fd = open(ctx->esp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int work_fd = open(ctx->boot_work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (esp_fd < 0 || work_fd < 0)
                return log_error_errno(errno, "bootloader: %s: %m",
                                       esp_fd < 0 ? ctx->esp_path : ctx->boot_work);
        /* The root filesystem's UUID, for loaders that read the kernel from it. */
        char root_uuid[37] = "";
        const Partition *root = disk_layout_root(&c->layout);
        if (root)
                disk_fs_uuid(root, root_uuid);
        BootParams params = {
                .root_fs_uuid = *root_uuid ? root_uuid : NULL,
                .root_dir = ctx->root_path,
                .root_fd = root_fd,
                .esp_dir = ctx->esp_path,
                .esp_fd = esp_fd,
                .work_dir = ctx->boot_work,
                .work_fd = work_fd,
                .kernel = k,
                .cmdline = cmdline,
                .title = ctx->profile->name,
                .esp_vendor_dir = c->distro_boot.esp_vendor_dir,
                .data_dir = vmcompose_data_dir(),
                .timestamp = ctx->timestamp,
        };
        int r = c->bootloader->prepare(&params);
        if (r == 0)
                r = install_ready_unit(ctx->root_path, root_fd);
        if (r == 0)
                r = mark_updated(ctx->root_path, root_fd, ctx->timestamp);
        return r;
}

static void boot_kernel_donep(BootKernel *k) {
        boot_kernel_done(k);
}

int stage_bootloader(BuildContext *ctx) {
        const BuildConfig *c = &ctx->config;
        _cleanup_(boot_kernel_donep) BootKernel k = {};

        if (!c->bootloader_name)
                return log_error_errno(EINVAL, "bootloader: the profile names no bootloader");
        if (!c->bootloader)
                return log_error_errno(ENOSYS,
                                       "bootloader: %s (%s) is not implemented yet "
                                       "(issue #5); systemd-boot is",
                                       c->bootloader_name, c->bootloader_where);
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "bootloader: %s: %m", ctx->root_path);
        /* A vmcompose initramfs that cannot be made (a driver the kernel lacks) still lets the
         * target checks below name everything else the kernel lacks. */
        int ri = make_initramfs(ctx, root_fd);
        int r = boot_kernel_find(root_fd, ri == 0, &k);
        if (r == -ENOTUNIQ)
                return log_error_errno(r, "bootloader: more than one kernel in %s/boot",
                                       ctx->root_path);
        if (r < 0)
                return log_error_errno(r,
                                       "bootloader: no kernel with an initramfs in %s/boot "
                                       "(kernel.package and initramfs-tools installed?)",
                                       ctx->root_path);
        _cleanup_free_ char *cmdline = build_kernel_cmdline(ctx);
        if ((r = check_target(ctx, root_fd, &k, ri, cmdline)) < 0)
                return r;
        if (ri < 0)
                return ri;
        if ((r = make_boot_dirs(ctx)) < 0 || (r = prepare_boot(ctx, root_fd, &k, cmdline)) < 0)
                return r;
        ctx->esp_dir = ctx->esp_path;
        ctx->kernel_version = xstrdup(k.version);
        ctx->kernel_cmdline = xstrdup(cmdline);
        log_info("bootloader: %s, kernel %s, command line: %s", c->bootloader->name, k.version,
                 cmdline);
        return 0;
}

/* After the disk stage: boot code outside the filesystems (GRUB for BIOS). */
int stage_bootcode(BuildContext *ctx) {
        const Bootloader *b = ctx->config.bootloader;
        const DiskLayout *l = &ctx->config.layout;
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
