/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/log.h"
#include "profile-internal.h"
#include "schema-checks.h"

/* One file in the chain of overlays. */
typedef struct Layer {
        const char *file; /* in the SourceSet */
        dev_t dev;
        ino_t ino;
        Node *tree;
} Layer;

typedef struct Loader {
        Profile *profile;
        const ProfileLoadOptions *opts;
        Diagnostics *diag;
        Layer *layers; /* finished layers, in merge order */
        size_t n_layers;
        Layer *stack; /* files being loaded, for cycle detection */
        size_t n_stack;
        const Arch *arch; /* distro.architecture's row, once apply_arch() has checked it */
} Loader;

/* Paths under the working directory are shown relative to it, so messages and provenance
 * read the same wherever the tree is checked out. */
static char *display_path(const char *path) {
        _cleanup_free_ char *norm = path_normalize(path);
        char cwd[4096];

        if (norm[0] == '/' && getcwd(cwd, sizeof(cwd))) {
                size_t l = strlen(cwd);
                if (strneq(norm, cwd, l) && norm[l] == '/')
                        return xstrdup(norm + l + 1);
        }
        return TAKE_PTR(norm);
}

char *profile_data_file(const char *data_dir, const char *subdir, const char *name,
                        const char *declaring_file) {
        size_t l = strlen(name);
        if (strchr(name, '/') || (l > 5 && streq(name + l - 5, ".yaml"))) {
                _cleanup_free_ char *dir = path_dirname(declaring_file ? declaring_file : ".");
                _cleanup_free_ char *j = path_join(dir, name);
                return display_path(j);
        }
        _cleanup_free_ char *d = path_join(data_dir, subdir);
        _cleanup_free_ char *file = xasprintf("%s.yaml", name);
        _cleanup_free_ char *j = path_join(d, file);
        return display_path(j);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

char **profile_list_data_files(const char *data_dir, const char *subdir) {
        _cleanup_free_ char *d = path_join(data_dir, subdir);
        char **names = NULL;
        DIR *dir = opendir(d);

        if (!dir)
                return NULL;
        for (struct dirent *de; (de = readdir(dir));) {
                size_t l = strlen(de->d_name);
                if (l > 5 && streq(de->d_name + l - 5, ".yaml") && de->d_name[0] != '.')
                        strv_push(&names, xstrndup(de->d_name, l - 5));
        }
        closedir(dir);
        if (names)
                qsort(names, strv_length(names), sizeof(char *), cmp_str);
        return names;
}

/* Reads, parses and validates one file. where is the place that referred to it (an extends:
 * item), blamed when the file cannot be read. */
static int load_file(Loader *l, const Field *schema, const char *path, const Mark *where,
                     const char **ret_file, struct stat *ret_st, Node **ret_tree) {
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ char *shown = display_path(path);
        const char *file = source_set_add(&l->profile->sources, shown);
        Mark file_mark = {.file = file};
        size_t size;
        int r;

        if (stat(path, ret_st) < 0) {
                r = -errno;
                if (where)
                        diag_add(l->diag, where, "cannot read '%s': %s", file, strerror(-r));
                else
                        diag_add(l->diag, &file_mark, "cannot read profile: %s", strerror(-r));
                return -EBADMSG;
        }
        r = read_full_file(path, PROFILE_MAX_FILE_SIZE, &data, &size);
        if (r < 0) {
                const char *why = r == -EFBIG ? "file is larger than 4 MiB" : strerror(-r);
                if (where)
                        diag_add(l->diag, where, "cannot read '%s': %s", file, why);
                else
                        diag_add(l->diag, &file_mark, "cannot read profile: %s", why);
                return -EBADMSG;
        }

        _cleanup_(node_freep) Node *tree = NULL;
        r = node_parse_yaml(file, data, size, l->diag, &tree);
        if (r < 0)
                return r;

        _cleanup_free_ char *dir = path_dirname(file);
        SchemaContext ctx = {
                .diag = l->diag,
                .file = file,
                .base_dir = dir,
                .data_dir = l->opts->data_dir,
        };
        r = schema_validate(schema, tree, &ctx);
        if (r < 0)
                return r;

        *ret_file = file;
        *ret_tree = TAKE_PTR(tree);
        return 0;
}

/* Depth-first: a file's bases are applied before the file itself, in the order listed. A
 * file reached twice (a diamond) is applied once, where it was first reached. */
static int load_layers(Loader *l, const char *path, const Mark *where) {
        _cleanup_(node_freep) Node *tree = NULL;
        const char *file;
        struct stat st;
        int r;

        r = load_file(l, &profile_schema, path, where, &file, &st, &tree);
        if (r < 0)
                return r;

        for (size_t i = 0; i < l->n_stack; i++)
                if (l->stack[i].dev == st.st_dev && l->stack[i].ino == st.st_ino) {
                        Buffer chain = {};
                        for (size_t j = i; j < l->n_stack; j++)
                                buffer_printf(&chain, "%s -> ", l->stack[j].file);
                        buffer_puts(&chain, file);
                        diag_add(l->diag, where, "extends: cycle: %s", chain.data);
                        buffer_done(&chain);
                        return -EBADMSG;
                }
        for (size_t i = 0; i < l->n_layers; i++)
                if (l->layers[i].dev == st.st_dev && l->layers[i].ino == st.st_ino)
                        return 0;

        if (l->n_stack >= NODE_MAX_DEPTH) {
                diag_add(l->diag, where, "extends: chain deeper than %u files", NODE_MAX_DEPTH);
                return -EBADMSG;
        }
        l->stack = xrealloc(l->stack, (l->n_stack + 1) * sizeof(Layer));
        l->stack[l->n_stack++] = (Layer){.file = file, .dev = st.st_dev, .ino = st.st_ino};

        Node *extends = node_map_get(tree, "extends");
        for (size_t i = 0; extends && i < extends->n_items; i++) {
                const Node *item = extends->items[i];
                r = load_layers(l, item->scalar, &item->mark);
                if (r < 0)
                        break;
        }
        l->n_stack--;
        if (r < 0)
                return r;

        node_map_remove(tree, "extends");
        log_debug_sub("profile", "layer %zu: %s", l->n_layers, file);
        l->layers = xrealloc(l->layers, (l->n_layers + 1) * sizeof(Layer));
        l->layers[l->n_layers++] =
                (Layer){.file = file, .dev = st.st_dev, .ino = st.st_ino, .tree = TAKE_PTR(tree)};
        return 0;
}

static Node *parse_default(const Field *f, const Mark *m) {
        const char *v = f->default_value;
        if (v[0] != '[')
                return node_new_scalar(m, v, true);

        /* "[a, b]": a list of scalars, normalised the way the schema would. */
        Node *seq = node_new(NODE_SEQ, m);
        _cleanup_free_ char *inner = xstrndup(v + 1, strlen(v) - 2);
        for (char *save = NULL, *tok = strtok_r(inner, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
                Node *item = node_new_scalar(m, tok, true);
                if (f->key) {
                        Node *map = node_new(NODE_MAP, m);
                        node_map_append(map, f->key, m, item);
                        item = map;
                }
                node_seq_append(seq, item);
        }
        return seq;
}

static bool has_defaults(const Field *f) {
        for (const Field *c = f->fields; c && c->name; c++)
                if (c->default_value || (c->type == FIELD_MAP && has_defaults(c)))
                        return true;
        return false;
}

static void fill_defaults(const Field *f, Node *map, const Mark *m) {
        for (const Field *c = f->fields; c && c->name; c++) {
                Node *v = node_map_get(map, c->name);
                if (c->type == FIELD_MAP && has_defaults(c)) {
                        if (!v) {
                                v = node_new(NODE_MAP, m);
                                node_map_append(map, c->name, m, v);
                        }
                        fill_defaults(c, v, m);
                } else if (!v && c->default_value)
                        node_map_append(map, c->name, m, parse_default(c, m));
        }
}

static int load_include(Loader *l, const Field *schema, const char *subdir, const Node *name_node,
                        ProfileInclude *ret) {
        const char *name = name_node->scalar;
        _cleanup_free_ char *path =
                profile_data_file(l->opts->data_dir, subdir, name, name_node->mark.file);
        /* A kernel target's requirements for another architecture: NAME-ARCH.yaml. */
        const Arch *arch = l->arch;
        if (streq(subdir, "kernel-config") && arch) {
                _cleanup_free_ char *n = xasprintf("%s-%s", name, arch->name);
                _cleanup_free_ char *a =
                        profile_data_file(l->opts->data_dir, subdir, n, name_node->mark.file);
                if (!strchr(name, '/') && access(a, F_OK) == 0) {
                        free(path);
                        path = TAKE_PTR(a);
                }
        }
        _cleanup_(node_freep) Node *tree = NULL;
        const char *file;
        struct stat st;
        int r;

        if (access(path, F_OK) < 0) {
                _cleanup_strv_free_ char **known =
                        profile_list_data_files(l->opts->data_dir, subdir);
                Buffer b = {};
                buffer_printf(&b, "%s '%s' not found (no file %s)",
                              streq(subdir, "kernel-config") ? "kernel target" : "policy", name,
                              path);
                if (known) {
                        buffer_puts(&b, "; available:");
                        for (char **k = known; *k; k++)
                                buffer_printf(&b, " %s", *k);
                }
                diag_add(l->diag, &name_node->mark, "%s", b.data);
                buffer_done(&b);
                return -EBADMSG;
        }
        r = load_file(l, schema, path, &name_node->mark, &file, &st, &tree);
        if (r < 0)
                return r;
        Mark m = {.file = file};
        r = schema_check_required(schema, tree, &m, l->diag);
        if (r < 0)
                return r;
        log_debug_sub("profile", "%s '%s' is %s", subdir, name, file);
        *ret = (ProfileInclude){
                .name = xstrdup(name), .path = xstrdup(file), .tree = TAKE_PTR(tree)};
        return 0;
}

static int count_role(const Node *parts, const char *role, const Node **ret_last) {
        int n = 0;
        for (size_t i = 0; parts && i < parts->n_items; i++) {
                Node *r = node_map_get(parts->items[i], "role");
                if (r && r->type == NODE_SCALAR && streq(r->scalar, role)) {
                        n++;
                        *ret_last = parts->items[i];
                }
        }
        return n;
}

/* The values of another architecture's row in the profile (its cloud kernel, its serial
 * console, its early console) become this architecture's. Each keeps the file:line of the setting
 * it replaces, so the deviation report keeps that setting's why:. An early console this
 * architecture has none of is dropped (earlyprintk=ttyS0 names x86's UART: an arm64 kernel
 * calls it unknown and passes it to init). */
static void translate_arch(Node *tree, const Arch *a) {
        Node *kernel = node_lookup(tree, "kernel.package");
        const Arch *other =
                kernel ? arch_find_by(offsetof(Arch, kernel_package), kernel->scalar) : NULL;
        if (other && other != a) {
                free(kernel->scalar);
                kernel->scalar = xstrdup(a->kernel_package);
        }
        Node *cmdline = node_lookup(tree, "kernel.cmdline");
        for (size_t i = 0; cmdline && i < cmdline->n_items; i++) {
                Node *arg = node_map_get(cmdline->items[i], "arg");
                if (!arg || arg->type != NODE_SCALAR)
                        continue;
                other = arch_find_by(offsetof(Arch, early_console), arg->scalar);
                if (other && other != a && !a->early_console) {
                        node_seq_remove(cmdline, i--);
                        continue;
                }
                if (other && other != a) {
                        free(arg->scalar);
                        arg->scalar = xstrdup(a->early_console);
                        continue;
                }
                if (!strneq(arg->scalar, "console=", 8))
                        continue;
                other = arch_find_by(offsetof(Arch, serial_console), arg->scalar + 8);
                if (other && other != a) {
                        free(arg->scalar);
                        arg->scalar = xasprintf("console=%s", a->serial_console);
                }
        }
}

/* distro.architecture: --arch replaces it; it must be an architecture vmcompose builds for. */
static int apply_arch(Loader *l) {
        Profile *p = l->profile;
        Node *arch = node_lookup(p->tree, "distro.architecture");

        if (l->opts->arch && !streq(arch->scalar, l->opts->arch)) {
                if (!arch_find(l->opts->arch)) {
                        diag_add(l->diag, NULL, "--arch %s: vmcompose builds images for %s",
                                 l->opts->arch, arch_names());
                        return -EBADMSG;
                }
                p->arch_override = xstrdup(l->opts->arch);
                free(arch->scalar);
                arch->scalar = xstrdup(l->opts->arch);
                arch->mark = (Mark){.file = source_set_add(&p->sources, "--arch")};
        }
        l->arch = arch_find(arch->scalar);
        if (!l->arch) {
                diag_add(l->diag, &arch->mark,
                         "distro.architecture: vmcompose builds images for %s, not %s",
                         arch_names(), arch->scalar);
                return -EBADMSG;
        }
        translate_arch(p->tree, l->arch);
        return 0;
}

/* Checks that need the whole resolved profile: the package names against the family's rules,
 * the disk layout against the bootloader. */
static int check_resolved(Loader *l, const Node *tree) {
        const Node *parts = node_lookup(tree, "disk.partitions");
        const Node *table = node_lookup(tree, "disk.table");
        const Node *boot = node_lookup(tree, "bootloader");
        const Node *maker = node_lookup(tree, "kernel.initramfs");
        const Node *last = NULL;
        int r = check_package_names(tree, l->diag);

        if (maker && streq(maker->scalar, "vmcompose") && !node_lookup(tree, "kernel.target")) {
                diag_add(l->diag, &maker->mark,
                         "kernel.initramfs: vmcompose loads the drivers of the kernel target; "
                         "name one with kernel.target (qemu, azure, hyperv)");
                r = -EBADMSG;
        }
        if (!parts || parts->n_items == 0)
                return r;

        static const char *const unique[] = {"root", "esp", "bios-boot", "boot"};
        for (size_t i = 0; i < ELEMENTSOF(unique); i++)
                if (count_role(parts, unique[i], &last) > 1) {
                        diag_add(l->diag, &last->mark,
                                 "disk.partitions: more than one partition with role %s",
                                 unique[i]);
                        r = -EBADMSG;
                }
        if (count_role(parts, "root", &last) == 0) {
                diag_add(l->diag, &parts->mark, "disk.partitions: no partition has role root");
                r = -EBADMSG;
        }

        size_t n_auto = 0;
        for (size_t i = 0; i < parts->n_items; i++) {
                Node *s = node_map_get(parts->items[i], "size");
                if (s && streq(s->scalar, "auto") && ++n_auto > 1) {
                        diag_add(l->diag, &s->mark,
                                 "disk.partitions: only one partition may have size: auto");
                        r = -EBADMSG;
                }
        }

        bool mbr = table && streq(table->scalar, "mbr");
        if (mbr && count_role(parts, "bios-boot", &last) > 0) {
                diag_add(l->diag, &last->mark,
                         "disk.partitions: a bios-boot partition needs table: gpt (an MBR disk "
                         "embeds GRUB after the MBR instead)");
                r = -EBADMSG;
        }
        if (boot) {
                const char *b = boot->scalar;
                bool uefi = streq(b, "systemd-boot") || streq(b, "uki") || streq(b, "shim") ||
                            streq(b, "grub-efi");
                if (uefi && count_role(parts, "esp", &last) == 0) {
                        diag_add(l->diag, &boot->mark,
                                 "bootloader: %s boots through UEFI and needs a partition with "
                                 "role esp",
                                 b);
                        r = -EBADMSG;
                }
                const Node *an = node_lookup(tree, "distro.architecture");
                if (streq(b, "grub-bios") && l->arch && !l->arch->bios) {
                        _cleanup_free_ char *from =
                                an->mark.line > 0 ? xasprintf("%s:%u", an->mark.file, an->mark.line)
                                                  : xstrdup(an->mark.file);
                        diag_add(l->diag, &boot->mark,
                                 "bootloader: grub-bios boots from a PC BIOS, which %s machines "
                                 "do not have (distro.architecture: %s, from %s); use a UEFI "
                                 "boot loader (systemd-boot, uki, grub-efi, shim)",
                                 an->scalar, an->scalar, from);
                        r = -EBADMSG;
                }
                if (streq(b, "grub-bios") && !mbr && count_role(parts, "bios-boot", &last) == 0) {
                        diag_add(l->diag, &boot->mark,
                                 "bootloader: grub-bios on a GPT disk needs a partition with role "
                                 "bios-boot");
                        r = -EBADMSG;
                }
        }
        return r;
}

static int resolve(Loader *l, const char *path) {
        Profile *p = l->profile;
        int r;

        r = load_layers(l, path, NULL);
        if (r < 0)
                return r;
        const char *top = l->layers[l->n_layers - 1].file;

        if (l->opts->target) {
                _cleanup_free_ char *tp = profile_data_file(l->opts->data_dir, "profiles/targets",
                                                            l->opts->target, NULL);
                if (access(tp, F_OK) < 0) {
                        _cleanup_strv_free_ char **known =
                                profile_list_data_files(l->opts->data_dir, "profiles/targets");
                        Buffer b = {};
                        buffer_printf(&b, "unknown target '%s' (no file %s)", l->opts->target, tp);
                        if (known) {
                                buffer_puts(&b, "; available:");
                                for (char **k = known; *k; k++)
                                        buffer_printf(&b, " %s", *k);
                        }
                        diag_add(l->diag, NULL, "%s", b.data);
                        buffer_done(&b);
                        return -ENOENT;
                }
                r = load_layers(l, tp, NULL);
                if (r < 0)
                        return r;
        }

        Mark top_mark = {.file = top, .line = 1, .column = 1};
        p->tree = node_new(NODE_MAP, &top_mark);
        for (size_t i = 0; i < l->n_layers; i++) {
                schema_merge(&profile_schema, p->tree, l->layers[i].tree);
                strv_extend(&p->layers, l->layers[i].file);
        }

        Mark blame = {.file = top};
        r = schema_check_required(&profile_schema, p->tree, &blame, l->diag);
        if (r < 0)
                return r;

        Mark dflt = {.file = source_set_add(&p->sources, "default")};
        fill_defaults(&profile_schema, p->tree, &dflt);
        r = apply_arch(l);
        if (r < 0)
                return r;

        Node *policies = node_map_get(p->tree, "policy");
        for (size_t i = 0; policies && i < policies->n_items; i++) {
                ProfileInclude inc;
                if (load_include(l, &policy_schema, "profiles/policies",
                                 node_map_get(policies->items[i], "name"), &inc) < 0) {
                        r = -EBADMSG;
                        continue;
                }
                p->policies = xrealloc(p->policies, (p->n_policies + 1) * sizeof(ProfileInclude));
                p->policies[p->n_policies++] = inc;
        }
        Node *target = node_lookup(p->tree, "kernel.target");
        if (target &&
            load_include(l, &kernel_target_schema, "kernel-config", target, &p->kernel_target) < 0)
                r = -EBADMSG;
        if (check_resolved(l, p->tree) < 0)
                r = -EBADMSG;
        return r;
}

int profile_load(const char *path, const ProfileLoadOptions *opts, Diagnostics *diag,
                 Profile **ret) {
        _cleanup_(profile_freep) Profile *p = xcalloc(1, sizeof(Profile));
        Loader l = {.profile = p, .opts = opts, .diag = diag};
        int r;

        if (opts->no_overlays) {
                const char *file;
                struct stat st;
                r = load_file(&l, &profile_schema, path, NULL, &file, &st, &p->tree);
                if (r == 0)
                        strv_extend(&p->layers, file);
        } else
                r = resolve(&l, path);

        /* Kept for the audit trail, aligned with p->layers (a failed load frees them). */
        if (r == 0 && !opts->no_overlays) {
                p->layer_trees = xcalloc(l.n_layers + 1, sizeof(Node *));
                for (size_t i = 0; i < l.n_layers; i++)
                        p->layer_trees[i] = TAKE_PTR(l.layers[i].tree);
        }
        for (size_t i = 0; i < l.n_layers; i++)
                node_free(l.layers[i].tree);
        free(l.layers);
        free(l.stack);
        if (r < 0)
                return r;

        Node *name = node_map_get(p->tree, "name");
        p->name = name && name->type == NODE_SCALAR ? name->scalar : NULL;
        r = profile_config_load(p, diag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int profile_load_policies(char *const *names, const char *data_dir, Diagnostics *diag,
                          Profile **ret) {
        _cleanup_(profile_freep) Profile *p = xcalloc(1, sizeof(Profile));
        ProfileLoadOptions opts = {.data_dir = data_dir};
        Loader l = {.profile = p, .opts = &opts, .diag = diag};
        int r = 0;

        for (char *const *n = names; n && *n && r == 0; n++) {
                /* Names on the command line: relative paths are relative to the working
                 * directory, as a profile's are to its file. */
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                _cleanup_free_ char *here = path_join(cwd ? cwd : ".", "command-line");
                Mark m = {.file = source_set_add(&p->sources, here)};
                _cleanup_(node_freep) Node *name = node_new_scalar(&m, *n, false);
                ProfileInclude inc;
                r = load_include(&l, &policy_schema, "profiles/policies", name, &inc);
                if (r == 0) {
                        p->policies =
                                xrealloc(p->policies, (p->n_policies + 1) * sizeof(ProfileInclude));
                        p->policies[p->n_policies++] = inc;
                }
        }
        free(l.layers);
        free(l.stack);
        if (r < 0)
                return r;
        r = profile_config_load(p, diag);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

static void include_done(ProfileInclude *inc) {
        free(inc->name);
        free(inc->path);
        node_free(inc->tree);
}

Profile *profile_free(Profile *p) {
        if (!p)
                return NULL;
        profile_config_done(&p->config, p->n_policies);
        node_free(p->tree);
        for (Node **t = p->layer_trees; t && *t; t++)
                node_free(*t);
        free(p->layer_trees);
        strv_free(p->layers);
        for (size_t i = 0; i < p->n_policies; i++)
                include_done(&p->policies[i]);
        free(p->policies);
        include_done(&p->kernel_target);
        free(p->arch_override);
        source_set_done(&p->sources);
        free(p);
        return NULL;
}
