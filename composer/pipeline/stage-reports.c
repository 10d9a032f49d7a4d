/* SPDX-License-Identifier: MIT */
/* The reports written next to the image: NAME.spdx.json, the SPDX 2.3 SBOM. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "stages.h"
#include "vmcompose/audit.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/node.h"
#include "vmcompose/repo.h"
#include "vmcompose/report.h"

/* Reads the root's /usr/share/doc/NAME/copyright, confined to the root. 0 with *ret filled
 * (expression NULL when the file is missing or not machine-readable), or a negative errno. */
static int package_license(int root_fd, const char *name, LicenseInfo *ret) {
        _cleanup_free_ char *path = xasprintf("usr/share/doc/%s/copyright", name);
        _cleanup_free_ char *text = NULL;

        *ret = (LicenseInfo){};
        int r = root_read_file(root_fd, path, 16u << 20, &text, NULL); /* none is larger */
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        _cleanup_free_ char *file = xasprintf("/%s", path);
        r = license_from_copyright(text, file, ret);
        return r == -EBADMSG ? 0 : r; /* a malformed file declares nothing we can read */
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
                r = deviations_refuse(missing);
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
        AuditImage status = {}; /* with --root: the packages dpkg lists in it */
        size_t n = ctx->plan.n_packages;
        int r = 0;

        if (root_fd < 0)
                return log_error_errno(errno, "reports: cannot open %s: %m", root);
        if (n == 0) {
                _cleanup_free_ char *text = NULL;
                _cleanup_free_ char *db = xasprintf("%s/var/lib/dpkg/status", root);
                r = root_read_file(root_fd, "var/lib/dpkg/status", 256u << 20, &text, NULL);
                if (r < 0 && r != -ENOENT)
                        return log_error_errno(r, "reports: cannot read %s: %m", db);
                if (r == 0 && (r = audit_parse_dpkg_status(text, &status)) < 0) {
                        audit_image_done(&status);
                        return log_error_errno(r, "reports: %s is malformed", db);
                }
                r = 0;
                n = status.n_packages;
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
                        const AuditPackage *a = &status.packages[i];
                        pkgs[i] = (SbomPackage){.name = a->name,
                                                .version = a->version,
                                                .architecture = a->architecture,
                                                .source = a->source};
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
        audit_image_done(&status);
        if (r < 0)
                return r;
        return write_deviations(ctx);
}
