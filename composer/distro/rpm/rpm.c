/* SPDX-License-Identifier: MIT */
/* The RPM backend's rows: Fedora and Azure Linux share rpm-md repositories, libsolv's rpm
 * resolver and librpm; they differ in the package URL's namespace and their boot data
 * (bootloader/distro/FAMILY.yaml). The repository and resolve fields are repo.c's and
 * resolve-rpm.c's; the install side (librpm: signatures, install, the rpmdb, licences) is
 * verify.c's, install.c's and db.c's (rpm-install.h). */
#include "rpm-install.h"
#include "rpm.h"

/* The install side, the same for both families. The RPM families use vmcompose's own initramfs
 * (no dracut in the image unless a profile asks for it). */
#define RPM_INSTALL                                                                                \
        .default_initramfs = "vmcompose", .install_root = rpm_install_root,                        \
        .initramfs_settings = rpm_initramfs_settings, .list_installed = rpm_list_installed,        \
        .verify_installed = rpm_verify_installed, .read_installed = rpm_read_installed,            \
        .db_name = RPM_DB_NAME, .db_status_path = RPM_DBPATH "/rpmdb.sqlite",                      \
        .db_lists_dir = RPM_DBPATH, .parse_installed = rpm_parse_installed,                        \
        .list_package = rpm_list_package, .package_members = rpm_package_members,                  \
        .remove_path = rpm_remove_path, .package_license = rpm_package_license,                    \
        .initramfs_list = rpm_initramfs_list

#define RPM_COMMON                                                                                 \
        .package_format = "rpm", .package_suffix = ".rpm", .merged_usr = false,                    \
        .purl_type = "rpm", .default_config_root = "/etc/yum.repos.d",                             \
        .repos_load = rpm_repos_load, .repos_fetch = rpm_repo_fetch, .resolver_family = "rpm"

const DistroOps distro_fedora = {
        .family = "fedora",
        .purl_namespace = "fedora",
        .purl = rpm_purl_fedora,
        RPM_COMMON,
        RPM_INSTALL,
};

const DistroOps distro_azurelinux = {
        .family = "azurelinux",
        .purl_namespace = "azurelinux",
        .purl = rpm_purl_azurelinux,
        RPM_COMMON,
        RPM_INSTALL,
};
