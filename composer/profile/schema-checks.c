/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "schema-checks.h"

/* Adds a diagnostic at n and evaluates to -EBADMSG. */
#define bad(ctx, n, ...) (diag_add((ctx)->diag, &(n)->mark, __VA_ARGS__), -EBADMSG)

static bool all_chars_in(const char *s, const char *extra) {
        for (; *s; s++) {
                char c = *s;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || (c && strchr(extra, c));
                if (!ok)
                        return false;
        }
        return true;
}

int check_name(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 64 || s[0] == '.' || s[0] == '-' || !all_chars_in(s, "._-"))
                return bad(ctx, n,
                           "invalid name '%s': use 1-64 letters, digits, '.', '_' or '-', "
                           "not starting with '.' or '-'",
                           s);
        return 0;
}

int check_uri(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!strneq(s, "http://", 7) && !strneq(s, "https://", 8) && !strneq(s, "file://", 7))
                return bad(ctx, n,
                           "unsupported repository URI '%s': use http://, https:// or "
                           "file://",
                           s);
        if (strpbrk(s, " \t\n"))
                return bad(ctx, n, "repository URI '%s' contains white space", s);
        return 0;
}

/* Debian policy 5.6.1: lower case letters, digits, '+', '-', '.'; at least two characters,
 * starting with an alphanumeric character. */
int check_package_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *name = node_map_get(n, "name");
        if (!name || name->type != NODE_SCALAR)
                return 0; /* reported by the schema walk */
        const char *s = name->scalar;
        bool ok = strlen(s) >= 2 && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'));
        for (const char *p = s; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+-.", *p);
        if (!ok)
                return bad(ctx, name,
                           "invalid package name '%s': Debian package names are lower case "
                           "letters, digits, '+', '-' and '.', at least two characters",
                           s);
        return 0;
}

int check_policy_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *name = node_map_get(n, "name");
        if (name && name->type == NODE_SCALAR && !*name->scalar)
                return bad(ctx, name, "empty policy name%s", "");
        return 0;
}

/* An exception to a policy is itself a deviation that must be explained. */
int check_allow_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *name = node_map_get(n, "name");
        if (name && name->type == NODE_SCALAR && !*name->scalar)
                return bad(ctx, name, "empty name in allow:%s", "");
        if (n->type == NODE_MAP && !node_map_get(n, "why"))
                return bad(ctx, name ? name : n, "the exception '%s' needs a why:",
                           name && name->type == NODE_SCALAR ? name->scalar : "?");
        return 0;
}

int check_kernel_target(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        if (!*n->scalar)
                return bad(ctx, n, "empty kernel target%s", "");
        return 0;
}

int check_label(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        /* GPT partition names hold 36 UTF-16 code units; filesystem limits (ext4: 16 bytes,
         * vfat: 11) are checked by the disk stage, which knows the filesystem. */
        if (strlen(n->scalar) > 36)
                return bad(ctx, n, "label '%s' is longer than 36 characters", n->scalar);
        if (!*n->scalar)
                return bad(ctx, n, "empty label%s", "");
        return 0;
}

int check_partition(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *role = node_map_get(n, "role"), *fs = node_map_get(n, "fs");
        Node *size = node_map_get(n, "size"), *free_ = node_map_get(n, "free");
        if (!role || role->type != NODE_SCALAR)
                return 0;
        const char *r = role->scalar;

        if (fs && fs->type == NODE_SCALAR) {
                const char *v = fs->scalar;
                if (streq(r, "esp") && !streq(v, "vfat"))
                        return bad(ctx, fs, "an esp partition must have fs: vfat, not '%s'", v);
                if (streq(r, "bios-boot"))
                        return bad(ctx, fs, "a bios-boot partition holds no filesystem (got '%s')",
                                   v);
                if (streq(r, "swap") != streq(v, "swap"))
                        return bad(ctx, fs,
                                   "fs: swap goes with role: swap and only with it "
                                   "(got '%s')",
                                   v);
        }
        if (free_ && (!size || size->type != NODE_SCALAR || !streq(size->scalar, "auto")))
                return bad(ctx, free_, "free: only applies to a partition with size: auto%s", "");
        return 0;
}

int check_user_name(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        /* useradd's default NAME_REGEX, plus upper case letters are refused. */
        const char *s = n->scalar;
        bool ok = *s && strlen(s) <= 32 && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
        for (const char *p = s; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_-", *p);
        if (!ok)
                return bad(ctx, n, "invalid user or group name '%s'", s);
        return 0;
}

int check_abs_path(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (s[0] != '/')
                return bad(ctx, n, "path '%s' must be absolute (inside the image)", s);
        for (const char *p = s; (p = strstr(p, "..")); p += 2)
                if ((p == s || p[-1] == '/') && (p[2] == '/' || p[2] == 0))
                        return bad(ctx, n, "path '%s' must not contain '..'", s);
        if (streq(s, "/"))
                return bad(ctx, n, "path '%s' names the root directory, not a file", s);
        return 0;
}

int check_mode(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        size_t l = strlen(s);
        bool ok = l >= 3 && l <= 5;
        for (const char *p = s; ok && *p; p++)
                ok = *p >= '0' && *p <= '7';
        if (ok && l == 5 && s[0] != '0')
                ok = false;
        if (!ok)
                return bad(ctx, n, "invalid mode '%s': expected octal such as 0644 or 0755", s);
        return 0;
}

int check_file_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        bool content = node_map_get(n, "content"), source = node_map_get(n, "source");
        if (content == source) {
                diag_add(ctx->diag, &n->mark, "a file needs exactly one of content: or source:");
                return -EBADMSG;
        }
        return 0;
}

/* RFC 1123 host names: labels of letters, digits and '-', not starting or ending with '-'. */
int check_hostname(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        size_t total = strlen(s);
        bool ok = total > 0 && total <= 253;
        for (const char *p = s; ok && *p;) {
                size_t l = strcspn(p, ".");
                ok = l > 0 && l <= 63 && p[0] != '-' && p[l - 1] != '-';
                for (size_t i = 0; ok && i < l; i++)
                        ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                             (p[i] >= '0' && p[i] <= '9') || p[i] == '-';
                p += l;
                if (*p == '.') {
                        p++;
                        ok = ok && *p;
                }
        }
        if (!ok)
                return bad(ctx, n, "invalid hostname '%s' (RFC 1123)", s);
        return 0;
}

int check_timezone(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || s[0] == '/' || strstr(s, "..") || !all_chars_in(s, "/_+-"))
                return bad(ctx, n, "invalid time zone '%s': expected a name like Etc/UTC", s);
        return 0;
}

int check_kconfig(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!strneq(s, "CONFIG_", 7) || !s[7] || !all_chars_in(s + 7, "_"))
                return bad(ctx, n, "invalid Kconfig option '%s': expected CONFIG_NAME", s);
        return 0;
}
