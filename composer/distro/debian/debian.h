/* SPDX-License-Identifier: MIT */
#pragma once

/* The Debian backend's operations (composer/distro/debian/), reached through
 * distro_find("debian"). */
#include "vmcompose/distro.h"

/* install.c. Installs pkgs into root_dir (empty or not yet existing): the essential set is
 * unpacked directly, then dpkg runs in a chroot with /proc, /sys and /dev mounted and a
 * policy-rc.d that keeps services from starting; packages are given to dpkg in Pre-Depends
 * order. Every mount is undone on every path. Must run as root. */
int debian_install_root(const char *root_dir, const InstallPackage *pkgs, size_t n,
                        const InstallOptions *o, Diagnostics *diag);
/* The dpkg round (0, 1, ...) of each package not done yet, in level[] (zeroed by the caller):
 * after every package it pre-depends on, not before any it depends on. *ret_max: the last
 * round. Returns 0, or -ELOOP for a Pre-Depends cycle. Pure, for tests. */
int debian_install_levels(const InstallPackage *pkgs, size_t n, const bool *done, unsigned *level,
                          unsigned *ret_max);
/* The packages dpkg knows in root_dir as "name version arch" lines, sorted. Caller frees. */
/* How reports name the package database (DistroOps.db_name). */
#define DEBIAN_DB_NAME "dpkg status"

int debian_list_installed(const char *root_dir, char ***ret);

/* packages.c: dpkg's database and alternatives. */
int debian_verify_installed(const char *root_dir, const Plan *plan, Diagnostics *diag);
int debian_read_installed(int root_fd, AuditImage *img);
int debian_parse_installed(const char *text, size_t size, AuditImage *img, char **ret_error);
size_t debian_list_package(const char *name);
int debian_remove_path(const char *root_dir, int root_fd, const char *path, Diagnostics *diag);
int debian_package_license(int root_fd, const char *name, LicenseInfo *ret);

/* initramfs.c: initramfs-tools. */
void debian_initramfs_settings(const DistroInitramfsSettings *s, InstallFile **ret, size_t *ret_n);
int debian_initramfs_list(const char *root_dir, const char *version, Buffer *out);
