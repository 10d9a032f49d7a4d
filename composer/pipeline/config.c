/* SPDX-License-Identifier: MIT */
/* The build configuration: the profile read once, at the profile stage, into typed values
 * (the distribution backend, the boot loader, the initramfs maker, the architecture, the disk
 * layout, the package request, the policies' strip rules, the kernel target's requirements).
 * The stages read these instead of walking the YAML tree. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/pipeline.h"

static char *where_of(const Node *n) {
        return xasprintf("%s:%u", n->mark.file, n->mark.line);
}

static char *scalar_dup(const Node *tree, const char *path) {
        const Node *n = tree ? node_lookup(tree, path) : NULL;
        return n && n->type == NODE_SCALAR ? xstrdup(n->scalar) : NULL;
}

/* The field of every item of the list at path, appended to *l once each. */
static void add_unique(char ***l, const Node *tree, const char *path, const char *field) {
        const Node *list = tree ? node_lookup(tree, path) : NULL;
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *v = node_map_get(list->items[i], field);
                if (v && !strv_contains(*l, v->scalar))
                        strv_extend(l, v->scalar);
        }
}

/* The field of every item of the list at path, appended to *l. */
static void collect_all(char ***l, const Node *tree, const char *path, const char *field) {
        const Node *list = node_lookup(tree, path);
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *v = node_map_get(list->items[i], field);
                if (v && v->type == NODE_SCALAR)
                        strv_extend(l, v->scalar);
        }
}

/* Every policy's forbid.packages and forbid.sections, each with where it comes from. */
static void load_forbid(BuildConfig *c, const Profile *p) {
        static const char *const kinds[] = {"forbid.packages", "forbid.sections"};
        for (size_t i = 0; i < p->n_policies; i++)
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                        const Node *list = node_lookup(p->policies[i].tree, kinds[k]);
                        for (size_t j = 0; list && j < list->n_items; j++) {
                                const Node *pat = node_map_get(list->items[j], "pattern");
                                char *origin =
                                        xasprintf("policy %s (%s:%u:%u)",
                                                  node_map_get(p->policies[i].tree, "name")->scalar,
                                                  pat->mark.file, pat->mark.line, pat->mark.column);
                                strv_push(&c->forbid_origins, origin);
                                c->forbid = xrealloc(c->forbid,
                                                     (c->n_forbid + 1) * sizeof(ResolveForbid));
                                c->forbid[c->n_forbid++] =
                                        (ResolveForbid){.pattern = xstrdup(pat->scalar),
                                                        .section = k == 1,
                                                        .origin = origin};
                        }
                }
}

/* The policies' strip rules: path globs excluded at unpack time (the last matching rule wins,
 * strip.keep over strip.paths), and the paths removed after configuration. */
static void load_strip(BuildConfig *c, const Profile *p) {
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *tree = p->policies[i].tree;
                const Node *list = node_lookup(tree, "strip.paths");
                for (size_t j = 0; list && j < list->n_items; j++)
                        strv_extend(&c->strip_exclude,
                                    node_map_get(list->items[j], "pattern")->scalar);
        }
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *list = node_lookup(p->policies[i].tree, "strip.keep");
                for (size_t j = 0; list && j < list->n_items; j++)
                        strv_extend(&c->strip_include,
                                    node_map_get(list->items[j], "pattern")->scalar);
        }
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *list = node_lookup(p->policies[i].tree, "strip.remove");
                for (size_t j = 0; list && j < list->n_items; j++) {
                        strv_extend(&c->strip_remove,
                                    node_map_get(list->items[j], "pattern")->scalar);
                        strv_extend(&c->strip_remove_policy, p->policies[i].name);
                }
        }
}

/* The kernel target's requirements (kernel-config/NAME.yaml). */
static void load_target(BuildConfig *c, const Profile *p) {
        const Node *t = p->kernel_target.tree;
        if (!t)
                return;
        c->target_name = scalar_dup(t, "name");
        c->target_path = xstrdup(p->kernel_target.path);
        const Node *list = node_lookup(t, "initramfs-drivers");
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *n = node_map_get(list->items[i], "name");
                strv_extend(&c->target_drivers, n->scalar);
                strv_push(&c->target_driver_wheres, where_of(n));
        }
        list = node_lookup(t, "kconfig");
        for (size_t i = 0; list && i < list->n_items; i++) {
                const Node *opt = node_map_get(list->items[i], "option");
                const Node *val = node_map_get(list->items[i], "value");
                c->kconfig = xrealloc(c->kconfig, (c->n_kconfig + 1) * sizeof(KconfigRequirement));
                c->kconfig[c->n_kconfig++] = (KconfigRequirement){
                        .option = xstrdup(opt->scalar),
                        .value = xstrdup(val ? val->scalar : "y|m"),
                        .where = where_of(opt),
                };
        }
        list = node_lookup(t, "forbid-cmdline");
        for (size_t i = 0; list && i < list->n_items; i++)
                strv_extend(&c->forbid_cmdline, node_map_get(list->items[i], "arg")->scalar);
}

/* The package request: the profile's, the kernel, what the boot loader needs. */
static void load_request(BuildConfig *c, const Profile *p) {
        collect_all(&c->install, p->tree, "packages.install", "name");
        const Node *kernel = node_lookup(p->tree, "kernel.package");
        if (kernel && !strv_contains(c->install, kernel->scalar))
                strv_extend(&c->install, kernel->scalar);
        const char *const *boot =
                c->bootloader ? distro_boot_packages(c->distro, c->bootloader->name) : NULL;
        for (const char *const *pk = boot; pk && *pk; pk++)
                if (!strv_contains(c->install, *pk))
                        strv_extend(&c->install, *pk);
        collect_all(&c->remove, p->tree, "packages.remove", "name");
        collect_all(&c->allow, p->tree, "allow", "name");
        c->base = scalar_dup(p->tree, "packages.base");
        const Node *rec = node_lookup(p->tree, "packages.recommends");
        c->recommends = rec && streq(rec->scalar, "true");
}

void build_config_reproducible(const Profile *p, char **ret_seed, uint64_t *ret_epoch) {
        const Node *seed = node_lookup(p->tree, "reproducible.seed");
        const Node *sde = node_lookup(p->tree, "reproducible.source-date-epoch");

        *ret_seed = xstrdup(seed ? seed->scalar : p->name);
        if (sde)
                (void)parse_uint64(sde->scalar, ret_epoch);
}

int build_config_load(const Profile *p, const char *seed, BuildConfig *ret, Diagnostics *diag) {
        BuildConfig c = {};
        const Node *family = node_lookup(p->tree, "distro.family");

        /* The schema admits only the families distros[] has. */
        c.distro = family ? distro_find(family->scalar) : NULL;
        if (!c.distro) {
                diag_add(diag, family ? &family->mark : NULL, "distro.family: no backend for %s",
                         family ? family->scalar : "(none)");
                return -ENOSYS;
        }
        /* A profile without a disk can still be resolved and locked: the disk stage reports
         * a layout that cannot be made. */
        c.layout_error = disk_layout_from_profile(p, seed, &c.layout, &c.layout_diag);
        c.release = scalar_dup(p->tree, "distro.release");
        c.architecture = scalar_dup(p->tree, "distro.architecture");
        c.repositories = node_lookup(p->tree, "distro.repositories");

        const Node *bl = node_lookup(p->tree, "bootloader");
        if (bl) {
                c.bootloader_name = xstrdup(bl->scalar);
                c.bootloader_where = where_of(bl);
                c.bootloader = bootloader_find(bl->scalar);
        }
        const Node *maker = node_lookup(p->tree, "kernel.initramfs");
        c.initramfs = xstrdup(maker ? maker->scalar : c.distro->default_initramfs);
        c.initramfs_where = maker ? where_of(maker) : NULL;
        const Node *im = node_lookup(p->tree, "kernel.initramfs-modules");
        c.initramfs_only_target = im && streq(im->scalar, "target");
        for (size_t i = 0; i < c.layout.n_partitions; i++)
                if (c.layout.partitions[i].role == ROLE_ROOT) {
                        free(c.root_fstype);
                        c.root_fstype = xstrdup(fs_type_to_string(c.layout.partitions[i].fs));
                }
        const Node *parts = node_lookup(p->tree, "disk.partitions");
        for (size_t i = 0; parts && i < parts->n_items; i++) {
                const Node *role = node_map_get(parts->items[i], "role");
                if (streq(role->scalar, "root")) {
                        free(c.root_where);
                        c.root_where = where_of(role);
                }
        }

        /* The kernel command line: the profile's, then the target's, each argument once. */
        add_unique(&c.cmdline, p->tree, "kernel.cmdline", "arg");
        add_unique(&c.cmdline, p->kernel_target.tree, "cmdline", "arg");

        load_request(&c, p);
        load_forbid(&c, p);
        load_strip(&c, p);
        load_target(&c, p);
        c.system = node_map_get(p->tree, "system");
        const Node *outputs = node_lookup(p->tree, "outputs");
        for (size_t i = 0; outputs && i < outputs->n_items; i++) {
                /* FORMAT, or {format, compression} */
                const Node *o = outputs->items[i], *format = o, *compression = NULL;
                if (o->type == NODE_MAP) {
                        format = node_map_get(o, "format");
                        compression = node_map_get(o, "compression");
                }
                strv_extend(&c.outputs, format->scalar);
                strv_extend(&c.output_compression, compression ? compression->scalar : "none");
        }
        *ret = c;
        return 0;
}

void build_config_done(BuildConfig *c) {
        disk_layout_done(&c->layout);
        diag_done(&c->layout_diag);
        free(c->release);
        free(c->architecture);
        free(c->bootloader_name);
        free(c->bootloader_where);
        free(c->initramfs);
        free(c->initramfs_where);
        free(c->root_fstype);
        free(c->root_where);
        strv_free(c->cmdline);
        strv_free(c->install);
        strv_free(c->remove);
        strv_free(c->allow);
        free(c->base);
        for (size_t i = 0; i < c->n_forbid; i++)
                free((char *)c->forbid[i].pattern);
        free(c->forbid);
        strv_free(c->forbid_origins);
        strv_free(c->strip_exclude);
        strv_free(c->strip_include);
        strv_free(c->strip_remove);
        strv_free(c->strip_remove_policy);
        free(c->target_name);
        free(c->target_path);
        strv_free(c->target_drivers);
        strv_free(c->target_driver_wheres);
        for (size_t i = 0; i < c->n_kconfig; i++) {
                free(c->kconfig[i].option);
                free(c->kconfig[i].value);
                free(c->kconfig[i].where);
        }
        free(c->kconfig);
        strv_free(c->forbid_cmdline);
        strv_free(c->outputs);
        strv_free(c->output_compression);
        *c = (BuildConfig){};
}
