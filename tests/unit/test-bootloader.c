/* SPDX-License-Identifier: MIT */
/* Boot loader text and boot code: BLS entries, loader.conf, grub.cfg, and GRUB's i386-pc boot
 * sector and core image patched the way grub-bios-setup does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/macro.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"

static void test_text(void **state) {
        (void)state;
        char *e = bls_entry("minimal", "6.1.0-56-cloud-amd64", "/k/linux", "/k/initrd",
                            "root=PARTUUID=x console=ttyS0");
        assert_string_equal(e, "title minimal\nversion 6.1.0-56-cloud-amd64\nlinux /k/linux\n"
                               "initrd /k/initrd\noptions root=PARTUUID=x console=ttyS0\n");
        free(e);
        char *c = loader_conf("vmcompose.conf", 0);
        assert_non_null(strstr(c, "default vmcompose.conf\n"));
        assert_non_null(strstr(c, "timeout 0\n"));
        assert_non_null(strstr(c, "editor no\n"));
        free(c);
        char *g = grub_cfg("minimal", "1111-2222", "6.1.0-56", "root=PARTUUID=y rw");
        assert_non_null(strstr(g, "search --no-floppy --fs-uuid --set=root 1111-2222\n"));
        assert_non_null(strstr(g, "linux /boot/vmlinuz-6.1.0-56 root=PARTUUID=y rw\n"));
        assert_non_null(strstr(g, "initrd /boot/initrd.img-6.1.0-56\n"));
        assert_non_null(strstr(g, "serial --unit=0"));
        free(g);
        /* The boot report unit does not wait for itself. */
        assert_non_null(strstr(boot_ready_unit, "Type=simple\n"));
        assert_non_null(strstr(boot_ready_unit, "is-system-running --wait"));
        assert_non_null(strstr(boot_ready_unit, "WantedBy=multi-user.target\n"));
}

static void test_grub_boot_code(void **state) {
        (void)state;
        uint8_t boot[512], mbr[512];
        for (int i = 0; i < 512; i++) {
                boot[i] = 0xaa;
                mbr[i] = (uint8_t)i;
        }
        grub_patch_boot_sector(boot, mbr, 0x1122334455ull);
        /* The LBA of core.img, little-endian at 0x5c; the boot drive; the drive check nops. */
        assert_int_equal(boot[0x5c], 0x55);
        assert_int_equal(boot[0x5d], 0x44);
        assert_int_equal(boot[0x60], 0x11);
        assert_int_equal(boot[0x63], 0x00);
        assert_int_equal(boot[0x64], 0xff);
        assert_int_equal(boot[0x66], 0x90);
        assert_int_equal(boot[0x67], 0x90);
        /* The disk signature, partition table and 0x55aa come from the disk. */
        assert_memory_equal(boot + 440, mbr + 440, 72);
        assert_int_equal(boot[0], 0xaa);

        uint8_t *core = calloc(1, 40 * 512);
        grub_patch_core(core, 40 * 512, 2048);
        /* The first blocklist: from the sector after core.img's first, 39 sectors. */
        assert_int_equal(core[500], 0x01);
        assert_int_equal(core[501], 0x08);
        assert_int_equal(core[508], 39);
        assert_int_equal(core[509], 0);
        grub_patch_core(core, 40 * 512 - 100, 1); /* a short last sector still counts */
        assert_int_equal(core[500], 2);
        assert_int_equal(core[508], 39);
        free(core);
}

static char *read_at(int fd, const char *path) {
        char *data = NULL;
        assert_int_equal(root_read_file(fd, path, 1 << 20, &data, NULL), 0);
        return data;
}

/* systemd-boot's ESP from a root whose /boot is a link to "/" (a package may ship one): the
 * kernel is the root's own (ROOT/vmlinuz-*), and a kernel that links to a host file is
 * refused, not copied onto the ESP. */
static void test_systemd_boot_hostile_root(void **state) {
        (void)state;
        char base[] = "/tmp/vmc-bootloader-XXXXXX";
        assert_non_null(mkdtemp(base));
        _cleanup_free_ char *root = xasprintf("%s/root", base), *esp = xasprintf("%s/esp", base);
        _cleanup_free_ char *work = xasprintf("%s/work", base);
        _cleanup_free_ char *host = xasprintf("%s/host-secret", base);
        assert_int_equal(write_file_atomic(host, "host secret\n", 12, 0600), 0);
        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(mkdir(esp, 0755), 0);
        assert_int_equal(mkdir(work, 0755), 0);
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int esp_fd = open(esp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int work_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(symlinkat("/", root_fd, "boot"), 0);
        assert_int_equal(root_write_file(root_fd, "/boot/vmlinuz-6.1-test", "KERNEL", 6, 0644, 0),
                         0);
        assert_int_equal(root_write_file(root_fd, "boot/initrd.img-6.1-test", "INITRD", 6, 0644, 0),
                         0);
        assert_int_equal(root_write_file(root_fd, "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
                                         "EFI", 3, 0644, ROOT_WRITE_MKDIR),
                         0);

        BootKernel k = {};
        assert_int_equal(boot_kernel_find(root_fd, true, &k), 0);
        assert_string_equal(k.version, "6.1-test");
        const Bootloader *b = bootloader_find("systemd-boot");
        BootParams p = {.root_dir = root,
                        .root_fd = root_fd,
                        .esp_dir = esp,
                        .esp_fd = esp_fd,
                        .work_dir = work,
                        .work_fd = work_fd,
                        .kernel = &k,
                        .cmdline = "root=PARTUUID=x ro",
                        .title = "test",
                        .arch = arch_find("amd64")};
        /* arm64's loader and name come from its row of the architecture table. */
        p.arch = arch_find("arm64");
        assert_int_equal(b->prepare(&p), -ENOENT); /* no systemd-bootaa64.efi in the root */
        assert_int_equal(root_write_file(root_fd, "usr/lib/systemd/boot/efi/systemd-bootaa64.efi",
                                         "AA64", 4, 0644, ROOT_WRITE_MKDIR),
                         0);
        assert_int_equal(b->prepare(&p), 0);
        _cleanup_free_ char *aa64 = read_at(esp_fd, "EFI/BOOT/BOOTAA64.EFI");
        assert_string_equal(aa64, "AA64");
        assert_int_equal(root_unlink(esp_fd, "EFI/BOOT/BOOTAA64.EFI", 0), 0);
        p.arch = arch_find("amd64");
        assert_int_equal(b->prepare(&p), 0);
        _cleanup_free_ char *efi = read_at(esp_fd, "EFI/BOOT/BOOTX64.EFI");
        _cleanup_free_ char *kernel = read_at(esp_fd, "vmcompose/6.1-test/linux");
        _cleanup_free_ char *entry = read_at(esp_fd, "loader/entries/vmcompose.conf");
        assert_string_equal(efi, "EFI");
        assert_string_equal(kernel, "KERNEL");
        assert_string_equal(entry, "title test\nversion 6.1-test\nlinux /vmcompose/6.1-test/linux\n"
                                   "initrd /vmcompose/6.1-test/initrd\noptions root=PARTUUID=x "
                                   "ro\n");

        /* The kernel a link to a host file: resolved in the root, where there is none. */
        assert_int_equal(root_unlink(root_fd, "boot/vmlinuz-6.1-test", 0), 0);
        assert_int_equal(root_symlink(root_fd, host, "boot/vmlinuz-6.1-test", 0), 0);
        assert_int_equal(root_unlink(esp_fd, "vmcompose/6.1-test/linux", 0), 0);
        assert_int_equal(b->prepare(&p), -ENOENT);
        char *leak = NULL;
        assert_int_equal(root_read_file(esp_fd, "vmcompose/6.1-test/linux", 1 << 20, &leak, NULL),
                         -ENOENT);
        boot_kernel_done(&k);
        assert_int_equal(rm_rf(base), 0);
}

/* The UKI's PE time: set, and the checksum made again as Windows' CheckSumMappedFile does
 * (the expected value computed independently, and the algorithm checked against the checksums
 * objcopy writes). */
static void test_pe_timestamp(void **state) {
        (void)state;
        uint8_t b[512];
        for (size_t i = 0; i < sizeof(b); i++)
                b[i] = (uint8_t)(i * 7);
        memcpy(b, "MZ", 2);
        b[0x3c] = 0x80, b[0x3d] = b[0x3e] = b[0x3f] = 0;
        memcpy(b + 0x80, "PE\0\0", 4);
        b[0x98] = 0x0b, b[0x99] = 0x02;               /* PE32+ */
        b[0xd8] = 1, b[0xd9] = b[0xda] = b[0xdb] = 0; /* a checksum */
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1700000000), 0);
        assert_int_equal(b[0x88] | b[0x89] << 8 | b[0x8a] << 16 | (uint32_t)b[0x8b] << 24,
                         1700000000);
        assert_int_equal(b[0xd8] | b[0xd9] << 8 | b[0xda] << 16 | (uint32_t)b[0xdb] << 24, 0x460f);
        /* A zero checksum stays zero; what is not PE is refused. */
        b[0xd8] = b[0xd9] = 0;
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1), 0);
        assert_int_equal(b[0xd8] | b[0xd9], 0);
        b[0x81] = 'X';
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1), -EBADMSG);
        assert_int_equal(pe_set_timestamp(b, 0x50, 1), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_pe_timestamp),
                cmocka_unit_test(test_grub_boot_code),
                cmocka_unit_test(test_systemd_boot_hostile_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
