/* SPDX-License-Identifier: MIT */
/* The Debian backend's row: dpkg and apt, .deb files, Debian's layout (its boot loader packages
 * and ESP directory are data: bootloader/distro/debian.yaml). */
#include "debian.h"

const DistroOps distro_debian = {
        .family = "debian",
        .package_format = "deb",
        .package_suffix = ".deb",
        .merged_usr = true,
        .default_initramfs = "initramfs-tools",
        .purl_type = "deb",
        .purl_namespace = "debian",
        .kernel_package_hooks = true,
        .default_config_root = "/etc/apt",
        .repos_load = repo_sources_from_profile,
        .repos_fetch = repo_fetch_indexes,
        .resolver_family = "debian",
        .install_root = debian_install_root,
        .initramfs_settings = debian_initramfs_settings,
        .list_installed = debian_list_installed,
        .verify_installed = debian_verify_installed,
        .read_installed = debian_read_installed,
        .db_name = DEBIAN_DB_NAME,
        .db_status_path = "/var/lib/dpkg/status",
        .db_lists_dir = "/var/lib/dpkg/info",
        .parse_installed = debian_parse_installed,
        .list_package = debian_list_package,
        .package_members = deb_list_members,
        .remove_path = debian_remove_path,
        .package_license = debian_package_license,
        .purl = sbom_deb_purl,
        .initramfs_list = debian_initramfs_list,
};
