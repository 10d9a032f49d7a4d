/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/pipeline.h"
#include "vmcompose/report.h"

int stage_resolve(BuildContext *ctx);
int stage_fetch(BuildContext *ctx);
int stage_install(BuildContext *ctx);
int stage_policy(BuildContext *ctx);
int stage_bootloader(BuildContext *ctx);
int stage_manifest(BuildContext *ctx);
int stage_reports(BuildContext *ctx);
int stage_lint(BuildContext *ctx);

/* What the platform lints look at (composer/pipeline/stage-lint.c). NULL lists and a
 * root_fd < 0 skip the checks that need them. */
typedef struct LintFacts {
        char **outputs;           /* the files written */
        char **initramfs_modules; /* "hv_vmbus", ... */
        const char *cmdline;
        char **packages; /* installed package names */
        const DiskLayout *layout;
        int root_fd;
} LintFacts;

/* Azure's offline rules; appends a line per failure to *problems. Returns the number of
 * checks made. */
unsigned lint_azure(const LintFacts *f, char ***problems);

/* The deviation report of the build so far (composer/pipeline/stage-deviations.c): from the
 * profile, and with_plan, from the package plan and archives too. */
int deviations_collect(const BuildContext *ctx, bool with_plan, DeviationReport *ret);
/* Fails (-EBADMSG, every item logged) when a deviation carries no why: (--strict-audit). */
int deviations_check_strict(const BuildContext *ctx);
/* Logs each undocumented item ("file:line: kind subject") and returns -EBADMSG; 0 for none. */
int deviations_refuse(char **missing);
int stage_bootcode(BuildContext *ctx);

/* The kernel command line: root= from the disk layout, the profile's, the kernel target's. */
char *build_kernel_cmdline(BuildContext *ctx);
int stage_disk(BuildContext *ctx);
int stage_outputs(BuildContext *ctx);
