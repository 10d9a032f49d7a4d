/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcompose/audit.h"
#include "vmcompose/fetch.h"
#include "vmcompose/install.h"
#include "vmcompose/node.h"
#include "vmcompose/repo.h"
#include "vmcompose/report.h"
#include "vmcompose/resolve.h"
#include "vmcompose/util.h"

/* Distribution backends (composer/distro/): everything that differs between package families
 * (Debian's dpkg and apt, RPM's rpm and dnf) behind one const table row per family, the way
 * composer/output/ has one row per image format and libfdisk one per disk label. The stages
 * call these; no stage names dpkg, apt or a family's file layout. Adding a family is one folder
 * (composer/distro/FAMILY/) and one row in distros[] (composer/distro/distro.c); see
 * docs/distro-backends.md. */

/* The packages a bootloader needs in the root, by this family's package names. */
typedef struct DistroBootPackages {
        const char *bootloader;      /* as in the profile's bootloader: "grub-bios" */
        const char *const *packages; /* NULL-terminated */
} DistroBootPackages;

/* What the family's initramfs maker must be told before the packages are configured. */
typedef struct DistroInitramfsSettings {
        const char *root_fstype;  /* the root filesystem's type: "ext4" */
        char *const *drivers;     /* the kernel target's initramfs drivers; NULL: none */
        bool only_target_modules; /* kernel.initramfs-modules: target */
} DistroInitramfsSettings;

typedef struct DistroOps {
        const char *family;            /* distro.family: "debian" */
        const char *package_format;    /* "deb" (AuditImage.package_format) */
        const char *package_suffix;    /* ".deb" */
        bool merged_usr;               /* /bin, /sbin, /lib as links into /usr from the start */
        const char *esp_vendor_dir;    /* the directory the signed GRUB reads: EFI/debian */
        const char *default_initramfs; /* kernel.initramfs when the profile gives none */
        const char *purl_type;         /* "deb" */
        const char *purl_namespace;    /* "debian" */
        const DistroBootPackages *boot_packages; /* per bootloader; ends with a NULL row */

        /* Repositories: the profile's distro.repositories list ("system" entries: the host's
         * configuration under config_root, default_config_root when NULL) as sources, problems
         * in diag; then each source's verified package index for arch in cache_dir. Return 0
         * or a negative errno. */
        const char *default_config_root; /* "/etc/apt" */
        int (*repos_load)(const Node *repositories, const char *config_root, RepoSources *ret,
                          Diagnostics *diag);
        int (*repos_fetch)(const RepoSource *src, const char *arch, const char *cache_dir,
                           RepoIndexes *indexes);
        /* The solver's row for this family (composer/resolve/resolve.c's table). */
        const char *resolver_family;

        /* Installs pkgs (verified package files, fetch_all() checked their SHA-256) into
         * root_dir with the policy's exclusions (o->path_exclude, o->path_include); every
         * maintainer script runs in a chroot. Returns 0 or a negative errno (logged). */
        int (*install_root)(const char *root_dir, const InstallPackage *pkgs, size_t n,
                            const InstallOptions *o);
        /* The files the initramfs maker reads at configure time (InstallOptions.files), for
         * s. *ret (caller frees each content and the array) and *ret_n. */
        void (*initramfs_settings)(const DistroInitramfsSettings *s, InstallFile **ret,
                                   size_t *ret_n);

        /* The installed-package database: "name version arch" lines, sorted (caller frees). */
        int (*list_installed)(const char *root_dir, char ***ret);
        /* 0 when the database is consistent and holds exactly plan's packages; -EBADMSG
         * (every difference logged) otherwise. */
        int (*verify_installed)(const char *root_dir, const Plan *plan);
        /* Reads the installed packages of the root into img (sorted by name). 0 (nothing added)
         * when the root has no database, or a negative errno: -EBADMSG for a malformed one. */
        int (*read_installed)(int root_fd, AuditImage *img);
        /* Calls fn for each member of a package file, without extracting it. */
        int (*package_members)(const char *package_path,
                               int (*fn)(const char *path, uint64_t size, bool directory,
                                         void *userdata),
                               void *userdata);
        /* Removes path from the configured root, and whatever the package database keeps
         * pointing at it (Debian's alternatives). 0 or a negative errno (logged). */
        int (*remove_path)(const char *root_dir, int root_fd, const char *path);

        /* The licence the package declares in the root (ret->expression NULL: none readable). */
        int (*package_license)(int root_fd, const char *name, LicenseInfo *ret);
        /* The package URL: pkg:TYPE/NAMESPACE/NAME@VERSION?arch=ARCH&distro=DISTRO. */
        char *(*purl)(const char *name, const char *version, const char *arch, const char *distro);

        /* Lists the files of the initramfs maker's archive for kernel version in root_dir into
         * out. 0 or a negative errno. */
        int (*initramfs_list)(const char *root_dir, const char *version, Buffer *out);
} DistroOps;

/* The backend of a family ("debian"), or NULL. */
const DistroOps *distro_find(const char *family);

/* Every backend, in table order. */
const DistroOps *const *distro_list(size_t *ret_n);

/* ops->package_members() through a cache: what a package file holds is kept in
 * CACHE_DIR/members/SHA256 the first time, and read from there afterwards, so that an
 * unchanged package is never decompressed again for the reports. fn sees the same members in
 * the same order either way. A cache file that cannot be read or parsed is ignored (the
 * package is read and the file written again); one that cannot be written is only not kept.
 * cache_dir or sha256 NULL: no cache. Returns what fn or package_members() returns. */
int distro_package_members_cached(
        const DistroOps *ops, const char *cache_dir, const char *sha256, const char *package_path,
        int (*fn)(const char *path, uint64_t size, bool directory, void *userdata), void *userdata);

/* The packages ops's family needs for bootloader, NULL-terminated; NULL for none. */
const char *const *distro_boot_packages(const DistroOps *ops, const char *bootloader);
