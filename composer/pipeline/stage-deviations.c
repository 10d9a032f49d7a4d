/* SPDX-License-Identifier: MIT */
/* Collects the deviation report: what the profile layers above the upstream base change, read
 * from the resolved profile (every value carries the file and line it came from), the package
 * plan (what each added package pulled in) and the packages' archives (what the strip rules
 * kept out of the root). */
#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/containers.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/report.h"

typedef struct Collect {
        const BuildContext *ctx;
        DeviationReport *report;
        const char *base;
        char *cwd;
} Collect;

static bool upstream(const Collect *c, const ProfileValue *v) {
        /* Built-in defaults (line 0) and the base profile's own values are the upstream. */
        return !v->value || v->mark.line == 0 || !v->mark.file || streq(v->mark.file, c->base);
}

static char *where(const Collect *c, const Mark *m) {
        const char *f = m->file ? m->file : "?";
        size_t len = c->cwd ? strlen(c->cwd) : 0;
        if (len > 0 && strneq(f, c->cwd, len) && f[len] == '/')
                f += len + 1;
        return xasprintf("%s:%u", f, m->line);
}

/* A list item, with its own why: and category:. */
static void add_item(Collect *c, const char *kind, const ProfileValue *v, const char *detail) {
        if (upstream(c, v))
                return;
        _cleanup_free_ char *w = where(c, &v->mark);
        deviations_add(c->report, kind, v->value, w, v->why, v->category, detail);
}

static void add_list(Collect *c, const ProfileList *list, const char *kind) {
        for (size_t i = 0; i < list->n; i++)
                add_item(c, kind, &list->items[i], NULL);
}

/* A scalar setting, with the why: of the mapping around it in the file that set it. */
static void add_setting(Collect *c, const char *key, const ProfileValue *v, const char *kind,
                        const char *detail) {
        if (upstream(c, v))
                return;
        _cleanup_free_ char *w = where(c, &v->mark);
        _cleanup_free_ char *subject = xasprintf("%s: %s", key, v->value);
        deviations_add(c->report, kind, subject, w, v->why, v->category, detail);
}

/* The plan packages a requested package pulled in (not in the base, not requested). */
static char *pulled_in(const Plan *plan, const char *root, char ***claimed) {
        _cleanup_strv_free_ char **queue = NULL;
        Buffer b = {};
        size_t n = 0;

        strv_extend(&queue, root);
        for (size_t q = 0; queue[q]; q++) {
                const PlanPackage *p = plan_find(plan, queue[q]);
                if (!p)
                        continue;
                char **const lists[] = {p->depends, p->pre_depends};
                for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                        for (char **d = lists[l]; d && *d; d++) {
                                const PlanPackage *dp = plan_find(plan, *d);
                                if (!dp || !dp->reason ||
                                    !strneq(dp->reason, "dependency", strlen("dependency")) ||
                                    strv_contains(*claimed, *d))
                                        continue;
                                strv_extend(claimed, *d);
                                strv_extend(&queue, *d);
                                buffer_printf(&b, "%s%s", n++ ? ", " : "", *d);
                        }
        }
        if (n == 0)
                return NULL;
        char *s = xasprintf("+%zu dependenc%s: %s", n, n == 1 ? "y" : "ies", b.data);
        free(b.data);
        return s;
}

static void add_packages(Collect *c) {
        const ProfileConfig *pc = &c->ctx->profile->config;
        const Plan *plan = &c->ctx->plan;
        _cleanup_strv_free_ char **claimed = NULL;

        /* What the base needs itself is upstream, whichever added package also needs it. */
        for (size_t i = 0; i < plan->n_packages; i++)
                if (plan->packages[i].reason && strneq(plan->packages[i].reason, "base", 4)) {
                        strv_extend(&claimed, plan->packages[i].name);
                        free(pulled_in(plan, plan->packages[i].name, &claimed));
                }
        for (size_t i = 0; i < pc->install.n; i++) {
                const ProfileValue *v = &pc->install.items[i];
                _cleanup_free_ char *deps = pulled_in(plan, v->value, &claimed);
                add_item(c, "package-added", v, deps);
        }
        const ProfileValue *k = &pc->kernel_package;
        if (!upstream(c, k)) {
                _cleanup_free_ char *w = where(c, &k->mark);
                _cleanup_free_ char *deps = pulled_in(plan, k->value, &claimed);
                deviations_add(c->report, "package-added", k->value, w, k->why, k->category, deps);
        }
        /* What the boot loader needs in the root, documented by the boot loader table. */
        const ProfileValue *bl = &pc->bootloader;
        const Bootloader *b = bl->value ? bootloader_find(bl->value) : NULL;
        const char *const *boot = b ? distro_boot_packages(&c->ctx->config.distro_boot, b->name,
                                                           c->ctx->config.architecture)
                                    : NULL;
        for (const char *const *pk = !upstream(c, bl) ? boot : NULL; pk && *pk; pk++) {
                _cleanup_free_ char *w = where(c, &bl->mark);
                _cleanup_free_ char *why = xasprintf("the %s boot loader is assembled from it "
                                                     "(vmcompose's bootloader table)",
                                                     bl->value);
                _cleanup_free_ char *deps = pulled_in(plan, *pk, &claimed);
                deviations_add(c->report, "package-added", *pk, w, why, "platform", deps);
        }
        add_list(c, &pc->remove, "package-removed");
}

typedef struct StripRule {
        const char *pattern;
        Deviation *item;
        bool after_configure; /* strip.remove: unpacked, configured, then removed */
} StripRule;

typedef struct StripScan {
        StripRule *rules;
        size_t n_rules;
        char **keep;
        char **exclude;
} StripScan;

/* Files, links and the like, not directories: what the package database's verify reports
 * missing. */
static int on_member(const char *path, uint64_t size, bool directory, void *userdata) {
        StripScan *s = userdata;
        if (directory || !install_path_excluded(path, s->exclude, s->keep))
                return 0;
        for (size_t i = 0; i < s->n_rules; i++)
                if (fnmatch(s->rules[i].pattern, path, 0) == 0) {
                        s->rules[i].item->count++;
                        s->rules[i].item->bytes += size;
                        break;
                }
        return 0;
}

/* Counts and sums, per strip rule, the archive members that were never unpacked. */
static int add_stripped(Collect *c) {
        const BuildContext *ctx = c->ctx;
        StripScan s = {};
        int r = 0;

        for (size_t i = 0; i < ctx->profile->n_policies; i++) {
                const ProfilePolicy *pol = &ctx->profile->config.policy_rules[i];
                for (size_t j = 0; j < pol->strip_keep.n; j++)
                        strv_extend(&s.keep, pol->strip_keep.items[j].value);
                size_t n_paths = pol->strip_paths.n;
                for (size_t j = 0; j < n_paths + pol->strip_remove.n; j++) {
                        const ProfileValue *pat = j < n_paths
                                                          ? &pol->strip_paths.items[j]
                                                          : &pol->strip_remove.items[j - n_paths];
                        /* Without its own why:, the profile line that names the policy's. */
                        bool own = pat->why || !pol->named;
                        const char *why = own ? pat->why : pol->why;
                        const char *cat = own ? pat->category : pol->category;
                        _cleanup_free_ char *w = where(c, &pat->mark);
                        _cleanup_free_ char *subject =
                                xasprintf("%s (policy %s)", pat->value, pol->name);
                        s.rules = xrealloc(s.rules, (s.n_rules + 1) * sizeof(StripRule));
                        s.rules[s.n_rules++] = (StripRule){
                                .pattern = pat->value,
                                .item = deviations_add(c->report, "paths-stripped", subject, w, why,
                                                       cat, NULL),
                                .after_configure = j >= n_paths,
                        };
                        strv_extend(&s.exclude, pat->value);
                }
        }
        /* deviations_add may move the items: point the rules at them again. */
        size_t first = c->report->n - s.n_rules;
        for (size_t i = 0; i < s.n_rules; i++)
                s.rules[i].item = &c->report->items[first + i];

        for (size_t i = 0; s.n_rules > 0 && i < ctx->plan.n_packages && ctx->debs; i++) {
                /* From the cache when the package (its SHA-256) was listed before. */
                r = distro_package_members_cached(ctx->config.distro, ctx->cache,
                                                  ctx->debs[i].sha256, ctx->debs[i].path, on_member,
                                                  &s);
                if (r < 0)
                        break;
        }
        for (size_t i = 0; i < s.n_rules; i++) {
                Deviation *d = s.rules[i].item;
                free(d->detail);
                d->detail = ctx->debs ? xasprintf("%llu files, %.1f MiB %s",
                                                  (unsigned long long)d->count,
                                                  (double)d->bytes / (1 << 20),
                                                  s.rules[i].after_configure
                                                          ? "removed after configuration"
                                                          : "never unpacked")
                                      : xstrdup("not counted: the root was given with --root");
        }
        free(s.rules);
        strv_free(s.keep);
        strv_free(s.exclude);
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file an overlay directory puts into the root ("/etc/motd"), sorted. */
static void list_overlay(const char *dir, const char *rel, char ***ret) {
        _cleanup_free_ char *path = xasprintf("%s%s", dir, rel);
        DIR *d = opendir(path);
        char **names = NULL;
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        strv_extend(&names, de->d_name);
        closedir(d);
        if (names)
                qsort(names, strv_length(names), sizeof(char *), cmp_str);
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *sub = xasprintf("%s/%s", rel, *n);
                _cleanup_free_ char *full = xasprintf("%s%s", dir, sub);
                struct stat st;
                if (lstat(full, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode))
                        list_overlay(dir, sub, ret);
                else
                        strv_extend(ret, sub);
        }
        strv_free(names);
}

static void add_overlays(Collect *c) {
        const ProfileList *list = &c->ctx->profile->config.system.overlays;
        for (size_t i = 0; i < list->n; i++) {
                const ProfileValue *v = &list->items[i];
                if (upstream(c, v))
                        continue;
                _cleanup_strv_free_ char **files = NULL;
                list_overlay(v->value, "", &files);
                _cleanup_free_ char *w = where(c, &v->mark);
                _cleanup_free_ char *detail = xasprintf("from the overlay %s", v->value);
                for (char **f = files; f && *f; f++)
                        deviations_add(c->report, "file", *f, w, v->why, v->category, detail);
        }
}

/* kernel.modules: target: the modules the modules stage removed, counted. */
static void add_modules(Collect *c) {
        const BuildContext *ctx = c->ctx;
        if (!ctx->config.modules_only_target)
                return;
        size_t before = c->report->n;
        _cleanup_free_ char *detail =
                ctx->root_path
                        ? xasprintf("%llu modules, %.1f MiB removed from /lib/modules; "
                                    "%llu kept; the package database's verify lists them missing",
                                    (unsigned long long)ctx->modules_removed,
                                    (double)ctx->modules_removed_bytes / (1 << 20),
                                    (unsigned long long)ctx->modules_kept)
                        : xstrdup("not counted: the root was given with --root");
        add_setting(c, "modules", &c->ctx->profile->config.modules, "modules-removed", detail);
        if (c->report->n > before) {
                c->report->items[before].count = ctx->modules_removed;
                c->report->items[before].bytes = ctx->modules_removed_bytes;
        }
}

/* containers:: each baked image, with its digest and sizes once verified. */
static void add_containers(Collect *c) {
        const BuildContext *ctx = c->ctx;
        const ProfileConfig *pc = &ctx->profile->config;
        for (size_t i = 0; i < pc->n_containers; i++) {
                const char *name = pc->containers[i].name.value;
                const OciImage *img = NULL;
                for (size_t k = 0; k < ctx->n_containers && !img; k++)
                        if (streq(ctx->containers[k].name, name))
                                img = &ctx->containers[k];
                _cleanup_free_ char *detail = NULL;
                if (img) {
                        uint64_t bytes = img->manifest.size + img->config.size;
                        for (size_t l = 0; l < img->n_layers; l++)
                                bytes += img->layers[l].size;
                        detail = xasprintf(
                                "%s %s (%s), %zu layer(s), %.1f MiB in containerd's store (%s, "
                                "namespace %s, no import at boot); %s",
                                img->ref, img->manifest.digest, img->architecture, img->n_layers,
                                (double)bytes / (1 << 20), CONTAINERD_ROOT, CONTAINERD_NAMESPACE,
                                img->run_set ? "run at boot by ctr" : "not run");
                }
                add_item(c, "container-image", &pc->containers[i].name, detail);
        }
}

static void add_system(Collect *c) {
        const ProfileConfig *pc = &c->ctx->profile->config;
        const SystemConfig *sys = &pc->system;
        add_list(c, &pc->policies, "policy");
        add_list(c, &pc->allow, "policy-exception");
        add_setting(c, "hostname", &sys->hostname, "setting", NULL);
        add_setting(c, "locale", &sys->locale, "setting", NULL);
        add_setting(c, "timezone", &sys->timezone, "setting", NULL);
        for (size_t i = 0; i < sys->n_users; i++)
                add_item(c, "user", &sys->users[i].name, NULL);
        add_list(c, &sys->enable, "service-enabled");
        add_list(c, &sys->disable, "service-disabled");
        add_list(c, &sys->mask, "service-masked");
        add_list(c, &sys->generators_mask, "generator-masked");
        for (size_t i = 0; i < sys->n_files; i++)
                add_item(c, "file", &sys->files[i].path, NULL);
        for (size_t i = 0; i < sys->n_sysctl; i++)
                add_item(c, "sysctl", &sys->sysctl[i].name, NULL);
        add_overlays(c);
        add_list(c, &sys->scripts, "script");
        add_list(c, &pc->cmdline, "kernel-argument");
        add_setting(c, "initramfs-modules", &pc->initramfs_modules, "setting", NULL);
        add_modules(c);
        add_list(c, &pc->modules_keep, "module-kept");
        add_containers(c);
        add_setting(c, "initramfs", &pc->initramfs, "setting", NULL);
}

/* The build's own records the install stage removed (reproducible_clean_root()): each with
 * the table's why, at the profile line that asks for reproducible output. */
static void add_build_records(Collect *c) {
        const ProfileValue *sde = &c->ctx->profile->config.source_date_epoch;
        _cleanup_free_ char *w =
                sde->value && sde->mark.file ? where(c, &sde->mark) : xstrdup("built in");
        size_t n;
        const ReproducibleRemoval *table = reproducible_removals(&n);
        for (char **p = c->ctx->build_records_removed; p && *p; p++)
                for (size_t i = 0; i < n; i++)
                        if (streq(table[i].path, *p)) {
                                _cleanup_free_ char *subject = xasprintf("/%s", *p);
                                deviations_add(c->report, "build-record-removed", subject, w,
                                               table[i].why, "reproducibility", NULL);
                        }
}

/* The root's kernel and initramfs the bootloader stage removed (Bootloader.kernel_on_esp). */
static void add_kernel_on_esp(Collect *c) {
        const BuildContext *ctx = c->ctx;
        if (!ctx->kernel_root_removed)
                return;
        Buffer subject = {};
        for (char **p = ctx->kernel_root_removed; *p; p++)
                buffer_printf(&subject, "%s%s", subject.len ? ", " : "", *p);
        _cleanup_free_ char *detail =
                xasprintf("%.1f MiB; the ESP holds the only copy; the package database's verify "
                          "lists the kernel package's "
                          "/boot file missing",
                          (double)ctx->kernel_root_removed_bytes / (1 << 20));
        const ProfileValue *bl = &ctx->profile->config.bootloader;
        _cleanup_free_ char *w = bl->value ? where(c, &bl->mark) : xstrdup("bootloader");
        Deviation *d = deviations_add(
                c->report, "kernel-root-copy-removed", subject.data, w,
                "the boot loader reads the kernel and initramfs from the ESP (FAT, which the "
                "firmware reads), so the root's copies were never read: the entry keeps the ESP's "
                "copy rather than pointing at the root's, which would need an ext4 driver for the "
                "firmware (none in Debian, and one more binary Secure Boot must trust)",
                "size", detail);
        d->count = strv_length(ctx->kernel_root_removed);
        d->bytes = ctx->kernel_root_removed_bytes;
        buffer_done(&subject);
}

/* A repository whose packages' signatures are not checked (rpm-md's gpgcheck: false) is a
 * security deviation wherever it is declared, the base profile included. */
static void add_unchecked_signatures(Collect *c) {
        const BuildConfig *bc = &c->ctx->config;
        for (size_t i = 0; i < bc->n_repositories; i++) {
                const ProfileRepository *r = &bc->repositories[i];
                if (r->system || r->gpgcheck)
                        continue;
                _cleanup_free_ char *w = where(c, &r->mark);
                deviations_add(c->report, "package-signatures-unchecked", r->uri, w,
                               "the repository says gpgcheck: false: its packages are installed "
                               "without checking their signatures",
                               "security", NULL);
        }
}

/* The kernel packages' hooks and their data (stage-bootloader.c's install_kernel_hooks()). */
static void add_kernel_hooks(Collect *c) {
        const BuildContext *ctx = c->ctx;
        const ProfileValue *bl = &ctx->profile->config.bootloader;
        _cleanup_free_ char *w = bl->value ? where(c, &bl->mark) : xstrdup("bootloader");
        for (size_t i = 0; ctx->kernel_hooks_added && ctx->kernel_hooks_added[i]; i++)
                deviations_add(c->report, "kernel-hook-added", ctx->kernel_hooks_added[i], w,
                               ctx->kernel_hooks_why[i], "platform", NULL);
}

int deviations_collect(const BuildContext *ctx, bool with_plan, DeviationReport *ret) {
        DeviationReport report = {};
        Collect c = {
                .ctx = ctx,
                .report = &report,
                .base = ctx->profile->layers ? ctx->profile->layers[0] : "",
                .cwd = getcwd(NULL, 0),
        };
        int r = 0;

        report.image = xstrdup(ctx->image_name);
        report.root_given = !ctx->root_path;
        _cleanup_free_ char *base = where(&c, &(Mark){.file = c.base});
        base[strlen(base) - 2] = 0; /* drop the ":0" */
        report.base = xstrdup(base);
        add_system(&c);
        add_packages(&c);
        add_build_records(&c);
        add_kernel_on_esp(&c);
        add_unchecked_signatures(&c);
        add_kernel_hooks(&c);
        if (with_plan)
                r = add_stripped(&c);
        free(c.cwd);
        if (r < 0) {
                deviation_report_done(&report);
                return r;
        }
        *ret = report;
        return 0;
}

int deviations_check_strict(const BuildContext *ctx) {
        DeviationReport report = {};
        int r = deviations_collect(ctx, false, &report);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **missing = deviations_undocumented(&report);
        deviation_report_done(&report);
        return deviations_refuse(missing);
}

int deviations_refuse(char **missing) {
        if (!missing)
                return 0;
        log_error("audit: %zu deviation%s from the base profile carr%s no why: "
                  "(--strict-audit):",
                  strv_length(missing), strv_length(missing) == 1 ? "" : "s",
                  strv_length(missing) == 1 ? "ies" : "y");
        for (char **m = missing; *m; m++)
                log_error("  %s", *m);
        return -EBADMSG;
}
