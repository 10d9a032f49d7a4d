/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcompose/arch.h"
#include "vmcompose/audit.h"
#include "vmcompose/bootloader.h"
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
        const char *default_initramfs; /* kernel.initramfs when the profile gives none */
        const char *purl_type;         /* "deb" */
        const char *purl_namespace;    /* "debian" */
        /* The kernel packages run /etc/kernel/postinst.d and postrm.d, and initramfs-tools
         * /etc/initramfs/post-update.d: the hooks of bootloader/kernel-hooks/ apply. */
        bool kernel_package_hooks;

        /* Repositories: the profile's distro.repositories list ("system" entries: the host's
         * configuration under config_root, default_config_root when NULL) as sources, problems
         * in diag; then each source's verified package index for arch in cache_dir. Return 0
         * or a negative errno. */
        const char *default_config_root; /* "/etc/apt" */
        int (*repos_load)(const ProfileRepository *repos, size_t n, const char *config_root,
                          RepoSources *ret, Diagnostics *diag);
        int (*repos_fetch)(const RepoSource *src, const char *arch, const char *cache_dir,
                           RepoIndexes *indexes);
        /* The solver's row for this family (composer/resolve/resolve.c's table). */
        const char *resolver_family;

        /* Installs pkgs (verified package files, fetch_all() checked their SHA-256) into
         * root_dir with the policy's exclusions (o->path_exclude, o->path_include); every
         * maintainer script runs in a chroot. Returns 0 or a negative errno, with what failed
         * (a tool's output) in diag for the caller to log (a package file refused by
         * deb_extract() is logged there). */
        int (*install_root)(const char *root_dir, const InstallPackage *pkgs, size_t n,
                            const InstallOptions *o, Diagnostics *diag);
        /* The files the initramfs maker reads at configure time (InstallOptions.files), for
         * s. *ret (caller frees each content and the array) and *ret_n. */
        void (*initramfs_settings)(const DistroInitramfsSettings *s, InstallFile **ret,
                                   size_t *ret_n);

        /* The installed-package database: "name version arch" lines, sorted (caller frees). */
        int (*list_installed)(const char *root_dir, char ***ret);
        /* 0 when the database is consistent and holds exactly plan's packages; -EBADMSG
         * (every difference in diag) or another negative errno otherwise. */
        int (*verify_installed)(const char *root_dir, const Plan *plan, Diagnostics *diag);
        /* Reads the installed packages of the root into img (sorted by name). 0 (nothing added)
         * when the root has no database, or a negative errno: -EBADMSG for a malformed one. */
        int (*read_installed)(int root_fd, AuditImage *img);
        /* The database as files, for the readers of an image that have no configured root to
         * run the family's tools in (`vmcompose audit` through libguestfs, `vmcompose diff`
         * through its own filesystem readers); paths are absolute in the image. */
        const char *db_name;        /* how reports name it: "dpkg status" */
        const char *db_status_path; /* the installed packages: "/var/lib/dpkg/status" */
        const char *db_lists_dir;   /* one file list per package: "/var/lib/dpkg/info" */
        /* Appends the packages whose files are on disk, read from the text (size bytes) of
         * db_status_path, to img, sorted by name. 0, or -EBADMSG with *ret_error (caller frees)
         * for a malformed database. */
        int (*parse_installed)(const char *text, size_t size, AuditImage *img, char **ret_error);
        /* The length of the package name that begins name when name is a file list of
         * db_lists_dir ("libc6:amd64.list": 5, the list of libc6's paths, one a line); 0 when it
         * is not one. */
        size_t (*list_package)(const char *name);
        /* Calls fn for each member of a package file, without extracting it. */
        int (*package_members)(const char *package_path,
                               int (*fn)(const char *path, uint64_t size, bool directory,
                                         void *userdata),
                               void *userdata);
        /* Removes path from the configured root, and whatever the package database keeps
         * pointing at it (Debian's alternatives). 0 or a negative errno (a tool's output in
         * diag). */
        int (*remove_path)(const char *root_dir, int root_fd, const char *path, Diagnostics *diag);

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

/* The backend whose packages are package_format ("deb": AuditImage.package_format), or NULL. */
const DistroOps *distro_find_format(const char *package_format);
/* Whether path (absolute, in an image) is a file of some backend's database as
 * parse_installed() and list_package() read it. */
bool distro_is_database_file(const char *path);

/* Compares have (list_installed()'s lines, from the database reports call db_name) with plan:
 * each planned "name version arch" present and nothing else. 0, or -EBADMSG with every difference
 * in diag. */
int distro_compare_installed(const char *db_name, char *const *have, const Plan *plan,
                             Diagnostics *diag);

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

/* A family's boot data, read at run time from DATA_DIR/bootloader/distro/FAMILY.yaml (data,
 * not code: bootloader/README.md): the ESP directory the distribution's signed GRUB reads, and
 * the packages the root needs for each boot loader, by the family's package names: one list for
 * every architecture, or one per architecture (the architecture table's names, core/arch.c). */
/* The boot data's shim section, as written: paths in which @EFI_SUFFIX@ ("x64") and
 * @GRUB_EFI_PLATFORM@ ("x86_64-efi") stand for the architecture's (core/arch.c). */
typedef struct DistroShimPaths {
        char *shim, *grub; /* in the root: "/usr/lib/shim/shim@EFI_SUFFIX@.efi.signed" */
        char *mok_manager; /* NULL: the family has none */
        char **grub_cfg;   /* on the ESP; NULL: EFI/ESP-VENDOR-DIR/grub.cfg */
} DistroShimPaths;

typedef struct DistroBootData {
        char *path;           /* the file it was read from */
        char *esp_vendor_dir; /* esp-vendor-dir: "debian" (EFI/debian/grub.cfg) */
        /* esp-mount: where the family mounts the ESP, relative to the root ("boot/efi"): what
         * its packages install below it goes onto the ESP. NULL: not given, it stays. */
        char *esp_mount;
        DistroShimPaths shim; /* shim: where the signed chain is (has_shim) */
        bool has_shim;
        char **bootloaders;   /* one row per boot loader and architecture, in file order */
        char **architectures; /* architectures[i]: row i's architecture; NULL: every one */
        char ***packages;     /* packages[i]: row i's, a strv (possibly empty) */
        size_t n_rows;
} DistroBootData;

/* Parses the boot data text (size bytes, read from path, which messages name). 0 and *ret
 * (release with distro_boot_data_done()), or -EBADMSG with every problem in diag as
 * "path:line:column: message": a missing or malformed esp-vendor-dir or packages, a malformed
 * esp-mount, an unknown
 * key, a boot loader vmcompose does not make, an architecture it does not build for. Pure, for
 * tests. */
int distro_boot_data_parse(const char *path, const char *text, size_t size, DistroBootData *ret,
                           Diagnostics *diag);
/* Reads DATA_DIR/bootloader/distro/FAMILY.yaml for ops's family: as distro_boot_data_parse(),
 * or a negative errno with "path: message" in diag when the file cannot be read. */
int distro_boot_data_load(const DistroOps *ops, const char *data_dir, DistroBootData *ret,
                          Diagnostics *diag);
void distro_boot_data_done(DistroBootData *d);

/* The shim boot loader's files for arch: d's shim section rendered for arch (paths relative to
 * the root and to the ESP). 0 and *ret (release with shim_files_done()), or -EBADMSG with the
 * problem in diag (d has no shim section). */
int distro_boot_shim_files(const DistroBootData *d, const Arch *arch, ShimFiles *ret,
                           Diagnostics *diag);

/* The packages d names for bootloader on architecture (possibly none: an empty strv): the
 * architecture's own list, else the list for every architecture; NULL when d lists neither. */
const char *const *distro_boot_packages(const DistroBootData *d, const char *bootloader,
                                        const char *architecture);
