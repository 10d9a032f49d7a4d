/* SPDX-License-Identifier: MIT */
/* The build configuration, made once at the profile stage from the profile's typed values
 * (Profile.config, read from the YAML tree by composer/profile/config.c): the distribution
 * backend, the boot loader, the initramfs maker, the architecture, the disk layout, the package
 * request, the policies' strip rules, the kernel target's requirements. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/pipeline.h"

static char *where_of(const Mark *m) {
        return xasprintf("%s:%u", m->file, m->line);
}

/* Every value of a list, appended to *l once each. */
static void add_unique(char ***l, const ProfileList *list) {
        for (size_t i = 0; i < list->n; i++)
                if (!strv_contains(*l, list->items[i].value))
                        strv_extend(l, list->items[i].value);
}

/* Every value of a list, appended to *l. */
static void collect_all(char ***l, const ProfileList *list) {
        for (size_t i = 0; i < list->n; i++)
                strv_extend(l, list->items[i].value);
}

/* Every policy's forbid.packages and forbid.sections, each with where it comes from. */
static void load_forbid(BuildConfig *c, const Profile *p) {
        for (size_t i = 0; i < p->n_policies; i++) {
                const ProfilePolicy *pol = &p->config.policy_rules[i];
                const ProfileList *kinds[] = {&pol->forbid_packages, &pol->forbid_sections};
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                        for (size_t j = 0; j < kinds[k]->n; j++) {
                                const ProfileValue *pat = &kinds[k]->items[j];
                                char *origin =
                                        xasprintf("policy %s (%s:%u:%u)", pol->name, pat->mark.file,
                                                  pat->mark.line, pat->mark.column);
                                strv_push(&c->forbid_origins, origin);
                                c->forbid = xrealloc(c->forbid,
                                                     (c->n_forbid + 1) * sizeof(ResolveForbid));
                                c->forbid[c->n_forbid++] =
                                        (ResolveForbid){.pattern = xstrdup(pat->value),
                                                        .section = k == 1,
                                                        .origin = origin};
                        }
        }
}

/* The policies' strip rules: path globs excluded at unpack time (the last matching rule wins,
 * strip.keep over strip.paths), and the paths removed after configuration. */
static void load_strip(BuildConfig *c, const Profile *p) {
        for (size_t i = 0; i < p->n_policies; i++)
                collect_all(&c->strip_exclude, &p->config.policy_rules[i].strip_paths);
        for (size_t i = 0; i < p->n_policies; i++)
                collect_all(&c->strip_include, &p->config.policy_rules[i].strip_keep);
        for (size_t i = 0; i < p->n_policies; i++) {
                const ProfileList *l = &p->config.policy_rules[i].strip_remove;
                collect_all(&c->strip_remove, l);
                for (size_t j = 0; j < l->n; j++)
                        strv_extend(&c->strip_remove_policy, p->policies[i].name);
        }
}

/* The kernel target's requirements (kernel-config/NAME.yaml). */
static void load_target(BuildConfig *c, const Profile *p) {
        const ProfileTarget *t = &p->config.target;
        if (!t->path)
                return;
        c->target_name = t->name ? xstrdup(t->name) : NULL;
        c->target_path = xstrdup(t->path);
        for (size_t i = 0; i < t->initramfs_drivers.n; i++) {
                strv_extend(&c->target_drivers, t->initramfs_drivers.items[i].value);
                strv_push(&c->target_driver_wheres, where_of(&t->initramfs_drivers.items[i].mark));
        }
        for (size_t i = 0; i < t->modules.n; i++) {
                strv_extend(&c->target_modules, t->modules.items[i].value);
                strv_push(&c->target_module_wheres, where_of(&t->modules.items[i].mark));
        }
        for (size_t i = 0; i < t->n_kconfig; i++) {
                c->kconfig = xrealloc(c->kconfig, (c->n_kconfig + 1) * sizeof(KconfigRequirement));
                c->kconfig[c->n_kconfig++] = (KconfigRequirement){
                        .option = xstrdup(t->kconfig[i].option.value),
                        .value = xstrdup(t->kconfig[i].value ?: "y|m"),
                        .where = where_of(&t->kconfig[i].option.mark),
                };
        }
        collect_all(&c->forbid_cmdline, &t->forbid_cmdline);
}

/* The family's boot data (a data file): it must name the packages of the profile's boot
 * loader; and the boot loader's templates must be readable and well-formed. */
static int load_boot_data(BuildConfig *c, Diagnostics *diag) {
        int r = distro_boot_data_load(c->distro, vmcompose_data_dir(), &c->distro_boot, diag);
        if (r < 0)
                return r;
        if (c->bootloader &&
            !distro_boot_packages(&c->distro_boot, c->bootloader->name, c->architecture)) {
                diag_add(diag, &(Mark){.file = c->distro_boot.path},
                         "packages: the %s boot loader (%s) is missing for %s", c->bootloader->name,
                         c->bootloader_where, c->architecture ?: "(none)");
                return -EBADMSG;
        }
        if (c->bootloader && c->bootloader->uses_shim_files && !c->distro_boot.has_shim) {
                diag_add(diag, &(Mark){.file = c->distro_boot.path},
                         "shim: the %s boot loader (%s) needs to know where the family's shim "
                         "and GRUB are, and this file does not say",
                         c->bootloader->name, c->bootloader_where);
                return -EBADMSG;
        }
        return c->bootloader ? bootloader_check_data(vmcompose_data_dir(), c->bootloader, diag) : 0;
}

/* The package request: the profile's, the kernel, what the boot loader needs. */
static void load_request(BuildConfig *c, const Profile *p) {
        const ProfileConfig *pc = &p->config;
        collect_all(&c->install, &pc->install);
        const char *kernel = pc->kernel_package.value;
        if (kernel && !strv_contains(c->install, kernel))
                strv_extend(&c->install, kernel);
        const char *const *boot =
                c->bootloader ? distro_boot_packages(&c->distro_boot, c->bootloader->name,
                                                     c->architecture)
                              : NULL;
        for (const char *const *pk = boot; pk && *pk; pk++)
                if (!strv_contains(c->install, *pk))
                        strv_extend(&c->install, *pk);
        collect_all(&c->remove, &pc->remove);
        collect_all(&c->groups, &pc->groups);
        collect_all(&c->allow, &pc->allow);
        c->base = pc->base.value ? xstrdup(pc->base.value) : NULL;
        c->recommends = pc->recommends;
}

/* The boot loader, the initramfs generator and which kernel modules go in. */
static void load_boot(BuildConfig *c, const ProfileConfig *pc) {
        if (pc->bootloader.value) {
                c->bootloader_name = xstrdup(pc->bootloader.value);
                c->bootloader_where = where_of(&pc->bootloader.mark);
                c->bootloader = bootloader_find(pc->bootloader.value);
        }
        c->initramfs = xstrdup(pc->initramfs.value ?: c->distro->default_initramfs);
        c->initramfs_where = pc->initramfs.value ? where_of(&pc->initramfs.mark) : NULL;
        c->initramfs_only_target =
                pc->initramfs_modules.value && streq(pc->initramfs_modules.value, "target");
        c->modules_only_target = pc->modules.value && streq(pc->modules.value, "target");
        c->modules_where =
                pc->modules.value && pc->modules.mark.line > 0 ? where_of(&pc->modules.mark) : NULL;
        for (size_t i = 0; i < pc->modules_keep.n; i++) {
                strv_extend(&c->modules_keep, pc->modules_keep.items[i].value);
                strv_push(&c->modules_keep_wheres, where_of(&pc->modules_keep.items[i].mark));
        }
}

/* The ESP's and the root filesystem's types, from the layout made from the profile. */
static void load_filesystems(BuildConfig *c, const ProfileConfig *pc) {
        for (size_t i = 0; i < c->layout.n_partitions; i++)
                if (c->layout.partitions[i].role == ROLE_ESP) {
                        free(c->esp_fstype);
                        c->esp_fstype = xstrdup(fs_type_to_string(c->layout.partitions[i].fs));
                }
        /* The root filesystem's type: the layout's root partition's (disk_layout_root()). */
        const Partition *root = disk_layout_root(&c->layout);
        if (root) {
                c->root_fstype = xstrdup(fs_type_to_string(root->fs));
                c->root_where = where_of(&pc->partitions[root - c->layout.partitions].role.mark);
        }
}

void build_config_reproducible(const Profile *p, char **ret_seed, uint64_t *ret_epoch) {
        const ProfileConfig *pc = &p->config;
        *ret_seed = xstrdup(pc->seed.value ?: p->name);
        if (pc->source_date_epoch.value)
                *ret_epoch = pc->epoch;
}

int build_config_load(const Profile *p, const char *seed, BuildConfig *ret, Diagnostics *diag) {
        const ProfileConfig *pc = &p->config;
        BuildConfig c = {};
        const ProfileValue *family = &pc->family;

        /* The schema admits only the families distros[] has. */
        c.distro = family->value ? distro_find(family->value) : NULL;
        if (!c.distro) {
                diag_add(diag, family->value ? &family->mark : NULL,
                         "distro.family: no backend for %s", family->value ?: "(none)");
                return -ENOSYS;
        }
        /* A profile without a disk can still be resolved and locked: the disk stage reports
         * a layout that cannot be made. The layout is made here, once per build. */
        c.layout_error = disk_layout_from_profile(p, seed, &c.layout, &c.layout_diag);
        c.release = pc->release.value ? xstrdup(pc->release.value) : NULL;
        c.architecture = pc->architecture.value ? xstrdup(pc->architecture.value) : NULL;
        c.arch = pc->arch;
        c.repositories = pc->repositories;
        c.n_repositories = pc->n_repositories;

        load_boot(&c, pc);
        load_filesystems(&c, pc);

        /* The kernel command line: the profile's, then the target's, each argument once. */
        add_unique(&c.cmdline, &pc->cmdline);
        add_unique(&c.cmdline, &pc->target.cmdline);

        int r = load_boot_data(&c, diag);
        if (r < 0) {
                build_config_done(&c);
                return r;
        }
        load_request(&c, p);
        load_forbid(&c, p);
        load_strip(&c, p);
        load_target(&c, p);
        c.system = pc->has_system ? &pc->system : NULL;
        collect_all(&c.outputs, &pc->outputs);
        collect_all(&c.output_compression, &pc->output_compression);
        *ret = c;
        return 0;
}

void build_config_done(BuildConfig *c) {
        distro_boot_data_done(&c->distro_boot);
        disk_layout_done(&c->layout);
        diag_done(&c->layout_diag);
        free(c->release);
        free(c->architecture);
        free(c->bootloader_name);
        free(c->bootloader_where);
        free(c->initramfs);
        free(c->initramfs_where);
        free(c->modules_where);
        strv_free(c->modules_keep);
        strv_free(c->modules_keep_wheres);
        free(c->esp_fstype);
        free(c->root_fstype);
        free(c->root_where);
        strv_free(c->cmdline);
        strv_free(c->install);
        strv_free(c->groups);
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
        strv_free(c->target_modules);
        strv_free(c->target_module_wheres);
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
