/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "vmcompose/log.h"
#include "vmcompose/pipeline.h"

static int stage_profile(BuildContext *ctx) {
        const Profile *p = ctx->profile;
        log_info("profile: %s from %zu layer(s), %zu policy file(s)", p->name,
                 strv_length(p->layers), p->n_policies);
        return 0;
}

/* The whole build on one screen. A stage without a run function is not built yet: the build
 * stops there and says so rather than pretending. */
static const Stage stages[] = {
        {"profile", "load the profile and its overlays", stage_profile, NULL},
        {"resolve", "resolve the package set with libsolv", NULL, "issue #3 (packages)"},
        {"fetch", "download and verify packages", NULL, "issue #3 (packages)"},
        {"install", "unpack and configure packages in a root", NULL, "issue #3 (packages)"},
        {"policy", "strip and verify the headless policy", NULL, "issue #6 (policy and audit)"},
        {"disk", "partition and build filesystems", NULL, "issue #4 (disks)"},
        {"bootloader", "install kernel, initramfs and bootloader", NULL, "issue #5 (boot)"},
        {"outputs", "write raw, vhd, vhdx, qcow2 images", NULL, "issue #4 (disks)"},
        {"reports", "write manifest, SBOM and deviations", NULL, "issue #6 (policy and audit)"},
};

const Stage *pipeline_stages(size_t *ret_n) {
        *ret_n = ELEMENTSOF(stages);
        return stages;
}

char *build_output_path(const BuildContext *ctx, const char *suffix) {
        _cleanup_free_ char *file = xasprintf("%s.%s", ctx->image_name, suffix);
        return path_join(ctx->output_dir, file);
}

int pipeline_run(BuildContext *ctx) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
                const Stage *s = &stages[i];
                if (!s->run) {
                        Buffer rest = {};
                        for (size_t j = i; j < ELEMENTSOF(stages); j++)
                                buffer_printf(&rest, "%s%s", j > i ? ", " : "", stages[j].name);
                        log_error("build stopped before stage '%s' (%s): it is not implemented "
                                  "yet, see %s.",
                                  s->name, s->summary, s->tracked_in);
                        log_error("Stages not run: %s. No image was written.", rest.data);
                        buffer_done(&rest);
                        return STAGE_NOT_IMPLEMENTED;
                }
                log_info("stage %s: %s", s->name, s->summary);
                r = s->run(ctx);
                if (r < 0)
                        return r;
                log_notice("stage %-10s done", s->name);
        }
        return 0;
}
