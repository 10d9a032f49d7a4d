/* SPDX-License-Identifier: MIT */
/* The policy stage: verify the finished root. Forbidden packages never entered the solve and
 * strip rules were applied while unpacking; this checks that nothing forbidden is there now,
 * whatever a maintainer script or a profile script did, and lists every offender. The verdict
 * is audit_check()'s, the one `vmcompose audit` gives on any image; the profile's allow:
 * exceptions are applied to it here. */
#define _XOPEN_SOURCE 700
#include <fnmatch.h>
#include <ftw.h>
#include <string.h>

#include "stages.h"
#include "vmcompose/audit.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"

static AuditImage *walk_image; /* nftw() has no user pointer */
static size_t walk_root_len;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void)type;
        (void)ftw;
        const char *rel = path + walk_root_len; /* "/usr/bin/less" */
        AuditImage *img = walk_image;
        if (!*rel)
                return 0;
        img->files = xrealloc(img->files, (img->n_files + 1) * sizeof(AuditFile));
        img->files[img->n_files++] = (AuditFile){
                .path = xstrdup(rel), .mode = (uint32_t)st->st_mode, .uid = (uint32_t)st->st_uid};
        return 0;
}

static bool allowed(char **allow, const AuditFinding *f) {
        for (char **a = allow; a && *a; a++) {
                if (**a == '/' && streq(f->kind, "forbidden-path") &&
                    fnmatch(*a, f->subject, 0) == 0)
                        return true;
                if (**a != '/' && !streq(f->kind, "forbidden-path") && f->package &&
                    streq(*a, f->package))
                        return true;
        }
        return false;
}

int stage_policy(BuildContext *ctx) {
        const Profile *p = ctx->profile;
        _cleanup_strv_free_ char **installed = NULL;
        AuditImage img = {};
        int r, bad = 0;

        /* What the package database has now, with the sections the plan knows. */
        r = ctx->config.distro->list_installed(ctx->root_path, &installed);
        if (r < 0)
                return log_error_errno(r, "policy: cannot list the installed packages: %m");
        img.packages = xcalloc(strv_length(installed) + 1, sizeof(AuditPackage));
        for (char **line = installed; line && *line; line++) {
                char *name = xstrndup(*line, strcspn(*line, " "));
                const PlanPackage *pp = plan_find(&ctx->plan, name);
                const char *slash = pp && pp->section ? strrchr(pp->section, '/') : NULL;
                img.packages[img.n_packages++] = (AuditPackage){
                        .name = name,
                        .section =
                                pp && pp->section ? xstrdup(slash ? slash + 1 : pp->section) : NULL,
                };
        }
        /* Every path of the root, not following symlinks. */
        walk_image = &img;
        walk_root_len = strlen(ctx->root_path);
        if (nftw(ctx->root_path, visit, 64, FTW_PHYS) != 0)
                r = log_error_errno(errno ? errno : EIO, "policy: cannot walk %s: %m",
                                    ctx->root_path);
        walk_image = NULL;

        AuditReport report = {};
        if (r == 0)
                audit_check(&img, p, &report);
        for (size_t i = 0; i < report.n_findings; i++) {
                const AuditFinding *f = &report.findings[i];
                if (allowed(ctx->config.allow, f))
                        continue;
                if (streq(f->kind, "forbidden-path"))
                        log_error("policy: %s (forbidden by %s)", f->subject, f->rule);
                else
                        log_error("policy: package %s is installed, forbidden by %s", f->subject,
                                  f->rule);
                bad++;
        }
        size_t n_installed = img.n_packages;
        audit_report_done(&report);
        audit_image_done(&img);
        if (r < 0)
                return r;
        if (bad)
                return log_error_errno(EPERM, "policy: %d violation(s) in the finished root", bad);
        log_info("policy: %zu packages and the whole root checked against %zu policies",
                 n_installed, p->n_policies);
        return 0;
}
