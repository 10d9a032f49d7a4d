/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/schema.h"

/* Value checks used by the schema tables. Each adds a diagnostic and returns -EBADMSG on bad
 * input, 0 otherwise. */
int check_name(const Field *f, Node *n, SchemaContext *ctx);
int check_uri(const Field *f, Node *n, SchemaContext *ctx);
int check_package_item(const Field *f, Node *n, SchemaContext *ctx);
int check_policy_item(const Field *f, Node *n, SchemaContext *ctx);
int check_allow_item(const Field *f, Node *n, SchemaContext *ctx);
int check_kernel_target(const Field *f, Node *n, SchemaContext *ctx);
int check_label(const Field *f, Node *n, SchemaContext *ctx);
int check_partition(const Field *f, Node *n, SchemaContext *ctx);
int check_output_item(const Field *f, Node *n, SchemaContext *ctx);
int check_user_name(const Field *f, Node *n, SchemaContext *ctx);
int check_abs_path(const Field *f, Node *n, SchemaContext *ctx);
int check_mode(const Field *f, Node *n, SchemaContext *ctx);
int check_file_item(const Field *f, Node *n, SchemaContext *ctx);
int check_hostname(const Field *f, Node *n, SchemaContext *ctx);
int check_timezone(const Field *f, Node *n, SchemaContext *ctx);
int check_kconfig(const Field *f, Node *n, SchemaContext *ctx);
int check_login_shell(const Field *f, Node *n, SchemaContext *ctx);
int check_ssh_key(const Field *f, Node *n, SchemaContext *ctx);
int check_password_hash(const Field *f, Node *n, SchemaContext *ctx);
int check_locale(const Field *f, Node *n, SchemaContext *ctx);
int check_unit_name(const Field *f, Node *n, SchemaContext *ctx);
int check_cmdline_arg(const Field *f, Node *n, SchemaContext *ctx);
int check_module_name(const Field *f, Node *n, SchemaContext *ctx);
int check_sysctl_name(const Field *f, Node *n, SchemaContext *ctx);
int check_sysctl_value(const Field *f, Node *n, SchemaContext *ctx);
int check_oci_digest(const Field *f, Node *n, SchemaContext *ctx);
int check_image_ref(const Field *f, Node *n, SchemaContext *ctx);
int check_unit_arg(const Field *f, Node *n, SchemaContext *ctx);

/* The package names of the resolved tree (packages.install, packages.remove) against the rules
 * of its distro.family (a table row per family). 0, or -EBADMSG with each bad name in diag at
 * its file, line and column. */
int check_package_names(const Node *tree, Diagnostics *diag);
