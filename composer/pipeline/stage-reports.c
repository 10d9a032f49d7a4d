/* SPDX-License-Identifier: MIT */
/* The reports written next to the image: NAME.spdx.json, the SPDX 2.3 SBOM. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "stages.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/node.h"
#include "vmcompose/repo.h"
#include "vmcompose/report.h"

/* Reads the root's /usr/share/doc/NAME/copyright, confined to the root. 0 with *ret filled
 * (expression NULL when the file is missing or not machine-readable), or a negative errno. */
static int package_license(int root_fd, const char *name, LicenseInfo *ret) {
        _cleanup_free_ char *path = xasprintf("usr/share/doc/%s/copyright", name);
        _cleanup_close_ int fd = install_open_in_root(root_fd, path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        Buffer b = {};
        char buf[65536];

        *ret = (LicenseInfo){};
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(b.data);
                        return -errno;
                }
                if (n == 0)
                        break;
                if (b.len + (size_t)n > (16u << 20)) { /* no copyright file is that large */
                        free(b.data);
                        return -EFBIG;
                }
                buffer_append(&b, buf, (size_t)n);
        }
        text = b.data ? b.data : xstrdup("");
        _cleanup_free_ char *file = xasprintf("/%s", path);
        int r = license_from_copyright(text, file, ret);
        return r == -EBADMSG ? 0 : r; /* a malformed file declares nothing we can read */
}

/* The packages dpkg lists in a root given with --root (no plan: no checksums, no sources). */
typedef struct StatusPackages {
        char **fields; /* name, version, arch, source: four strings per package */
        size_t n;
} StatusPackages;

static int on_status(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        StatusPackages *s = userdata;
        const char *status = deb822_get(f, n, "Status");
        const char *name = deb822_get(f, n, "Package");
        (void)line;
        if (!name || !status || !strstr(status, " installed"))
                return 0;
        const char *source = deb822_get(f, n, "Source");
        strv_extend(&s->fields, name);
        strv_extend(&s->fields, deb822_get(f, n, "Version") ?: "");
        strv_extend(&s->fields, deb822_get(f, n, "Architecture") ?: "");
        /* "Source: name (version)" when the versions differ. */
        strv_push(&s->fields, source ? xstrndup(source, strcspn(source, " ")) : xstrdup(name));
        s->n++;
        return 0;
}

static int write_report(BuildContext *ctx, const char *suffix, const char *text) {
        _cleanup_free_ char *path = build_output_path(ctx, suffix);
        int r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "reports: cannot write %s: %m", path);
        strv_extend(&ctx->written, path);
        log_notice("wrote %s", path);
        return 0;
}

/* NAME.deviations.json and .md; with --strict-audit, an undocumented item fails the build. */
static int write_deviations(BuildContext *ctx) {
        DeviationReport report = {};
        int r = deviations_collect(ctx, ctx->plan.n_packages > 0, &report);
        if (r < 0)
                return log_error_errno(r, "reports: cannot collect the deviations: %m");
        _cleanup_free_ char *json = deviations_json(&report);
        _cleanup_free_ char *md = deviations_markdown(&report);
        _cleanup_strv_free_ char **missing = deviations_undocumented(&report);
        deviation_report_done(&report);
        r = write_report(ctx, "deviations.json", json);
        if (r == 0)
                r = write_report(ctx, "deviations.md", md);
        if (r == 0 && missing && ctx->strict_audit)
                r = deviations_check_strict(ctx);
        else if (r == 0 && missing)
                log_warning("audit: %zu deviation%s without a why: (listed as undocumented in "
                            "the report)",
                            strv_length(missing), strv_length(missing) == 1 ? "" : "s");
        return r;
}

int stage_reports(BuildContext *ctx) {
        const char *root = ctx->root_path ? ctx->root_path : ctx->root_dir;
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *path = build_output_path(ctx, "spdx.json");
        StatusPackages status = {};
        size_t n = ctx->plan.n_packages;
        int r = 0;

        if (root_fd < 0)
                return log_error_errno(errno, "reports: cannot open %s: %m", root);
        if (n == 0) {
                _cleanup_free_ char *text = NULL;
                _cleanup_free_ char *db = xasprintf("%s/var/lib/dpkg/status", root);
                r = read_full_file(db, 256u << 20, &text, NULL);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "reports: cannot read %s: %m", db);
                if (r == 0 && (r = deb822_parse(text, on_status, &status)) < 0)
                        return log_error_errno(r, "reports: %s is malformed", db);
                r = 0;
                n = status.n;
        }

        SbomPackage *pkgs = xcalloc(n + 1, sizeof(SbomPackage));
        LicenseInfo *licenses = xcalloc(n + 1, sizeof(LicenseInfo));
        size_t found = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                if (ctx->plan.n_packages > 0) {
                        const PlanPackage *p = &ctx->plan.packages[i];
                        pkgs[i] = (SbomPackage){
                                .name = p->name,
                                .version = p->version,
                                .architecture = p->architecture,
                                .source = p->source,
                                .sha256 = p->sha256,
                                .download = p->uri,
                                .depends = p->depends,
                        };
                } else {
                        char **f = status.fields + 4 * i;
                        pkgs[i] = (SbomPackage){.name = f[0],
                                                .version = f[1],
                                                .architecture = f[2],
                                                .source = f[3]};
                }
                r = package_license(root_fd, pkgs[i].name, &licenses[i]);
                if (r < 0)
                        log_error_errno(r, "reports: cannot read the copyright file of %s: %m",
                                        pkgs[i].name);
                pkgs[i].license = &licenses[i];
                found += licenses[i].expression != NULL;
        }

        if (r == 0) {
                const Node *rel = node_lookup(ctx->profile->tree, "distro.release");
                const char *release = rel && rel->type == NODE_SCALAR ? rel->scalar : NULL;
                _cleanup_free_ char *tool = xasprintf("vmcompose-%s", VMCOMPOSE_VERSION);
                SbomInput in = {
                        .image_name = ctx->image_name,
                        .distro = release,
                        .namespace_seed = ctx->seed,
                        .created = ctx->timestamp ? ctx->timestamp : (uint64_t)time(NULL),
                        .tool = tool,
                        .packages = pkgs,
                        .n_packages = n,
                };
                _cleanup_free_ char *json = sbom_spdx_json(&in);
                r = write_file_atomic(path, json, strlen(json), 0644);
                if (r < 0)
                        log_error_errno(r, "reports: cannot write %s: %m", path);
                else {
                        strv_extend(&ctx->written, path);
                        log_notice("wrote %s (%zu packages, %zu with a machine-readable licence)",
                                   path, n, found);
                }
        }
        for (size_t i = 0; i < n; i++)
                license_info_done(&licenses[i]);
        free(licenses);
        free(pkgs);
        strv_free(status.fields);
        if (r < 0)
                return r;
        return write_deviations(ctx);
}
