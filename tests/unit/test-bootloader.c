/* SPDX-License-Identifier: MIT */
/* Boot loader text and boot code: BLS entries, loader.conf, grub.cfg, and GRUB's i386-pc boot
 * sector and core image patched the way grub-bios-setup does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/macro.h"

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_grub_boot_code),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
