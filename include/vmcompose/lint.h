/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"

/* The platform lints (composer/lint/): a cloud's offline rules, one row per platform. */

/* What the platform lints look at. NULL lists and a root_fd < 0 skip the checks that need
 * them. */
typedef struct LintFacts {
        char **outputs;           /* the files written */
        char **initramfs_modules; /* "hv_vmbus", ... */
        const char *cmdline;
        char **packages; /* installed package names */
        const DiskLayout *layout;
        int root_fd;
        const char *kernel_version; /* the kernel in root_fd; NULL skips the root's modules */
        const Arch *arch;           /* the image's: its serial console */
        char **target_drivers;      /* the kernel target's initramfs-drivers (kernel-config/) */
} LintFacts;

typedef struct LintPlatform {
        const char *target; /* the kernel target's name: "azure" */
        const char *title;  /* the platform's name in messages: "Azure" */
        const char *checks; /* what it checks, for the summary */
        /* Appends a line per failure to *problems; returns the number of checks made. */
        unsigned (*run)(const LintFacts *f, char ***problems);
} LintPlatform;

/* The lint for the kernel target called target, or NULL (also for NULL). */
const LintPlatform *lint_platform_find(const char *target);

/* Azure's offline rules; appends a line per failure to *problems. Returns the number of
 * checks made. */
unsigned lint_azure(const LintFacts *f, char ***problems);
/* Hyper-V's: its synthetic devices' drivers in the initramfs and in the root. */
unsigned lint_hyperv(const LintFacts *f, char ***problems);
