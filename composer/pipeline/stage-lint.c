/* SPDX-License-Identifier: MIT */
/* The lint stage: the platform lint of the kernel target's platform (composer/lint/). */
#include <fcntl.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/log.h"

int stage_lint(BuildContext *ctx) {
        const char *name = ctx->config.target_name;
        const LintPlatform *platform = lint_platform_find(name);
        if (!platform) {
                log_info("lint: no platform lint for %s", name ? name : "this image");
                return 0;
        }

        _cleanup_strv_free_ char **packages = NULL, **problems = NULL;
        for (size_t i = 0; i < ctx->plan.n_packages; i++)
                strv_extend(&packages, ctx->plan.packages[i].name);
        _cleanup_close_ int root_fd =
                ctx->root_dir ? open(ctx->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        LintFacts f = {
                .outputs = ctx->written,
                .initramfs_modules = ctx->initramfs_modules,
                .cmdline = ctx->kernel_cmdline,
                .packages = packages,
                .layout = &ctx->config.layout,
                .root_fd = root_fd,
                .kernel_version = ctx->kernel_version,
                .arch = ctx->config.arch,
                .target_drivers = ctx->config.target_drivers,
        };
        unsigned checks = platform->run(&f, &problems);
        if (problems) {
                for (char **p = problems; *p; p++)
                        log_error("lint %s: %s", name, *p);
                return log_error_errno(EBADMSG, "lint %s: %zu of the image's %s rules fail", name,
                                       strv_length(problems), platform->title);
        }
        Buffer drivers = {};
        for (char **d = ctx->config.target_drivers; d && *d; d++)
                buffer_printf(&drivers, " %s", *d);
        if (drivers.len > 0)
                log_info("lint %s: the kernel target's drivers are in the initramfs:%s", name,
                         drivers.data);
        buffer_done(&drivers);
        log_notice("lint %s: ok (%u checks: %s)", name, checks, platform->checks);
        return 0;
}
