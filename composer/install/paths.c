/* SPDX-License-Identifier: MIT */
/* Which archive members may be written, and which the policy strips. Pure logic. */
#include <fnmatch.h>
#include <string.h>

#include "vmcompose/install.h"
#include "vmcompose/util.h"

bool install_member_path_ok(const char *member, char **ret) {
        Buffer b = {};
        const char *p = member;

        if (!member || !*member)
                return false;
        if (member[0] == '/')
                return false; /* absolute: dpkg archives are always relative */
        while (*p) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        buffer_done(&b);
                        return false;
                }
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (b.len)
                                buffer_putc(&b, '/');
                        buffer_append(&b, p, n);
                }
                p += n;
                while (*p == '/')
                        p++;
        }
        if (ret)
                *ret = buffer_steal(&b);
        else
                buffer_done(&b);
        return true;
}

bool install_path_excluded(const char *path, char *const *exclude, char *const *include) {
        bool excluded = false;
        for (char *const *e = exclude; e && *e; e++)
                if (fnmatch(*e, path, 0) == 0) {
                        excluded = true;
                        break;
                }
        if (!excluded)
                return false;
        for (char *const *i = include; i && *i; i++)
                if (fnmatch(*i, path, 0) == 0)
                        return false;
        return true;
}
