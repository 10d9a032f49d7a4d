/* SPDX-License-Identifier: MIT */
/* The reports written next to the image: NAME.spdx.json, the SPDX 2.3 SBOM. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "stages.h"
#include "vmcompose/containers.h"
#include "vmcompose/audit.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/node.h"
#include "vmcompose/repo.h"
#include "vmcompose/report.h"

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

/* The SBOM's packages: the plan's, or (with --root) those the root's database lists, each with
 * the licence it declares in the root. Returns the number with a machine-readable licence, or
 * a negative errno (logged). */
static int sbom_packages(const BuildContext *ctx, int root_fd, const AuditImage *status, size_t n,
                         SbomPackage *pkgs, LicenseInfo *licenses) {
        int found = 0;
        for (size_t i = 0; i < n; i++) {
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
                        const AuditPackage *a = &status->packages[i];
                        pkgs[i] = (SbomPackage){.name = a->name,
                                                .version = a->version,
                                                .architecture = a->architecture,
                                                .source = a->source};
                }
                int r = ctx->config.distro->package_license(root_fd, pkgs[i].name, &licenses[i]);
                if (r < 0)
                        return log_error_errno(r,
                                               "reports: cannot read the copyright file of %s: %m",
                                               pkgs[i].name);
                pkgs[i].license = &licenses[i];
                found += licenses[i].expression != NULL;
        }
        return found;
}

/* NAME.spdx.json for the n packages. */
static int write_sbom(BuildContext *ctx, const SbomPackage *pkgs, size_t n, int found) {
        _cleanup_free_ char *path = build_output_path(ctx, "spdx.json");
        _cleanup_free_ char *tool = xasprintf("vmcompose-%s", VMCOMPOSE_VERSION);
        SbomInput in = {
                .image_name = ctx->image_name,
                .distro = ctx->config.release,
                .purl = ctx->config.distro->purl,
                .namespace_seed = ctx->seed,
                .created = ctx->timestamp ? ctx->timestamp : (uint64_t)time(NULL),
                .tool = tool,
                .packages = pkgs,
                .n_packages = n,
        };
        _cleanup_free_ char *json = sbom_spdx_json(&in);
        int r = write_file_atomic(path, json, strlen(json), 0644);
        if (r < 0)
                return log_error_errno(r, "reports: cannot write %s: %m", path);
        strv_extend(&ctx->written, path);
        log_notice("wrote %s (%zu packages, %d with a machine-readable licence)", path, n, found);
        return 0;
}

int stage_reports(BuildContext *ctx) {
        const char *root = ctx->root_path ? ctx->root_path : ctx->root_dir;
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        AuditImage status = {}; /* with --root: the packages its database lists */
        size_t n = ctx->plan.n_packages;
        int r = 0;

        if (root_fd < 0)
                return log_error_errno(errno, "reports: cannot open %s: %m", root);
        if (n == 0) {
                r = ctx->config.distro->read_installed(root_fd, &status);
                if (r < 0) {
                        audit_image_done(&status);
                        return log_error_errno(r,
                                               "reports: cannot read the package database in "
                                               "%s: %m",
                                               root);
                }
                n = status.n_packages;
        }
        size_t n_all = n + ctx->n_containers;
        SbomPackage *pkgs = xcalloc(n_all + 1, sizeof(SbomPackage));
        LicenseInfo *licenses = xcalloc(n + 1, sizeof(LicenseInfo));
        char **strings = NULL; /* the container packages' purls and comments */
        r = sbom_packages(ctx, root_fd, &status, n, pkgs, licenses);
        for (size_t i = 0; r >= 0 && i < ctx->n_containers; i++) {
                const OciImage *img = &ctx->containers[i];
                char *purl = oci_purl(img);
                char *comment = xasprintf("container image baked into containerd's store "
                                          "(%s), declared at %s",
                                          CONTAINERD_ROOT, img->where);
                strv_push(&strings, purl);
                strv_push(&strings, comment);
                pkgs[n + i] = (SbomPackage){
                        .name = img->ref,
                        .version = img->manifest.digest,
                        .architecture = img->architecture,
                        .sha256 = img->manifest.digest + 7,
                        .purl = purl,
                        .supplier = "NOASSERTION",
                        .purpose = "CONTAINER",
                        .comment = comment,
                };
        }
        if (r >= 0)
                r = write_sbom(ctx, pkgs, n_all, r);
        strv_free(strings);
        for (size_t i = 0; i < n; i++)
                license_info_done(&licenses[i]);
        free(licenses);
        free(pkgs);
        audit_image_done(&status);
        if (r < 0)
                return r;
        return write_deviations(ctx);
}
