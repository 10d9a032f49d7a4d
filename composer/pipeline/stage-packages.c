/* SPDX-License-Identifier: MIT */
/* The package stages: repositories and resolution, then downloads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/hash.h"
#include "vmcompose/json.h"
#include "vmcompose/log.h"

static int load_indexes(BuildContext *ctx) {
        const BuildConfig *c = &ctx->config;
        RepoSources sources = {};
        Diagnostics diag = {};
        int r;

        ctx->cache = ctx->cache_dir ? xstrdup(ctx->cache_dir) : fetch_default_cache_dir();
        r = c->distro->repos_load(c->repositories, c->n_repositories,
                                  ctx->repo_config_dir ?: c->distro->default_config_root, &sources,
                                  &diag);
        diag_print(&diag);
        diag_done(&diag);
        for (size_t i = 0; r == 0 && i < sources.n; i++)
                r = c->distro->repos_fetch(&sources.items[i], c->architecture, ctx->cache,
                                           &ctx->indexes);
        repo_sources_done(&sources);
        return r;
}

static void yaml_kv(Buffer *b, const char *key, const char *value) {
        buffer_printf(b, "    %s: ", key);
        json_escape(b, value); /* a JSON string is a YAML double-quoted scalar */
        buffer_putc(b, '\n');
}

int build_write_lock(const BuildContext *ctx) {
        _cleanup_free_ char *path = build_lock_path(ctx);
        Buffer b = {};

        buffer_printf(&b,
                      "# vmcompose lock file for %s%s%s: vmcompose build --locked installs "
                      "exactly these packages.\n# Written by `vmcompose lock`; do not edit.\n",
                      ctx->profile_path, ctx->target ? " --target " : "",
                      ctx->target ? ctx->target : "");
        buffer_printf(&b, "profile: %s\narchitecture: %s\npackages:\n", ctx->profile->name,
                      ctx->config.architecture);
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *p = &ctx->plan.packages[i];
                buffer_puts(&b, "  - name: ");
                json_escape(&b, p->name);
                buffer_putc(&b, '\n');
                yaml_kv(&b, "version", p->version);
                yaml_kv(&b, "architecture", p->architecture);
                yaml_kv(&b, "sha256", p->sha256);
                buffer_printf(&b, "    size: %llu\n", (unsigned long long)p->size);
                yaml_kv(&b, "repository", p->repo);
        }
        int r = write_file_atomic(path, b.data, b.len, 0644);
        buffer_done(&b);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        log_notice("wrote %s (%zu packages)", path, ctx->plan.n_packages);
        return 0;
}

/* The plan the lock file pins (vmcompose build --locked), checked against the repositories. */
static int resolve_from_lock(BuildContext *ctx, const ResolveRepo *repos, size_t n_repos) {
        _cleanup_free_ char *lock = build_lock_path(ctx);
        ProfileLock pins = {};
        Diagnostics diag = {};
        Buffer problems = {};
        int r = profile_lock_read(lock, &pins, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r < 0 && r != -EBADMSG)
                return log_error_errno(r,
                                       "%s: cannot read the lock file (vmcompose lock writes it): "
                                       "%m",
                                       lock);
        _cleanup_free_ LockedPackage *locked = xcalloc(pins.n_pins + 1, sizeof(LockedPackage));
        for (size_t i = 0; i < pins.n_pins; i++)
                locked[i] = (LockedPackage){pins.pins[i].name, pins.pins[i].version,
                                            pins.pins[i].architecture, pins.pins[i].sha256};
        if (r == 0)
                r = resolve_locked(ctx->config.distro->resolver_family, repos, n_repos,
                                   ctx->config.architecture, locked, pins.n_pins, &ctx->plan,
                                   &problems);
        profile_lock_done(&pins);
        if (r < 0 && problems.data)
                log_error("resolve: %s no longer matches the repositories:\n%s", lock,
                          problems.data);
        buffer_done(&problems);
        return r;
}

/* The resolver's code for the plan cache's key: this binary's SHA-256 (the resolver is linked
 * into it; libsolv's version is in the key too). */
static int self_digest(char ret[65]) {
        _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        uint8_t d[SHA256_DIGEST_SIZE];
        int r = fd < 0 ? -errno : sha256_file(fd, d);
        if (r < 0)
                return r;
        sha256_hex(d, ret);
        return 0;
}

int stage_resolve(BuildContext *ctx) {
        const BuildConfig *c = &ctx->config;
        const char *family = c->distro->resolver_family;
        const char *arch = c->architecture;
        Buffer problems = {};
        int r;

        r = load_indexes(ctx);
        if (r < 0)
                return r;
        _cleanup_free_ ResolveRepo *repos = xcalloc(ctx->indexes.n + 1, sizeof(ResolveRepo));
        for (size_t i = 0; i < ctx->indexes.n; i++)
                repos[i] = (ResolveRepo){.name = ctx->indexes.items[i].name,
                                         .uri = ctx->indexes.items[i].uri,
                                         .packages_path = ctx->indexes.items[i].packages_path,
                                         .filelists_path = ctx->indexes.items[i].filelists_path,
                                         .comps_path = ctx->indexes.items[i].comps_path,
                                         .priority = ctx->indexes.items[i].priority,
                                         .cost = ctx->indexes.items[i].cost};

        if (ctx->locked)
                return resolve_from_lock(ctx, repos, ctx->indexes.n);

        ResolveRequest req = {
                .architecture = arch,
                .base = c->base,
                .install = c->install,
                .groups = c->groups,
                .remove = c->remove,
                .forbid = c->forbid,
                .n_forbid = c->n_forbid,
                .allow = c->allow,
                .recommends = c->recommends,
        };
        char digest[65] = "", key[65] = "";
        bool have_digest = self_digest(digest) == 0;
        r = resolve_plan_cached(ctx->no_root_cache ? NULL : ctx->cache, have_digest ? digest : NULL,
                                family, repos, ctx->indexes.n, &req, &ctx->plan, &problems, key);
        if (r < 0)
                log_error("resolve: the package set cannot be installed:\n%s",
                          problems.data ? problems.data : "");
        else if (r > 0)
                log_info("resolve: %zu packages: the plan solved before from the same indexes "
                         "and request (plan cache %.12s), not solved again",
                         ctx->plan.n_packages, key);
        else
                log_info("resolve: %zu packages", ctx->plan.n_packages);
        buffer_done(&problems);
        return r < 0 ? r : 0;
}

int stage_fetch(BuildContext *ctx) {
        FetchOptions o = {.cache_dir = ctx->cache, .parallel = ctx->parallel, .progress = true};
        FetchStats st;
        int r;

        ctx->debs = xcalloc(ctx->plan.n_packages + 1, sizeof(FetchItem));
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *p = &ctx->plan.packages[i];
                ctx->debs[i] = (FetchItem){
                        .name = p->name, .uri = p->uri, .sha256 = p->sha256, .size = p->size};
        }
        r = fetch_all(ctx->debs, ctx->plan.n_packages, &o, &st);
        if (r < 0)
                return r;
        log_info("fetch: %u downloaded (%.1f MiB), %u from the cache, %.1f s", st.n_downloaded,
                 (double)st.bytes_downloaded / (1 << 20), st.n_cached, st.seconds);
        return 0;
}
