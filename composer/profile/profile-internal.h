/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/profile.h"

/* Fills p->config from the loaded profile (composer/profile/config.c). 0, or -EBADMSG with
 * each value that does not parse in diag. */
int profile_config_load(Profile *p, Diagnostics *diag);
void profile_config_done(ProfileConfig *c, size_t n_policies);
