/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"
#include "vmcompose/fetch.h"
#include "vmcompose/profile.h"
#include "vmcompose/repo.h"
#include "vmcompose/resolve.h"

/* Everything a build carries from stage to stage. */
typedef struct BuildContext {
        /* Set by the caller. */
        const Profile *profile;
        const char *output_dir;
        const char *target;       /* NULL or the --target name */
        const char *root_dir;     /* --root: use this tree as the finished root */
        const char *esp_dir;      /* --esp: ESP contents to go with --root */
        char *image_name;         /* NAME, or NAME-TARGET */
        const char *profile_path; /* the profile file: the lock file sits next to it */
        const char *cache_dir;    /* NULL: fetch_default_cache_dir() */
        const char *apt_root;     /* the host's apt configuration, for repositories: system */
        bool locked;              /* --locked: exactly the lock file's package set */
        bool strict_audit;        /* --strict-audit: an undocumented deviation is an error */
        bool no_root_cache;       /* --no-root-cache: always run dpkg, store no root */
        const char *stop_after;   /* run the stages up to this one only (vmcompose lock) */
        unsigned parallel;        /* downloads at once; 0: 8 */

        /* Filled by the stages. */
        char *seed;         /* reproducible.seed, else the profile's name */
        uint64_t timestamp; /* reproducible.source-date-epoch, else 0 */
        char *tmp_dir;      /* OUTPUT_DIR/.vmcompose-NAME-XXXXXX; removed at the end */
        DiskLayout layout;
        char *raw_path;        /* the raw disk image, inside tmp_dir */
        char **written;        /* output files written, for the summary */
        char **written_sha256; /* the SHA-256 (hex) of each, where the outputs stage hashed it */
        char *cache;           /* the package cache in use */
        RepoIndexes indexes;
        Plan plan;
        FetchItem *debs; /* the plan's packages in the cache, in plan order */
        char *root_path; /* the root the install stage made (inside tmp_dir) */
        char *esp_path;  /* the ESP contents the bootloader stage made */
        char *boot_work; /* the bootloader's files for the boot code stage */
        char *kernel_version, *kernel_cmdline; /* what the bootloader stage installed */
        char **initramfs_modules;     /* in the initramfs or built into the kernel ("hv_vmbus") */
        char **build_records_removed; /* reproducible_clean_root()'s removals, for the report */
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

/* The build's temporary directory (created on first use, in the output directory). */
int build_tmp_dir(BuildContext *ctx, const char **ret);

/* The lock file for this profile and target: PROFILE_DIR/NAME[-TARGET].lock. Caller frees. */
char *build_lock_path(const BuildContext *ctx);

/* Writes the lock file for the resolved plan (vmcompose lock). */
int build_write_lock(const BuildContext *ctx);

/* The build's input digest, "sha256:HEX" (docs/manifest.md): SHA-256 over vmcompose's version,
 * the --target, the resolved profile (profile_format_canonical()), the policy and kernel target
 * files it names, each index's signed Release and the resolved package set, in that order. Needs
 * the resolve stage's indexes and plan. Returns 0 and the text in *ret, or a negative errno and
 * the file that could not be read in *ret_failed; the caller frees either. */
int build_input_digest(const BuildContext *ctx, char **ret, char **ret_failed);

/* DIR/NAME.SUFFIX for this build. */
char *build_output_path(const BuildContext *ctx, const char *suffix);
