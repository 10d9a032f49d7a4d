/* SPDX-License-Identifier: MIT */
/* The install stage: packages into a root, checked against the plan, then the profile's
 * system: section (composer/system/). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/containers.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"
#include "vmcompose/system.h"

/* strip.remove: paths a package's own scripts needed at configure time, removed now, with
 * whatever the package database keeps pointing at them (the backend's remove_path). */
static int remove_after_configure(const BuildContext *ctx) {
        const BuildConfig *c = &ctx->config;
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        for (size_t i = 0; c->strip_remove && c->strip_remove[i]; i++) {
                const char *path = c->strip_remove[i];
                Diagnostics diag = {};
                int r = c->distro->remove_path(ctx->root_path, root_fd, path, &diag);
                diag_print(&diag);
                diag_done(&diag);
                if (r < 0)
                        return log_error_errno(r, "policy: cannot remove %s: %m", path);
                log_info("policy: removed %s (strip.remove of policy %s)", path,
                         c->strip_remove_policy[i]);
        }
        return 0;
}

/* The roots the cache keeps (about 350 MB each for the minimal profile). */
#define ROOT_CACHE_KEEP 3

/* The backend's install_root, or the root the cache holds for the same inputs (the packages, their
 * digests and order, the path exclusions and the files written before configuration). */
static int install_from_cache(const BuildContext *ctx, const InstallPackage *pkgs,
                              const InstallOptions *o) {
        size_t n = ctx->plan.n_packages;
        _cleanup_free_ char *key = install_root_key(pkgs, n, o);
        int r;

        if (!ctx->no_root_cache) {
                r = install_root_cache_restore(ctx->cache, key, ctx->root_path);
                if (r > 0) {
                        log_notice("install: %zu packages: the root installed from them before "
                                   "(root cache %.12s), not installed again",
                                   n, key);
                        return 0;
                }
                if (r < 0)
                        log_warning_errno(r,
                                          "install: cannot copy the cached root %.12s (%m), "
                                          "installing, ignoring.",
                                          key);
        }
        Diagnostics diag = {};
        r = ctx->config.distro->install_root(ctx->root_path, pkgs, n, o, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0 || ctx->no_root_cache)
                return r;
        r = install_root_cache_store(ctx->cache, key, ctx->root_path, ROOT_CACHE_KEEP);
        if (r < 0)
                log_warning_errno(r,
                                  "install: cannot keep the root in the cache %s (%m), "
                                  "ignoring.",
                                  ctx->cache);
        else
                log_info("install: root kept in the root cache (%.12s)", key);
        return 0;
}

/* The logs, caches and seeds the build left behind go, and /etc/shadow's days are clamped
 * to source-date-epoch: the same inputs give the same root on any day (after the root cache
 * too, which keeps the root as the package manager left it). */
static int clean_build_records(BuildContext *ctx) {
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "install: cannot open %s: %m", ctx->root_path);
        int r = reproducible_clean_root(root_fd, ctx->timestamp, &ctx->build_records_removed);
        if (r < 0)
                return log_error_errno(r, "install: cannot remove the build's records from %s: %m",
                                       ctx->root_path);
        log_info("install: %zu build record(s) removed (logs, caches, seeds of this build)",
                 strv_length(ctx->build_records_removed));
        return 0;
}

/* The index a package was resolved from (PlanPackage.repo), or NULL. */
static const RepoIndex *package_index(const BuildContext *ctx, const PlanPackage *p) {
        for (size_t i = 0; p->repo && i < ctx->indexes.n; i++)
                if (streq(ctx->indexes.items[i].name, p->repo))
                        return &ctx->indexes.items[i];
        return NULL;
}

/* The plan's packages as the backend's install_root takes them (pointing into the plan). */
static InstallPackage *install_packages(const BuildContext *ctx) {
        InstallPackage *pkgs = xcalloc(ctx->plan.n_packages + 1, sizeof(InstallPackage));
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *p = &ctx->plan.packages[i];
                const RepoIndex *x = package_index(ctx, p);
                pkgs[i] = (InstallPackage){
                        .name = p->name,
                        .version = p->version,
                        .architecture = p->architecture,
                        .deb_path = ctx->debs[i].path,
                        .sha256 = p->sha256,
                        .essential = p->essential,
                        .depends = p->depends,
                        .pre_depends = p->pre_depends,
                        .signing_key = x ? x->package_key : NULL,
                        .unsigned_ok = x && x->packages_unsigned_ok,
                };
        }
        return pkgs;
}

/* The packages into the root (or the cached root of the same inputs), with the policy's
 * exclusions and the initramfs maker's settings. */
static int install_packages_into_root(const BuildContext *ctx) {
        const BuildConfig *c = &ctx->config;
        _cleanup_free_ InstallPackage *pkgs = install_packages(ctx);
        InstallFile *files = NULL;
        size_t n_files = 0;
        c->distro->initramfs_settings(
                &(DistroInitramfsSettings){.root_fstype = c->root_fstype,
                                           .drivers = c->target_drivers,
                                           .only_target_modules = c->initramfs_only_target},
                &files, &n_files);
        InstallOptions o = {
                .files = files,
                .n_files = n_files,
                .path_exclude = c->strip_exclude,
                .path_include = c->strip_include,
                .merged_usr = c->distro->merged_usr,
                .architecture = c->architecture,
                .no_initramfs = streq(c->initramfs, "vmcompose"),
                .source_date_epoch = ctx->timestamp,
        };
        int r = install_from_cache(ctx, pkgs, &o);
        for (size_t i = 0; i < n_files; i++)
                free((char *)files[i].content);
        free(files);
        return r;
}

int stage_install(BuildContext *ctx) {
        if (geteuid() != 0)
                return log_error_errno(EPERM, "install: installing packages needs root (chroot, "
                                              "mounts, file ownership)");
        int r = build_root_path(ctx, &ctx->root_path);
        if (r < 0)
                return r;

        r = install_packages_into_root(ctx);
        if (r < 0)
                return r;
        Diagnostics diag = {};
        r = ctx->config.distro->verify_installed(ctx->root_path, &ctx->plan, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0)
                return r;
        r = remove_after_configure(ctx);
        if (r < 0)
                return r;
        r = system_apply(ctx->root_path, ctx->config.system);
        if (r < 0)
                return r;
        r = containers_bake(ctx->root_path, ctx->containers, ctx->n_containers, ctx->timestamp);
        if (r < 0)
                return r;
        r = clean_build_records(ctx);
        if (r < 0)
                return r;
        /* From here on the stages work on this root. */
        ctx->root_dir = ctx->root_path;
        return 0;
}
