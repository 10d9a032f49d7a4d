/* SPDX-License-Identifier: MIT */
/* The container runtime part of the audit: the runtimes' API sockets (whoever may connect to
 * one runs containers as root). Pure text parsing; composer/audit/image.c reads the files from
 * the image, and containerd's images with containerd_meta_images(). */
#include <string.h>

#include "vmcompose/audit.h"

/* The value of `address = "..."` in config.toml's [grpc] table (containerd's API socket), or
 * NULL when the file does not set it. Comments and other tables are skipped. */
char *audit_containerd_address(const char *config) {
        bool grpc = false;
        for (const char *line = config; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                _cleanup_free_ char *l = xstrndup(line, len);
                char *s = l + strspn(l, " \t");
                if (*s == '[')
                        grpc = strneq(s, "[grpc]", 6);
                else if (grpc && strneq(s, "address", 7)) {
                        char *eq = strchr(s, '='), *q1 = eq ? strchr(eq, '"') : NULL;
                        char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
                        if (q2 && q2 > q1 + 1)
                                return xstrndup(q1 + 1, (size_t)(q2 - q1 - 1));
                }
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}
