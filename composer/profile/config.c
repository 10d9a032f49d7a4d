/* SPDX-License-Identifier: MIT */
/* The profile typed once, at load: every value the build uses, with where it was set and the
 * why: that documents it, read from the resolved tree here and nowhere else. The schema checked
 * each value's type; what it leaves as text (sizes, modes, the epoch) is parsed here, a bad one
 * reported as "file:line:col: message". */
#include <stdlib.h>
#include <string.h>

#include "profile-internal.h"

static const Node *get(const Node *map, const char *key) {
        return map && map->type == NODE_MAP ? node_map_get(map, key) : NULL;
}

static const char *str(const Node *map, const char *key) {
        const Node *n = get(map, key);
        return n && n->type == NODE_SCALAR ? n->scalar : NULL;
}

/* The mapping at dotted (NULL: the top) as written in the file that set m. */
static const Node *layer_map(const Profile *p, const Mark *m, const char *dotted) {
        for (size_t i = 0; p->layer_trees && p->layers[i]; i++)
                if (p->layer_trees[i] && m->file && streq(p->layers[i], m->file))
                        return dotted ? node_lookup(p->layer_trees[i], dotted) : p->layer_trees[i];
        return NULL;
}

/* A scalar setting: it takes the why: of the mapping around it in the file that set it
 * ("system: {why: ..., hostname: ...}"): a later overlay's why: on the same mapping speaks for
 * that overlay's own settings only. */
static ProfileValue setting(const Profile *p, const char *parent, const char *key) {
        const Node *map = !p->tree ? NULL : parent ? node_lookup(p->tree, parent) : p->tree;
        const Node *v = get(map, key);
        if (!v || v->type != NODE_SCALAR)
                return (ProfileValue){};
        const Node *around = layer_map(p, &v->mark, parent);
        return (ProfileValue){.value = v->scalar,
                              .mark = v->mark,
                              .why = str(around, "why"),
                              .category = str(around, "category")};
}

/* A list item's key (the item itself when it is a scalar, or key is NULL), with the item's
 * why: and category:. */
static ProfileValue item_value(const Node *item, const char *key) {
        const Node *v = item->type == NODE_MAP ? (key ? node_map_get(item, key) : NULL) : item;
        if (!v || v->type != NODE_SCALAR)
                return (ProfileValue){};
        return (ProfileValue){.value = v->scalar,
                              .mark = v->mark,
                              .why = str(item, "why"),
                              .category = str(item, "category")};
}

/* The key of every item of the list at dotted (key NULL: the items themselves). */
static ProfileList list_of(const Node *tree, const char *dotted, const char *key) {
        const Node *list = tree ? node_lookup(tree, dotted) : NULL;
        ProfileList l = {};
        if (!list || list->type != NODE_SEQ)
                return l;
        l.items = xcalloc(list->n_items + 1, sizeof(ProfileValue));
        for (size_t i = 0; i < list->n_items; i++) {
                ProfileValue v = item_value(list->items[i], key);
                if (v.value)
                        l.items[l.n++] = v;
        }
        return l;
}

/* The scalars of a list (ssh-keys, groups, components). */
static char **strv_of(const Node *list) {
        char **l = NULL;
        for (size_t i = 0; list && list->type == NODE_SEQ && i < list->n_items; i++)
                if (list->items[i]->type == NODE_SCALAR)
                        strv_extend(&l, list->items[i]->scalar);
        return l;
}

/* A FIELD_UINT the schema checked, or def when not given. */
static uint64_t uint_or(const char *v, uint64_t def) {
        return v ? strtoull(v, NULL, 10) : def;
}

/* Each output's compression, in the order of outputs: FORMAT or {format, compression}; "none"
 * when not given. */
static void load_output_compression(ProfileConfig *c, const Node *tree) {
        const Node *list = tree ? node_lookup(tree, "outputs") : NULL;
        ProfileList *l = &c->output_compression;
        l->items = xcalloc(c->outputs.n + 1, sizeof(ProfileValue));
        for (size_t i = 0; list && list->type == NODE_SEQ && i < list->n_items; i++) {
                if (l->n == c->outputs.n)
                        break;
                const Node *it = list->items[i];
                ProfileValue v =
                        it->type == NODE_MAP ? item_value(it, "compression") : (ProfileValue){};
                if (!v.value)
                        v = (ProfileValue){.value = "none", .mark = it->mark};
                l->items[l->n++] = v;
        }
}

static void load_repositories(ProfileConfig *c, const Node *tree) {
        const Node *list = tree ? node_lookup(tree, "distro.repositories") : NULL;
        for (size_t i = 0; list && list->type == NODE_SEQ && i < list->n_items; i++) {
                const Node *it = list->items[i];
                c->repositories = xrealloc(c->repositories,
                                           (c->n_repositories + 1) * sizeof(ProfileRepository));
                const char *unsig = str(it, "allow-unsigned");
                c->repositories[c->n_repositories++] = (ProfileRepository){
                        .mark = it->mark,
                        .system = it->type == NODE_SCALAR,
                        .uri = str(it, "uri"),
                        .suite = str(it, "suite"),
                        .signed_by = str(it, "signed-by"),
                        .components = strv_of(get(it, "components")),
                        .allow_unsigned = unsig && streq(unsig, "true"),
                        .metalink = str(it, "metalink"),
                        .gpgcheck = !str(it, "gpgcheck") || streq(str(it, "gpgcheck"), "true"),
                        .priority = uint_or(str(it, "priority"), 99),
                        .cost = uint_or(str(it, "cost"), 1000),
                };
        }
}

/* A size: "auto" (when may_auto), "512M", or "20%" (when ret_percent). */
static int parse_size_value(const ProfileValue *v, bool *ret_auto, uint64_t *ret_bytes,
                            unsigned *ret_percent, Diagnostics *diag) {
        if (ret_auto && (!v->value || streq(v->value, "auto"))) {
                *ret_auto = true;
                return 0;
        }
        if (!v->value)
                return 0;
        if (ret_percent && strchr(v->value, '%') ? parse_percent(v->value, ret_percent) >= 0
                                                 : parse_size(v->value, ret_bytes) >= 0)
                return 0;
        diag_add(diag, &v->mark, "invalid size '%s'", v->value);
        return -EBADMSG;
}

static int load_disk(ProfileConfig *c, const Node *tree, Diagnostics *diag) {
        const Node *parts = tree ? node_lookup(tree, "disk.partitions") : NULL;
        const Node *t = tree ? node_lookup(tree, "disk.table") : NULL;
        const Node *s = tree ? node_lookup(tree, "disk.size") : NULL;
        int r = 0;

        if (t && t->type == NODE_SCALAR)
                c->disk_table = (ProfileValue){.value = t->scalar, .mark = t->mark};
        if (s && s->type == NODE_SCALAR)
                c->disk_size = (ProfileValue){.value = s->scalar, .mark = s->mark};
        if (parse_size_value(&c->disk_size, &c->disk_auto_size, &c->disk_bytes, NULL, diag) < 0)
                r = -EBADMSG;
        for (size_t i = 0; parts && parts->type == NODE_SEQ && i < parts->n_items; i++) {
                const Node *item = parts->items[i];
                c->partitions =
                        xrealloc(c->partitions, (c->n_partitions + 1) * sizeof(ProfilePartition));
                ProfilePartition *pt = &c->partitions[c->n_partitions++];
                *pt = (ProfilePartition){
                        .mark = item->mark,
                        .role = item_value(item, "role"),
                        .fs = item_value(item, "fs"),
                        .size = item_value(item, "size"),
                        .free = item_value(item, "free"),
                        .label = item_value(item, "label"),
                };
                if (parse_size_value(&pt->size, &pt->auto_size, &pt->size_bytes, NULL, diag) < 0 ||
                    parse_size_value(&pt->free, NULL, &pt->free_bytes, &pt->free_percent, diag) < 0)
                        r = -EBADMSG;
        }
        return r;
}

static int load_system(ProfileConfig *c, const Profile *p, Diagnostics *diag) {
        const Node *sys = get(p->tree, "system");
        SystemConfig *s = &c->system;
        int r = 0;

        c->has_system = sys != NULL;
        if (!sys)
                return 0;
        s->hostname = setting(p, "system", "hostname");
        s->locale = setting(p, "system", "locale");
        s->timezone = setting(p, "system", "timezone");
        const Node *users = get(sys, "users");
        for (size_t i = 0; users && users->type == NODE_SEQ && i < users->n_items; i++) {
                const Node *u = users->items[i];
                s->users = xrealloc(s->users, (s->n_users + 1) * sizeof(SystemUser));
                s->users[s->n_users++] = (SystemUser){
                        .name = item_value(u, "name"),
                        .shell = str(u, "shell"),
                        .uid = str(u, "uid"),
                        .password_hash = str(u, "password-hash"),
                        .groups = strv_of(get(u, "groups")),
                        .ssh_keys = strv_of(get(u, "ssh-keys")),
                };
        }
        const Node *files = get(sys, "files");
        for (size_t i = 0; files && files->type == NODE_SEQ && i < files->n_items; i++) {
                const Node *f = files->items[i], *mode = get(f, "mode");
                char *end = NULL;
                unsigned long m = mode ? strtoul(mode->scalar, &end, 8) : 0644;
                if (mode && (*end || m > 07777)) {
                        diag_add(diag, &mode->mark, "mode: invalid mode '%s'", mode->scalar);
                        r = -EBADMSG;
                }
                s->files = xrealloc(s->files, (s->n_files + 1) * sizeof(SystemFile));
                s->files[s->n_files++] = (SystemFile){
                        .path = item_value(f, "path"),
                        .content = str(f, "content"),
                        .source = str(f, "source"),
                        .mode = (mode_t)m,
                };
        }
        const Node *sysctl = get(sys, "sysctl");
        for (size_t i = 0; sysctl && sysctl->type == NODE_SEQ && i < sysctl->n_items; i++) {
                const Node *it = sysctl->items[i];
                s->sysctl = xrealloc(s->sysctl, (s->n_sysctl + 1) * sizeof(SystemSysctl));
                s->sysctl[s->n_sysctl++] =
                        (SystemSysctl){.name = item_value(it, "name"), .value = str(it, "value")};
        }
        s->overlays = list_of(p->tree, "system.overlay", "path");
        s->enable = list_of(p->tree, "system.services.enable", "name");
        s->disable = list_of(p->tree, "system.services.disable", "name");
        s->mask = list_of(p->tree, "system.services.mask", "name");
        s->generators_mask = list_of(p->tree, "system.generators.mask", "name");
        s->scripts = list_of(p->tree, "system.scripts", "run");
        return r;
}

static void load_containers(ProfileConfig *c, const Node *tree) {
        const NodePair *key =
                tree && tree->type == NODE_MAP ? node_map_find(tree, "containers") : NULL;
        const Node *list = key ? key->value : NULL;
        if (!list || list->type != NODE_SEQ)
                return;
        c->containers_mark = key->key_mark;
        c->containers = xcalloc(list->n_items + 1, sizeof(ProfileContainer));
        for (size_t i = 0; i < list->n_items; i++) {
                const Node *it = list->items[i], *run = get(it, "run");
                c->containers[c->n_containers++] = (ProfileContainer){
                        .mark = it->mark,
                        .name = item_value(it, "name"),
                        .path = item_value(it, "path"),
                        .digest = item_value(it, "digest"),
                        .image = item_value(it, "image"),
                        .run = strv_of(run),
                        .run_set = run && run->type == NODE_SEQ,
                };
        }
}

static void load_policies(ProfileConfig *c, const Profile *p) {
        c->policy_rules = p->n_policies ? xcalloc(p->n_policies, sizeof(ProfilePolicy)) : NULL;
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *tree = p->policies[i].tree;
                ProfilePolicy *pol = &c->policy_rules[i];
                pol->name = str(tree, "name") ?: p->policies[i].name;
                /* The profile line that names the policy carries the why. */
                const Node *plist = p->tree ? node_lookup(p->tree, "policy") : NULL;
                for (size_t j = 0; plist && plist->type == NODE_SEQ && j < plist->n_items; j++)
                        if (streq(str(plist->items[j], "name") ?: "", pol->name)) {
                                pol->named = true;
                                pol->why = str(plist->items[j], "why");
                                pol->category = str(plist->items[j], "category");
                        }
                pol->forbid_packages = list_of(tree, "forbid.packages", "pattern");
                pol->forbid_sections = list_of(tree, "forbid.sections", "pattern");
                pol->forbid_paths = list_of(tree, "forbid.paths", "pattern");
                pol->strip_paths = list_of(tree, "strip.paths", "pattern");
                pol->strip_keep = list_of(tree, "strip.keep", "pattern");
                pol->strip_remove = list_of(tree, "strip.remove", "pattern");
        }
}

static void load_target(ProfileConfig *c, const Profile *p) {
        const Node *t = p->kernel_target.tree;
        ProfileTarget *tg = &c->target;
        if (!t)
                return;
        tg->name = str(t, "name");
        tg->path = p->kernel_target.path;
        tg->cmdline = list_of(t, "cmdline", "arg");
        tg->forbid_cmdline = list_of(t, "forbid-cmdline", "arg");
        tg->initramfs_drivers = list_of(t, "initramfs-drivers", "name");
        tg->modules = list_of(t, "modules", "name");
        const Node *list = node_lookup(t, "kconfig");
        for (size_t i = 0; list && list->type == NODE_SEQ && i < list->n_items; i++) {
                ProfileValue opt = item_value(list->items[i], "option");
                if (!opt.value)
                        continue;
                tg->kconfig = xrealloc(tg->kconfig, (tg->n_kconfig + 1) * sizeof(KconfigItem));
                tg->kconfig[tg->n_kconfig++] =
                        (KconfigItem){.option = opt, .value = str(list->items[i], "value")};
        }
}

int profile_config_load(Profile *p, Diagnostics *diag) {
        ProfileConfig *c = &p->config;
        int r = 0;

        c->family = setting(p, "distro", "family");
        c->release = setting(p, "distro", "release");
        c->architecture = setting(p, "distro", "architecture");
        c->arch = c->architecture.value ? arch_find(c->architecture.value) : NULL;
        load_repositories(c, p->tree);
        c->bootloader = setting(p, NULL, "bootloader");
        c->kernel_package = setting(p, "kernel", "package");
        c->initramfs = setting(p, "kernel", "initramfs");
        c->initramfs_modules = setting(p, "kernel", "initramfs-modules");
        c->modules = setting(p, "kernel", "modules");
        c->modules_keep = list_of(p->tree, "kernel.modules-keep", "name");
        c->cmdline = list_of(p->tree, "kernel.cmdline", "arg");
        if (load_disk(c, p->tree, diag) < 0)
                r = -EBADMSG;
        c->install = list_of(p->tree, "packages.install", "name");
        c->remove = list_of(p->tree, "packages.remove", "name");
        c->groups = list_of(p->tree, "packages.groups", NULL);
        c->allow = list_of(p->tree, "allow", "name");
        c->policies = list_of(p->tree, "policy", "name");
        c->base = setting(p, "packages", "base");
        const char *rec = str(get(p->tree, "packages"), "recommends");
        c->recommends = rec && streq(rec, "true");
        c->seed = setting(p, "reproducible", "seed");
        c->source_date_epoch = setting(p, "reproducible", "source-date-epoch");
        if (c->source_date_epoch.value && parse_uint64(c->source_date_epoch.value, &c->epoch) < 0) {
                diag_add(diag, &c->source_date_epoch.mark,
                         "reproducible.source-date-epoch: invalid number '%s'",
                         c->source_date_epoch.value);
                r = -EBADMSG;
        }
        c->outputs = list_of(p->tree, "outputs", "format");
        load_output_compression(c, p->tree);
        if (load_system(c, p, diag) < 0)
                r = -EBADMSG;
        load_containers(c, p->tree);
        load_policies(c, p);
        load_target(c, p);
        return r;
}

static void list_done(ProfileList *l) {
        free(l->items);
        *l = (ProfileList){};
}

static void policy_done(ProfilePolicy *pol) {
        ProfileList *lists[] = {&pol->forbid_packages, &pol->forbid_sections, &pol->forbid_paths,
                                &pol->strip_paths,     &pol->strip_keep,      &pol->strip_remove};
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                list_done(lists[i]);
}

void profile_config_done(ProfileConfig *c, size_t n_policies) {
        for (size_t i = 0; i < c->n_repositories; i++)
                strv_free(c->repositories[i].components);
        free(c->repositories);
        free(c->partitions);
        ProfileList *lists[] = {&c->cmdline,
                                &c->install,
                                &c->groups,
                                &c->remove,
                                &c->allow,
                                &c->policies,
                                &c->outputs,
                                &c->output_compression,
                                &c->system.overlays,
                                &c->system.enable,
                                &c->system.disable,
                                &c->system.mask,
                                &c->system.generators_mask,
                                &c->system.scripts,
                                &c->target.cmdline,
                                &c->target.forbid_cmdline,
                                &c->target.initramfs_drivers,
                                &c->target.modules,
                                &c->modules_keep};
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                list_done(lists[i]);
        for (size_t i = 0; i < c->system.n_users; i++) {
                strv_free(c->system.users[i].groups);
                strv_free(c->system.users[i].ssh_keys);
        }
        free(c->system.users);
        free(c->system.files);
        free(c->system.sysctl);
        for (size_t i = 0; i < c->n_containers; i++)
                strv_free(c->containers[i].run);
        free(c->containers);
        for (size_t i = 0; c->policy_rules && i < n_policies; i++)
                policy_done(&c->policy_rules[i]);
        free(c->policy_rules);
        free(c->target.kconfig);
        *c = (ProfileConfig){};
}
