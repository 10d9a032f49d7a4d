/* SPDX-License-Identifier: MIT */
/* A family's boot data (DATA_DIR/bootloader/distro/FAMILY.yaml): the ESP vendor directory, where
 * the family mounts the ESP and the packages of each boot loader, read at run time. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/arch.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/distro.h"

#define BOOT_DATA_MAX_SIZE (1u << 20)

/* A package or directory name: not empty, no blank, no slash, not "." or "..". */
static bool word_ok(const char *s) {
        return *s && !strpbrk(s, " \t\n/") && !streq(s, ".") && !streq(s, "..");
}

static void add_row(DistroBootData *d, const char *bootloader, const char *architecture,
                    char **names) {
        d->bootloaders = xrealloc(d->bootloaders, (d->n_rows + 1) * sizeof(*d->bootloaders));
        d->architectures = xrealloc(d->architectures, (d->n_rows + 1) * sizeof(*d->architectures));
        d->packages = xrealloc(d->packages, (d->n_rows + 1) * sizeof(*d->packages));
        d->bootloaders[d->n_rows] = xstrdup(bootloader);
        d->architectures[d->n_rows] = architecture ? xstrdup(architecture) : NULL;
        d->packages[d->n_rows++] = names;
}

/* A list of package names (what names the field in messages: "shim" or "shim.arm64"). */
static void parse_list(const Node *list, const char *what, const char *bootloader,
                       const char *architecture, DistroBootData *d, Diagnostics *diag) {
        if (list->type != NODE_SEQ) {
                diag_add(diag, &list->mark,
                         "packages.%s: a list of package names%s is expected, not %s", what,
                         architecture ? "" : " (or a mapping of architecture to list)",
                         node_type_describe(list));
                return;
        }
        char **names = xcalloc(1, sizeof(char *)); /* empty, not NULL */
        for (size_t j = 0; j < list->n_items; j++) {
                const Node *n = list->items[j];
                if (n->type != NODE_SCALAR || !word_ok(n->scalar))
                        diag_add(diag, &n->mark, "packages.%s: a package name is expected, not %s",
                                 what, n->type == NODE_SCALAR ? "this" : node_type_describe(n));
                else
                        strv_extend(&names, n->scalar);
        }
        add_row(d, bootloader, architecture, names);
}

/* packages: each boot loader's list, for every architecture; or a mapping of architecture (the
 * architecture table's names) to its list. */
static void parse_packages(const Node *map, DistroBootData *d, Diagnostics *diag) {
        if (map->type != NODE_MAP) {
                diag_add(diag, &map->mark,
                         "packages: a mapping of boot loader to package list is expected, not %s",
                         node_type_describe(map));
                return;
        }
        for (size_t i = 0; i < map->n_pairs; i++) {
                const NodePair *pair = &map->pairs[i];
                const Node *v = pair->value;
                if (!bootloader_find(pair->key)) {
                        diag_add(diag, &pair->key_mark,
                                 "packages: %s is not a boot loader vmcompose makes", pair->key);
                        continue;
                }
                if (v->type != NODE_MAP) {
                        parse_list(v, pair->key, pair->key, NULL, d, diag);
                        continue;
                }
                for (size_t j = 0; j < v->n_pairs; j++) {
                        const NodePair *a = &v->pairs[j];
                        if (!arch_find(a->key)) {
                                diag_add(diag, &a->key_mark,
                                         "packages.%s: vmcompose builds images for %s, not %s",
                                         pair->key, arch_names(), a->key);
                                continue;
                        }
                        _cleanup_free_ char *what = xasprintf("%s.%s", pair->key, a->key);
                        parse_list(a->value, what, pair->key, a->key, d, diag);
                }
        }
}

/* An absolute path without "." or ".." components, empty ones or a trailing '/'. */
static bool absolute_path_ok(const char *s) {
        bool ok = s[0] == '/' && s[1] && s[strlen(s) - 1] != '/';
        _cleanup_free_ char *copy = xstrdup(s);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); ok && c; c = strtok_r(NULL, "/", &save))
                ok = word_ok(c);
        return ok;
}

/* The variables of the shim section's paths, for architecture a. */
static void shim_vars(const Arch *a, BootVar vars[2]) {
        vars[0] = (BootVar){"EFI_SUFFIX", a->efi_suffix};
        vars[1] = (BootVar){"GRUB_EFI_PLATFORM", a->grub_efi_platform};
}

/* path (a shim section's value, what its key) rendered for a: an absolute path without "." or
 * ".." components, returned without its leading '/' (caller frees); NULL with the problem in
 * diag at mark. */
static char *shim_path(const char *path, const char *what, const Mark *mark, const Arch *a,
                       Diagnostics *diag) {
        BootVar vars[2];
        Diagnostics inner = {};
        char *s = NULL;

        shim_vars(a, vars);
        if (boot_template_render(what, path, strlen(path), vars, ELEMENTSOF(vars), &s, &inner) <
            0) {
                diag_add(diag, mark, "%s", inner.messages[0]);
                diag_done(&inner);
                return NULL;
        }
        if (!absolute_path_ok(s)) {
                diag_add(diag, mark, "%s: an absolute path without '.' or '..' is expected, not %s",
                         what, s);
                free(s);
                return NULL;
        }
        memmove(s, s + 1, strlen(s));
        return s;
}

/* shim: where shim, GRUB and MokManager are in the root once the packages are installed (each
 * checked for every architecture), and where GRUB's configuration goes on the ESP. */
static void parse_shim(const Node *map, DistroBootData *d, Diagnostics *diag) {
        static const char *const keys[] = {"shim", "grub", "mok-manager", "grub-cfg"};
        if (map->type != NODE_MAP) {
                diag_add(diag, &map->mark, "shim: a mapping (%s, %s, %s, %s) is expected, not %s",
                         keys[0], keys[1], keys[2], keys[3], node_type_describe(map));
                return;
        }
        char **fields[] = {&d->shim.shim, &d->shim.grub, &d->shim.mok_manager};
        size_t n_arches;
        const Arch *arches = arch_all(&n_arches);
        for (size_t i = 0; i < map->n_pairs; i++) {
                const NodePair *pair = &map->pairs[i];
                const Node *v = pair->value;
                size_t k = 0;
                while (k < ELEMENTSOF(keys) && !streq(keys[k], pair->key))
                        k++;
                _cleanup_free_ char *what = xasprintf("shim.%s", pair->key);
                if (k == ELEMENTSOF(keys)) {
                        diag_add(diag, &pair->key_mark, "unknown key %s (%s, %s, %s, %s)", what,
                                 keys[0], keys[1], keys[2], keys[3]);
                        continue;
                }
                const Node *const *items = &v;
                size_t n = 1;
                if (k == 3 && v->type == NODE_SEQ) {
                        items = (const Node *const *)v->items;
                        n = v->n_items;
                }
                for (size_t j = 0; j < n; j++) {
                        const Node *it = items[j];
                        if (it->type != NODE_SCALAR) {
                                diag_add(diag, &it->mark, "%s: a path is expected, not %s", what,
                                         node_type_describe(it));
                                continue;
                        }
                        bool ok = true;
                        for (size_t a = 0; ok && a < n_arches; a++) {
                                _cleanup_free_ char *s =
                                        shim_path(it->scalar, what, &it->mark, &arches[a], diag);
                                ok = s != NULL;
                        }
                        if (!ok)
                                continue;
                        if (k == 3)
                                strv_extend(&d->shim.grub_cfg, it->scalar);
                        else {
                                free(*fields[k]);
                                *fields[k] = xstrdup(it->scalar);
                        }
                }
        }
        if (!d->shim.shim || !d->shim.grub)
                diag_add(diag, &map->mark, "shim: shim and grub are required");
        d->has_shim = true;
}

int distro_boot_data_parse(const char *path, const char *text, size_t size, DistroBootData *ret,
                           Diagnostics *diag) {
        _cleanup_(node_freep) Node *tree = NULL;
        DistroBootData d = {.path = xstrdup(path)};
        size_t errors = diag->n_errors;

        int r = node_parse_yaml(d.path, text, size, diag, &tree);
        if (r < 0) {
                distro_boot_data_done(&d);
                return r;
        }
        bool has_vendor_dir = false, has_packages = false;
        for (size_t i = 0; i < tree->n_pairs; i++) {
                const NodePair *pair = &tree->pairs[i];
                const Node *v = pair->value;
                if (streq(pair->key, "esp-vendor-dir")) {
                        has_vendor_dir = true;
                        if (v->type == NODE_SCALAR && word_ok(v->scalar))
                                d.esp_vendor_dir = xstrdup(v->scalar);
                        else
                                diag_add(diag, &v->mark,
                                         "esp-vendor-dir: a directory name under EFI/ is "
                                         "expected");
                } else if (streq(pair->key, "esp-mount")) {
                        if (v->type == NODE_SCALAR && absolute_path_ok(v->scalar)) {
                                free(d.esp_mount);
                                d.esp_mount = xstrdup(v->scalar + 1);
                        } else
                                diag_add(diag, &v->mark,
                                         "esp-mount: an absolute path without '.' or '..' is "
                                         "expected");
                } else if (streq(pair->key, "packages")) {
                        has_packages = true;
                        parse_packages(v, &d, diag);
                } else if (streq(pair->key, "shim"))
                        parse_shim(v, &d, diag);
                else
                        diag_add(diag, &pair->key_mark,
                                 "unknown key %s (esp-vendor-dir, esp-mount, packages, shim)",
                                 pair->key);
        }
        if (!has_vendor_dir)
                diag_add(diag, &(Mark){.file = path}, "esp-vendor-dir is missing");
        if (!has_packages)
                diag_add(diag, &(Mark){.file = path}, "packages is missing");
        if (diag->n_errors > errors) {
                distro_boot_data_done(&d);
                return -EBADMSG;
        }
        *ret = d;
        return 0;
}

int distro_boot_data_load(const DistroOps *ops, const char *data_dir, DistroBootData *ret,
                          Diagnostics *diag) {
        _cleanup_free_ char *path =
                xasprintf("%s/bootloader/distro/%s.yaml", data_dir, ops->family);
        _cleanup_free_ char *text = NULL;
        size_t size;

        int r = read_full_file(path, BOOT_DATA_MAX_SIZE, &text, &size);
        if (r < 0) {
                diag_add(diag, &(Mark){.file = path}, "cannot read the %s family's boot data: %s",
                         ops->family, strerror(-r));
                return r;
        }
        return distro_boot_data_parse(path, text, size, ret, diag);
}

void distro_boot_data_done(DistroBootData *d) {
        for (size_t i = 0; i < d->n_rows; i++) {
                free(d->bootloaders[i]);
                free(d->architectures[i]);
                strv_free(d->packages[i]);
        }
        free(d->bootloaders);
        free(d->architectures);
        free(d->packages);
        free(d->esp_vendor_dir);
        free(d->esp_mount);
        free(d->shim.shim);
        free(d->shim.grub);
        free(d->shim.mok_manager);
        strv_free(d->shim.grub_cfg);
        free(d->path);
        *d = (DistroBootData){};
}

const char *const *distro_boot_packages(const DistroBootData *d, const char *bootloader,
                                        const char *architecture) {
        const char *const *every = NULL;
        for (size_t i = 0; i < d->n_rows; i++) {
                if (!streq(d->bootloaders[i], bootloader))
                        continue;
                if (!d->architectures[i])
                        every = every ?: (const char *const *)d->packages[i];
                else if (architecture && streq(d->architectures[i], architecture))
                        return (const char *const *)d->packages[i];
        }
        return every;
}

int distro_boot_shim_files(const DistroBootData *d, const Arch *arch, ShimFiles *ret,
                           Diagnostics *diag) {
        if (!d->has_shim) {
                diag_add(diag, &(Mark){.file = d->path},
                         "shim: where shim and GRUB are in the root is missing");
                return -EBADMSG;
        }
        const DistroShimPaths *s = &d->shim;
        ShimFiles f = {};
        const Mark m = {.file = d->path};
        f.shim = shim_path(s->shim, "shim.shim", &m, arch, diag);
        f.grub = f.shim ? shim_path(s->grub, "shim.grub", &m, arch, diag) : NULL;
        if (f.grub && s->mok_manager)
                f.mok_manager = shim_path(s->mok_manager, "shim.mok-manager", &m, arch, diag);
        bool ok = f.grub && (!s->mok_manager || f.mok_manager);
        for (char **c = s->grub_cfg; ok && c && *c; c++) {
                char *p = shim_path(*c, "shim.grub-cfg", &m, arch, diag);
                if (p)
                        strv_push(&f.grub_cfg, p);
                ok = p != NULL;
        }
        if (ok && !s->grub_cfg)
                strv_push(&f.grub_cfg, xasprintf("EFI/%s/grub.cfg", d->esp_vendor_dir));
        if (!ok) {
                shim_files_done(&f);
                return -EBADMSG;
        }
        *ret = f;
        return 0;
}
