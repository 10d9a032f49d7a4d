/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/arch.h"
#include "vmcompose/node.h"
#include "vmcompose/util.h"

/* Boot loaders (composer/bootloader/): the ESP each makes (the packages each needs are the
 * distribution's, in DATA_DIR/bootloader/distro/FAMILY.yaml: DistroBootData). Each is a row in
 * one table; the text they write (BLS entries, loader.conf, grub.cfg, the boot report unit) is
 * made from templates in DATA_DIR/bootloader/ (bootloader/README.md), read at run time. */

typedef struct BootKernel {
        char *version; /* "6.1.0-56-cloud-amd64" */
        char *vmlinuz; /* relative to the root: boot/vmlinuz-VERSION */
        char *initrd;  /* boot/initrd.img-VERSION */
} BootKernel;

/* The shim boot loader's files (the family's boot data, bootloader/distro/FAMILY.yaml, for the
 * image's architecture): where the signed shim, GRUB and MokManager are in the root, and where
 * GRUB reads its configuration on the ESP. */
typedef struct ShimFiles {
        char *shim;        /* relative to the root: "usr/lib/shim/shimx64.efi.signed" */
        char *grub;        /* "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" */
        char *mok_manager; /* NULL: none (also optional in the root) */
        char **grub_cfg;   /* relative to the ESP: "EFI/debian/grub.cfg" */
} ShimFiles;
void shim_files_done(ShimFiles *f);

/* Why a file below the ESP's mount point cannot go onto the ESP (esp_take_root_files()). */
typedef struct EspProblem {
        char *path; /* in the root: "/boot/efi/EFI/fedora/x" */
        char *why;  /* "a symbolic link, which vfat cannot hold" */
} EspProblem;
void esp_problem_done(EspProblem *p);

/* Whether vfat holds name as it is: printable ASCII without "*:<>?\|, 1 to 255 bytes, not
 * ending in '.' or ' ' (which vfat drops). */
bool esp_name_ok(const char *name);

/* Moves what the root (root_fd) holds below mount_point (the family's esp-mount, relative to
 * the root: "boot/efi") onto the ESP (esp_fd) at the same relative paths, merged with what the
 * ESP holds, and empties mount_point (which stays: the ESP mounts there). Everything is checked
 * before anything is copied: a name vfat cannot hold or two names that differ only in case, a
 * symlink, anything but a file or a directory, an owner other than root, a file where the ESP
 * has a directory (or the reverse), or a file the ESP holds already (vmcompose's boot loader)
 * with other content leave both trees as they were and return -EBADMSG with the path and why
 * in *problem (release with esp_problem_done()). Returns the number of files now on the ESP
 * from mount_point (0 when it is missing), or a negative errno. */
int esp_take_root_files(int root_fd, const char *mount_point, int esp_fd, EspProblem *problem);

typedef struct BootParams {
        const char *root_dir; /* the finished root (for messages and chroot) */
        int root_fd;          /* the same, where every file of the root is reached */
        const char *esp_dir;  /* an empty directory to fill */
        int esp_fd;
        const char *work_dir; /* files kept for embed() */
        int work_fd;
        const BootKernel *kernel;
        const char *cmdline;      /* the whole kernel command line */
        const char *root_fs_uuid; /* the root filesystem, for loaders that read the kernel there */
        const char *title;        /* the menu title */
        const ShimFiles *shim;    /* the shim boot loader's (NULL for the others) */
        const char *data_dir;     /* holds bootloader/ (vmcompose_data_dir()) */
        const Arch *arch;         /* the image's: its EFI file names */
        uint64_t timestamp; /* source-date-epoch for what records a time (the UKI's PE header);
                             * 0: none */
} BootParams;

/* The boot data templates a boot loader writes (Bootloader.texts). */
typedef enum BootText {
        BOOT_TEXT_BLS_ENTRY = 1 << 0,   /* systemd-boot/entry.conf */
        BOOT_TEXT_LOADER_CONF = 1 << 1, /* systemd-boot/loader.conf */
        BOOT_TEXT_GRUB_CFG = 1 << 2,    /* grub/grub.cfg */
        BOOT_TEXT_GRUB_EARLY = 1 << 3,  /* grub/early.cfg */
} BootText;

typedef struct Bootloader {
        const char *name; /* as in the profile's bootloader: */
        unsigned texts;   /* the BootText templates prepare() renders */
        /* Fills the ESP (and the root's /boot); work_dir keeps files for embed(). */
        int (*prepare)(const BootParams *p);
        /* After the disk is written: boot code outside the filesystems (BIOS). NULL: none.
         * core_sector is where the boot code may go (the MBR gap or the bios-boot partition),
         * room its size in sectors. */
        int (*embed)(const char *work_dir, const char *disk_path, uint64_t core_sector,
                     uint64_t room);
        /* The loader reads the kernel and initramfs from its copies on the ESP (prepare()
         * put them there), never from the root's /boot: the bootloader stage removes the
         * root's copies. */
        bool kernel_on_esp;
        /* prepare() copies the family's signed shim and GRUB (BootParams.shim): the family's
         * boot data must say where they are (its shim section). */
        bool uses_shim_files;
} Bootloader;

/* GRUB's i386-pc boot sector, patched to load core.img from core_sector: keeps the disk's own
 * bytes 440..511 (signature and partition table) from mbr. Pure, for tests. */
void grub_patch_boot_sector(uint8_t boot[512], const uint8_t mbr[512], uint64_t core_sector);
/* Points core.img's first blocklist at the sectors after its first one. */
void grub_patch_core(uint8_t *core, size_t size, uint64_t core_sector);

/* For GRUB's kernel package hook (bootloader/kernel-hooks/zz-vmcompose-grub): p's grub.cfg
 * with @VERSION@, @LINUX@ and @INITRD@ in place of the kernel's version and paths (*ret_text),
 * and where b writes it as the running image sees it, the ESP mounted on esp_mount: one path,
 * or several separated by spaces (p->shim's grub_cfg) (*ret_path). Both owned by the caller.
 * 0, or a negative errno (the problem logged). */
int bootloader_grub_hook_cfg(const Bootloader *b, const BootParams *p, const char *esp_mount,
                             char **ret_text, char **ret_path);

/* The boot loader called name, or NULL when vmcompose does not make it yet. */
const Bootloader *bootloader_find(const char *name);

/* Finds the one kernel in the root's /boot (with its initramfs if need_initrd), resolved inside
 * the root. 0, -ENOENT (no kernel or no initramfs), or -ENOTUNIQ (several kernels). */
int boot_kernel_find(int root_fd, bool need_initrd, BootKernel *ret);
void boot_kernel_done(BootKernel *k);

/* A variable of a boot data template: @NAME@ in the text stands for value. */
typedef struct BootVar {
        const char *name; /* "TITLE": capitals, digits and '_' */
        const char *value;
} BootVar;

/* Renders the template text (size bytes, read from path, which messages name): each @NAME@
 * replaced by the value of the variable NAME in vars, each @@ by one @; any other @ is kept.
 * 0 and the text in *ret (caller frees), or -EBADMSG with "path:line:column: message" in diag
 * for a variable vars does not have or a NUL byte. Pure, for tests. */
int boot_template_render(const char *path, const char *text, size_t size, const BootVar *vars,
                         size_t n_vars, char **ret, Diagnostics *diag);
/* Reads DATA_DIR/bootloader/NAME and renders it with vars. 0 and *ret (caller frees); a
 * negative errno with "path: message" in diag when the file cannot be read (-ENOENT: missing),
 * -EBADMSG as boot_template_render(). */
int boot_data_render(const char *data_dir, const char *name, const BootVar *vars, size_t n_vars,
                     char **ret, Diagnostics *diag);

/* One kernel's boot entry, the variables of the entry templates. */
typedef struct BootEntry {
        const char *title;        /* TITLE: the menu title */
        const char *version;      /* VERSION: the kernel's */
        const char *linux_path;   /* LINUX: the kernel, as the loader reads it */
        const char *initrd_path;  /* INITRD */
        const char *options;      /* OPTIONS: the whole kernel command line */
        const char *root_fs_uuid; /* ROOT_UUID: the filesystem holding /boot (GRUB only) */
} BootEntry;

/* The texts each boot loader writes, from DATA_DIR/bootloader/ (each returns as
 * boot_data_render(); the caller frees *ret): a Boot Loader Specification type #1 entry
 * (systemd-boot/entry.conf); systemd-boot's loader.conf (systemd-boot/loader.conf:
 * DEFAULT_ENTRY); GRUB's configuration for one kernel (grub/grub.cfg); the early configuration
 * built into a GRUB image, which finds the root filesystem (grub/early.cfg: ROOT_UUID). */
int bls_entry(const char *data_dir, const BootEntry *e, char **ret, Diagnostics *diag);
int loader_conf(const char *data_dir, const char *default_entry, char **ret, Diagnostics *diag);
int grub_cfg(const char *data_dir, const BootEntry *e, char **ret, Diagnostics *diag);
int grub_early_cfg(const char *data_dir, const char *root_fs_uuid, char **ret, Diagnostics *diag);
/* Renders every template b writes, and the boot report unit, with empty values: 0, or the first
 * error (each in diag) of a template that is missing or malformed, so that a build stops before
 * it installs anything. */
int bootloader_check_data(const char *data_dir, const Bootloader *b, Diagnostics *diag);
/* The systemd unit every image carries to report its boot on the serial console
 * ("vmcompose-boot: ready" or "vmcompose-boot: degraded (...)"): vmcompose-ready.service, with
 * READY_MARKER and DEGRADED_MARKER (boottest.h's BOOT_MARKER_*). */
int boot_ready_unit(const char *data_dir, char **ret, Diagnostics *diag);

/* vmcompose's initramfs (composer/bootloader/initramfs.c, kernel.initramfs: vmcompose). */
typedef struct InitramfsFile {
        const char *path; /* in the archive, relative: "dev/console" */
        mode_t mode;      /* type and permissions */
        dev_t rdev;
        const char *data;
        size_t size;
} InitramfsFile;

/* A newc cpio archive of files (in the order given), owned by root, every mtime mtime, inode
 * numbers counted from 1, with the trailer. Pure, for tests. Caller frees. */
char *initramfs_cpio(const InitramfsFile *files, size_t n, uint64_t mtime, size_t *ret_size);

typedef struct InitramfsRequest {
        const char *root_dir;       /* the image's root: /lib/modules/VERSION; the archive is
                                     * written there too */
        const char *version;        /* the kernel's */
        const char *architecture;   /* the image's (dpkg name): init must be a program for it */
        char *const *drivers;       /* module names to load at boot; built-in ones are skipped */
        char *const *driver_wheres; /* optional, one a driver: where it was asked for ("f:12") */
        const char *init_path;      /* the static init program (vmcompose_init_path()) */
        uint64_t mtime;             /* every entry's time */
        const char *out_path;       /* relative to the root ("boot/initrd.img-VERSION"),
                                     * resolved inside it, written atomically */
} InitramfsRequest;

/* Writes the initramfs: /init, /dev/console, /proc, /sys, /sysroot, the drivers' modules and
 * everything they depend on (modules.dep, modules.softdep) under /lib/modules/VERSION, and
 * /vmcompose/modules listing them in load order. 0; -ENXIO when a driver is neither a module
 * nor built in (each one logged); other negative errnos (logged). */
int initramfs_write(const InitramfsRequest *req);
/* Appends the path of every member of the (possibly compressed) cpio archive at path (resolved
 * inside the root root_fd) to out, one a line. 0 or -EIO/-EBADMSG (logged). */
int initramfs_list(int root_fd, const char *path, Buffer *out);

/* A kernel target's checks (composer/bootloader/kernel-check.c). The state of option
 * ("CONFIG_HYPERV") in a kernel config text: 'y', 'm', or 0 when it is not set. */
char kconfig_state(const char *config, const char *option);
/* Whether state meets want: "y", "m" or "y|m". */
bool kconfig_meets(char state, const char *want);
/* Whether the module name ("hv_vmbus"; '-' and '_' alike) is in an initramfs listing (a path a
 * line) or the kernel's modules.builtin (either may be NULL). */
bool kernel_has_module(const char *list, const char *builtin, const char *name);
/* Every module named in the listing and modules.builtin, '-' as '_', in order. Caller frees. */
char **kernel_module_names(const char *list, const char *builtin);

/* Sets the COFF header's TimeDateStamp of the PE image b (size bytes) and, when the optional
 * header carries a checksum, computes it again. Returns 0, or -EBADMSG when b is not a PE
 * image. */
int pe_set_timestamp(uint8_t *b, size_t size, uint32_t timestamp);
