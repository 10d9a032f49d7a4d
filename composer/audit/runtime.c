/* SPDX-License-Identifier: MIT */
/* The container runtime part of the audit: the runtimes' API sockets (whoever may connect to
 * one runs containers as root) and the images baked in by vmcompose (containers:). Pure text
 * and archive parsing; composer/audit/image.c reads the files from the image. */
#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#include "vmcompose/audit.h"
#include "vmcompose/node.h"

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

/* "REF sha256:..." for each manifest of an index.json's text that names an image
 * (io.containerd.image.name, else org.opencontainers.image.ref.name). */
static void index_images(const char *json, size_t size, char ***images) {
        Diagnostics diag = {};
        _cleanup_(node_freep) Node *root = NULL;
        if (node_parse_yaml("index.json", json, size, &diag, &root) < 0) {
                diag_done(&diag);
                return;
        }
        diag_done(&diag);
        const Node *m = node_map_typed(root, "manifests", NODE_SEQ);
        for (size_t i = 0; m && i < m->n_items; i++) {
                const Node *ann = node_map_typed(m->items[i], "annotations", NODE_MAP);
                const char *digest = node_map_scalar(m->items[i], "digest");
                const char *name =
                        node_map_scalar(ann, "io.containerd.image.name")
                                ?: node_map_scalar(ann, "org.opencontainers.image.ref.name");
                if (digest)
                        strv_push(images, xasprintf("%s %s", name ?: "(unnamed)", digest));
        }
}

int audit_oci_archive_images(const void *data, size_t size, char ***ret) {
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) {
                archive_read_free(a);
                return -EBADMSG;
        }
        struct archive_entry *e;
        int r = -ENOENT;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                if (!name || (!streq(name, "index.json") && !streq(name, "./index.json")))
                        continue;
                la_int64_t len = archive_entry_size(e);
                if (len <= 0 || len > (1 << 20))
                        break;
                _cleanup_free_ char *json = xmalloc((size_t)len + 1);
                if (archive_read_data(a, json, (size_t)len) != len) {
                        r = -EBADMSG;
                        break;
                }
                json[len] = 0;
                index_images(json, (size_t)len, ret);
                r = 0;
                break;
        }
        archive_read_free(a);
        return r;
}
