/* SPDX-License-Identifier: MIT */
/* The table of distribution backends: one row per package family. */
#include <string.h>

#include "vmcompose/distro.h"

extern const DistroOps distro_debian;

static const DistroOps *const distros[] = {
        &distro_debian,
};

const DistroOps *distro_find(const char *family) {
        for (size_t i = 0; family && i < ELEMENTSOF(distros); i++)
                if (streq(distros[i]->family, family))
                        return distros[i];
        return NULL;
}

const DistroOps *const *distro_list(size_t *ret_n) {
        *ret_n = ELEMENTSOF(distros);
        return distros;
}

const char *const *distro_boot_packages(const DistroOps *ops, const char *bootloader,
                                        const char *architecture) {
        const char *const *any = NULL;
        for (const DistroBootPackages *b = ops->boot_packages; b && b->bootloader; b++) {
                if (!streq(b->bootloader, bootloader))
                        continue;
                if (!b->architecture)
                        any = any ?: b->packages;
                else if (architecture && streq(b->architecture, architecture))
                        return b->packages;
        }
        return any;
}
