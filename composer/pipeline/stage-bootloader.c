/* SPDX-License-Identifier: MIT */
/* The bootloader stage: the kernel command line from the disk layout, the profile and the
 * kernel target; the ESP's contents; the boot report unit. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/log.h"
#include "vmcompose/profile.h"
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
        /* A root without systemd (a test distribution's own init) has nothing to run the unit:
         * `vmcompose boot --expect` waits for what its init prints instead. */
        _cleanup_close_ int systemctl = root_open(root_fd, "usr/bin/systemctl", O_PATH, 0);
        if (systemctl < 0) {
                log_notice("bootloader: no systemd in the root (/usr/bin/systemctl): no boot "
                           "report unit; vmcompose boot --expect waits for the init's own line");
                return 0;
        }
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
                _cleanup_free_ char *init = vmcompose_init_path(c->arch);
                InitramfsRequest req = {
                        .root_dir = ctx->root_path,
                        .version = de->d_name + 8,
                        .architecture = c->architecture,
                        .drivers = drivers,
                        .driver_wheres = wheres,
                        .init_path = init,
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

/* The root filesystem's UUID, for loaders that read the kernel from it ("": no root
 * filesystem in the layout). */
static void root_fs_uuid(const BuildContext *ctx, char ret[static 37]) {
        const Partition *root = disk_layout_root(&ctx->config.layout);
        ret[0] = 0;
        if (root)
                disk_fs_uuid(root, ret);
}

/* Where the family's shim and GRUB are (its boot data, checked when it was read), for a boot
 * loader that uses them; *ret left empty for the others. */
static int load_shim_files(const BuildContext *ctx, ShimFiles *ret) {
        const BuildConfig *c = &ctx->config;
        if (!c->bootloader->uses_shim_files)
                return 0;
        Diagnostics diag = {};
        int r = distro_boot_shim_files(&c->distro_boot, c->arch, ret, &diag);
        for (size_t i = 0; i < diag.n_errors; i++)
                log_error("bootloader: %s", diag.messages[i]);
        diag_done(&diag);
        return r;
}

/* What the boot loader and its kernel hooks are made from, worked out once per build. */
typedef struct BootInputs {
        const BootKernel *kernel;
        const char *cmdline;
        char root_uuid[37]; /* "": no root filesystem in the layout */
        ShimFiles shim;     /* the shim boot loader's; empty for the others */
} BootInputs;

static void boot_inputs_done(BootInputs *in) {
        shim_files_done(&in->shim);
}

static int boot_inputs_load(const BuildContext *ctx, const BootKernel *k, const char *cmdline,
                            BootInputs *ret) {
        ret->kernel = k;
        ret->cmdline = cmdline;
        root_fs_uuid(ctx, ret->root_uuid);
        return load_shim_files(ctx, &ret->shim);
}

/* The parameters every boot loader text is made from (the directories and fds aside). */
static BootParams boot_params(const BuildContext *ctx, const BootInputs *in) {
        return (BootParams){
                .root_fs_uuid = in->root_uuid[0] ? in->root_uuid : NULL,
                .kernel = in->kernel,
                .cmdline = in->cmdline,
                .title = ctx->profile->name,
                .shim = in->shim.shim ? &in->shim : NULL,
                .data_dir = vmcompose_data_dir(),
                .arch = ctx->config.arch,
                .timestamp = ctx->timestamp,
        };
}

/* The boot loader's files on the ESP (and in the root), the boot report unit, and the
 * /etc/.updated marks. */
static int prepare_boot(BuildContext *ctx, int root_fd, const BootInputs *in) {
        const BuildConfig *c = &ctx->config;
        _cleanup_close_ int esp_fd = open(ctx->esp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int work_fd = open(ctx->boot_work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (esp_fd < 0 || work_fd < 0)
                return log_error_errno(errno, "bootloader: %s: %m",
                                       esp_fd < 0 ? ctx->esp_path : ctx->boot_work);
        BootParams params = boot_params(ctx, in);
        params.root_dir = ctx->root_path;
        params.root_fd = root_fd;
        params.esp_dir = ctx->esp_path;
        params.esp_fd = esp_fd;
        params.work_dir = ctx->boot_work;
        params.work_fd = work_fd;
        int r = c->bootloader->prepare(&params);
        if (r == 0)
                r = install_ready_unit(ctx->root_path, root_fd);
        if (r == 0)
                r = mark_updated(ctx->root_path, root_fd, ctx->timestamp);
        return r;
}

typedef struct OwnerScan {
        const char *path; /* "/boot/efi/EFI/x" */
        bool found;
} OwnerScan;

static int on_owner_member(const char *path, uint64_t size, bool directory, void *userdata) {
        OwnerScan *s = userdata;
        (void)size;
        (void)directory;
        path += strspn(path, ".");
        path += strspn(path, "/");
        if (streq(path, s->path + strspn(s->path, "/")))
                s->found = true;
        return 0;
}

/* The planned package that holds path (its name, from the plan), or NULL: none (a scriptlet
 * made it) or the packages cannot be read. */
static const char *package_holding(const BuildContext *ctx, const char *path) {
        for (size_t i = 0; ctx->debs && i < ctx->plan.n_packages; i++) {
                OwnerScan s = {path, false};
                if (distro_package_members_cached(ctx->config.distro, ctx->cache,
                                                  ctx->debs[i].sha256, ctx->debs[i].path,
                                                  on_owner_member, &s) < 0)
                        return NULL;
                if (s.found)
                        return ctx->plan.packages[i].name;
        }
        return NULL;
}

/* What the packages install below the ESP's mount point (the family's esp-mount) goes onto the
 * ESP, out of the root; what vfat cannot hold fails the build, naming the package. A layout
 * without an ESP mounts nothing there: the files stay. */
static int take_esp_files(BuildContext *ctx, int root_fd) {
        const char *mount = ctx->config.distro_boot.esp_mount;
        if (!mount || !ctx->config.esp_fstype)
                return 0;
        _cleanup_close_ int esp_fd = open(ctx->esp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (esp_fd < 0)
                return log_error_errno(errno, "bootloader: %s: %m", ctx->esp_path);
        _cleanup_(esp_problem_done) EspProblem problem = {};
        int r = esp_take_root_files(root_fd, mount, esp_fd, &problem);
        if (r == -EBADMSG) {
                const char *pkg = package_holding(ctx, problem.path);
                return log_error_errno(r, "bootloader: %s (%s%s) cannot go onto the ESP: %s",
                                       problem.path, pkg ? "package " : "in no package", pkg ?: "",
                                       problem.why);
        }
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot move %s/%s onto the ESP: %m",
                                       ctx->root_path, mount);
        if (r > 0)
                log_info("bootloader: %d file%s the packages put in /%s moved onto the ESP", r,
                         r == 1 ? "" : "s", mount);
        return 0;
}

/* One copy of the kernel: a loader that reads the kernel and initramfs from the ESP leaves the
 * root's /boot copies unread, so they go (with the /vmlinuz and /initrd.img links to them); the
 * package database still lists the kernel's file, which the package manager's verify reports
 * missing, and the deviation report says why. */
static int remove_root_kernel(BuildContext *ctx, int root_fd, const BootKernel *k) {
        const char *const files[] = {k->vmlinuz, k->initrd};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct stat st;
                _cleanup_close_ int fd = root_open(root_fd, files[i], O_PATH, 0);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return log_error_errno(fd < 0 ? fd : -errno, "bootloader: %s/%s: %m",
                                               ctx->root_path, files[i]);
                int r = root_unlink(root_fd, files[i], 0);
                if (r < 0)
                        return log_error_errno(r, "bootloader: cannot remove %s/%s: %m",
                                               ctx->root_path, files[i]);
                strv_push(&ctx->kernel_root_removed, xasprintf("/%s", files[i]));
                ctx->kernel_root_removed_bytes += (uint64_t)st.st_size;
        }
        /* linux-base's links in / (vmlinuz, vmlinuz.old, initrd.img, initrd.img.old) to them. */
        static const char *const links[] = {"vmlinuz", "vmlinuz.old", "initrd.img",
                                            "initrd.img.old"};
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(root_fd, links[i], target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                const char *t = target[0] == '/' ? target + 1 : target;
                if (!streq(t, k->vmlinuz) && !streq(t, k->initrd))
                        continue;
                if (unlinkat(root_fd, links[i], 0) < 0)
                        return log_error_errno(errno, "bootloader: cannot remove %s/%s: %m",
                                               ctx->root_path, links[i]);
        }
        log_info("bootloader: %s reads the kernel from the ESP; the root's copies removed "
                 "(%.1f MiB)",
                 ctx->config.bootloader->name, (double)ctx->kernel_root_removed_bytes / (1 << 20));
        return 0;
}

/* Kernel upgrades that boot (systemd-boot): the kernel packages' hooks
 * (bootloader/kernel-hooks/, run by linux-run-hooks from a linux-image package's postinst and
 * postrm) give a kernel installed in the VM its copies on the ESP, its BLS entry and the default
 * when it is the newest, remove them with the package, and prune its modules like the build
 * did; initramfs-tools' own hook (before ours) makes its initramfs. Each file added is recorded
 * with its why for the deviation report. */
static int add_hook_file(BuildContext *ctx, int root_fd, const char *path, const char *data,
                         size_t size, mode_t mode, const char *why) {
        int r = root_write_file(root_fd, path, data, size, mode, ROOT_WRITE_MKDIR);
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot write %s/%s: %m", ctx->root_path,
                                       path);
        strv_push(&ctx->kernel_hooks_added, xasprintf("/%s", path));
        strv_extend(&ctx->kernel_hooks_why, why);
        return 0;
}

static int add_hook_script(BuildContext *ctx, int root_fd, const char *name, const char *path,
                           const char *why) {
        _cleanup_free_ char *src =
                xasprintf("%s/bootloader/kernel-hooks/%s", vmcompose_data_dir(), name);
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r = read_full_file(src, 1 << 20, &text, &size);
        if (r < 0)
                return log_error_errno(r, "bootloader: %s: %m", src);
        return add_hook_file(ctx, root_fd, path, text, size, 0755, why);
}

/* The modules the build kept, and the hook that prunes a later kernel's to them. Nothing
 * without names (a prepared root, --root: no modules stage): no pruning in the VM either. */
static int install_modules_hook(BuildContext *ctx, int root_fd) {
        if (!ctx->config.modules_only_target || !ctx->modules_kept_names)
                return 0;
        Buffer keep = {};
        buffer_printf(&keep, "# The modules vmcompose kept (kernel.modules: target); a kernel "
                             "installed later keeps them too\n");
        for (char **n = ctx->modules_kept_names; n && *n; n++)
                buffer_printf(&keep, "%s\n", *n);
        int r = add_hook_script(ctx, root_fd, "vmcompose-modules",
                                "etc/kernel/postinst.d/00vmcompose-modules",
                                "a kernel package installed in the VM keeps the modules the build "
                                "kept (kernel.modules: target) and removes the rest before "
                                "initramfs-tools makes its initramfs");
        if (r == 0)
                r = add_hook_file(ctx, root_fd, "usr/lib/vmcompose/modules-keep", keep.data,
                                  keep.len, 0644,
                                  "the modules the build kept, one name a line, for "
                                  "/etc/kernel/postinst.d/00vmcompose-modules");
        buffer_done(&keep);
        return r;
}

/* NAME='VALUE', single-quoted for the shell that reads /usr/lib/vmcompose/kernel.conf (every
 * ' written '\''). */
static void conf_var(Buffer *conf, const char *name, const char *value) {
        buffer_printf(conf, "%s='", name);
        for (const char *t = value; *t; t++)
                buffer_printf(conf, *t == '\'' ? "'\\''" : "%c", *t);
        buffer_printf(conf, "'\n");
}

/* A kernel hook script of bootloader/kernel-hooks/, where it goes in the root, and why. */
typedef struct HookScript {
        const char *name, *path, *why;
} HookScript;

/* systemd-boot: the kernel and initramfs on the ESP, one BLS entry per kernel. */
static const HookScript bls_scripts[] = {
        {"zz-vmcompose", "etc/kernel/postinst.d/zz-vmcompose",
         "a kernel package installed in the VM gets its kernel and initramfs on the ESP and a BLS "
         "entry, the default when it is the newest: systemd-boot reads only the ESP, so without it "
         "an upgraded kernel package installs a kernel that never boots"},
        {"zz-vmcompose", "etc/kernel/postrm.d/zz-vmcompose",
         "a kernel package removed in the VM loses its ESP copies and entry, and the default moves "
         "to the newest kernel left"},
        {"zz-vmcompose", "etc/initramfs/post-update.d/zz-vmcompose",
         "update-initramfs run in the VM for a kernel on the ESP refreshes the ESP's initramfs, "
         "the "
         "one that boots"},
};

/* GRUB: the kernel stays in the root's /boot, and the configuration names the newest. */
static const HookScript grub_scripts[] = {
        {"zz-vmcompose-grub", "etc/kernel/postinst.d/zz-vmcompose-grub",
         "a kernel package installed in the VM becomes the kernel GRUB boots when it is the "
         "newest: the image's grub.cfg names one kernel, so without it an upgraded kernel package "
         "installs a kernel that never boots"},
        {"zz-vmcompose-grub", "etc/kernel/postrm.d/zz-vmcompose-grub",
         "a kernel package removed in the VM: GRUB boots the newest kernel left"},
};

static int add_hook_scripts(BuildContext *ctx, int root_fd, const HookScript *s, size_t n) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < n; i++)
                r = add_hook_script(ctx, root_fd, s[i].name, s[i].path, s[i].why);
        return r;
}

/* The BLS hook's settings: the command line and where the ESP is, with the entries' title. */
static int install_bls_settings(BuildContext *ctx, int root_fd, const char *cmdline) {
        _cleanup_free_ char *line = xasprintf("%s\n", cmdline);
        Buffer conf = {};
        buffer_printf(&conf, "# Written by vmcompose for /etc/kernel/postinst.d/zz-vmcompose\n"
                             "ESP=/boot/efi\n");
        conf_var(&conf, "TITLE", ctx->profile->name);
        int r = add_hook_file(ctx, root_fd, "etc/kernel/cmdline", line, strlen(line), 0644,
                              "the kernel command line of the image's entry, for the entries "
                              "the kernel hook writes (kernel-install's file)");
        if (r == 0)
                r = add_hook_file(ctx, root_fd, "usr/lib/vmcompose/kernel.conf", conf.data,
                                  conf.len, 0644,
                                  "where the kernel hook finds the ESP and the entries' title");
        buffer_done(&conf);
        return r;
}

/* The GRUB hook's settings: the image's grub.cfg with the kernel left open, and where it goes. */
static int install_grub_settings(BuildContext *ctx, int root_fd, const BootInputs *in) {
        BootParams p = boot_params(ctx, in);
        _cleanup_free_ char *text = NULL, *cfg = NULL;
        int r = bootloader_grub_hook_cfg(ctx->config.bootloader, &p, "/boot/efi", &text, &cfg);
        if (r < 0)
                return r;
        Buffer conf = {};
        buffer_printf(&conf,
                      "# Written by vmcompose for /etc/kernel/postinst.d/zz-vmcompose-grub\n");
        conf_var(&conf, "GRUB_CFG", cfg);
        r = add_hook_file(ctx, root_fd, "usr/lib/vmcompose/grub.cfg.in", text, strlen(text), 0644,
                          "the image's grub.cfg with the kernel's version and paths left open, "
                          "for the kernel hook");
        if (r == 0)
                r = add_hook_file(ctx, root_fd, "usr/lib/vmcompose/kernel.conf", conf.data,
                                  conf.len, 0644,
                                  "where the kernel hook writes the grub.cfg GRUB reads");
        buffer_done(&conf);
        return r;
}

/* A boot loader that reads BLS entries and the kernel from the ESP (systemd-boot) or GRUB's
 * one configuration needs them, and only for a family whose kernel packages run these hooks
 * (DistroOps). */
static int install_kernel_hooks(BuildContext *ctx, int root_fd, const BootInputs *in) {
        const BuildConfig *c = &ctx->config;
        bool bls = c->bootloader->kernel_on_esp && (c->bootloader->texts & BOOT_TEXT_BLS_ENTRY);
        bool grub = c->bootloader->texts & BOOT_TEXT_GRUB_CFG;

        if (!(bls || grub) || !c->distro->kernel_package_hooks) {
                log_info("bootloader: %s on %s: no kernel package hooks (a kernel installed in "
                         "the VM needs its boot entry made by hand)",
                         c->bootloader->name, c->distro->family);
                return 0;
        }
        int r = bls ? add_hook_scripts(ctx, root_fd, bls_scripts, ELEMENTSOF(bls_scripts))
                    : add_hook_scripts(ctx, root_fd, grub_scripts, ELEMENTSOF(grub_scripts));
        if (r == 0)
                r = install_modules_hook(ctx, root_fd);
        if (r == 0)
                r = bls ? install_bls_settings(ctx, root_fd, in->cmdline)
                        : install_grub_settings(ctx, root_fd, in);
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
        _cleanup_(boot_inputs_done) BootInputs in = {};
        if ((r = boot_inputs_load(ctx, &k, cmdline, &in)) < 0 || (r = make_boot_dirs(ctx)) < 0 ||
            (r = prepare_boot(ctx, root_fd, &in)) < 0 || (r = take_esp_files(ctx, root_fd)) < 0)
                return r;
        if (c->bootloader->kernel_on_esp && (r = remove_root_kernel(ctx, root_fd, &k)) < 0)
                return r;
        if ((r = install_kernel_hooks(ctx, root_fd, &in)) < 0)
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
