/* SPDX-License-Identifier: MIT */
/* The Debian backend's row: dpkg and apt, .deb files, Debian's package names and layout. */
#include "debian.h"

static const char *const grub_bios_packages[] = {"grub-pc-bin", NULL};
static const char *const grub_efi_packages[] = {"grub-efi-amd64-bin", NULL};
static const char *const systemd_boot_packages[] = {"systemd-boot-efi", NULL};
static const char *const shim_packages[] = {"shim-signed", "grub-efi-amd64-signed", NULL};
static const char *const grub_efi_arm64_packages[] = {"grub-efi-arm64-bin", NULL};
static const char *const shim_arm64_packages[] = {"shim-signed", "grub-efi-arm64-signed", NULL};

static const DistroBootPackages boot_packages[] = {
        {"systemd-boot", systemd_boot_packages, NULL},
        {"grub-bios", grub_bios_packages, NULL},
        {"grub-efi", grub_efi_packages, NULL},
        {"grub-efi", grub_efi_arm64_packages, "arm64"},
        {"shim", shim_packages, NULL},
        {"shim", shim_arm64_packages, "arm64"},
        {"uki", systemd_boot_packages, NULL},
        {NULL, NULL, NULL},
};

const DistroOps distro_debian = {
        .family = "debian",
        .package_format = "deb",
        .package_suffix = ".deb",
        .merged_usr = true,
        .esp_vendor_dir = "debian",
        .default_initramfs = "initramfs-tools",
        .purl_type = "deb",
        .purl_namespace = "debian",
        .boot_packages = boot_packages,
        .default_config_root = "/etc/apt",
        .repos_load = repo_sources_from_profile,
        .repos_fetch = repo_fetch_indexes,
        .resolver_family = "debian",
        .install_root = debian_install_root,
        .initramfs_settings = debian_initramfs_settings,
        .list_installed = debian_list_installed,
        .verify_installed = debian_verify_installed,
        .read_installed = debian_read_installed,
        .package_members = deb_list_members,
        .remove_path = debian_remove_path,
        .package_license = debian_package_license,
        .purl = sbom_deb_purl,
        .initramfs_list = debian_initramfs_list,
};
