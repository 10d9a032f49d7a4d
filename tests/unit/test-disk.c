/* SPDX-License-Identifier: MIT */
/* Disk layout arithmetic: alignment, auto sizing, fixed disks, does-not-fit, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmcompose/disk.h"
#include "vmcompose/hash.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static Partition part(PartitionRole role, FsType fs, uint64_t size, bool is_auto) {
        Partition p = {.role = role, .fs = fs, .size = size, .auto_size = is_auto};
        p.where = xasprintf("test.yaml:%d:5", (int)role + 10);
        uuid_from_seed("t", p.where, p.uuid);
        uuid_from_seed("t", "fs", p.fs_uuid);
        return p;
}

static DiskLayout layout(bool gpt, uint64_t size, size_t n, ...) {
        DiskLayout l = {.gpt = gpt, .auto_size = size == 0, .size = size, .architecture = "amd64"};
        va_list ap;
        l.size_where = xstrdup("test.yaml:3:9");
        l.partitions = xcalloc(n, sizeof(Partition));
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                l.partitions[l.n_partitions++] = va_arg(ap, Partition);
        va_end(ap);
        uuid_from_seed("t", "disk", l.disk_uuid);
        return l;
}

static void test_auto_disk_gpt(void **state) {
        (void)state;
        Partition root = part(ROLE_ROOT, FS_EXT4, 0, true);
        root.content = 300 * MiB + 5; /* not aligned */
        root.free = 100 * MiB;
        DiskLayout l = layout(true, 0, 2, part(ROLE_ESP, FS_VFAT, 128 * MiB, false), root);
        Diagnostics d = {};
        assert_int_equal(disk_layout_compute(&l, &d), 0);
        assert_int_equal(l.partitions[0].offset, 1 * MiB);
        assert_int_equal(l.partitions[0].size, 128 * MiB);
        assert_int_equal(l.partitions[1].offset, 129 * MiB);
        assert_int_equal(l.partitions[1].size, 401 * MiB); /* content + free, rounded up */
        /* The backup GPT needs 33 sectors after the last partition: one more MiB. */
        assert_int_equal(l.size, 531 * MiB);
        assert_int_equal(l.size % MiB, 0);
        disk_layout_done(&l);
}

static void test_auto_percent_and_mbr(void **state) {
        (void)state;
        Partition root = part(ROLE_ROOT, FS_EXT4, 0, true);
        root.content = 1000 * MiB;
        root.free_percent = 20;
        DiskLayout l = layout(false, 0, 1, root);
        Diagnostics d = {};
        assert_int_equal(disk_layout_compute(&l, &d), 0);
        assert_int_equal(l.partitions[0].size, 1200 * MiB);
        /* MBR has no backup table: the disk ends where the partition ends. */
        assert_int_equal(l.size, 1201 * MiB);
        disk_layout_done(&l);
}

static void test_fixed_disk_grows_auto(void **state) {
        (void)state;
        Partition root = part(ROLE_ROOT, FS_EXT4, 0, true);
        root.content = 100 * MiB;
        DiskLayout l = layout(true, 2 * GiB, 3, part(ROLE_BIOS_BOOT, FS_NONE, 1 * MiB, false), root,
                              part(ROLE_SWAP, FS_SWAP, 256 * MiB, false));
        Diagnostics d = {};
        assert_int_equal(disk_layout_compute(&l, &d), 0);
        assert_int_equal(l.size, 2 * GiB);
        assert_int_equal(l.partitions[1].offset, 2 * MiB);
        /* root takes everything left between bios-boot and swap, swap ends at the last whole
         * MiB before the backup GPT. */
        assert_int_equal(l.partitions[2].offset + l.partitions[2].size, 2047 * MiB);
        assert_int_equal(l.partitions[1].size, 2047 * MiB - 256 * MiB - 2 * MiB);
        disk_layout_done(&l);
}

static void test_does_not_fit(void **state) {
        (void)state;
        DiskLayout l = layout(true, 1 * GiB, 2, part(ROLE_ESP, FS_VFAT, 256 * MiB, false),
                              part(ROLE_ROOT, FS_EXT4, 1 * GiB, false));
        Diagnostics d = {};
        assert_int_equal(disk_layout_compute(&l, &d), -ENOSPC);
        assert_int_equal(d.n_errors, 1);
        /* Names the partition, where it is declared, and the shortfall. */
        const char *m = d.messages[0];
        if (!strstr(m, "partition 2 (root)") || !strstr(m, "test.yaml:13:5") ||
            !strstr(m, "needs 1024 MiB, 766 MiB left") || !strstr(m, "short by 258 MiB"))
                fail_msg("unexpected message: %s", m);
        diag_done(&d);
        disk_layout_done(&l);

        /* An auto partition whose content does not fit in what a fixed disk leaves. */
        Partition root = part(ROLE_ROOT, FS_EXT4, 0, true);
        root.content = 900 * MiB;
        root.free = 200 * MiB;
        l = layout(false, 1 * GiB, 1, root);
        assert_int_equal(disk_layout_compute(&l, &d), -ENOSPC);
        assert_non_null(strstr(d.messages[0], "short by 77 MiB"));
        diag_done(&d);
        disk_layout_done(&l);

        /* Too small for even the table. */
        l = layout(true, 4096, 1, part(ROLE_ROOT, FS_EXT4, 1 * MiB, false));
        assert_int_equal(disk_layout_compute(&l, &d), -ENOSPC);
        assert_non_null(strstr(d.messages[0], "too small for a partition table"));
        diag_done(&d);
        disk_layout_done(&l);
}

static void test_overflow(void **state) {
        (void)state;
        Diagnostics d = {};
        DiskLayout l = layout(true, 0, 2, part(ROLE_ESP, FS_VFAT, UINT64_MAX - 10, false),
                              part(ROLE_ROOT, FS_EXT4, 1 * MiB, false));
        assert_int_equal(disk_layout_compute(&l, &d), -EOVERFLOW);
        diag_done(&d);
        disk_layout_done(&l);

        Partition root = part(ROLE_ROOT, FS_EXT4, 0, true);
        root.content = UINT64_MAX - MiB;
        root.free = 2 * MiB;
        l = layout(true, 0, 1, root);
        assert_int_equal(disk_layout_compute(&l, &d), -EOVERFLOW);
        diag_done(&d);
        disk_layout_done(&l);

        l = layout(true, 0, 2, part(ROLE_ESP, FS_VFAT, UINT64_C(1) << 63, false),
                   part(ROLE_ROOT, FS_EXT4, UINT64_C(1) << 63, false));
        assert_int_equal(disk_layout_compute(&l, &d), -EOVERFLOW);
        diag_done(&d);
        disk_layout_done(&l);
}

static void test_small_sizes_round_up(void **state) {
        (void)state;
        DiskLayout l = layout(true, 0, 2, part(ROLE_BIOS_BOOT, FS_NONE, 1000, false),
                              part(ROLE_ROOT, FS_EXT4, 3 * MiB + 1, false));
        Diagnostics d = {};
        assert_int_equal(disk_layout_compute(&l, &d), 0);
        assert_int_equal(l.partitions[0].size, 1 * MiB);
        assert_int_equal(l.partitions[1].offset, 2 * MiB);
        assert_int_equal(l.partitions[1].size, 4 * MiB);
        for (size_t i = 0; i < l.n_partitions; i++)
                assert_int_equal(l.partitions[i].offset % MiB, 0);
        disk_layout_done(&l);
}

static void test_types_fstab_cmdline(void **state) {
        (void)state;
        assert_string_equal(partition_gpt_type(ROLE_ESP, "amd64"),
                            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_string_equal(partition_gpt_type(ROLE_ROOT, "amd64"),
                            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
        assert_string_equal(partition_gpt_type(ROLE_ROOT, "arm64"),
                            "B921B045-1DF0-41C3-AF44-4C6F280D3FAE");
        assert_string_equal(partition_gpt_type(ROLE_BIOS_BOOT, "amd64"),
                            "21686148-6449-6E6F-744E-656564454649");
        assert_int_equal(partition_mbr_type(ROLE_ESP), 0xef);
        assert_int_equal(partition_mbr_type(ROLE_ROOT), 0x83);
        assert_int_equal(partition_mbr_type(ROLE_SWAP), 0x82);
        assert_int_equal(partition_role_from_string("bios-boot"), ROLE_BIOS_BOOT);
        assert_int_equal(partition_role_from_string("nope"), _ROLE_INVALID);
        assert_string_equal(fs_type_to_string(FS_EROFS), "erofs");

        Partition esp = part(ROLE_ESP, FS_VFAT, 128 * MiB, false);
        Partition root = part(ROLE_ROOT, FS_EXT4, 1 * GiB, false);
        Partition swap = part(ROLE_SWAP, FS_SWAP, 1 * GiB, false);
        memcpy(esp.fs_uuid, "\x12\x34\xab\xcd", 4);
        uuid_parse("11111111-2222-8333-8444-555555555555", root.fs_uuid);
        uuid_parse("66666666-2222-8333-8444-555555555555", root.uuid);
        uuid_parse("77777777-2222-8333-8444-555555555555", swap.fs_uuid);
        DiskLayout l = layout(true, 0, 3, esp, root, swap);
        char *fstab = disk_fstab(&l);
        assert_non_null(strstr(fstab, "UUID=11111111-2222-8333-8444-555555555555 / ext4 "
                                      "defaults,errors=remount-ro 0 1\n"));
        assert_non_null(
                strstr(fstab, "UUID=1234-ABCD /boot/efi vfat umask=0077,noauto,x-systemd.automount,"
                              "x-systemd.idle-timeout=60 0 2\n"));
        assert_non_null(
                strstr(fstab, "UUID=77777777-2222-8333-8444-555555555555 none swap sw 0 0\n"));
        /* Root first, so that it mounts before the ESP below it. */
        assert_true(strstr(fstab, " / ext4") < strstr(fstab, "/boot/efi"));
        free(fstab);
        char *cmd = disk_root_cmdline(&l);
        assert_string_equal(cmd,
                            "root=PARTUUID=66666666-2222-8333-8444-555555555555 rootfstype=ext4");
        free(cmd);
        l.gpt = false;
        memcpy(l.disk_uuid, "\xde\xad\xbe\xef", 4);
        cmd = disk_root_cmdline(&l);
        assert_string_equal(cmd, "root=PARTUUID=deadbeef-02 rootfstype=ext4");
        free(cmd);
        disk_layout_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auto_disk_gpt),
                cmocka_unit_test(test_auto_percent_and_mbr),
                cmocka_unit_test(test_fixed_disk_grows_auto),
                cmocka_unit_test(test_does_not_fit),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_small_sizes_round_up),
                cmocka_unit_test(test_types_fstab_cmdline),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
