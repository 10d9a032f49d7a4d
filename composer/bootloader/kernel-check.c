/* SPDX-License-Identifier: MIT */
/* What a kernel target's checks read (moved from composer/pipeline/stage-bootloader.c): an
 * option's state in a kernel's config file, and the modules an initramfs holds or the kernel
 * has built in. Pure functions on the texts. */
#include <string.h>

#include "vmcompose/bootloader.h"

char kconfig_state(const char *config, const char *option) {
        _cleanup_free_ char *y = xasprintf("\n%s=y\n", option);
        _cleanup_free_ char *m = xasprintf("\n%s=m\n", option);
        if (config && strstr(config, y))
                return 'y';
        if (config && strstr(config, m))
                return 'm';
        return 0;
}

bool kconfig_meets(char state, const char *want) {
        if (streq(want, "y"))
                return state == 'y';
        if (streq(want, "m"))
                return state == 'm';
        return state == 'y' || state == 'm';
}

bool kernel_has_module(const char *list, const char *builtin, const char *name) {
        /* Module file names use '-' or '_' interchangeably. */
        _cleanup_free_ char *a = xasprintf("/%s.ko", name);
        _cleanup_free_ char *b = xstrdup(a);
        for (char *ch = b; *ch; ch++)
                if (*ch == '_')
                        *ch = '-';
        return (list && (strstr(list, a) || strstr(list, b))) ||
               (builtin && (strstr(builtin, a) || strstr(builtin, b)));
}

char **kernel_module_names(const char *list, const char *builtin) {
        char **names = NULL;
        const char *const texts[] = {list, builtin};
        for (size_t t = 0; t < ELEMENTSOF(texts); t++)
                for (const char *line = texts[t]; line && *line;) {
                        size_t len = strcspn(line, "\n");
                        const char *slash = memrchr(line, '/', len);
                        const char *ko = slash ? strstr(slash, ".ko") : NULL;
                        if (ko && ko < line + len) {
                                char *name = xstrndup(slash + 1, (size_t)(ko - slash - 1));
                                for (char *c = name; *c; c++)
                                        if (*c == '-')
                                                *c = '_';
                                strv_push(&names, name);
                        }
                        line += len + (line[len] == '\n');
                }
        return names;
}
