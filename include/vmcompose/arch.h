/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The architectures vmcompose builds images for (composer/core/arch.c): everything that
 * depends on the architecture is a field of its row, never an `if` at the call site. */
typedef struct Arch {
        const char *name;              /* Debian's (dpkg --print-architecture): "arm64" */
        const char *uname_machine;     /* the kernel's (uname -m) on such a host: "aarch64" */
        int elf_machine;               /* e_machine of its programs: EM_AARCH64 */
        const char *multiarch;         /* the GNU triplet of its library paths */
        const char *root_type;         /* the DPS root partition type GUID */
        const char *efi_suffix;        /* UEFI's file name suffix: "aa64" (systemd-bootaa64.efi) */
        const char *efi_boot;          /* the removable-media loader: "BOOTAA64.EFI" */
        const char *grub_efi_platform; /* GRUB's: "arm64-efi" */
        const char *kernel_package;    /* the distribution's cloud kernel */
        const char *serial_console;    /* the kernel's name of the first serial port: "ttyAMA0" */
        const char *early_console;     /* Azure's early output argument; NULL: none */
        bool bios;                     /* has PC BIOS firmware (grub-bios, Azure generation 1) */
        /* QEMU (vmcompose boot). */
        const char *qemu_system;  /* "qemu-system-aarch64" */
        const char *qemu_machine; /* "virt" */
        const char *qemu_machine_secureboot;
        const char *qemu_cpu;         /* for TCG ("host" under KVM); NULL: QEMU's default */
        bool qemu_pflash_secure;      /* Secure Boot firmware needs the pflash in SMM-only mode */
        const char *firmware_package; /* what installs the firmware: "qemu-efi-aarch64" */
        const char *firmware_code;    /* UEFI code and its variables template */
        const char *firmware_vars;
        const char *firmware_code_secureboot; /* NULL: no Secure Boot firmware */
        const char *firmware_vars_secureboot;
        /* Foreign maintainer scripts: the binfmt_misc handler of qemu-user-static. */
        const char *binfmt_name; /* "qemu-aarch64" */
} Arch;

/* The row for a Debian architecture name, or NULL when vmcompose does not build for it. */
const Arch *arch_find(const char *name);
/* The architecture of the running system (from uname), or NULL when it has no row. */
const Arch *arch_host(void);
/* Every row, n in *ret_n. */
const Arch *arch_all(size_t *ret_n);
/* The names of every row, ", "-separated, for messages. Static. */
const char *arch_names(void);
/* The row whose field at offset (offsetof(Arch, kernel_package)) equals value, or NULL. */
const Arch *arch_find_by(size_t offset, const char *value);

/* Whether programs of a run on this host only through binfmt_misc (another architecture). */
bool arch_is_foreign(const Arch *a);

/* The binfmt_misc handler a's programs need: $VMCOMPOSE_BINFMT_HANDLER when set (tests), else
 * a->binfmt_name. */
const char *arch_binfmt_handler(const Arch *a);

/* Checks that binfmt_misc (under dir: NULL means /proc/sys/fs/binfmt_misc) has the handler
 * name enabled with the F (fix-binary) flag, which opens the interpreter when it is registered
 * so that it runs inside a chroot without a copy there. 0; -ENOENT (no such handler or
 * binfmt_misc not mounted: *ret_why says which), -ESRCH (disabled), -EPERM (no F flag). *ret_why
 * is a static description of the problem. */
int arch_binfmt_check(const char *dir, const char *name, const char **ret_why);
/* The shell commands that register the handler name: caller frees. */
char *arch_binfmt_fix(const char *dir, const char *name);
