/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/diff.h"

/* Formats a message into *ret_error (the caller frees it) and returns r: for the readers, which
 * return their errors with a description rather than logging them. */
int diff_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
