/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/arch.h"
#include "vmcompose/node.h"
#include "vmcompose/schema.h"

/* A file the profile refers to by name (a policy, a kernel target), loaded and validated. */
typedef struct ProfileInclude {
        char *name; /* as written in the profile */
        char *path; /* the file it resolved to */
        Node *tree; /* validated against its schema */
} ProfileInclude;

/* A loaded profile. Each stage reads its own section of the resolved tree (with the Mark of
 * every value, for error messages and the audit trail) through node_lookup(); the profile
 * module owns the language, not the stages' types. */
typedef struct Profile {
        SourceSet sources;  /* owns every Mark's file name */
        char **layers;      /* files applied, base first (the target overlay last) */
        Node *tree;         /* the resolved tree, defaults filled in */
        Node **layer_trees; /* each layer as written, in the order of layers (the audit trail
                             * reads a setting's why: from the file that set it) */
        const char *name;   /* borrowed from tree */
        ProfileInclude *policies;
        size_t n_policies;
        ProfileInclude kernel_target; /* .tree is NULL when the profile names no target */
        const Arch *arch;             /* distro.architecture's row (NULL with no_overlays) */
        char *arch_override; /* the --arch name when it changed the profile's own architecture
                              * (image names then end in -ARCH); NULL otherwise */
} Profile;

typedef struct ProfileLoadOptions {
        const char *data_dir; /* holds profiles/ and kernel-config/; see vmcompose_data_dir() */
        const char *target;   /* NULL, or a target overlay name (profiles/targets/NAME.yaml) */
        const char *arch;     /* NULL, or the architecture to build for (--arch): replaces
                               * distro.architecture, and the other architecture's cloud kernel
                               * and serial console with this one's */
        bool no_overlays;     /* load this file alone: no extends:, no target, no defaults */
} ProfileLoadOptions;

/* Loads a profile and everything it extends, applies the target overlay, fills defaults, and
 * checks the result (required keys, referenced policies and kernel targets, disk layout
 * consistency). Returns 0, or -EBADMSG with every problem in diag as "file:line:col: message";
 * -ENOENT when the target does not exist. The caller owns *ret. */
int profile_load(const char *path, const ProfileLoadOptions *opts, Diagnostics *diag,
                 Profile **ret);
/* Loads the named policies (profiles/policies/NAME.yaml, or a path) alone, for checking an
 * image against them: a Profile with only policies filled. 0, or -EBADMSG with the problems
 * in diag. The caller owns *ret. */
int profile_load_policies(char *const *names, const char *data_dir, Diagnostics *diag,
                          Profile **ret);
Profile *profile_free(Profile *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Profile *, profile_free);

/* The path of a named data file: NAME alone means DATA_DIR/SUBDIR/NAME.yaml; a name with a
 * slash or a .yaml suffix is a path relative to the directory of the file that names it.
 * Returns a newly allocated path (which may not exist). */
char *profile_data_file(const char *data_dir, const char *subdir, const char *name,
                        const char *declaring_file);

/* The names of the *.yaml files in DATA_DIR/SUBDIR, sorted. */
char **profile_list_data_files(const char *data_dir, const char *subdir);

/* Emits a profile tree as YAML with "# file:line:col" provenance comments. */
char *profile_format_text(const Profile *p);
/* Emits {"profile": ..., "provenance": {"dotted.path": "file:line:col"}, "layers": [...]}
 * with typed values (booleans, integers, sizes in bytes). */
char *profile_format_json(const Profile *p);
/* The resolved profile as compact JSON, the profile's part of the build's input digest: the
 * values of profile_format_json() in the same (schema) order, without layers or provenance,
 * each path value (files[].source, overlay, signed-by) replaced by "sha256:" and the digest of
 * what it names (sha256_tree()), so the text does not depend on where the files lie. Returns 0
 * and the text in *ret, or a negative errno and the path that could not be read in
 * *ret_failed; the caller frees either. */
int profile_format_canonical(const Profile *p, char **ret, char **ret_failed);

/* vmcompose's data directory: $VMCOMPOSE_DATA_DIR, else the source tree when running from the
 * build tree, else the installed data directory. */
const char *vmcompose_data_dir(void);
/* The initramfs init program for arch (vmcompose-init.ARCH): $VMCOMPOSE_INIT, the build
 * tree's when this binary runs from it, else the installed one. Caller frees. */
char *vmcompose_init_path(const Arch *arch);
