/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/profile.h"

/* Everything a build carries from stage to stage. Later stages add their state here. */
typedef struct BuildContext {
        const Profile *profile;
        const char *output_dir;
        const char *target; /* NULL or the --target name */
        char *image_name;   /* NAME, or NAME-TARGET */
} BuildContext;

typedef enum StageResult {
        STAGE_NOT_IMPLEMENTED = 1,
} StageResult;

typedef struct Stage {
        const char *name;
        const char *summary;
        int (*run)(BuildContext *ctx); /* NULL: not implemented yet */
        const char *tracked_in;        /* where the missing stage is being built */
} Stage;

/* The stages of a build, in order. */
const Stage *pipeline_stages(size_t *ret_n);

/* Runs every stage in order and stops at the first failure or at the first stage that does
 * not exist yet, saying so. Returns 0 when the image was built, a negative errno on failure,
 * STAGE_NOT_IMPLEMENTED when a stage is missing (nothing was written at the target paths). */
int pipeline_run(BuildContext *ctx);

/* DIR/NAME.SUFFIX for this build. */
char *build_output_path(const BuildContext *ctx, const char *suffix);
