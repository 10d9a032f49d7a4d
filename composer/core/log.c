/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/log.h"

static LogLevel max_level = LOG_LEVEL_NOTICE;
static char *debug_subsystems; /* NULL: none; "all": every subsystem */

void log_set_max_level(LogLevel level) {
        max_level = level;
}

LogLevel log_get_max_level(void) {
        return max_level;
}

void log_parse_environment(void) {
        const char *e = getenv("VMCOMPOSE_DEBUG");

        free(debug_subsystems);
        debug_subsystems = e && *e ? xstrdup(e) : NULL;
}

bool log_debug_enabled(const char *subsystem) {
        if (max_level >= LOG_LEVEL_DEBUG)
                return true;
        if (!debug_subsystems || !subsystem)
                return false;
        if (streq(debug_subsystems, "all") || streq(debug_subsystems, "1"))
                return true;

        size_t n = strlen(subsystem);
        for (const char *p = debug_subsystems; *p;) {
                size_t l = strcspn(p, ",");
                if (l == n && strneq(p, subsystem, n))
                        return true;
                p += l;
                if (*p == ',')
                        p++;
        }
        return false;
}

int log_internal(LogLevel level, int error, const char *subsystem, const char *file, int line,
                 const char *fmt, ...) {
        if (error > 0)
                error = -error;

        bool show = level <= max_level ||
                    (level == LOG_LEVEL_DEBUG && subsystem && log_debug_enabled(subsystem));
        if (!show)
                return error;

        int saved_errno = errno;
        /* "%m" means the error passed in, not whatever errno happens to hold now. */
        errno = error != 0 ? -error : saved_errno;

        va_list ap;
        va_start(ap, fmt);
        flockfile(stderr);
        if (level == LOG_LEVEL_DEBUG)
                fprintf(stderr, "vmcompose[%s] %s:%d: ", subsystem ? subsystem : "debug", file,
                        line);
        else if (level == LOG_LEVEL_WARNING)
                fputs("warning: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        funlockfile(stderr);
        va_end(ap);

        errno = saved_errno;
        return error;
}
