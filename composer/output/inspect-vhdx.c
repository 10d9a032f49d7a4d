/* SPDX-License-Identifier: MIT */
/* Inspecting VHDX images ([MS-VHDX] v1): both headers and both region tables (inside the file;
 * one valid copy of each is enough to open it), the log, BAT and metadata regions, the metadata
 * table and the items a disk needs (file parameters, virtual size, logical and physical sector
 * size, disk id), and every BAT entry that says a payload block or sector bitmap is present:
 * the block must lie inside the file. */
#include <stdio.h>
#include <string.h>

#include "output-internal.h"
#include "vmcompose/crc32c.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define MAX_ENTRIES 2047 /* region and metadata table entries */

enum {
        PAYLOAD_NOT_PRESENT = 0,
        PAYLOAD_UNDEFINED = 1,
        PAYLOAD_ZERO = 2,
        PAYLOAD_UNMAPPED = 3,
        PAYLOAD_FULLY_PRESENT = 6,
        PAYLOAD_PARTIALLY_PRESENT = 7,
        SB_BLOCK_PRESENT = 6,
};

static unsigned long long ull(uint64_t v) {
        return (unsigned long long)v;
}

static bool guid_is(const uint8_t *p, const char *s) {
        uint8_t g[16];
        vhdx_put_guid_str(g, s);
        return memcmp(p, g, 16) == 0;
}

/* Reads the structure of size bytes at offset and checks its signature and CRC-32C (at 4). */
static int read_checked(const ImageSource *s, Buffer *out, const char *what, uint8_t *buf,
                        size_t size, uint64_t offset, const char *sig, bool *ret_valid) {
        if (!image_contains(s, offset, size))
                return image_error(out,
                                   "%s (offset %llu, %zu bytes) %s past the end of the file "
                                   "(%llu bytes)",
                                   what, ull(offset), size, offset >= s->size ? "starts" : "ends",
                                   ull(s->size));
        int r = image_read(s, buf, size, offset);
        if (r < 0)
                return r;
        uint32_t sum = le32(buf + 4);
        memset(buf + 4, 0, 4);
        *ret_valid = memcmp(buf, sig, 4) == 0 && crc32c(buf, size) == sum;
        put_le32(buf + 4, sum);
        buffer_printf(out, "  %s: %s\n", what, *ret_valid ? "valid" : "invalid");
        return 0;
}

typedef struct Region {
        uint64_t offset, length;
} Region;

static int check_region(const ImageSource *s, Buffer *out, const char *what, Region g) {
        if (g.offset % MiB != 0 || g.length % MiB != 0 || g.offset < MiB || g.length == 0)
                return image_error(out,
                                   "the %s region (offset %llu, %llu bytes) is not in whole MiB "
                                   "after the first",
                                   what, ull(g.offset), ull(g.length));
        if (!image_contains(s, g.offset, g.length))
                return image_error(out,
                                   "the %s region (offset %llu, %llu bytes) %s past the end of "
                                   "the file (%llu bytes)",
                                   what, ull(g.offset), ull(g.length),
                                   g.offset >= s->size ? "starts" : "ends", ull(s->size));
        return 0;
}

/* The region table: where the BAT and the metadata are. */
static int read_regions(const uint8_t *t, Buffer *out, Region *ret_bat, Region *ret_meta) {
        uint32_t n = le32(t + 8);
        Region bat = {}, meta = {};

        if (n > MAX_ENTRIES)
                return image_error(out, "the region table has %u entries (at most %u)", n,
                                   MAX_ENTRIES);
        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *e = t + 16 + 32 * i;
                Region g = {le64(e + 16), le32(e + 24)};
                if (guid_is(e, VHDX_GUID_BAT))
                        bat = g;
                else if (guid_is(e, VHDX_GUID_METADATA))
                        meta = g;
                else if (le32(e + 28) & 1)
                        return image_error(out, "region %u is required but unknown", i + 1);
        }
        if (bat.length == 0)
                return image_error(out, "the region table has no BAT region");
        if (meta.length == 0)
                return image_error(out, "the region table has no metadata region");
        *ret_bat = bat;
        *ret_meta = meta;
        return 0;
}

typedef struct Params {
        uint64_t size;
        uint32_t block_size, logical_sector, physical_sector;
        bool has_parent;
} Params;

/* The metadata table and the items a virtual disk needs. */
static int read_metadata(const ImageSource *s, Buffer *out, Region meta, Params *ret) {
        static const struct {
                const char *guid, *name;
                uint32_t length;
        } items[] = {
                {VHDX_GUID_FILE_PARAMETERS, "file parameters (block size)", 8},
                {VHDX_GUID_DISK_SIZE, "virtual disk size", 8},
                {VHDX_GUID_LOGICAL_SECTOR, "logical sector size", 4},
                {VHDX_GUID_PHYSICAL_SECTOR, "physical sector size", 4},
                {VHDX_GUID_DISK_ID, "virtual disk id", 16},
        };
        uint8_t data[ELEMENTSOF(items)][16] = {};
        bool found[ELEMENTSOF(items)] = {};
        _cleanup_free_ uint8_t *t = xmalloc(64 * KiB);
        int r;

        if (meta.length < 64 * KiB)
                return image_error(out,
                                   "the metadata region (%llu bytes) is smaller than its "
                                   "table (64 KiB)",
                                   ull(meta.length));
        r = image_read(s, t, 64 * KiB, meta.offset);
        if (r < 0)
                return r;
        if (memcmp(t, "metadata", 8) != 0)
                return image_error(out,
                                   "the metadata table (offset %llu) has no \"metadata\" "
                                   "signature",
                                   ull(meta.offset));
        uint16_t n = le16(t + 10);
        if (n > MAX_ENTRIES)
                return image_error(out, "the metadata table has %u entries (at most %u)", n,
                                   MAX_ENTRIES);
        for (uint16_t i = 0; i < n; i++) {
                const uint8_t *e = t + 32 + 32 * i;
                uint64_t off = le32(e + 16), len = le32(e + 20);
                uint32_t flags = le32(e + 24);
                if (len > 0 && (off < 64 * KiB || off + len > meta.length))
                        return image_error(out,
                                           "metadata item %u (offset %llu, %llu bytes) lies "
                                           "outside the metadata region (%llu bytes)",
                                           i + 1, ull(off), ull(len), ull(meta.length));
                size_t k = 0;
                while (k < ELEMENTSOF(items) && !guid_is(e, items[k].guid))
                        k++;
                if (k == ELEMENTSOF(items)) {
                        if (flags & 4)
                                return image_error(out, "metadata item %u is required but unknown",
                                                   i + 1);
                        continue;
                }
                if (len < items[k].length)
                        return image_error(out, "the %s metadata item has %llu bytes, not %u",
                                           items[k].name, ull(len), items[k].length);
                r = image_read(s, data[k], items[k].length, meta.offset + off);
                if (r < 0)
                        return r;
                found[k] = true;
        }
        for (size_t k = 0; k < ELEMENTSOF(items); k++)
                if (!found[k])
                        return image_error(out, "the metadata has no %s item", items[k].name);

        Params p = {
                .block_size = le32(data[0]),
                .has_parent = le32(data[0] + 4) & 2,
                .size = le64(data[1]),
                .logical_sector = le32(data[2]),
                .physical_sector = le32(data[3]),
        };
        buffer_printf(out, "  virtual size: %llu\n  block size: %u\n  logical sector size: %u\n",
                      ull(p.size), p.block_size, p.logical_sector);
        if (p.block_size < MiB || p.block_size > 256 * MiB ||
            (p.block_size & (p.block_size - 1)) != 0)
                return image_error(out, "block size %u is not a power of 2 from 1 to 256 MiB",
                                   p.block_size);
        if (p.logical_sector != 512 && p.logical_sector != 4096)
                return image_error(out, "logical sector size %u is neither 512 nor 4096",
                                   p.logical_sector);
        if (p.physical_sector != 512 && p.physical_sector != 4096)
                return image_error(out, "physical sector size %u is neither 512 nor 4096",
                                   p.physical_sector);
        if (p.size == 0 || p.size > 64 * MiB * MiB || p.size % p.logical_sector != 0)
                return image_error(out,
                                   "virtual size %llu is not a whole number of sectors up to "
                                   "64 TiB",
                                   ull(p.size));
        if (p.has_parent)
                return image_error(out, "differencing VHDX images (with a parent) are not "
                                        "supported");
        *ret = p;
        return 0;
}

/* Every BAT entry that says a block is present points to a block inside the file. */
static int check_bat(const ImageSource *s, Buffer *out, Region bat, const Params *p) {
        uint64_t chunk_ratio = (UINT64_C(1) << 23) * p->logical_sector / p->block_size;
        uint64_t blocks = p->size / p->block_size + (p->size % p->block_size != 0);
        uint64_t entries = blocks + (blocks - 1) / chunk_ratio;
        uint64_t present = 0, bad = 0, first_block = 0, first_offset = 0;
        _cleanup_free_ uint8_t *buf = xmalloc(IMAGE_TABLE_CHUNK);
        int r;

        if (entries > bat.length / 8)
                return image_error(out,
                                   "the BAT region (%llu bytes) is too small for its %llu "
                                   "entries",
                                   ull(bat.length), ull(entries));
        for (uint64_t k = 0; k < entries; k++) {
                const uint8_t *entry;
                r = image_table_entry(s, bat.offset, entries, 8, k, buf, &entry);
                if (r < 0)
                        return r;
                uint64_t e = le64(entry);
                unsigned state = e & 7;
                uint64_t off = (e >> 20) * MiB, len = p->block_size;
                bool bitmap = (k + 1) % (chunk_ratio + 1) == 0;
                uint64_t block = k - k / (chunk_ratio + 1);
                if (bitmap) {
                        if (state != PAYLOAD_NOT_PRESENT && state != SB_BLOCK_PRESENT)
                                return image_error(out,
                                                   "BAT entry %llu (a sector bitmap) has "
                                                   "the invalid state %u",
                                                   ull(k), state);
                        if (state == PAYLOAD_NOT_PRESENT)
                                continue;
                        len = MiB;
                } else if (state == PAYLOAD_NOT_PRESENT || state == PAYLOAD_UNDEFINED ||
                           state == PAYLOAD_ZERO || state == PAYLOAD_UNMAPPED)
                        continue;
                else if (state != PAYLOAD_FULLY_PRESENT && state != PAYLOAD_PARTIALLY_PRESENT)
                        return image_error(out,
                                           "BAT entry %llu (payload block %llu) has the invalid "
                                           "state %u",
                                           ull(k), ull(block), state);
                else
                        present++;
                if (off < MiB)
                        return image_error(out,
                                           "BAT entry %llu points into the header section "
                                           "(offset %llu)",
                                           ull(k), ull(off));
                if (image_contains(s, off, len))
                        continue;
                if (bad++ == 0) {
                        first_block = k;
                        first_offset = off;
                }
        }
        buffer_printf(out, "  payload blocks present: %llu of %llu\n", ull(present), ull(blocks));
        if (bad > 0)
                return image_error(out,
                                   "%llu block%s the BAT says %s present end%s past the end of "
                                   "the file (%llu bytes); the first, BAT entry %llu, at offset "
                                   "%llu",
                                   ull(bad), bad == 1 ? "" : "s", bad == 1 ? "is" : "are",
                                   bad == 1 ? "s" : "", ull(s->size), ull(first_block),
                                   ull(first_offset));
        return 0;
}

int inspect_vhdx(const ImageSource *s, Buffer *out) {
        _cleanup_free_ uint8_t *h = xmalloc(4 * KiB), *t = xmalloc(64 * KiB);
        uint64_t seq = 0, log_offset = 0, log_length = 0;
        int r, headers = 0, tables = 0;
        bool log_pending = false;
        Region bat = {}, meta = {};

        buffer_puts(out, "  format: vhdx\n");
        for (int i = 0; i < 2; i++) {
                char what[16];
                bool ok;
                snprintf(what, sizeof(what), "header %d", i + 1);
                r = read_checked(s, out, what, h, 4 * KiB, (uint64_t)(64 + 64 * i) * KiB, "head",
                                 &ok);
                if (r < 0)
                        return r;
                /* The current header: the valid one with the higher sequence number. */
                if (ok && (headers == 0 || le64(h + 8) > seq)) {
                        if (le16(h + 66) != 1)
                                return image_error(out, "header %d: unsupported version %u", i + 1,
                                                   le16(h + 66));
                        seq = le64(h + 8);
                        log_pending = memcmp(h + 48, (const uint8_t[16]){}, 16) != 0;
                        log_length = le32(h + 68);
                        log_offset = le64(h + 72);
                }
                headers += ok;
        }
        for (int i = 0; i < 2; i++) {
                char what[24];
                bool ok;
                snprintf(what, sizeof(what), "region table %d", i + 1);
                r = read_checked(s, out, what, t, 64 * KiB, (uint64_t)(192 + 64 * i) * KiB, "regi",
                                 &ok);
                if (r < 0)
                        return r;
                if (ok && tables++ == 0) {
                        r = read_regions(t, out, &bat, &meta);
                        if (r < 0)
                                return r;
                }
        }
        /* One valid header and one valid region table are enough to open the file. */
        if (headers == 0)
                return image_error(out, "neither VHDX header is valid");
        if (tables == 0)
                return image_error(out, "neither VHDX region table is valid");
        if (log_length > 0 && !image_contains(s, log_offset, log_length))
                return image_error(out,
                                   "the log (offset %llu, %llu bytes) %s past the end of the "
                                   "file (%llu bytes)",
                                   ull(log_offset), ull(log_length),
                                   log_offset >= s->size ? "starts" : "ends", ull(s->size));
        if (log_pending)
                buffer_puts(out, "  log: not empty (replayed when opened for writing)\n");
        r = check_region(s, out, "BAT", bat);
        if (r == 0)
                r = check_region(s, out, "metadata", meta);
        if (r < 0)
                return r;
        Params p = {};
        r = read_metadata(s, out, meta, &p);
        if (r < 0)
                return r;
        return check_bat(s, out, bat, &p);
}
