/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "vmcompose/macro.h"

typedef enum LogLevel {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE, /* default: what a user wants to see */
        LOG_LEVEL_INFO,   /* -v */
        LOG_LEVEL_DEBUG,  /* -vv, or VMCOMPOSE_DEBUG=subsystem,... */
        _LOG_LEVEL_MAX,
        _LOG_LEVEL_INVALID = -EINVAL,
} LogLevel;

void log_set_max_level(LogLevel level);
LogLevel log_get_max_level(void);

/* Parses VMCOMPOSE_DEBUG ("all" or a comma-separated list of subsystems). */
void log_parse_environment(void);
bool log_debug_enabled(const char *subsystem);

/* Logs a message; "%m" expands to strerror(-error) when error != 0. Returns error, which is
 * normalised to a negative value, so callers can write "return log_error_errno(r, ...)". */
int log_internal(LogLevel level, int error, const char *subsystem, const char *file, int line,
                 const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                          \
        log_internal(level, error, NULL, __FILE_NAME__, __LINE__, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_LEVEL_ERROR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_LEVEL_WARNING, error, __VA_ARGS__)
#define log_error(...) (void)log_full_errno(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning(...) (void)log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void)log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void)log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
/* Debug output for one subsystem: shown with -vv or VMCOMPOSE_DEBUG=subsystem. */
#define log_debug_sub(subsystem, ...)                                                              \
        (void)(log_debug_enabled(subsystem) ? log_internal(LOG_LEVEL_DEBUG, 0, subsystem,          \
                                                           __FILE_NAME__, __LINE__, __VA_ARGS__)   \
                                            : 0)
