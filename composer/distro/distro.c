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

const DistroOps *distro_find_format(const char *package_format) {
        for (size_t i = 0; package_format && i < ELEMENTSOF(distros); i++)
                if (streq(distros[i]->package_format, package_format))
                        return distros[i];
        return NULL;
}

bool distro_is_database_file(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(distros); i++) {
                const DistroOps *d = distros[i];
                size_t l = strlen(d->db_lists_dir);
                if (streq(path, d->db_status_path))
                        return true;
                if (strneq(path, d->db_lists_dir, l) && path[l] == '/' &&
                    d->list_package(path + l + 1) > 0)
                        return true;
        }
        return false;
}
