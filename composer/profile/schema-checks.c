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

/* A control character (a newline above all) would start another line in the file the value
 * is written to: /etc/passwd, authorized_keys, a loader entry, a unit. */
static size_t printable_len(const char *s) {
        size_t n = 0;
        while (s[n] && (unsigned char)s[n] >= 0x20 && s[n] != 0x7f)
                n++;
        return n;
}

static bool has_control(const char *s) {
        return s[printable_len(s)] != 0;
}

/* Messages quote a value up to its first control character: a newline in a message would
 * look like a second one. */
#define SHOWN(s) (int)printable_len(s), (s), has_control(s) ? "..." : ""

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

/* Any family's package name: not empty, and no blank, control character or '/' (the rules of
 * the profile's family are checked once its family is known: check_package_names()). */
int check_package_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *name = node_map_get(n, "name");
        if (!name || name->type != NODE_SCALAR)
                return 0; /* reported by the schema walk */
        const char *s = name->scalar;
        bool ok = *s != 0;
        for (const char *p = s; ok && *p; p++)
                ok = (unsigned char)*p > 0x20 && *p != 0x7f && *p != '/';
        if (!ok)
                return bad(ctx, name,
                           "invalid package name '%.*s%s': empty, or a blank, a control character "
                           "or '/' in it",
                           SHOWN(s));
        return 0;
}

/* Debian Policy 5.6.1: lower case letters, digits, '+', '-', '.'; at least two characters,
 * starting with an alphanumeric character. */
static bool debian_package_name_ok(const char *s) {
        bool ok = strlen(s) >= 2 && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'));
        for (const char *p = s; ok && *p; p++)
                ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+-.", *p);
        return ok;
}

/* rpm's Name tag (rpmbuild's check): ASCII letters of either case, digits, '-', '.', '_', '+',
 * starting with a letter, a digit or '_' ("NetworkManager", "389-ds-base"). */
static bool rpm_package_name_ok(const char *s) {
        if (!all_chars_in(s, "-._+") || s[0] == '-' || s[0] == '.' || s[0] == '+')
                return false;
        return *s != 0;
}

/* Each family's package names: a row per distro.family the schema admits (families[] in
 * schema-tables.c). */
static const struct {
        const char *family;
        bool (*ok)(const char *name);
        const char *rule;
} family_package_names[] = {
        {"debian", debian_package_name_ok,
         "Debian package names are lower case letters, digits, '+', '-' and '.', at least two "
         "characters"},
        {"fedora", rpm_package_name_ok,
         "RPM package names are letters, digits, '-', '.', '_' and '+', starting with a letter, "
         "a digit or '_'"},
        {"azurelinux", rpm_package_name_ok,
         "RPM package names are letters, digits, '-', '.', '_' and '+', starting with a letter, "
         "a digit or '_'"},
};

int check_package_names(const Node *tree, Diagnostics *diag) {
        const Node *family = node_lookup(tree, "distro.family");
        if (!family || family->type != NODE_SCALAR)
                return 0; /* reported as a missing key */
        size_t i = 0;
        while (i < ELEMENTSOF(family_package_names) &&
               !streq(family_package_names[i].family, family->scalar))
                i++;
        if (i == ELEMENTSOF(family_package_names))
                return 0; /* an unknown family: the schema reports it */
        int r = 0;
        static const char *const lists[] = {"packages.install", "packages.remove"};
        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                const Node *list = node_lookup(tree, lists[l]);
                for (size_t j = 0; list && list->type == NODE_SEQ && j < list->n_items; j++) {
                        const Node *name = node_map_get(list->items[j], "name");
                        if (!name || name->type != NODE_SCALAR ||
                            family_package_names[i].ok(name->scalar))
                                continue;
                        diag_add(diag, &name->mark,
                                 "invalid package name '%s': %s (distro.family: "
                                 "%s, from %s:%u)",
                                 name->scalar, family_package_names[i].rule, family->scalar,
                                 family->mark.file, family->mark.line);
                        r = -EBADMSG;
                }
        }
        return r;
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
                /* FAT keeps no owners, modes or symlinks, and mcopy, which fills it, would
                 * follow the root's symlinks onto the build host. */
                if (streq(r, "root") && streq(v, "vfat"))
                        return bad(ctx, fs,
                                   "a root partition cannot be vfat: it keeps no owners, modes or "
                                   "symlinks%s",
                                   "");
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
                return bad(ctx, n, "invalid user or group name '%.*s%s'", SHOWN(s));
        return 0;
}

int check_abs_path(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (s[0] != '/')
                return bad(ctx, n, "path '%s' must be absolute (inside the image)", s);
        if (has_control(s))
                return bad(ctx, n, "path '%.*s%s' contains a control character", SHOWN(s));
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

/* An output's compression: only qcow2 compresses part by part (raw.zst is compressed
 * already, the others are not compressed). */
int check_output_item(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        Node *format = node_map_get(n, "format"), *c = node_map_get(n, "compression");
        if (!c || !format || format->type != NODE_SCALAR || c->type != NODE_SCALAR ||
            streq(c->scalar, "none") || streq(format->scalar, "qcow2"))
                return 0;
        diag_add(ctx->diag, &c->mark, "outputs: format '%s' has no compression option (only qcow2)",
                 format->scalar);
        return -EBADMSG;
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
                return bad(ctx, n, "invalid hostname '%.*s%s' (RFC 1123)", SHOWN(s));
        return 0;
}

int check_timezone(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || s[0] == '/' || strstr(s, "..") || !all_chars_in(s, "/_+-"))
                return bad(ctx, n, "invalid time zone '%.*s%s': expected a name like Etc/UTC",
                           SHOWN(s));
        return 0;
}

int check_kconfig(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!strneq(s, "CONFIG_", 7) || !s[7] || !all_chars_in(s + 7, "_"))
                return bad(ctx, n, "invalid Kconfig option '%s': expected CONFIG_NAME", s);
        return 0;
}

/* A login shell: an absolute path, one field of /etc/passwd (no ':'), no white space. */
int check_login_shell(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (s[0] != '/' || strpbrk(s, ": \t") || has_control(s) || strlen(s) > 255)
                return bad(ctx, n,
                           "invalid login shell '%.*s%s': expected an absolute path such as "
                           "/bin/bash, without ':', white space or control characters",
                           SHOWN(s));
        return 0;
}

/* An authorized_keys line: one line. */
int check_ssh_key(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        for (const char *p = s; *p; p++)
                if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return bad(ctx, n,
                                   "an SSH key must be one line without control characters: "
                                   "'%.*s%s'",
                                   SHOWN(s));
        if (!*s)
                return bad(ctx, n, "empty SSH key%s", "");
        return 0;
}

/* A crypt(3) hash: one field of /etc/shadow. */
int check_password_hash(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strpbrk(s, ": \t") || has_control(s))
                return bad(ctx, n,
                           "invalid password hash: a crypt(3) hash has no ':', white space or "
                           "control characters%s",
                           "");
        return 0;
}

int check_locale(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 64 || !all_chars_in(s, "._@-"))
                return bad(ctx, n,
                           "invalid locale '%.*s%s': expected a name like C.UTF-8 or en_US.UTF-8",
                           SHOWN(s));
        return 0;
}

/* A systemd unit or generator name (systemd.unit(5): letters, digits, ":-_.\@"), which is
 * also a file name: no '/', not "." or "..", not an option ("-..."). */
int check_unit_name(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 255 || s[0] == '-' || s[0] == '.' || !all_chars_in(s, ":-_.\\@"))
                return bad(ctx, n,
                           "invalid unit name '%.*s%s': letters, digits and ':-_.\\@', not "
                           "starting with '-' or '.'",
                           SHOWN(s));
        return 0;
}

/* A kernel command line argument: no control characters (the command line is one line of a
 * loader entry and of grub.cfg). */
int check_cmdline_arg(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        if (!*n->scalar || has_control(n->scalar))
                return bad(ctx, n,
                           "invalid kernel command line argument '%.*s%s': empty or with a "
                           "control character",
                           SHOWN(n->scalar));
        return 0;
}

/* A kernel module name (virtio_blk, hv-storvsc). */
int check_module_name(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 64 || s[0] == '-' || !all_chars_in(s, "_-"))
                return bad(ctx, n, "invalid module name '%.*s%s': letters, digits, '_' and '-'",
                           SHOWN(s));
        return 0;
}

/* net.ipv4.ip_forward, net/bridge/bridge-nf-call-iptables: the names sysctl.d(5) accepts. */
int check_sysctl_name(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 255 || !all_chars_in(s, "._-/*") || s[0] == '.' || s[0] == '/' ||
            strstr(s, ".."))
                return bad(ctx, n,
                           "invalid sysctl name '%.*s%s': letters, digits, '.', '/', '_', '-'",
                           SHOWN(s));
        return 0;
}

int check_sysctl_value(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        if (has_control(n->scalar) || !*n->scalar)
                return bad(ctx, n, "invalid sysctl value '%.*s%s': one line, not empty",
                           SHOWN(n->scalar));
        return 0;
}

/* sha256: and 64 lower-case hex digits, as the OCI image specification writes a digest. */
int check_oci_digest(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        bool ok = strncmp(s, "sha256:", 7) == 0 && strlen(s) == 7 + 64;
        for (size_t i = 7; ok && s[i]; i++)
                ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (!ok)
                return bad(ctx, n, "invalid digest '%.*s%s': sha256: and 64 lower-case hex digits",
                           SHOWN(s));
        return 0;
}

/* An image reference as containerd names images: registry/path:tag, no spaces. */
int check_image_ref(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        const char *s = n->scalar;
        if (!*s || strlen(s) > 255 || !all_chars_in(s, "._-/:@") || !strchr(s, '/'))
                return bad(ctx, n,
                           "invalid image name '%.*s%s': HOST/PATH:TAG (letters, digits, "
                           "'.', '_', '-', '/', ':', '@')",
                           SHOWN(s));
        return 0;
}

/* One argument of a unit's ExecStart=: no control characters; systemd's own quoting is done
 * where the unit is written. */
int check_unit_arg(const Field *f, Node *n, SchemaContext *ctx) {
        (void)f;
        if (has_control(n->scalar))
                return bad(ctx, n, "invalid argument '%.*s%s': one line", SHOWN(n->scalar));
        return 0;
}
