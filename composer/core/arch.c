/* SPDX-License-Identifier: MIT */
/* The architecture table: a row per architecture vmcompose builds images for. */
#include <elf.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vmcompose/arch.h"
#include "vmcompose/util.h"

static const Arch arches[] = {
        {
                .name = "amd64",
                .uname_machine = "x86_64",
                .elf_machine = EM_X86_64,
                .multiarch = "x86_64-linux-gnu",
                .root_type = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
                .efi_suffix = "x64",
                .efi_boot = "BOOTX64.EFI",
                .grub_efi_platform = "x86_64-efi",
                .kernel_package = "linux-image-cloud-amd64",
                .serial_console = "ttyS0",
                .early_console = "earlyprintk=ttyS0",
                .bios = true,
                .qemu_system = "qemu-system-x86_64",
                .qemu_machine = "q35",
                .qemu_machine_secureboot = "q35,smm=on",
                .qemu_pflash_secure = true,
                .firmware_package = "ovmf",
                .firmware_code = "/usr/share/OVMF/OVMF_CODE_4M.fd",
                .firmware_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd",
                .firmware_code_secureboot = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
                .firmware_vars_secureboot = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
                .binfmt_name = "qemu-x86_64",
        },
        {
                .name = "arm64",
                .uname_machine = "aarch64",
                .elf_machine = EM_AARCH64,
                .multiarch = "aarch64-linux-gnu",
                .root_type = "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
                .efi_suffix = "aa64",
                .efi_boot = "BOOTAA64.EFI",
                .grub_efi_platform = "arm64-efi",
                .kernel_package = "linux-image-cloud-arm64",
                .serial_console = "ttyAMA0",
                .bios = false,
                .qemu_system = "qemu-system-aarch64",
                .qemu_machine = "virt",
                .qemu_machine_secureboot = "virt",
                /* Pointer authentication with QEMU's own hash instead of QARMA, which TCG
                 * computes in software at every signed return (Debian's arm64 code signs them):
                 * the same CPU features for the guest, the minimal image ready under TCG in
                 * 30-44 s instead of 67-91 s (five boots of each, back to back). */
                .qemu_cpu = "max,pauth-impdef=on",
                .firmware_package = "qemu-efi-aarch64",
                .firmware_code = "/usr/share/AAVMF/AAVMF_CODE.fd",
                .firmware_vars = "/usr/share/AAVMF/AAVMF_VARS.fd",
                .firmware_code_secureboot = "/usr/share/AAVMF/AAVMF_CODE.ms.fd",
                .firmware_vars_secureboot = "/usr/share/AAVMF/AAVMF_VARS.ms.fd",
                .binfmt_name = "qemu-aarch64",
        },
};

const Arch *arch_all(size_t *ret_n) {
        *ret_n = ELEMENTSOF(arches);
        return arches;
}

const Arch *arch_find_by(size_t offset, const char *value) {
        for (size_t i = 0; value && i < ELEMENTSOF(arches); i++) {
                const char *f = *(const char *const *)((const char *)&arches[i] + offset);
                if (f && streq(f, value))
                        return &arches[i];
        }
        return NULL;
}

const Arch *arch_find(const char *name) {
        return arch_find_by(offsetof(Arch, name), name);
}

const char *arch_names(void) {
        static char names[128];
        if (!names[0])
                for (size_t i = 0; i < ELEMENTSOF(arches); i++) {
                        size_t l = strlen(names);
                        snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "",
                                 arches[i].name);
                }
        return names;
}

const Arch *arch_host(void) {
        struct utsname u;
        if (uname(&u) < 0)
                return NULL;
        return arch_find_by(offsetof(Arch, uname_machine), u.machine);
}

bool arch_is_foreign(const Arch *a) {
        return a && a != arch_host();
}

const char *arch_binfmt_handler(const Arch *a) {
        const char *e = getenv("VMCOMPOSE_BINFMT_HANDLER");
        return e && *e ? e : a->binfmt_name;
}

int arch_binfmt_check(const char *dir, const char *name, const char **ret_why) {
        _cleanup_free_ char *status = path_join(dir ?: "/proc/sys/fs/binfmt_misc", "status");
        _cleanup_free_ char *path = path_join(dir ?: "/proc/sys/fs/binfmt_misc", name);
        _cleanup_free_ char *text = NULL;

        if (access(status, F_OK) < 0) {
                *ret_why = "binfmt_misc is not mounted";
                return -ENOENT;
        }
        if (read_full_file(path, 1 << 16, &text, NULL) < 0) {
                *ret_why = "no such binfmt_misc handler is registered";
                return -ENOENT;
        }
        if (!strneq(text, "enabled\n", 8)) {
                *ret_why = "the binfmt_misc handler is disabled";
                return -ESRCH;
        }
        const char *flags = strstr(text, "\nflags: ");
        size_t n = flags ? strcspn(flags + 8, "\n") : 0;
        if (!flags || !memchr(flags + 8, 'F', n)) {
                *ret_why = "the binfmt_misc handler lacks the F (fix-binary) flag, so its "
                           "interpreter would have to be inside the image root";
                return -EPERM;
        }
        *ret_why = NULL;
        return 0;
}

char *arch_binfmt_fix(const char *dir, const char *name) {
        const char *d = dir ?: "/proc/sys/fs/binfmt_misc";
        _cleanup_free_ char *status = path_join(d, "status");
        bool mounted = access(status, F_OK) == 0;
        Buffer b = {};
        if (!mounted)
                buffer_printf(&b, "mount -t binfmt_misc binfmt_misc %s && ", d);
        buffer_printf(&b, "update-binfmts --enable %s", name);
        return buffer_steal(&b);
}
