/* SPDX-License-Identifier: MIT */
#pragma once

/* The RPM backend's install half (composer/distro/rpm/): package verification, the install
 * with librpm and the installed-package database (the rpmdb, sqlite, /var/lib/rpm). The
 * repositories and the solver are repo*.c and composer/resolve/resolve-rpm.c; the rows are in
 * rpm.c. */
#include <stdbool.h>

#include "vmcompose/distro.h"

/* The rpmdb of a root, as rpm --root ROOT --dbpath RPM_DBPATH finds it. */
#define RPM_DBPATH "/var/lib/rpm"
/* How reports name it (DistroOps.db_name). */
#define RPM_DB_NAME "rpmdb"

/* verify.c. librpm's configuration read once (with %_dbpath RPM_DBPATH), its log messages
 * kept (not printed) for the caller; librpm's global state is not thread-safe: one thread at
 * a time. 0 or -EIO. */
int rpm_lib_init(void);
/* Checks the package file at path before anything of it is installed: its header's signature
 * against the key in key_path only (an armored or binary OpenPGP public key file: the
 * repository's), the header's digests, and the payload against the digest in the signed
 * header. key_path NULL (the repository says gpgcheck: false): the digests only. 0, or
 * -EBADMSG (unsigned, signed by another key, altered, malformed) with *ret_error naming the
 * package and what is wrong (caller frees), or another negative errno. */
int rpm_verify_package(const char *path, const char *key_path, char **ret_error);
/* Whether every path the package would write (RPMTAG_FILENAMES) is absolute, normalised (no
 * ".", ".." or empty component) and so inside the root it is installed into. 0 with the paths
 * appended to *files (files may be NULL), or -EBADMSG with *ret_error naming the package and
 * the path (caller frees). */
int rpm_check_file_list(const char *path, char ***files, char **ret_error);
/* Whether one package path may be written (the test of rpm_check_file_list()). Pure. */
bool rpm_file_path_ok(const char *path);

/* Whether librpm's root (rpmtsRootDir(), with a trailing '/') is root (absolute, not "/"):
 * librpm ignores a root it does not like and works on the host's "/" instead. Pure. */
bool rpm_root_is(const char *have, const char *root);

/* install.c. */
int rpm_install_root(const char *root_dir, const InstallPackage *pkgs, size_t n,
                     const InstallOptions *o, Diagnostics *diag);
/* The %_netsharedpath value (colon-separated) that keeps rpm from writing the files the
 * policy's globs exclude, for the package paths in files: each excluded path, or its topmost
 * directory when everything below it is excluded (no path-include glob reaches into it).
 * NULL when nothing is excluded. Pure, for tests; caller frees. */
char *rpm_netshared_paths(char *const *files, char *const *exclude, char *const *include);
/* The %_install_langs value the exclusions amount to ("C:en" when other locales go), or NULL
 * for all languages. Pure. */
const char *rpm_install_langs(char *const *exclude, char *const *include);
/* Whether the exclusions drop the documentation (/usr/share/doc): %_excludedocs. Pure. */
bool rpm_exclude_docs(char *const *exclude, char *const *include);

/* db.c: the rpmdb. */
int rpm_list_installed(const char *root_dir, char ***ret);
int rpm_verify_installed(const char *root_dir, const Plan *plan, Diagnostics *diag);
int rpm_read_installed(int root_fd, AuditImage *img);
int rpm_parse_installed(const char *text, size_t size, AuditImage *img, char **ret_error);
size_t rpm_list_package(const char *name);
int rpm_package_members(const char *package_path,
                        int (*fn)(const char *path, uint64_t size, bool directory, void *userdata),
                        void *userdata);
int rpm_remove_path(const char *root_dir, int root_fd, const char *path, Diagnostics *diag);
int rpm_package_license(int root_fd, const char *name, LicenseInfo *ret);
/* pkg:rpm/fedora/NAME@VERSION-RELEASE?arch=x86_64&distro=fedora-43 (azurelinux: the same with
 * its namespace); an epoch other than 0 as &epoch=E. New strings. */
char *rpm_purl_fedora(const char *name, const char *version, const char *arch, const char *distro);
char *rpm_purl_azurelinux(const char *name, const char *version, const char *arch,
                          const char *distro);
/* The initramfs: vmcompose's own for the RPM families (no settings files, no lister). */
void rpm_initramfs_settings(const DistroInitramfsSettings *s, InstallFile **ret, size_t *ret_n);
int rpm_initramfs_list(const char *root_dir, const char *version, Buffer *out);
