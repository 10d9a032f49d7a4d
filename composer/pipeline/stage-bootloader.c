/* SPDX-License-Identifier: MIT */
/* The bootloader stage: the kernel command line from the disk layout, the profile and the
 * kernel target; the ESP's contents; the boot report unit. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "stages.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/log.h"
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

static int install_ready_unit(const char *root) {
        _cleanup_free_ char *path = path_join(root, "etc/systemd/system/vmcompose-ready.service");
        int r = write_file_atomic(path, boot_ready_unit, strlen(boot_ready_unit), 0644);
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot write %s: %m", path);
        char *const argv[] = {(char *)"chroot",
                              (char *)root,
                              (char *)"systemctl",
                              (char *)"enable",
                              (char *)"vmcompose-ready.service",
                              NULL};
        Buffer out = {};
        r = spawn_run(argv, NULL, &out);
        if (r != 0)
                log_error("bootloader: systemctl enable vmcompose-ready.service failed:\n%s",
                          out.data ? out.data : "");
        buffer_done(&out);
        return r == 0 ? 0 : -EIO;
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
        r = boot_kernel_find(ctx->root_path, &k);
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
        BootParams params = {
                .root_dir = ctx->root_path,
                .esp_dir = ctx->esp_path,
                .kernel = &k,
                .cmdline = cmdline,
                .title = ctx->profile->name,
        };
        r = b->prepare(&params);
        if (r == 0)
                r = install_ready_unit(ctx->root_path);
        if (r == 0) {
                ctx->esp_dir = ctx->esp_path;
                log_info("bootloader: %s, kernel %s, command line: %s", b->name, k.version,
                         cmdline);
        }
        boot_kernel_done(&k);
        return r;
}
