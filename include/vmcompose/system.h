/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/profile.h"

/* The profile's system: section (composer/system/): hostname, timezone, locale, users and
 * their SSH keys, files, overlays, services, masked generators and the profile's scripts,
 * applied in that order to the configured root at root_dir (programs run in it with chroot).
 * system (typed at load, Profile.config) may be NULL (nothing to do). Returns 0, or the first
 * failure's negative errno (logged, with the failing program's output). Must run as root. */
int system_apply(const char *root_dir, const SystemConfig *system);
