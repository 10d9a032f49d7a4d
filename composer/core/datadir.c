/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "vmcompose/profile.h"

/* A binary in the build tree uses the source tree's profiles and the build tree's init, so
 * that tests and `./build/vmcompose` never pick up an older installed copy. */
static bool running_from_build_tree(void) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return false;
        exe[n] = 0;
        size_t l = strlen(VMCOMPOSE_BUILD_DIR);
        return strneq(exe, VMCOMPOSE_BUILD_DIR, l) && exe[l] == '/';
}

const char *vmcompose_data_dir(void) {
        const char *e = getenv("VMCOMPOSE_DATA_DIR");

        if (e && *e)
                return e;
        return running_from_build_tree() ? VMCOMPOSE_SOURCE_DIR : VMCOMPOSE_INSTALL_DATADIR;
}

char *vmcompose_init_path(const Arch *arch) {
        const char *e = getenv("VMCOMPOSE_INIT");

        if (e && *e)
                return xstrdup(e);
        return xasprintf("%s/vmcompose-init.%s",
                         running_from_build_tree() ? VMCOMPOSE_BUILD_DIR
                                                   : VMCOMPOSE_INSTALL_LIBEXECDIR,
                         arch->name);
}

char *vmcompose_libexec_path(const char *name) {
        return xasprintf("%s/%s",
                         running_from_build_tree() ? VMCOMPOSE_BUILD_DIR
                                                   : VMCOMPOSE_INSTALL_LIBEXECDIR,
                         name);
}
