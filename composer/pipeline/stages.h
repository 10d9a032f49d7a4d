/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/pipeline.h"
#include "vmcompose/lint.h"
#include "vmcompose/report.h"

int stage_resolve(BuildContext *ctx);
int stage_fetch(BuildContext *ctx);
int stage_install(BuildContext *ctx);
int stage_policy(BuildContext *ctx);
/* kernel.modules: target: removes the modules the image does not need, runs depmod. */
int stage_modules(BuildContext *ctx);
int stage_bootloader(BuildContext *ctx);
int stage_manifest(BuildContext *ctx);
int stage_reports(BuildContext *ctx);
int stage_lint(BuildContext *ctx);

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
