/* SPDX-License-Identifier: MIT */
/* The RPM backend's rows: Fedora and Azure Linux share rpm-md repositories, libsolv's rpm
 * resolver and librpm; they differ in the package URL's namespace and their boot data
 * (bootloader/distro/FAMILY.yaml). The repository and resolve fields are filled here; the
 * install side (librpm: install, rpmdb, signatures, licences) is issue #13's other half. */
#include "rpm.h"

#define RPM_COMMON                                                                                 \
        .package_format = "rpm", .package_suffix = ".rpm", .merged_usr = true, .purl_type = "rpm", \
        .default_config_root = "/etc/yum.repos.d", .repos_load = rpm_repos_load,                   \
        .repos_fetch = rpm_repo_fetch, .resolver_family = "rpm"

const DistroOps distro_fedora = {
        .family = "fedora",
        .purl_namespace = "fedora",
        RPM_COMMON,
};

const DistroOps distro_azurelinux = {
        .family = "azurelinux",
        .purl_namespace = "azurelinux",
        RPM_COMMON,
};
