/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/disk.h"
#include "vmcompose/distro.h"
#include "vmcompose/fetch.h"
#include "vmcompose/profile.h"
#include "vmcompose/repo.h"
#include "vmcompose/resolve.h"

typedef struct Bootloader Bootloader;

/* A Kconfig option the kernel target needs. */
typedef struct KconfigRequirement {
        char *option; /* "CONFIG_HYPERV" */
        char *value;  /* "y", "m" or "y|m" */
        char *where;  /* "file:line" of the requirement */
} KconfigRequirement;

/* The profile read once, at the profile stage (composer/pipeline/config.c, from Profile.config):
 * the stages read these typed values, not the YAML tree. Strings are owned by the configuration;
 * repositories and system are borrowed from the Profile. */
typedef struct BuildConfig {
        const DistroOps *distro;    /* the distro.family's backend */
        DistroBootData distro_boot; /* its boot data (bootloader/distro/FAMILY.yaml) */
        char *release;              /* distro.release */
        char *architecture;         /* distro.architecture (the family's name: "amd64") */
        const Arch *arch;           /* its row in the architecture table */
        const ProfileRepository *repositories; /* distro.repositories, for repos_load */
        size_t n_repositories;
        const Bootloader *bootloader;             /* NULL: one vmcompose does not make (yet) */
        char *bootloader_name, *bootloader_where; /* the profile's bootloader:, "file:line" */
        char *initramfs;            /* kernel.initramfs: "initramfs-tools", "vmcompose" */
        char *initramfs_where;      /* "file:line" of kernel.initramfs; NULL: the default */
        bool initramfs_only_target; /* kernel.initramfs-modules: target */
        bool modules_only_target;   /* kernel.modules: target */
        char *modules_where;        /* "file:line" of kernel.modules; NULL: the default */
        char **modules_keep, **modules_keep_wheres; /* kernel.modules-keep, "file:line" */
        char *esp_fstype;                           /* the ESP's type; NULL: no ESP */
        char *root_fstype, *root_where; /* the root partition's type, "file:line"; NULL: none */
        DiskLayout layout; /* from the profile; sizes and offsets computed by the disk stage */
        int layout_error;  /* disk_layout_from_profile()'s: the layout is empty, ... */
        Diagnostics layout_diag; /* ... and these say why */
        char **cmdline;          /* kernel.cmdline, then the target's cmdline, each once */
        /* The package request. */
        char **install; /* packages.install, kernel.package, the boot loader's packages */
        char **remove, **allow;
        char **groups; /* packages.groups (rpm-md comps) */
        char *base;
        bool recommends;
        ResolveForbid *forbid; /* every policy's forbid.packages and forbid.sections */
        size_t n_forbid;
        char **forbid_origins;
        /* The policies' strip rules. */
        char **strip_exclude, **strip_include;      /* strip.paths, strip.keep */
        char **strip_remove, **strip_remove_policy; /* strip.remove, and each one's policy */
        /* The kernel target (kernel.target); target_name NULL: none. */
        char *target_name, *target_path;
        char **target_drivers, **target_driver_wheres; /* initramfs-drivers, "file:line" */
        char **target_modules, **target_module_wheres; /* modules, "file:line" */
        KconfigRequirement *kconfig;
        size_t n_kconfig;
        char **forbid_cmdline;
        char **outputs;             /* the output formats, in the profile's order */
        char **output_compression;  /* each one's compression: "none", "zlib", "zstd" */
        const SystemConfig *system; /* the system: section, for system_apply(); NULL: none */
} BuildConfig;

/* Reads p into ret (identifiers derive from seed). 0, or -ENOSYS with the problem in diag for a
 * family without a backend. A disk layout that cannot be made is kept in ret->layout_error
 * (and ret->layout_diag) for the disk stage. */
int build_config_load(const Profile *p, const char *seed, BuildConfig *ret, Diagnostics *diag);
void build_config_done(BuildConfig *c);

/* reproducible.seed (the profile's name without one; caller frees) and
 * reproducible.source-date-epoch (*ret_epoch unchanged without one). */
void build_config_reproducible(const Profile *p, char **ret_seed, uint64_t *ret_epoch);

/* Everything a build carries from stage to stage. */
typedef struct BuildContext {
        /* Set by the caller. */
        const Profile *profile;
        const char *output_dir;
        const char *target;          /* NULL or the --target name */
        const char *root_dir;        /* --root: use this tree as the finished root */
        const char *esp_dir;         /* --esp: ESP contents to go with --root */
        char *image_name;            /* NAME, or NAME-TARGET */
        const char *profile_path;    /* the profile file: the lock file sits next to it */
        const char *cache_dir;       /* NULL: fetch_default_cache_dir() */
        const char *repo_config_dir; /* the host's package manager configuration for
                                      * repositories: system (VMCOMPOSE_APT_DIR); NULL: the
                                      * backend's default_config_root */
        bool locked;                 /* --locked: exactly the lock file's package set */
        bool strict_audit;           /* --strict-audit: an undocumented deviation is an error */
        bool no_root_cache;          /* --no-root-cache: always install, store no root */
        const char *stop_after;      /* run the stages up to this one only (vmcompose lock) */
        unsigned parallel;           /* downloads at once; 0: 8 */

        /* Filled by the stages. */
        BuildConfig config;    /* the profile, read once by the profile stage */
        char *seed;            /* reproducible.seed, else the profile's name */
        uint64_t timestamp;    /* reproducible.source-date-epoch, else 0 */
        char *tmp_dir;         /* OUTPUT_DIR/.vmcompose-NAME-XXXXXX; removed at the end */
        char *mem_dir;         /* tmp_dir/mem, a tmpfs holding the root, or NULL */
        char *raw_path;        /* the raw disk image, inside tmp_dir */
        char **written;        /* output files written, for the summary */
        char **written_sha256; /* the SHA-256 (hex) of each, where the outputs stage hashed it */
        char *cache;           /* the package cache in use */
        RepoIndexes indexes;
        Plan plan;
        FetchItem *debs; /* the plan's package files in the cache, in plan order */
        char *root_path; /* the root the install stage made (inside tmp_dir) */
        char *esp_path;  /* the ESP contents the bootloader stage made */
        char *boot_work; /* the bootloader's files for the boot code stage */
        char *kernel_version, *kernel_cmdline; /* what the bootloader stage installed */
        char **initramfs_modules;     /* in the initramfs or built into the kernel ("hv_vmbus") */
        char **build_records_removed; /* reproducible_clean_root()'s removals, for the report */
        /* kernel.modules: target (composer/pipeline/stage-modules.c): the modules kept and
         * removed, the bytes removed; all 0 for kernel.modules: all. */
        uint64_t modules_kept, modules_removed, modules_removed_bytes;
        char **modules_kept_names; /* the kept modules' names ("ext4"), sorted */
        /* The root's copies of the kernel and initramfs the bootloader stage removed because
         * the boot loader reads the ESP's (Bootloader.kernel_on_esp): "/boot/vmlinuz-V", ... */
        char **kernel_root_removed;
        uint64_t kernel_root_removed_bytes;
        /* The profile's containers:, verified by the containers stage, baked by install. */
        struct OciImage *containers;
        size_t n_containers;
        /* The files the build added so that a kernel package installed in the VM boots
         * (stage-bootloader.c's install_kernel_hooks()): "/etc/kernel/cmdline", ...; and each
         * one's why, for the deviation report. */
        char **kernel_hooks_added, **kernel_hooks_why;
} BuildContext;

enum {
        STAGE_REQUIRED = 1 << 0,   /* the image cannot be made without it */
        STAGE_MAKES_ROOT = 1 << 1, /* prepares the root tree: skipped with --root */
};

typedef struct Stage {
        const char *name;
        const char *summary;
        int (*run)(BuildContext *ctx); /* NULL: not implemented yet */
        unsigned flags;
        const char *tracked_in; /* where a missing stage is being built */
} Stage;

/* The stages of a build, in order. */
const Stage *pipeline_stages(size_t *ret_n);

/* Runs every stage in order. Stops at the first failure, or at the first required stage that
 * does not exist yet, saying so. Returns 0 when the image was built, a negative errno on
 * failure (-EINTR on a signal), or -ENOSYS when a required stage is missing. On any failure
 * nothing is left at the output paths and the temporary directory is removed. */
int pipeline_run(BuildContext *ctx);
void build_context_done(BuildContext *ctx);

/* The build's temporary directory (created on first use, in the output directory). */
int build_tmp_dir(BuildContext *ctx, const char **ret);
/* Where the install stage makes the root (the caller owns *ret): TMP/mem/root, TMP/mem a tmpfs
 * (core/workdir.c) when VMCOMPOSE_TMPFS allows it, as root, with memory to spare; else TMP/root.
 * 0 or a negative errno (logged). */
int build_root_path(BuildContext *ctx, char **ret);

/* The lock file for this profile and target: PROFILE_DIR/NAME[-TARGET].lock. Caller frees. */
char *build_lock_path(const BuildContext *ctx);

/* Writes the lock file for the resolved plan (vmcompose lock). */
int build_write_lock(const BuildContext *ctx);

/* The build's input digest, "sha256:HEX" (docs/manifest.md): SHA-256 over vmcompose's version,
 * the --target, the resolved profile (profile_format_canonical()), the policy and kernel target
 * files it names, each index's signed Release and the resolved package set, in that order. Needs
 * the resolve stage's indexes and plan. Returns 0 and the text in *ret, or a negative errno and
 * the file that could not be read in *ret_failed; the caller frees either. */
int build_input_digest(const BuildContext *ctx, char **ret, char **ret_failed);

/* DIR/NAME.SUFFIX for this build. */
char *build_output_path(const BuildContext *ctx, const char *suffix);
