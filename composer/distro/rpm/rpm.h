/* SPDX-License-Identifier: MIT */
#pragma once

/* The RPM backend's operations (composer/distro/rpm/), shared by the fedora and azurelinux
 * rows (rpm.c). */
#include "vmcompose/distro.h"

/* repo.c. The profile's distro.repositories as rpm-md sources: uri is the baseurl, suite the
 * repository's id, signed-by its key (required unless allow-unsigned: true). "system" is
 * refused: the host's dnf configuration is not read. 0, or -EBADMSG with each problem in diag. */
int rpm_repos_load(const ProfileRepository *repos, size_t n, const char *config_root,
                   RepoSources *ret, Diagnostics *diag);
/* Fetches src's repodata/repomd.xml, verifies it with gpgv against src's key only (unless
 * allow-unsigned), then its primary and filelists into cache_dir, each checked against
 * repomd.xml's SHA-256, and appends one RepoIndex to *ret. 0, or a negative errno with the
 * repository and the file named in the log (-EBADMSG: a bad or missing signature, a checksum
 * that does not match). */
int rpm_repo_fetch(const RepoSource *src, const char *arch, const char *cache_dir,
                   RepoIndexes *ret);
