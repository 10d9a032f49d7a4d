/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/pipeline.h"
#include "vmcompose/signals.h"

#include "stages.h"

static int stage_profile(BuildContext *ctx) {
        const Profile *p = ctx->profile;

        build_config_reproducible(p, &ctx->seed, &ctx->timestamp);
        Diagnostics diag = {};
        int r = build_config_load(p, ctx->seed, &ctx->config, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0)
                return r;
        log_info("profile: %s from %zu layer(s), %zu policy file(s), seed '%s'", p->name,
                 strv_length(p->layers), p->n_policies, ctx->seed);
        /* Refuse an undocumented deviation before any work, not after the image is built. */
        if (ctx->strict_audit)
                return deviations_check_strict(ctx);
        return 0;
}

int build_tmp_dir(BuildContext *ctx, const char **ret) {
        if (!ctx->tmp_dir) {
                char *t = path_join(ctx->output_dir, ".vmcompose-XXXXXX");
                if (!mkdtemp(t)) {
                        int r = -errno;
                        free(t);
                        return log_error_errno(r,
                                               "Failed to create a temporary directory in %s: %m",
                                               ctx->output_dir);
                }
                ctx->tmp_dir = t;
        }
        *ret = ctx->tmp_dir;
        return 0;
}

char *build_lock_path(const BuildContext *ctx) {
        _cleanup_free_ char *dir = path_dirname(ctx->profile_path);
        _cleanup_free_ char *file = xasprintf("%s.lock", ctx->image_name);
        return path_join(dir, file);
}

/* The whole build on one screen. */
static const Stage stages[] = {
        {"profile", "load the profile and its overlays", stage_profile, STAGE_REQUIRED, NULL},
        {"resolve", "resolve the package set with libsolv", stage_resolve,
         STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"fetch", "download and verify packages", stage_fetch, STAGE_REQUIRED | STAGE_MAKES_ROOT,
         NULL},
        {"install", "unpack and configure packages in a root", stage_install,
         STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"policy", "verify the root against the profile's policies", stage_policy,
         STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"modules", "remove the kernel modules the target does not need (kernel.modules)",
         stage_modules, STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"bootloader", "install kernel, initramfs and bootloader", stage_bootloader,
         STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"disk", "partition, build filesystems from directories, verify", stage_disk,
         STAGE_REQUIRED, NULL},
        {"bootcode", "write boot code outside the filesystems (GRUB for BIOS)", stage_bootcode,
         STAGE_REQUIRED | STAGE_MAKES_ROOT, NULL},
        {"outputs", "write the image formats", stage_outputs, STAGE_REQUIRED, NULL},
        {"lint", "check the platform's offline rules (Azure: VHD, drivers, ...; Hyper-V: drivers)",
         stage_lint, STAGE_REQUIRED, NULL},
        {"manifest", "write NAME.manifest.json: packages, kernel, disk, outputs", stage_manifest,
         STAGE_REQUIRED, NULL},
        {"reports", "write NAME.spdx.json (SPDX 2.3 SBOM) and NAME.deviations.{json,md}",
         stage_reports, STAGE_REQUIRED, NULL},
};

const Stage *pipeline_stages(size_t *ret_n) {
        *ret_n = ELEMENTSOF(stages);
        return stages;
}

char *build_output_path(const BuildContext *ctx, const char *suffix) {
        _cleanup_free_ char *file = xasprintf("%s.%s", ctx->image_name, suffix);
        return path_join(ctx->output_dir, file);
}

static void remove_written(BuildContext *ctx) {
        for (char **w = ctx->written; w && *w; w++)
                (void)unlink(*w);
        ctx->written = strv_free(ctx->written);
        ctx->written_sha256 = strv_free(ctx->written_sha256);
}

void build_context_done(BuildContext *ctx) {
        if (ctx->tmp_dir) {
                int r = rm_rf(ctx->tmp_dir);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove %s: %m", ctx->tmp_dir);
        }
        free(ctx->tmp_dir);
        ctx->tmp_dir = NULL;
        free(ctx->raw_path);
        ctx->raw_path = NULL;
        free(ctx->seed);
        ctx->seed = NULL;
        free(ctx->cache);
        ctx->cache = NULL;
        free(ctx->root_path);
        ctx->root_path = NULL;
        free(ctx->esp_path);
        ctx->esp_path = NULL;
        free(ctx->boot_work);
        ctx->boot_work = NULL;
        free(ctx->kernel_version);
        free(ctx->kernel_cmdline);
        ctx->kernel_version = ctx->kernel_cmdline = NULL;
        ctx->initramfs_modules = strv_free(ctx->initramfs_modules);
        ctx->build_records_removed = strv_free(ctx->build_records_removed);
        ctx->kernel_root_removed = strv_free(ctx->kernel_root_removed);
        ctx->kernel_hooks_added = strv_free(ctx->kernel_hooks_added);
        ctx->modules_kept_names = strv_free(ctx->modules_kept_names);
        ctx->kernel_hooks_why = strv_free(ctx->kernel_hooks_why);
        repo_indexes_done(&ctx->indexes);
        for (size_t i = 0; ctx->debs && i < ctx->plan.n_packages; i++)
                free(ctx->debs[i].path);
        free(ctx->debs);
        ctx->debs = NULL;
        plan_done(&ctx->plan);
        build_config_done(&ctx->config);
        ctx->written = strv_free(ctx->written);
        ctx->written_sha256 = strv_free(ctx->written_sha256);
}

int pipeline_run(BuildContext *ctx) {
        /* The install stage sets root_dir too: only a root given from the start skips. */
        const bool root_given = ctx->root_dir != NULL;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
                const Stage *s = &stages[i];

                if (signals_interrupted()) {
                        r = -EINTR;
                        break;
                }
                if (root_given && (s->flags & STAGE_MAKES_ROOT)) {
                        log_notice("stage %-10s skipped: --root %s is used as it is", s->name,
                                   ctx->root_dir);
                        continue;
                }
                if (!s->run && !(s->flags & STAGE_REQUIRED)) {
                        log_warning("stage %s (%s) is not implemented yet (%s): skipped", s->name,
                                    s->summary, s->tracked_in);
                        continue;
                }
                if (!s->run) {
                        Buffer rest = {};
                        for (size_t j = i; j < ELEMENTSOF(stages); j++)
                                if (!root_given || !(stages[j].flags & STAGE_MAKES_ROOT))
                                        buffer_printf(&rest, "%s%s", rest.len ? ", " : "",
                                                      stages[j].name);
                        log_error("build stopped before stage '%s' (%s): it is not implemented "
                                  "yet, see %s.",
                                  s->name, s->summary, s->tracked_in);
                        log_error("Stages not run: %s. No image was written (vmcompose build "
                                  "--root DIR builds the disk from a prepared root).",
                                  rest.data);
                        buffer_done(&rest);
                        r = -ENOSYS;
                        break;
                }
                log_info("stage %s: %s", s->name, s->summary);
                r = s->run(ctx);
                if (r == 0 && signals_interrupted())
                        r = -EINTR;
                if (r < 0)
                        break;
                log_notice("stage %-10s done", s->name);
                if (ctx->stop_after && streq(ctx->stop_after, s->name))
                        break;
        }
        if (r < 0)
                remove_written(ctx);
        return r;
}
