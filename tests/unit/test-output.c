/* SPDX-License-Identifier: MIT */
/* Image header encoders: the VHD footer, CRC-32C, VHDX BAT arithmetic, the qcow2 layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../composer/output/output-internal.h"
#include "vmcompose/crc32c.h"

#define MiB (UINT64_C(1) << 20)

static VhdFooter sample(void) {
        VhdFooter f = {
                .timestamp = 1700000000 - 946684800,
                .creator_app = "vmcc",
                .original_size = 2048 * MiB,
                .current_size = 2048 * MiB,
                .cylinders = 65535,
                .heads = 16,
                .sectors = 255,
                .disk_type = 2,
        };
        memset(f.uuid, 0xab, 16);
        return f;
}

static void test_vhd_footer(void **state) {
        (void)state;
        uint8_t b[VHD_FOOTER_SIZE];
        VhdFooter f = sample(), g;
        const char *err = NULL;

        vhd_footer_encode(&f, b);
        assert_memory_equal(b, "conectix", 8);
        assert_int_equal(be32(b + 8), 2);
        assert_int_equal(be32(b + 12), 0x00010000);
        assert_int_equal(be64(b + 16), UINT64_MAX);
        assert_memory_equal(b + 36, "Wi2k", 4);
        assert_int_equal(be64(b + 48), 2048 * MiB);
        assert_int_equal(b[56], 0xff);
        assert_int_equal(b[57], 0xff);
        assert_int_equal(b[58], 16);
        assert_int_equal(b[59], 255);
        assert_int_equal(be32(b + 60), 2);
        /* One's complement of the byte sum with the checksum field zeroed. */
        uint32_t sum = 0;
        for (size_t i = 0; i < sizeof(b); i++)
                if (i < 64 || i >= 68)
                        sum += b[i];
        assert_int_equal(be32(b + 64), ~sum);

        assert_int_equal(vhd_footer_decode(b, &g, &err), 0);
        assert_int_equal(g.current_size, f.current_size);
        assert_int_equal(g.timestamp, f.timestamp);
        assert_memory_equal(g.uuid, f.uuid, 16);

        /* Any single changed byte is caught. */
        for (size_t i = 0; i < sizeof(b); i++) {
                uint8_t c[VHD_FOOTER_SIZE];
                memcpy(c, b, sizeof(c));
                c[i] ^= 0x01;
                if (vhd_footer_decode(c, &g, &err) == 0)
                        fail_msg("a change at byte %zu was not detected", i);
        }
        /* A size that is not a whole MiB, with a correct checksum, is still refused. */
        f.current_size = f.original_size = 2048 * MiB + 512;
        vhd_footer_encode(&f, b);
        assert_int_equal(vhd_footer_decode(b, &g, &err), -EBADMSG);
        assert_non_null(strstr(err, "whole number of MiB"));
        /* A dynamic VHD is not for Azure. */
        f = sample();
        f.disk_type = 3;
        vhd_footer_encode(&f, b);
        assert_int_equal(vhd_footer_decode(b, &g, &err), -EBADMSG);
        assert_non_null(strstr(err, "fixed"));
}

static void test_crc32c(void **state) {
        (void)state;
        assert_int_equal(crc32c("123456789", 9), 0xE3069283);
        assert_int_equal(crc32c("", 0), 0);
        uint8_t zeros[32] = {};
        assert_int_equal(crc32c(zeros, 32), 0x8A9136AA); /* RFC 3720 B.4 */
        uint8_t ones[32];
        memset(ones, 0xff, sizeof(ones));
        assert_int_equal(crc32c(ones, 32), 0x62A8AB43);
        uint8_t inc[32];
        for (int i = 0; i < 32; i++)
                inc[i] = (uint8_t)i;
        assert_int_equal(crc32c(inc, 32), 0x46DD794E);
        /* Incremental equals one shot, at any split. */
        for (size_t k = 0; k <= 9; k++)
                assert_int_equal(
                        ~crc32c_update(crc32c_update(~0u, "123456789", k), "123456789" + k, 9 - k),
                        0xE3069283);
}

static void test_vhdx_bat(void **state) {
        (void)state;
        /* 512-byte sectors, 1 MiB blocks: one sector bitmap entry per 4096 payload blocks. */
        assert_int_equal(vhdx_chunk_ratio(), 4096);
        assert_int_equal(vhdx_bat_entries(1 * MiB), 1);
        assert_int_equal(vhdx_bat_entries(1 * MiB + 512), 2);
        assert_int_equal(vhdx_bat_entries(4096 * MiB), 4096);
        assert_int_equal(vhdx_bat_entries(4097 * MiB), 4098);
        assert_int_equal(vhdx_bat_entries(8192 * MiB), 8193);
        assert_int_equal(vhdx_bat_index(0), 0);
        assert_int_equal(vhdx_bat_index(4095), 4095);
        assert_int_equal(vhdx_bat_index(4096), 4097); /* entry 4096 is a sector bitmap */
        assert_int_equal(vhdx_bat_index(8192), 8194);
}

static void test_qcow2_layout(void **state) {
        (void)state;
        Qcow2Layout l;
        qcow2_layout_compute(80 * MiB, 1, 10, &l);
        assert_int_equal(l.guest_clusters, 1280);
        assert_int_equal(l.l1_entries, 1);
        assert_int_equal(l.l1_clusters, 1);
        assert_int_equal(l.refcount_blocks, 1);
        assert_int_equal(l.refcount_table_clusters, 1);
        /* header, L1, refcount table, refcount block, L2, 10 data clusters */
        assert_int_equal(l.total_clusters, 15);
        assert_int_equal(l.l1_offset, 65536);
        assert_int_equal(l.data_offset, 5 * 65536);

        /* A size that is not a multiple of the cluster size still covers its last bytes. */
        qcow2_layout_compute(80 * MiB + 1, 1, 0, &l);
        assert_int_equal(l.guest_clusters, 1281);

        /* 1 TiB: 16 Mi clusters, 2048 L2 tables' worth of L1 (16 KiB, one cluster). */
        qcow2_layout_compute(UINT64_C(1) << 40, 2048, 1 << 20, &l);
        assert_int_equal(l.l1_entries, 2048);
        assert_int_equal(l.l1_clusters, 1);
        /* 1 + 1 + T + B + 2048 + 1048576 clusters, 32768 refcounts per block. */
        assert_int_equal(l.refcount_blocks, 33);
        assert_int_equal(l.refcount_table_clusters, 1);
        assert_int_equal(l.total_clusters, 1 + 1 + 1 + 33 + 2048 + (1 << 20));
        assert_true(l.refcount_blocks * 32768 >= l.total_clusters);

        uint8_t h[112];
        qcow2_layout_compute(80 * MiB, 1, 10, &l);
        qcow2_header_encode(&l, h);
        assert_memory_equal(h, "QFI\xfb", 4);
        assert_int_equal(be32(h + 4), 3);
        assert_int_equal(be32(h + 20), 16);
        assert_int_equal(be64(h + 24), 80 * MiB);
        assert_int_equal(be32(h + 36), 1);
        assert_int_equal(be64(h + 40), l.l1_offset);
        assert_int_equal(be64(h + 48), l.refcount_table_offset);
        assert_int_equal(be32(h + 96), 4);
        assert_int_equal(be32(h + 100), 112);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vhd_footer),
                cmocka_unit_test(test_crc32c),
                cmocka_unit_test(test_vhdx_bat),
                cmocka_unit_test(test_qcow2_layout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
