/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vmcompose/profile.h"

const char *vmcompose_data_dir(void) {
        static char exe[PATH_MAX];
        const char *e = getenv("VMCOMPOSE_DATA_DIR");

        if (e && *e)
                return e;

        /* A binary in the build tree uses the source tree's profiles, so that tests and
         * `./build/vmcompose` never pick up an older installed copy. */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                size_t l = strlen(VMCOMPOSE_BUILD_DIR);
                if (strneq(exe, VMCOMPOSE_BUILD_DIR, l) && exe[l] == '/')
                        return VMCOMPOSE_SOURCE_DIR;
        }
        return VMCOMPOSE_INSTALL_DATADIR;
}

const char *vmcompose_init_path(void) {
        static char exe[PATH_MAX];
        const char *e = getenv("VMCOMPOSE_INIT");

        if (e && *e)
                return e;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                size_t l = strlen(VMCOMPOSE_BUILD_DIR);
                if (strneq(exe, VMCOMPOSE_BUILD_DIR, l) && exe[l] == '/')
                        return VMCOMPOSE_BUILD_DIR "/vmcompose-init";
        }
        return VMCOMPOSE_INSTALL_LIBEXECDIR "/vmcompose-init";
}
