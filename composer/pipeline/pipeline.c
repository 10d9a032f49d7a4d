/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "vmcompose/containers.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/pipeline.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"
#include "vmcompose/util.h"
#include "vmcompose/workdir.h"

#include "stages.h"

static bool runs_stage(const BuildContext *ctx, const char *name);

/* The programs of another architecture (the package manager, maintainer scripts) run in the root
 * through qemu-user's binfmt_misc handler: without one, refuse before anything is downloaded. */
static int check_binfmt(const BuildContext *ctx) {
        const Arch *a = ctx->config.arch;
        if (ctx->root_dir || !arch_is_foreign(a) || !runs_stage(ctx, "install"))
                return 0;
        const char *name = arch_binfmt_handler(a), *why = NULL;
        int r = arch_binfmt_check(NULL, name, &why);
        if (r < 0) {
                _cleanup_free_ char *fix = arch_binfmt_fix(NULL, name);
                log_error("install: %s programs run on this %s host through qemu-user-static, but "
                          "%s (/proc/sys/fs/binfmt_misc/%s). Register it with:\n    %s",
                          a->name, arch_host() ? arch_host()->name : "other", why, name, fix);
                return -ENOEXEC;
        }
        log_info("install: %s programs run through binfmt_misc's %s (F flag)", a->name, name);
        return 0;
}

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
        r = check_binfmt(ctx);
        if (r < 0)
                return r;
        /* Refuse an undocumented deviation before any work, not after the image is built. */
        if (ctx->strict_audit)
                return deviations_check_strict(ctx);
        return 0;
}

/* The profile's containers: every blob's digest and size, and the architecture, checked before
 * any package is fetched. */
static int stage_containers(BuildContext *ctx) {
        const ProfileConfig *pc = &ctx->profile->config;
        const char *tmp = NULL;
        if (pc->n_containers == 0)
                return 0;
        if (ctx->root_dir)
                /* The install stage bakes them; a root given with --root is used as it is. */
                return log_error_errno(EINVAL,
                                       "%s:%u: containers: cannot be baked into a root given "
                                       "with --root (the install stage writes them)",
                                       pc->containers_mark.file, pc->containers_mark.line);
        int r = build_tmp_dir(ctx, &tmp);
        if (r < 0)
                return r;
        r = containers_load(pc->containers, pc->n_containers, ctx->config.architecture, tmp,
                            &ctx->containers, &ctx->n_containers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ctx->n_containers; i++) {
                const OciImage *img = &ctx->containers[i];
                uint64_t bytes = img->manifest.size + img->config.size;
                for (size_t l = 0; l < img->n_layers; l++)
                        bytes += img->layers[l].size;
                log_info("containers: %s (%s) %s, %zu layer(s), %" PRIu64 " bytes verified",
                         img->name, img->ref, img->manifest.digest, img->n_layers, bytes);
        }
        return 0;
}

/* TMP/mem as a tmpfs when VMCOMPOSE_TMPFS allows it and there is memory to spare
 * (core/workdir.c). Returns 1 when mounted, 0 when not, -EINVAL (logged) for a bad value. */
static int mount_mem_dir(BuildContext *ctx, const char *dir) {
        const char *env = getenv("VMCOMPOSE_TMPFS");
        _cleanup_free_ char *meminfo = NULL;
        uint64_t available = 0, size = 0;
        bool use = false;

        if (read_full_file("/proc/meminfo", 1 << 20, &meminfo, NULL) < 0 ||
            workdir_parse_meminfo(meminfo, &available) < 0)
                available = 0;
        if (workdir_tmpfs_decide(env, available, &use, &size) < 0)
                return log_error_errno(EINVAL, "VMCOMPOSE_TMPFS=%s: expected 0 or auto", env);
        if (!use || geteuid() != 0 || mkdir(dir, 0700) < 0)
                return 0;
        int r = workdir_mount_tmpfs(dir, size);
        if (r <= 0) {
                (void)rmdir(dir);
                return r < 0 ? log_error_errno(r, "Failed to mount a tmpfs on %s: %m", dir) : 0;
        }
        log_info("build: the root in memory (a tmpfs of at most %.1f GiB on %s; "
                 "VMCOMPOSE_TMPFS=0 keeps it on the disk)",
                 (double)size / (1 << 30), dir);
        return 1;
}

int build_root_path(BuildContext *ctx, char **ret) {
        const char *tmp = NULL;
        int r = build_tmp_dir(ctx, &tmp);
        if (r < 0)
                return r;
        _cleanup_free_ char *mem = path_join(tmp, "mem");
        r = ctx->mem_dir ? 1 : mount_mem_dir(ctx, mem);
        if (r < 0)
                return r;
        if (r > 0 && !ctx->mem_dir)
                ctx->mem_dir = TAKE_PTR(mem);
        *ret = path_join(ctx->mem_dir ?: tmp, "root");
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
        {"containers", "verify the profile's container images (digests, sizes, architecture)",
         stage_containers, STAGE_REQUIRED, NULL},
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

/* Whether the build runs the stage name: it comes before or at --until's. */
static bool runs_stage(const BuildContext *ctx, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
                if (streq(stages[i].name, name))
                        return true;
                if (ctx->stop_after && streq(stages[i].name, ctx->stop_after))
                        return false;
        }
        return false;
}

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
        if (ctx->mem_dir) {
                /* The root in memory goes in one umount (rm_rf below if that fails). */
                int r = workdir_unmount(ctx->mem_dir);
                if (r < 0)
                        log_debug_sub("workdir", "umount %s: %s", ctx->mem_dir, strerror(-r));
        }
        free(ctx->mem_dir);
        ctx->mem_dir = NULL;
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
        oci_images_free(ctx->containers, ctx->n_containers);
        ctx->containers = NULL;
        ctx->n_containers = 0;
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
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                r = s->run(ctx);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (r == 0 && signals_interrupted())
                        r = -EINTR;
                if (r < 0)
                        break;
                /* The stage's wall time: where a build's seconds go. */
                log_notice("stage %-10s done in %.2f s", s->name,
                           (double)(t1.tv_sec - t0.tv_sec) +
                                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
                if (ctx->stop_after && streq(ctx->stop_after, s->name))
                        break;
        }
        if (r < 0)
                remove_written(ctx);
        return r;
}
