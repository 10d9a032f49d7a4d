/* SPDX-License-Identifier: MIT */
/* The build's input digest: what a cache may key a finished build by (docs/manifest.md). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "vmcompose/hash.h"
#include "vmcompose/pipeline.h"

static void put_line(Sha256 *h, const char *key, const char *value) {
        sha256_update(h, key, strlen(key));
        sha256_update(h, " ", 1);
        sha256_update(h, value ? value : "", value ? strlen(value) : 0);
        sha256_update(h, "\n", 1);
}

static int put_file(Sha256 *h, const char *key, const char *path, char **ret_failed) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        int r = sha256_tree(path, d);
        if (r < 0) {
                *ret_failed = xstrdup(path);
                return r;
        }
        sha256_hex(d, hex);
        put_line(h, key, hex);
        return 0;
}

int build_input_digest(const BuildContext *ctx, char **ret, char **ret_failed) {
        const Profile *p = ctx->profile;
        _cleanup_free_ char *profile = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];
        int r;

        r = profile_format_canonical(p, &profile, ret_failed);
        if (r < 0)
                return r;
        Sha256 *h = sha256_new();
        put_line(h, "vmcompose-input-digest", "1");
        put_line(h, "version", VMCOMPOSE_VERSION);
        put_line(h, "target", ctx->target);
        put_line(h, "profile", profile);
        for (size_t i = 0; i < p->n_policies && r == 0; i++)
                r = put_file(h, "policy", p->policies[i].path, ret_failed);
        if (r == 0 && p->kernel_target.tree)
                r = put_file(h, "kernel-target", p->kernel_target.path, ret_failed);
        for (size_t i = 0; i < ctx->indexes.n; i++) {
                const RepoIndex *x = &ctx->indexes.items[i];
                _cleanup_free_ char *v = xasprintf("%s %s", x->name, x->release_sha256);
                put_line(h, "repository", v);
        }
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *k = &ctx->plan.packages[i];
                _cleanup_free_ char *v =
                        xasprintf("%s %s %s %s %llu", k->name, k->version, k->architecture,
                                  k->sha256, (unsigned long long)k->size);
                put_line(h, "package", v);
        }
        sha256_finish(h, d);
        if (r < 0)
                return r;
        sha256_hex(d, hex);
        *ret = xasprintf("sha256:%s", hex);
        return 0;
}
