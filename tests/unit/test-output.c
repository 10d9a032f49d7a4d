/* SPDX-License-Identifier: MIT */
/* Image header encoders: the VHD footer, CRC-32C, VHDX BAT arithmetic, the qcow2 layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* Writes an 8 MiB raw disk with data in a few places through a format's writer; returns the
 * image bytes (caller frees). */
static uint8_t *make_image_compressed(const OutputFormat *f, OutputCompression c,
                                      size_t *ret_size) {
        int raw = memfd_create("raw", MFD_CLOEXEC), img = memfd_create("img", MFD_CLOEXEC);
        assert_true(raw >= 0 && img >= 0);
        assert_int_equal(ftruncate(raw, 8 * MiB), 0);
        static const uint64_t at[] = {0, 70000, 3 * MiB + 5, 8 * MiB - 1};
        for (size_t i = 0; i < ELEMENTSOF(at); i++)
                assert_int_equal(pwrite(raw, "data", 1, (off_t)at[i]), 1);
        OutputOptions o = {.timestamp = 1700000000, .compression = c};
        memset(o.disk_uuid, 0x5a, 16);
        assert_int_equal(f->write_image(raw, 8 * MiB, img, &o), 0);
        off_t size = lseek(img, 0, SEEK_END);
        uint8_t *data = malloc((size_t)size);
        assert_non_null(data);
        assert_int_equal(pread(img, data, (size_t)size, 0), size);
        close(raw);
        close(img);
        *ret_size = (size_t)size;
        return data;
}

static uint8_t *make_image(const OutputFormat *f, size_t *ret_size) {
        return make_image_compressed(f, OUTPUT_COMPRESSION_NONE, ret_size);
}

/* Inspects the first size bytes of data as name; returns the output (caller frees). */
static char *inspect(const uint8_t *data, size_t size, const char *name, int *ret) {
        Buffer out = {};
        ImageSource s = image_source_memory(data, size);
        *ret = inspect_source(&s, name, &out, NULL);
        return buffer_steal(&out);
}

static void expect(const uint8_t *data, size_t size, const char *name, const char *error) {
        int r;
        char *out = inspect(data, size, name, &r);
        if (error ? r != -EBADMSG || !strstr(out, error) : r != 0)
                fail_msg("%s cut at %zu: expected %s, got %d:\n%s", name, size,
                         error ? error : "valid", r, out);
        free(out);
}

static void test_inspect_truncated(void **state) {
        (void)state;
        size_t n;
        uint8_t *q = make_image(&output_qcow2, &n);
        expect(q, n, "a.qcow2", NULL);
        expect(q, 60, "a.qcow2", "the qcow2 header (72 bytes) ends past the end of the file");
        expect(q, 112, "a.qcow2", "the header extensions (from offset 112) end past the end");
        expect(q, 65536 + 4, "a.qcow2",
               "the L1 table (offset 65536, 1 entry) ends past the end of the file (65540 bytes)");
        expect(q, 3 * 65536, "a.qcow2", "refcount block 0 (offset 196608, 65536 bytes) starts");
        expect(q, n - 65536, "a.qcow2", "1 data cluster lies past the end of the file");
        /* A data cluster may end short of a whole cluster, as qemu-img check allows. */
        expect(q, n - 100, "a.qcow2", NULL);
        free(q);

        uint8_t *x = make_image(&output_vhdx, &n);
        expect(x, n, "a.vhdx", NULL);
        expect(x, 100, "a.vhdx", "header 1 (offset 65536, 4096 bytes) starts past the end");
        expect(x, 300000, "a.vhdx", "region table 2 (offset 262144, 65536 bytes) ends past");
        expect(x, 3 * MiB + 100, "a.vhdx", "the BAT region (offset 3145728, 1048576 bytes) ends");
        expect(x, n - 1, "a.vhdx", "1 block the BAT says is present ends past the end");
        free(x);

        uint8_t *v = make_image(&output_vhd, &n);
        expect(v, n, "a.vhd", NULL);
        expect(v, n - 512, "a.vhd", "a.vhd has no VHD footer");
        /* The same bytes named .raw are a raw disk. */
        expect(v, n - 512, "a.raw", NULL);
        expect(v, n - 512, NULL, NULL);
        free(v);
}

/* Damaged fields, each named in the error. */
static void test_inspect_corrupt(void **state) {
        (void)state;
        size_t n;
        uint8_t *q = make_image(&output_qcow2, &n);
        uint8_t *c = malloc(n);
        static const struct {
                size_t at;
                uint8_t value;
                const char *error;
        } qcow2[] = {
                {7, 4, "unsupported qcow2 version 4"},
                {23, 30, "cluster bits 30 out of range"},
                {47, 0x08, "the L1 table (offset 65544) is not aligned to the cluster size"},
                {39, 0, "the L1 table has 0 entries; the virtual size needs 1"},
                {79, 2, "marked corrupt"},
                {103, 100, "header length 100 is invalid"},
                /* An extension that runs past the header cluster (made below). */
                {115, 0x78, "header extension 1 (type 0x12345678, 65536 bytes) runs past"},
                {65536 + 5, 0x14,
                 "L2 table 0 (offset 1310720, 65536 bytes) starts past the end "
                 "of the file (589824 bytes)"},
                {65536 + 6, 0x02, "L2 table 0 (offset 262656) is not aligned"},
                {65536 + 0, 0x40, "L1 entry 0 (0x40"},
        };
        for (size_t i = 0; i < ELEMENTSOF(qcow2); i++) {
                memcpy(c, q, n);
                c[qcow2[i].at] = qcow2[i].value;
                if (qcow2[i].at == 115) {
                        put_be32(c + 112, 0x12345678);
                        put_be32(c + 116, 65536);
                }
                int r;
                char *out = inspect(c, n, "a.qcow2", &r);
                if (r != -EBADMSG || !strstr(out, qcow2[i].error))
                        fail_msg("qcow2 byte %zu = 0x%x: expected '%s', got:\n%s", qcow2[i].at,
                                 qcow2[i].value, qcow2[i].error, out);
                free(out);
        }
        /* Two L1 entries that share an L2 table. */
        memcpy(c, q, n);
        put_be32(c + 36, 2);
        memcpy(c + 65536 + 8, c + 65536, 8);
        expect(c, n, "a.qcow2", "L2 table 1 (offset 262144) also serves an earlier L1 entry");
        free(c);
        free(q);

        uint8_t *x = make_image(&output_vhdx, &n);
        c = malloc(n);
        memcpy(c, x, n);
        c[64 * 1024 + 100] ^= 1; /* header 1's checksum fails: header 2 still opens it */
        expect(c, n, "a.vhdx", NULL);
        c[128 * 1024 + 100] ^= 1;
        expect(c, n, "a.vhdx", "neither VHDX header is valid");
        free(c);
        free(x);

        /* Random bytes named .vhd, .vhdx, .qcow2 and .raw.zst. */
        uint8_t rnd[4096];
        for (size_t i = 0; i < sizeof(rnd); i++)
                rnd[i] = (uint8_t)(i * 2654435761u >> 13);
        expect(rnd, sizeof(rnd), "r.vhd", "r.vhd has no VHD footer (a .vhd file ends with");
        expect(rnd, sizeof(rnd), "r.VHDX", "has no VHDX file identifier");
        expect(rnd, sizeof(rnd), "r.qcow2", "has no qcow2 header");
        expect(rnd, sizeof(rnd), "r.raw.zst", "is not zstd-compressed");
        expect(rnd, sizeof(rnd), "r.img", NULL);
}

/* One cluster through each codec and back; the descriptor of a compressed cluster. */
static void test_qcow2_codec(void **state) {
        (void)state;
        size_t cs = QCOW2_CLUSTER_SIZE, bound = qcow2_compress_bound(cs), len, len2;
        uint8_t *in = malloc(cs), *out = malloc(bound), *out2 = malloc(bound), *back = malloc(cs);
        for (size_t i = 0; i < cs; i++) /* half text-like, half incompressible */
                in[i] = i < cs / 2 ? (uint8_t) "vmcompose "[i % 10]
                                   : (uint8_t)(i * 2654435761u >> 7);

        assert_string_equal(output_compression_to_string(OUTPUT_COMPRESSION_ZSTD), "zstd");
        assert_int_equal(output_compression_from_string("zlib"), OUTPUT_COMPRESSION_ZLIB);
        assert_int_equal(output_compression_from_string("lz4"), -EINVAL);
        assert_null(qcow2_compressor_new(OUTPUT_COMPRESSION_NONE));
        static const unsigned types[] = {
                [OUTPUT_COMPRESSION_ZLIB] = QCOW2_COMPRESSION_ZLIB,
                [OUTPUT_COMPRESSION_ZSTD] = QCOW2_COMPRESSION_ZSTD,
        };
        for (OutputCompression t = OUTPUT_COMPRESSION_ZLIB; t <= OUTPUT_COMPRESSION_ZSTD; t++) {
                _cleanup_(qcow2_compressor_freep) Qcow2Compressor *c = qcow2_compressor_new(t);
                assert_non_null(c);
                assert_int_equal(qcow2_cluster_compress(c, in, cs, out, bound, &len), 0);
                assert_true(len < cs);
                /* The same input, the same bytes (the compressor is reused). */
                assert_int_equal(qcow2_cluster_compress(c, in, cs, out2, bound, &len2), 0);
                assert_int_equal(len, len2);
                assert_memory_equal(out, out2, len);
                /* Back, with the next cluster's bytes after it in the last sector. */
                memset(out + len, 0x77, bound - len);
                memset(back, 0, cs);
                assert_int_equal(qcow2_cluster_decompress(types[t], out, len + 300, back, cs), 0);
                assert_memory_equal(in, back, cs);
                /* Cut short: not a whole cluster. */
                assert_int_equal(qcow2_cluster_decompress(types[t], out, len / 2, back, cs),
                                 -EBADMSG);
                /* Read as the other type. */
                assert_int_not_equal(qcow2_cluster_decompress(types[t] ^ 1, out, len, back, cs), 0);
        }
        assert_int_equal(qcow2_cluster_decompress(7, out, len, back, cs), -EOPNOTSUPP);

        /* 24 bytes at 1000 lie in sector 1 only; 25 touch sector 2 as well. */
        uint64_t e = qcow2_compressed_entry(1000, 24);
        assert_true(e & (UINT64_C(1) << 62));
        assert_false(e & (UINT64_C(1) << 63));
        assert_int_equal(e & ((UINT64_C(1) << 54) - 1), 1000);
        assert_int_equal((e >> 54) & 0xff, 0);
        assert_int_equal((qcow2_compressed_entry(1000, 25) >> 54) & 0xff, 1);
        assert_int_equal((qcow2_compressed_entry(0, 65536 + 20) >> 54) & 0xff, 128);

        /* zstd sets the compression type and its incompatible feature bit; zlib neither. */
        Qcow2Layout l;
        uint8_t h[112];
        qcow2_layout_compute(80 * MiB, 1, 10, &l);
        l.compression_type = QCOW2_COMPRESSION_ZSTD;
        qcow2_header_encode(&l, h);
        assert_int_equal(be64(h + 72), 8);
        assert_int_equal(h[104], 1);
        l.compression_type = QCOW2_COMPRESSION_ZLIB;
        qcow2_header_encode(&l, h);
        assert_int_equal(be64(h + 72), 0);
        assert_int_equal(h[104], 0);
        free(in);
        free(out);
        free(out2);
        free(back);
}

/* Compressed images: inspect unpacks every compressed cluster and names a damaged one. */
static void test_inspect_compressed(void **state) {
        (void)state;
        for (OutputCompression t = OUTPUT_COMPRESSION_ZLIB; t <= OUTPUT_COMPRESSION_ZSTD; t++) {
                size_t n;
                uint8_t *q = make_image_compressed(&output_qcow2, t, &n);
                int r;
                char *out = inspect(q, n, "a.qcow2", &r);
                assert_int_equal(r, 0);
                assert_non_null(strstr(out, t == OUTPUT_COMPRESSION_ZSTD
                                                    ? "compressed clusters: 4 (zstd)"
                                                    : "compressed clusters: 4 (zlib)"));
                free(out);
                /* header, L1, L2, then the first compressed cluster */
                uint8_t *c = malloc(n);
                memcpy(c, q, n);
                memset(c + 3 * 65536, 0xa5, 8);
                expect(c, n, "a.qcow2", "the compressed cluster at offset 196608");
                free(c);
                free(q);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_qcow2_codec),       cmocka_unit_test(test_inspect_compressed),
                cmocka_unit_test(test_vhd_footer),        cmocka_unit_test(test_crc32c),
                cmocka_unit_test(test_vhdx_bat),          cmocka_unit_test(test_qcow2_layout),
                cmocka_unit_test(test_inspect_truncated), cmocka_unit_test(test_inspect_corrupt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
