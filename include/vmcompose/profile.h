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

/* A value of the profile, typed at load (composer/profile/config.c), with where it was set and
 * the why:/category: that documents it (the list item's own; for a setting, those of the
 * mapping around it in the file that set it). value NULL: not set. Strings are borrowed from
 * the Profile. */
typedef struct ProfileValue {
        const char *value;
        Mark mark;
        const char *why, *category;
} ProfileValue;

typedef struct ProfileList {
        ProfileValue *items;
        size_t n;
} ProfileList;

typedef struct ProfilePartition {
        Mark mark;                                /* the item */
        ProfileValue role, fs, size, free, label; /* fs, free, label: NULL when not given */
        bool auto_size;                           /* size: auto; else size_bytes */
        uint64_t size_bytes, free_bytes;          /* free: 512M */
        unsigned free_percent;                    /* free: 20% */
} ProfilePartition;

/* distro.repositories[]: "system" (the host's sources), or one written out. */
typedef struct ProfileRepository {
        Mark mark;
        bool system;
        const char *uri, *suite, *signed_by; /* signed_by NULL: none */
        char **components;                   /* NULL: not given */
        bool allow_unsigned;
        const char *metalink;    /* rpm-md: mirrors and repomd.xml's digest; NULL: none */
        bool gpgcheck;           /* rpm-md: packages' signatures checked (default true) */
        uint64_t priority, cost; /* rpm-md: dnf's priority (default 99) and cost (1000) */
} ProfileRepository;

typedef struct SystemUser {
        ProfileValue name;
        const char *shell, *uid, *password_hash; /* NULL: not given */
        char **groups, **ssh_keys;
} SystemUser;

typedef struct SystemFile {
        ProfileValue path;
        const char *content, *source; /* exactly one is set */
        mode_t mode;                  /* 0644 when not given */
} SystemFile;

/* system.sysctl[]: a kernel parameter set at boot; name carries the item's why:. */
typedef struct SystemSysctl {
        ProfileValue name;
        const char *value;
} SystemSysctl;

/* The system: section. */
typedef struct SystemConfig {
        ProfileValue hostname, locale, timezone;
        SystemUser *users;
        size_t n_users;
        SystemFile *files;
        size_t n_files;
        SystemSysctl *sysctl; /* in the profile's order */
        size_t n_sysctl;
        ProfileList overlays; /* host directories */
        ProfileList enable, disable, mask, generators_mask, scripts;
} SystemConfig;

/* containers[]: an image baked into containerd's store (composer/containers/). */
typedef struct ProfileContainer {
        Mark mark;                 /* the item */
        ProfileValue name;         /* with the item's why: and category: */
        ProfileValue path, digest; /* path: resolved against the profile that names it */
        ProfileValue image;        /* NULL: localhost/NAME:latest */
        char **run;                /* run:'s arguments */
        bool run_set;              /* run: given (possibly empty: the image's own command) */
} ProfileContainer;

/* A policy's rules (profiles/policies/NAME.yaml): each a glob pattern. */
typedef struct ProfilePolicy {
        const char *name;           /* the policy's name: */
        bool named;                 /* the profile's policy: list names it, ... */
        const char *why, *category; /* ... with these; NULL: none */
        ProfileList forbid_packages, forbid_sections, forbid_paths;
        ProfileList strip_paths, strip_keep, strip_remove;
} ProfilePolicy;

typedef struct KconfigItem {
        ProfileValue option;
        const char *value; /* NULL: "y" or "m" */
} KconfigItem;

/* The kernel target (kernel-config/NAME.yaml). name NULL: the profile names none. */
typedef struct ProfileTarget {
        const char *name, *path;
        ProfileList cmdline, forbid_cmdline, initramfs_drivers, modules;
        KconfigItem *kconfig;
        size_t n_kconfig;
} ProfileTarget;

/* The profile, typed once at load: the stages read these, not the tree. */
typedef struct ProfileConfig {
        ProfileValue family, release, architecture;
        const Arch *arch; /* architecture's row in the architecture table (core/arch.c); NULL: a
                           * profile without one (profile_load_policies()) */
        ProfileRepository *repositories;
        size_t n_repositories;
        ProfileValue bootloader;
        ProfileValue kernel_package, initramfs, initramfs_modules;
        ProfileValue modules;     /* kernel.modules: all, target */
        ProfileList modules_keep; /* kernel.modules-keep */
        ProfileList cmdline;
        ProfileValue disk_table, disk_size;
        bool disk_auto_size; /* disk.size: auto (or not given); else disk_bytes */
        uint64_t disk_bytes;
        ProfilePartition *partitions;
        size_t n_partitions;
        ProfileList install, remove, allow, policies;
        ProfileList groups; /* packages.groups: rpm-md comps groups ("core") */
        ProfileValue base;
        bool recommends;
        ProfileValue seed, source_date_epoch;
        uint64_t epoch;                 /* source_date_epoch's value */
        ProfileList outputs;            /* each one's format */
        ProfileList output_compression; /* each one's compression: "none", "zlib", "zstd" */
        bool has_system;
        SystemConfig system;
        ProfileContainer *containers;
        size_t n_containers;
        Mark containers_mark;        /* the containers: key (line 0: not given) */
        ProfilePolicy *policy_rules; /* one per Profile.policies */
        ProfileTarget target;
} ProfileConfig;

/* A loaded profile. The stages read config, typed at load with the Mark of every value (for
 * error messages and the audit trail); the tree is the profile module's (show, the input
 * digest). */
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
        ProfileConfig config;         /* all of it, typed */
        char *arch_override; /* the --arch name when it changed the profile's own architecture
                              * (image names then end in -ARCH); NULL otherwise */
} Profile;

typedef struct ProfileLoadOptions {
        const char *data_dir; /* holds profiles/, kernel-config/, bootloader/; see
                               * vmcompose_data_dir() */
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

/* A package pinned by the lock file. */
typedef struct ProfileLockPin {
        const char *name, *version, *architecture, *sha256;
} ProfileLockPin;

/* A lock file (NAME.lock, YAML written by `vmcompose lock`). Strings are owned by it. */
typedef struct ProfileLock {
        SourceSet sources;
        Node *tree;
        ProfileLockPin *pins;
        size_t n_pins;
} ProfileLock;

/* Reads the lock file at path. 0; a negative errno when it cannot be read; -EBADMSG with the
 * problem in diag when it is not a lock file. */
int profile_lock_read(const char *path, ProfileLock *ret, Diagnostics *diag);
void profile_lock_done(ProfileLock *l);

/* vmcompose's data directory: $VMCOMPOSE_DATA_DIR, else the source tree when running from the
 * build tree, else the installed data directory. */
const char *vmcompose_data_dir(void);
/* The initramfs init program for arch (vmcompose-init.ARCH): $VMCOMPOSE_INIT, the build
 * tree's when this binary runs from it, else the installed one. Caller frees. */
char *vmcompose_init_path(const Arch *arch);
/* A helper program of vmcompose's own (vmcompose-deb): the build tree's for a binary in the
 * build tree, else the installed one. Caller frees. */
char *vmcompose_libexec_path(const char *name);
