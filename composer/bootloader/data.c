/* SPDX-License-Identifier: MIT */
/* The boot loaders' data files (DATA_DIR/bootloader/): text templates read at run time, in which
 * @NAME@ stands for a variable's value and @@ for one @, and the texts made from them (BLS
 * entries, loader.conf, grub.cfg, the boot report unit). */
#include <stdio.h>
#include <string.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/boottest.h"
#include "vmcompose/profile.h"

/* Boot data files are a few hundred bytes; anything much larger is not one. */
#define BOOT_DATA_MAX_SIZE (1u << 20)

static bool is_name_start(char c) {
        return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c) {
        return is_name_start(c) || (c >= '0' && c <= '9');
}

/* The length of the variable name at s when s[-1] is '@' and a closing '@' follows, else 0. */
static size_t name_length(const char *s, const char *end) {
        size_t n = 0;
        if (s >= end || !is_name_start(*s))
                return 0;
        while (s + n < end && is_name_char(s[n]))
                n++;
        return s + n < end && s[n] == '@' ? n : 0;
}

static const BootVar *var_find(const BootVar *vars, size_t n_vars, const char *name, size_t len) {
        for (size_t i = 0; i < n_vars; i++)
                if (strlen(vars[i].name) == len && strneq(vars[i].name, name, len))
                        return &vars[i];
        return NULL;
}

int boot_template_render(const char *path, const char *text, size_t size, const BootVar *vars,
                         size_t n_vars, char **ret, Diagnostics *diag) {
        const char *end = text + size;
        Mark m = {.file = path, .line = 1, .column = 1};
        Buffer b = {};
        int r = 0;

        for (const char *s = text; s < end;) {
                if (*s == 0) {
                        diag_add(diag, &m, "a NUL byte: not a text file");
                        r = -EBADMSG;
                        break;
                }
                size_t len = *s == '@' ? name_length(s + 1, end) : 0;
                if (*s == '@' && s + 1 < end && s[1] == '@') {
                        buffer_append(&b, "@", 1);
                        s += 2;
                        m.column += 2;
                        continue;
                }
                if (len == 0) {
                        buffer_append(&b, s, 1);
                        if (*s++ == '\n') {
                                m.line++;
                                m.column = 1;
                        } else
                                m.column++;
                        continue;
                }
                const BootVar *v = var_find(vars, n_vars, s + 1, len);
                if (!v) {
                        Buffer known = {};
                        for (size_t i = 0; i < n_vars; i++)
                                buffer_printf(&known, "%s@%s@", i ? ", " : "", vars[i].name);
                        diag_add(diag, &m,
                                 "unknown variable @%.*s@ (this file may use %s; @@ for an @)",
                                 (int)len, s + 1, known.data ? known.data : "none");
                        buffer_done(&known);
                        r = -EBADMSG;
                } else
                        buffer_append(&b, v->value, strlen(v->value));
                s += len + 2;
                m.column += (unsigned)len + 2;
        }
        if (r < 0) {
                buffer_done(&b);
                return r;
        }
        *ret = b.data ? buffer_steal(&b) : xstrdup("");
        return 0;
}

int boot_data_render(const char *data_dir, const char *name, const BootVar *vars, size_t n_vars,
                     char **ret, Diagnostics *diag) {
        _cleanup_free_ char *path = xasprintf("%s/bootloader/%s", data_dir, name);
        _cleanup_free_ char *text = NULL;
        size_t size;

        int r = read_full_file(path, BOOT_DATA_MAX_SIZE, &text, &size);
        if (r < 0) {
                diag_add(diag, &(Mark){.file = path}, "cannot read this boot data file: %s",
                         strerror(-r));
                return r;
        }
        return boot_template_render(path, text, size, vars, n_vars, ret, diag);
}

int bls_entry(const char *data_dir, const BootEntry *e, char **ret, Diagnostics *diag) {
        const BootVar vars[] = {
                {"TITLE", e->title},        {"VERSION", e->version}, {"LINUX", e->linux_path},
                {"INITRD", e->initrd_path}, {"OPTIONS", e->options},
        };
        return boot_data_render(data_dir, "systemd-boot/entry.conf", vars, ELEMENTSOF(vars), ret,
                                diag);
}

int loader_conf(const char *data_dir, const char *default_entry, char **ret, Diagnostics *diag) {
        const BootVar vars[] = {{"DEFAULT_ENTRY", default_entry}};
        return boot_data_render(data_dir, "systemd-boot/loader.conf", vars, ELEMENTSOF(vars), ret,
                                diag);
}

int grub_cfg(const char *data_dir, const BootEntry *e, char **ret, Diagnostics *diag) {
        const BootVar vars[] = {
                {"TITLE", e->title},        {"VERSION", e->version}, {"LINUX", e->linux_path},
                {"INITRD", e->initrd_path}, {"OPTIONS", e->options}, {"ROOT_UUID", e->root_fs_uuid},
        };
        return boot_data_render(data_dir, "grub/grub.cfg", vars, ELEMENTSOF(vars), ret, diag);
}

int grub_early_cfg(const char *data_dir, const char *root_fs_uuid, char **ret, Diagnostics *diag) {
        const BootVar vars[] = {{"ROOT_UUID", root_fs_uuid}};
        return boot_data_render(data_dir, "grub/early.cfg", vars, ELEMENTSOF(vars), ret, diag);
}

int boot_ready_unit(const char *data_dir, char **ret, Diagnostics *diag) {
        const BootVar vars[] = {
                {"READY_MARKER", BOOT_MARKER_READY},
                {"DEGRADED_MARKER", BOOT_MARKER_DEGRADED},
        };
        return boot_data_render(data_dir, "vmcompose-ready.service", vars, ELEMENTSOF(vars), ret,
                                diag);
}

int bootloader_check_data(const char *data_dir, const Bootloader *b, Diagnostics *diag) {
        static const BootEntry e = {"", "", "", "", "", ""};
        char *text[5] = {};
        int rs[5] = {}, r = 0;

        if (b->texts & BOOT_TEXT_BLS_ENTRY)
                rs[0] = bls_entry(data_dir, &e, &text[0], diag);
        if (b->texts & BOOT_TEXT_LOADER_CONF)
                rs[1] = loader_conf(data_dir, "", &text[1], diag);
        if (b->texts & BOOT_TEXT_GRUB_CFG)
                rs[2] = grub_cfg(data_dir, &e, &text[2], diag);
        if (b->texts & BOOT_TEXT_GRUB_EARLY)
                rs[3] = grub_early_cfg(data_dir, "", &text[3], diag);
        rs[4] = boot_ready_unit(data_dir, &text[4], diag);
        for (size_t i = 0; i < ELEMENTSOF(rs); i++) {
                free(text[i]);
                if (rs[i] < 0 && r == 0)
                        r = rs[i];
        }
        return r;
}
