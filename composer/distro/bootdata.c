/* SPDX-License-Identifier: MIT */
/* A family's boot data (DATA_DIR/bootloader/distro/FAMILY.yaml): the ESP vendor directory and
 * the packages of each boot loader, read at run time. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/distro.h"

#define BOOT_DATA_MAX_SIZE (1u << 20)

/* A package or directory name: not empty, no blank, no slash, not "." or "..". */
static bool word_ok(const char *s) {
        return *s && !strpbrk(s, " \t\n/") && !streq(s, ".") && !streq(s, "..");
}

static void parse_packages(const Node *map, DistroBootData *d, Diagnostics *diag) {
        if (map->type != NODE_MAP) {
                diag_add(diag, &map->mark,
                         "packages: a mapping of boot loader to package list is expected, not %s",
                         node_type_describe(map));
                return;
        }
        for (size_t i = 0; i < map->n_pairs; i++) {
                const NodePair *pair = &map->pairs[i];
                const Node *list = pair->value;
                if (!bootloader_find(pair->key)) {
                        diag_add(diag, &pair->key_mark,
                                 "packages: %s is not a boot loader vmcompose makes", pair->key);
                        continue;
                }
                if (list->type != NODE_SEQ) {
                        diag_add(diag, &list->mark,
                                 "packages.%s: a list of package names is expected, not %s",
                                 pair->key, node_type_describe(list));
                        continue;
                }
                char **names = xcalloc(1, sizeof(char *)); /* empty, not NULL */
                for (size_t j = 0; j < list->n_items; j++) {
                        const Node *n = list->items[j];
                        if (n->type != NODE_SCALAR || !word_ok(n->scalar))
                                diag_add(diag, &n->mark,
                                         "packages.%s: a package name is expected, not %s",
                                         pair->key,
                                         n->type == NODE_SCALAR ? "this" : node_type_describe(n));
                        else
                                strv_extend(&names, n->scalar);
                }
                d->bootloaders =
                        xrealloc(d->bootloaders, (d->n_bootloaders + 1) * sizeof(*d->bootloaders));
                d->packages = xrealloc(d->packages, (d->n_bootloaders + 1) * sizeof(*d->packages));
                d->bootloaders[d->n_bootloaders] = xstrdup(pair->key);
                d->packages[d->n_bootloaders++] = names;
        }
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
                } else if (streq(pair->key, "packages")) {
                        has_packages = true;
                        parse_packages(v, &d, diag);
                } else
                        diag_add(diag, &pair->key_mark, "unknown key %s (esp-vendor-dir, packages)",
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
        for (size_t i = 0; i < d->n_bootloaders; i++) {
                free(d->bootloaders[i]);
                strv_free(d->packages[i]);
        }
        free(d->bootloaders);
        free(d->packages);
        free(d->esp_vendor_dir);
        free(d->path);
        *d = (DistroBootData){};
}

const char *const *distro_boot_packages(const DistroBootData *d, const char *bootloader) {
        for (size_t i = 0; i < d->n_bootloaders; i++)
                if (streq(d->bootloaders[i], bootloader))
                        return (const char *const *)d->packages[i];
        return NULL;
}
