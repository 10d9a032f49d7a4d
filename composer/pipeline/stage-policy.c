/* SPDX-License-Identifier: MIT */
/* The policy stage: verify the finished root. Forbidden packages never entered the solve and
 * strip rules were applied while unpacking; this checks that nothing forbidden is there now,
 * whatever a maintainer script or a profile script did, and lists every offender. */
#define _XOPEN_SOURCE 700
#include <fnmatch.h>
#include <ftw.h>
#include <string.h>

#include "stages.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"

typedef struct PathRule {
        const char *pattern, *policy, *where;
} PathRule;

static PathRule *rules;
static size_t n_rules, root_len;
static char **offenders, **allowed; /* allow: entries, names and path globs */

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void)st;
        (void)type;
        (void)ftw;
        const char *rel = path + root_len; /* "/usr/bin/less" */
        if (!*rel)
                return 0;
        for (char **a = allowed; a && *a; a++)
                if (**a == '/' && fnmatch(*a, rel, 0) == 0)
                        return 0;
        for (size_t i = 0; i < n_rules; i++)
                if (fnmatch(rules[i].pattern, rel, 0) == 0) {
                        strv_push(&offenders, xasprintf("%s (forbidden by policy %s, %s)", rel,
                                                        rules[i].policy, rules[i].where));
                        break;
                }
        return 0;
}

int stage_policy(BuildContext *ctx) {
        const Profile *p = ctx->profile;
        _cleanup_strv_free_ char **wheres = NULL, **installed = NULL;
        int r, bad = 0;

        /* Packages: what dpkg has now, against every forbidden name and section. */
        r = install_list_installed(ctx->root_path, &installed);
        if (r < 0)
                return log_error_errno(r, "policy: cannot list the installed packages: %m");
        _cleanup_strv_free_ char **allow = NULL;
        const Node *al = node_lookup(p->tree, "allow");
        for (size_t i = 0; al && i < al->n_items; i++)
                strv_extend(&allow, node_map_get(al->items[i], "name")->scalar);
        allowed = allow;
        for (char **line = installed; line && *line; line++) {
                _cleanup_free_ char *name = xstrndup(*line, strcspn(*line, " "));
                const PlanPackage *pp = plan_find(&ctx->plan, name);
                if (strv_contains(allow, name))
                        continue;
                for (size_t i = 0; i < p->n_policies; i++)
                        for (int k = 0; k < 2; k++) {
                                const Node *list =
                                        node_lookup(p->policies[i].tree,
                                                    k ? "forbid.sections" : "forbid.packages");
                                for (size_t j = 0; list && j < list->n_items; j++) {
                                        const Node *pat = node_map_get(list->items[j], "pattern");
                                        const char *subject = name;
                                        if (k) {
                                                if (!pp || !pp->section)
                                                        continue;
                                                const char *slash = strrchr(pp->section, '/');
                                                subject = slash ? slash + 1 : pp->section;
                                        }
                                        if (fnmatch(pat->scalar, subject, 0) != 0)
                                                continue;
                                        log_error("policy: package %s is installed, forbidden "
                                                  "by policy %s (%s:%u:%u)",
                                                  name,
                                                  node_map_get(p->policies[i].tree, "name")->scalar,
                                                  pat->mark.file, pat->mark.line, pat->mark.column);
                                        bad++;
                                }
                        }
        }

        /* Paths: every file in the root against every forbidden glob. */
        n_rules = 0;
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *list = node_lookup(p->policies[i].tree, "forbid.paths");
                for (size_t j = 0; list && j < list->n_items; j++) {
                        const Node *pat = node_map_get(list->items[j], "pattern");
                        char *where = xasprintf("%s:%u:%u", pat->mark.file, pat->mark.line,
                                                pat->mark.column);
                        strv_push(&wheres, where);
                        rules = xrealloc(rules, (n_rules + 1) * sizeof(PathRule));
                        rules[n_rules++] = (PathRule){
                                pat->scalar, node_map_get(p->policies[i].tree, "name")->scalar,
                                where};
                }
        }
        root_len = strlen(ctx->root_path);
        offenders = NULL;
        if (n_rules > 0 && nftw(ctx->root_path, visit, 64, FTW_PHYS) != 0)
                r = log_error_errno(errno ? errno : EIO, "policy: cannot walk %s: %m",
                                    ctx->root_path);
        for (char **o = offenders; o && *o; o++) {
                log_error("policy: %s", *o);
                bad++;
        }
        offenders = strv_free(offenders);
        allowed = NULL;
        free(rules);
        rules = NULL;
        if (r < 0)
                return r;
        if (bad)
                return log_error_errno(EPERM, "policy: %d violation(s) in the finished root", bad);
        log_info("policy: %zu packages and the whole root checked against %zu policies",
                 strv_length(installed), p->n_policies);
        return 0;
}
