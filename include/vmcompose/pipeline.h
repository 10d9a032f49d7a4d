/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"
#include "vmcompose/profile.h"

/* Everything a build carries from stage to stage. */
typedef struct BuildContext {
        /* Set by the caller. */
        const Profile *profile;
        const char *output_dir;
        const char *target;   /* NULL or the --target name */
        const char *root_dir; /* --root: use this tree as the finished root */
        const char *esp_dir;  /* --esp: ESP contents to go with --root */
        char *image_name;     /* NAME, or NAME-TARGET */

        /* Filled by the stages. */
        char *seed;         /* reproducible.seed, else the profile's name */
        uint64_t timestamp; /* reproducible.source-date-epoch, else 0 */
        char *tmp_dir;      /* OUTPUT_DIR/.vmcompose-NAME-XXXXXX; removed at the end */
        DiskLayout layout;
        char *raw_path; /* the raw disk image, inside tmp_dir */
        char **written; /* output files written, for the summary */
} BuildContext;

enum {
        STAGE_REQUIRED = 1 << 0,   /* the image cannot be made without it */
        STAGE_MAKES_ROOT = 1 << 1, /* prepares the root tree: skipped with --root */
};

typedef struct Stage {
        const char *name;
        const char *summary;
        int (*run)(BuildContext *ctx); /* NULL: not implemented yet */
        unsigned flags;
        const char *tracked_in; /* where a missing stage is being built */
} Stage;

/* The stages of a build, in order. */
const Stage *pipeline_stages(size_t *ret_n);

/* Runs every stage in order. Stops at the first failure, or at the first required stage that
 * does not exist yet, saying so. Returns 0 when the image was built, a negative errno on
 * failure (-EINTR on a signal), or -ENOSYS when a required stage is missing. On any failure
 * nothing is left at the output paths and the temporary directory is removed. */
int pipeline_run(BuildContext *ctx);
void build_context_done(BuildContext *ctx);

/* DIR/NAME.SUFFIX for this build. */
char *build_output_path(const BuildContext *ctx, const char *suffix);
