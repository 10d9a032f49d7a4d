/* SPDX-License-Identifier: MIT */
/* Inspecting qcow2 images, versions 2 and 3 (qemu docs/interop/qcow2.txt): the header, its
 * extensions and the backing file name inside the header cluster; the L1 table, every L2 table
 * it points to and every data cluster those point to; the refcount table and every refcount
 * block; the snapshot table and each snapshot's L1 table. Tables must lie inside the file and
 * be cluster-aligned; a data cluster must start inside the file (its last bytes may be short,
 * as qemu-img check allows). */
#include <stdio.h>
#include <string.h>

#include "output-internal.h"

#define OFFSET_MASK UINT64_C(0x00fffffffffffe00) /* L1 and L2 entries: bits 9-55 */
#define L1E_RESERVED UINT64_C(0x7f000000000001ff)
#define REFT_OFFSET_MASK UINT64_C(0xfffffffffffffe00)
#define L2E_COMPRESSED (UINT64_C(1) << 62)
#define L2E_COPIED (UINT64_C(1) << 63)
#define MAX_SNAPSHOTS 65536

/* Incompatible feature bits this reader understands. */
enum {
        INCOMPAT_DIRTY = 1 << 0,
        INCOMPAT_CORRUPT = 1 << 1,
        INCOMPAT_DATA_FILE = 1 << 2,
        INCOMPAT_COMPRESSION = 1 << 3,
        INCOMPAT_EXTL2 = 1 << 4,
};

typedef struct Qcow2 {
        const ImageSource *s;
        Buffer *out;
        uint32_t version, cluster_bits;
        uint64_t cs; /* cluster size */
        uint64_t size;
        unsigned l2_entry_size;    /* 8, or 16 with extended L2 entries */
        uint8_t *l2;               /* one L2 table */
        unsigned compression;      /* QCOW2_COMPRESSION_* */
        uint8_t *packed, *cluster; /* a compressed cluster's bytes (2 clusters), and unpacked */
        uint64_t compressed;       /* compressed clusters seen */
} Qcow2;

static unsigned long long ull(uint64_t v) {
        return (unsigned long long)v;
}

/* A table of count entries of entry_size bytes (unit: how to name them) at offset: aligned to
 * the cluster size and inside the file. */
static int check_table(Qcow2 *q, const char *what, uint64_t offset, uint64_t count,
                       uint64_t entry_size, const char *unit_one, const char *unit) {
        uint64_t len;

        if (offset % q->cs != 0)
                return image_error(q->out,
                                   "%s (offset %llu) is not aligned to the cluster size (%llu)",
                                   what, ull(offset), ull(q->cs));
        if (__builtin_mul_overflow(count, entry_size, &len) || !image_contains(q->s, offset, len))
                return image_error(q->out,
                                   "%s (offset %llu, %llu %s) %s past the end of the file "
                                   "(%llu bytes)",
                                   what, ull(offset), ull(count), count == 1 ? unit_one : unit,
                                   offset >= q->s->size ? "starts" : "ends", ull(q->s->size));
        return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b) {
        return a / b + (a % b != 0);
}

/* The header extensions (and the backing file name), all inside the header cluster. */
static int check_extensions(Qcow2 *q, uint64_t header_length, uint64_t backing_offset,
                            uint32_t backing_size) {
        uint64_t end = MIN(q->cs, q->s->size);
        uint64_t off = header_length;
        int r;

        for (unsigned n = 0;; n++) {
                uint8_t e[8];
                if (off + 8 > q->cs)
                        return image_error(q->out,
                                           "header extension %u (offset %llu) runs past the "
                                           "header cluster (%llu bytes)",
                                           n + 1, ull(off), ull(q->cs));
                if (off + 8 > end)
                        return image_error(q->out,
                                           "the header extensions (from offset %llu) end past "
                                           "the end of the file (%llu bytes)",
                                           ull(header_length), ull(q->s->size));
                r = image_read(q->s, e, 8, off);
                if (r < 0)
                        return r;
                uint32_t type = be32(e), len = be32(e + 4);
                if (type == 0)
                        break;
                uint64_t next = off + 8 + (((uint64_t)len + 7) & ~UINT64_C(7));
                if (next > q->cs)
                        return image_error(q->out,
                                           "header extension %u (type 0x%08x, %u bytes) runs "
                                           "past the header cluster (%llu bytes)",
                                           n + 1, type, len, ull(q->cs));
                if (off + 8 + len > end)
                        return image_error(q->out,
                                           "header extension %u (type 0x%08x, %u bytes) ends "
                                           "past the end of the file (%llu bytes)",
                                           n + 1, type, len, ull(q->s->size));
                if (type == 0xe2792aca && len > 0 && len < 64) { /* backing file format */
                        char fmt[64] = {};
                        r = image_read(q->s, fmt, len, off + 8);
                        if (r < 0)
                                return r;
                        buffer_printf(q->out, "  backing file format: %.*s\n", (int)len, fmt);
                }
                off = next;
        }

        if (backing_offset == 0)
                return 0;
        if (backing_size > 1023 || backing_offset > q->cs || backing_size > q->cs - backing_offset)
                return image_error(q->out,
                                   "the backing file name (offset %llu, %u bytes) runs past the "
                                   "header cluster (%llu bytes)",
                                   ull(backing_offset), backing_size, ull(q->cs));
        if (!image_contains(q->s, backing_offset, backing_size))
                return image_error(q->out,
                                   "the backing file name (offset %llu, %u bytes) ends past the "
                                   "end of the file (%llu bytes)",
                                   ull(backing_offset), backing_size, ull(q->s->size));
        char name[1024];
        r = image_read(q->s, name, backing_size, backing_offset);
        if (r < 0)
                return r;
        buffer_printf(q->out, "  backing file: %.*s\n", (int)backing_size, name);
        return 0;
}

/* A compressed cluster at host, its descriptor's sector count sectors (all but the first):
 * its data decompresses to one cluster. Bytes past the end of the file read as zeros, as in
 * qemu. */
static int check_compressed(Qcow2 *q, uint64_t l1_index, uint64_t l2_offset, uint64_t j,
                            uint64_t sectors, uint64_t host) {
        uint64_t len = (sectors + 1) * 512 - host % 512;
        uint64_t avail = MIN(len, q->s->size - host);
        int r;

        if (len > 2 * q->cs)
                return image_error(q->out,
                                   "L2 table %llu (offset %llu), entry %llu: a compressed cluster "
                                   "of %llu bytes",
                                   ull(l1_index), ull(l2_offset), ull(j), ull(len));
        memset(q->packed + avail, 0, len - avail);
        r = image_read(q->s, q->packed, avail, host);
        if (r < 0)
                return r;
        r = qcow2_cluster_decompress(q->compression, q->packed, len, q->cluster, q->cs);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return image_error(q->out,
                                   "L2 table %llu (offset %llu), entry %llu: the compressed "
                                   "cluster at offset %llu (%llu bytes) does not decompress to "
                                   "one cluster",
                                   ull(l1_index), ull(l2_offset), ull(j), ull(host), ull(len));
        q->compressed++;
        return 0;
}

/* One L2 table: every data cluster it points to starts inside the file. */
static int check_l2(Qcow2 *q, uint64_t l1_index, uint64_t l2_offset, uint64_t *bad,
                    uint64_t *first_guest, uint64_t *first_host) {
        uint64_t entries = q->cs / q->l2_entry_size;
        int r = image_read(q->s, q->l2, q->cs, l2_offset);

        if (r < 0)
                return r;
        for (uint64_t j = 0; j < entries; j++) {
                uint64_t e = be64(q->l2 + j * q->l2_entry_size), host;
                if (e & L2E_COMPRESSED) {
                        unsigned x = 62 - (q->cluster_bits - 8);
                        host = e & ((UINT64_C(1) << x) - 1);
                        if (host < q->s->size) {
                                r = check_compressed(q, l1_index, l2_offset, j,
                                                     (e & ~L2E_COPIED & ~L2E_COMPRESSED) >> x,
                                                     host);
                                if (r < 0)
                                        return r;
                        }
                } else {
                        host = e & OFFSET_MASK;
                        if (host == 0)
                                continue; /* unallocated or zero */
                        if (host % q->cs != 0)
                                return image_error(q->out,
                                                   "L2 table %llu (offset %llu), entry %llu: data "
                                                   "cluster offset %llu is not aligned to the "
                                                   "cluster size (%llu)",
                                                   ull(l1_index), ull(l2_offset), ull(j), ull(host),
                                                   ull(q->cs));
                }
                if (host < q->s->size)
                        continue;
                if ((*bad)++ == 0) {
                        uint64_t per_l2 = entries;
                        *first_guest = (l1_index * per_l2 + j) * q->cs;
                        *first_host = host;
                }
        }
        return 0;
}

/* The L1 table and the L2 tables it points to. Each L2 table serves one L1 entry: one that
 * serves two would alias guest ranges (and reading it again and again would make a small
 * corrupt file take hours to check). */
static int check_l1(Qcow2 *q, uint64_t l1_offset, uint64_t l1_size) {
        _cleanup_free_ uint8_t *buf = xmalloc(IMAGE_TABLE_CHUNK);
        _cleanup_free_ uint8_t *used = xcalloc(q->s->size / q->cs / 8 + 1, 1);
        uint64_t bad = 0, first_guest = 0, first_host = 0, tables = 0;
        int r;

        for (uint64_t i = 0; i < l1_size; i++) {
                const uint8_t *p;
                r = image_table_entry(q->s, l1_offset, l1_size, 8, i, buf, &p);
                if (r < 0)
                        return r;
                uint64_t e = be64(p);
                if (e & L1E_RESERVED)
                        return image_error(q->out,
                                           "L1 entry %llu (0x%016llx) has reserved bits set",
                                           ull(i), ull(e));
                uint64_t off = e & OFFSET_MASK;
                if (off == 0)
                        continue;
                char what[64];
                snprintf(what, sizeof(what), "L2 table %llu", ull(i));
                r = check_table(q, what, off, q->cs, 1, "byte", "bytes");
                if (r < 0)
                        return r;
                uint64_t c = off / q->cs;
                if (used[c / 8] & (1u << (c % 8)))
                        return image_error(q->out,
                                           "L2 table %llu (offset %llu) also serves an earlier L1 "
                                           "entry",
                                           ull(i), ull(off));
                used[c / 8] |= (uint8_t)(1u << (c % 8));
                r = check_l2(q, i, off, &bad, &first_guest, &first_host);
                if (r < 0)
                        return r;
                tables++;
        }
        buffer_printf(q->out, "  L2 tables: %llu\n", ull(tables));
        if (q->compressed > 0)
                buffer_printf(q->out, "  compressed clusters: %llu (%s)\n", ull(q->compressed),
                              q->compression == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib");
        if (bad > 0)
                return image_error(q->out,
                                   "%llu data cluster%s past the end of the file (%llu bytes); "
                                   "the first holds guest offset %llu at file offset %llu",
                                   ull(bad), bad == 1 ? " lies" : "s lie", ull(q->s->size),
                                   ull(first_guest), ull(first_host));
        return 0;
}

/* The refcount table and the refcount blocks it points to. */
static int check_refcounts(Qcow2 *q, uint64_t offset, uint64_t clusters) {
        _cleanup_free_ uint8_t *buf = xmalloc(IMAGE_TABLE_CHUNK);
        uint64_t entries = clusters * q->cs / 8, blocks = 0;
        int r;

        for (uint64_t i = 0; i < entries; i++) {
                const uint8_t *p;
                r = image_table_entry(q->s, offset, entries, 8, i, buf, &p);
                if (r < 0)
                        return r;
                uint64_t e = be64(p);
                if (e & ~REFT_OFFSET_MASK)
                        return image_error(q->out,
                                           "refcount table entry %llu (0x%016llx) has reserved "
                                           "bits set",
                                           ull(i), ull(e));
                if (e == 0)
                        continue;
                char what[64];
                snprintf(what, sizeof(what), "refcount block %llu", ull(i));
                r = check_table(q, what, e, q->cs, 1, "byte", "bytes");
                if (r < 0)
                        return r;
                blocks++;
        }
        buffer_printf(q->out, "  refcount blocks: %llu\n", ull(blocks));
        return 0;
}

/* The snapshot table: every entry, and each snapshot's L1 table, inside the file. */
static int check_snapshots(Qcow2 *q, uint32_t count, uint64_t offset) {
        int r;

        buffer_printf(q->out, "  snapshots: %u\n", count);
        if (count == 0)
                return 0;
        if (count > MAX_SNAPSHOTS)
                return image_error(q->out, "%u snapshots: more than qemu allows (%u)", count,
                                   MAX_SNAPSHOTS);
        r = check_table(q, "the snapshot table", offset, 40, 1, "byte", "bytes");
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < count; i++) {
                uint8_t h[40];
                if (!image_contains(q->s, offset, sizeof(h)))
                        return image_error(q->out,
                                           "snapshot %u (offset %llu) starts past the end of the "
                                           "file (%llu bytes)",
                                           i + 1, ull(offset), ull(q->s->size));
                r = image_read(q->s, h, sizeof(h), offset);
                if (r < 0)
                        return r;
                /* Entries are padded to 8 bytes; the last one's padding may be left out. */
                uint64_t len = 40 + (uint64_t)be32(h + 36) + be16(h + 12) + be16(h + 14);
                if (!image_contains(q->s, offset, len))
                        return image_error(q->out,
                                           "snapshot %u (offset %llu, %llu bytes) ends past the "
                                           "end of the file (%llu bytes)",
                                           i + 1, ull(offset), ull(len), ull(q->s->size));
                char what[64];
                snprintf(what, sizeof(what), "the L1 table of snapshot %u", i + 1);
                r = check_table(q, what, be64(h), be32(h + 8), 8, "entry", "entries");
                if (r < 0)
                        return r;
                offset += (len + 7) & ~UINT64_C(7);
        }
        return 0;
}

int inspect_qcow2(const ImageSource *s, Buffer *out) {
        uint8_t h[112] = {};
        int r;

        buffer_puts(out, "  format: qcow2\n");
        if (s->size < 72)
                return image_error(out,
                                   "the qcow2 header (72 bytes) ends past the end of the file "
                                   "(%llu bytes)",
                                   ull(s->size));
        r = image_read(s, h, (size_t)MIN(s->size, (uint64_t)sizeof(h)), 0);
        if (r < 0)
                return r;
        Qcow2 q = {.s = s, .out = out, .version = be32(h + 4), .cluster_bits = be32(h + 20)};
        q.size = be64(h + 24);
        buffer_printf(out, "  version: %u\n  cluster size: %llu\n  virtual size: %llu\n", q.version,
                      q.cluster_bits < 64 ? 1ULL << q.cluster_bits : 0ULL, ull(q.size));
        if (q.version != 2 && q.version != 3)
                return image_error(out, "unsupported qcow2 version %u (expected 2 or 3)",
                                   q.version);
        if (q.cluster_bits < 9 || q.cluster_bits > 21)
                return image_error(out, "cluster bits %u out of range (9 to 21)", q.cluster_bits);
        q.cs = UINT64_C(1) << q.cluster_bits;
        q.l2_entry_size = 8;
        if (be32(h + 32) != 0)
                return image_error(out, "encrypted images are not supported");

        uint64_t header_length = 72, incompat = 0;
        if (q.version == 3) {
                if (s->size < 104)
                        return image_error(out,
                                           "the qcow2 version 3 header (104 bytes) ends past the "
                                           "end of the file (%llu bytes)",
                                           ull(s->size));
                header_length = be32(h + 100);
                incompat = be64(h + 72);
                uint32_t order = be32(h + 96);
                if (header_length < 104 || header_length % 8 != 0 || header_length > q.cs)
                        return image_error(out,
                                           "header length %llu is invalid (a multiple of 8 from "
                                           "104 to the cluster size)",
                                           ull(header_length));
                if (header_length > s->size)
                        return image_error(out,
                                           "the qcow2 header (%llu bytes) ends past the end of "
                                           "the file (%llu bytes)",
                                           ull(header_length), ull(s->size));
                if (order > 6)
                        return image_error(out, "refcount order %u out of range (0 to 6)", order);
        }
        if (incompat & INCOMPAT_CORRUPT)
                return image_error(out, "the image is marked corrupt (qemu-img check -r all "
                                        "repairs it)");
        if (incompat & INCOMPAT_DATA_FILE)
                return image_error(out, "images with an external data file are not supported");
        if (incompat & ~(uint64_t)(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2))
                return image_error(out, "unknown incompatible features (0x%llx)", ull(incompat));
        if ((incompat & INCOMPAT_COMPRESSION) && (header_length < 105 || h[104] > 1))
                return image_error(out, "unknown compression type");
        if (incompat & INCOMPAT_COMPRESSION)
                q.compression = h[104];
        if (incompat & INCOMPAT_DIRTY)
                buffer_puts(out, "  dirty: yes (refcounts are rebuilt when opened for writing)\n");
        if (incompat & INCOMPAT_EXTL2) {
                if (q.cluster_bits < 14)
                        return image_error(out, "extended L2 entries need clusters of 16 KiB");
                q.l2_entry_size = 16;
        }

        r = check_extensions(&q, header_length, be64(h + 8), be32(h + 16));
        if (r < 0)
                return r;

        uint64_t l1_size = be32(h + 36), l1_offset = be64(h + 40);
        uint64_t l2_span = q.cs / q.l2_entry_size * q.cs; /* guest bytes per L2 table */
        uint64_t needed = div_up(q.size, l2_span);
        if (l1_size < needed)
                return image_error(out,
                                   "the L1 table has %llu entries; the virtual size needs %llu",
                                   ull(l1_size), ull(needed));
        r = check_table(&q, "the L1 table", l1_offset, l1_size, 8, "entry", "entries");
        if (r < 0)
                return r;
        uint64_t rt_offset = be64(h + 48), rt_clusters = be32(h + 56);
        if (rt_clusters == 0)
                return image_error(out, "the refcount table has no clusters");
        r = check_table(&q, "the refcount table", rt_offset, rt_clusters, q.cs, "cluster",
                        "clusters");
        if (r < 0)
                return r;
        r = check_snapshots(&q, be32(h + 60), be64(h + 64));
        if (r < 0)
                return r;
        r = check_refcounts(&q, rt_offset, rt_clusters);
        if (r < 0)
                return r;
        q.l2 = xmalloc(q.cs);
        q.packed = xmalloc(2 * q.cs);
        q.cluster = xmalloc(q.cs);
        r = check_l1(&q, l1_offset, l1_size);
        free(q.l2);
        free(q.packed);
        free(q.cluster);
        return r;
}
