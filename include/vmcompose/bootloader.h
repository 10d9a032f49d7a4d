/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/arch.h"
#include "vmcompose/util.h"

/* Boot loaders (composer/bootloader/): the ESP each makes (the packages each needs are the
 * distribution backend's: DistroOps.boot_packages). Each is
 * a row in one table; the text they write (BLS entries, loader.conf) is built by pure
 * functions. */

typedef struct BootKernel {
        char *version; /* "6.1.0-56-cloud-amd64" */
        char *vmlinuz; /* relative to the root: boot/vmlinuz-VERSION */
        char *initrd;  /* boot/initrd.img-VERSION */
} BootKernel;

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
        const char *esp_vendor_dir; /* the distribution's /EFI directory: "debian" */
        const Arch *arch;           /* the image's: its EFI file names */
        uint64_t timestamp; /* source-date-epoch for what records a time (the UKI's PE header);
                             * 0: none */
} BootParams;

typedef struct Bootloader {
        const char *name; /* as in the profile's bootloader: */
        /* Fills the ESP (and the root's /boot); work_dir keeps files for embed(). */
        int (*prepare)(const BootParams *p);
        /* After the disk is written: boot code outside the filesystems (BIOS). NULL: none.
         * core_sector is where the boot code may go (the MBR gap or the bios-boot partition),
         * room its size in sectors. */
        int (*embed)(const char *work_dir, const char *disk_path, uint64_t core_sector,
                     uint64_t room);
} Bootloader;

/* GRUB's i386-pc boot sector, patched to load core.img from core_sector: keeps the disk's own
 * bytes 440..511 (signature and partition table) from mbr. Pure, for tests. */
void grub_patch_boot_sector(uint8_t boot[512], const uint8_t mbr[512], uint64_t core_sector);
/* Points core.img's first blocklist at the sectors after its first one. */
void grub_patch_core(uint8_t *core, size_t size, uint64_t core_sector);

/* The boot loader called name, or NULL when vmcompose does not make it yet. */
const Bootloader *bootloader_find(const char *name);

/* Finds the one kernel in the root's /boot (with its initramfs if need_initrd), resolved inside
 * the root. 0, -ENOENT (no kernel or no initramfs), or -ENOTUNIQ (several kernels). */
int boot_kernel_find(int root_fd, bool need_initrd, BootKernel *ret);
void boot_kernel_done(BootKernel *k);

/* Boot Loader Specification type #1 entry text. Caller frees. */
char *bls_entry(const char *title, const char *version, const char *linux_path,
                const char *initrd_path, const char *options);
/* GRUB's configuration for one kernel in /boot of the filesystem with root_fs_uuid. */
char *grub_cfg(const char *title, const char *root_fs_uuid, const char *version,
               const char *cmdline);
/* systemd-boot's loader.conf. Caller frees. */
char *loader_conf(const char *default_entry, unsigned timeout);

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

/* The systemd unit every image carries to report its boot on the serial console
 * ("vmcompose-boot: ready" or "vmcompose-boot: degraded (...)"). */
extern const char boot_ready_unit[];

/* Sets the COFF header's TimeDateStamp of the PE image b (size bytes) and, when the optional
 * header carries a checksum, computes it again. Returns 0, or -EBADMSG when b is not a PE
 * image. */
int pe_set_timestamp(uint8_t *b, size_t size, uint32_t timestamp);
