/* SPDX-License-Identifier: MIT */
/* A VHDX reader for `vmcompose diff` ([MS-VHDX]): the current header, the region table, the
 * metadata (block size, virtual size, logical sector size) and the BAT, whose present payload
 * blocks are copied into a raw file. Fixed and dynamic images; a differencing image or one with
 * a log to replay is -EOPNOTSUPP (qemu-img's job). Checksums, and every offset against the
 * file, are checked: a damaged or cut image is -EBADMSG, never read as zeros. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/crc32c.h"
#include "diff-internal.h"
#include "vmcompose/endian.h"
#include "vmcompose/hash.h"
#include "vmcompose/sparse.h"

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define VHDX_MAX_BAT_BYTES (256 * MiB)
#define VHDX_COPY_CHUNK (4 * MiB)

enum {
        BAT_NOT_PRESENT = 0,
        BAT_UNDEFINED = 1,
        BAT_ZERO = 2,
        BAT_UNMAPPED = 3,
        BAT_FULLY_PRESENT = 6,
        BAT_PARTIALLY_PRESENT = 7,
};

#define bad(ret_error, ...) diff_error(ret_error, -EBADMSG, __VA_ARGS__)

/* Whether the GUID at p (Windows byte order) is the one written as text s. */
static bool guid_is(const uint8_t *p, const char *s) {
        uint8_t u[16], w[16];
        if (uuid_parse(s, u) < 0)
                return false;
        /* The first three fields are little-endian on disk. */
        w[0] = u[3], w[1] = u[2], w[2] = u[1], w[3] = u[0];
        w[4] = u[5], w[5] = u[4], w[6] = u[7], w[7] = u[6];
        memcpy(w + 8, u + 8, 8);
        return memcmp(p, w, 16) == 0;
}

/* Reads a structure of size bytes at offset whose CRC-32C is at byte 4. */
static bool read_checked(int fd, uint8_t *buf, size_t size, uint64_t offset, const char *sig) {
        if (pread_all(fd, buf, size, offset) < 0 || memcmp(buf, sig, 4) != 0)
                return false;
        uint32_t sum = le32(buf + 4);
        memset(buf + 4, 0, 4);
        bool ok = crc32c(buf, size) == sum;
        put_le32(buf + 4, sum);
        return ok;
}

typedef struct Vhdx {
        uint64_t bat_offset, bat_length, meta_offset, meta_length;
        uint64_t block_size, size, sector_size;
        bool has_parent;
} Vhdx;

static int read_regions(int fd, uint64_t file_size, Vhdx *v, char **ret_error) {
        _cleanup_free_ uint8_t *t = xmalloc(64 * KiB);

        for (int i = 0; i < 2; i++) {
                if (!read_checked(fd, t, 64 * KiB, (192 + 64 * (uint64_t)i) * KiB, "regi"))
                        continue;
                uint32_t n = le32(t + 8);
                if (n > 2047)
                        continue;
                for (uint32_t k = 0; k < n; k++) {
                        const uint8_t *e = t + 16 + 32 * (size_t)k;
                        uint64_t off = le64(e + 16), len = le32(e + 24);
                        if (off % MiB || off > file_size || len > file_size - off)
                                return bad(ret_error,
                                           "region %u at %llu (%llu bytes) is outside the file "
                                           "(truncated?)",
                                           k, (unsigned long long)off, (unsigned long long)len);
                        if (guid_is(e, "2DC27766-F623-4200-9D64-115E9BFD4A08"))
                                v->bat_offset = off, v->bat_length = len;
                        else if (guid_is(e, "8B7CA206-4790-4B9A-B8FE-575F050F886E"))
                                v->meta_offset = off, v->meta_length = len;
                        else if (le32(e + 28) & 1)
                                return -EOPNOTSUPP; /* a required region we do not know */
                }
                if (!v->bat_length || !v->meta_length)
                        return bad(ret_error, "no BAT or metadata region");
                return 0;
        }
        return bad(ret_error, "no valid region table");
}

static int read_metadata(int fd, Vhdx *v, char **ret_error) {
        uint8_t h[32 + 2047 * 32];
        int r;

        if (v->meta_length < 64 * KiB)
                return bad(ret_error, "a metadata region of %llu bytes",
                           (unsigned long long)v->meta_length);
        r = pread_all(fd, h, sizeof(h), v->meta_offset);
        if (r < 0 || memcmp(h, "metadata", 8) != 0)
                return bad(ret_error, "no metadata table");
        uint16_t n = le16(h + 10);
        if (n > 2047)
                return bad(ret_error, "%u metadata entries", n);
        for (uint16_t k = 0; k < n; k++) {
                const uint8_t *e = h + 32 + 32 * (size_t)k;
                uint32_t off = le32(e + 16), len = le32(e + 20);
                uint8_t val[8] = {};
                if (off < 64 * KiB || off > v->meta_length || len > v->meta_length - off)
                        return bad(ret_error, "metadata item %u outside its region", k);
                if (pread_all(fd, val, MIN(len, (uint32_t)sizeof(val)), v->meta_offset + off) < 0)
                        return bad(ret_error, "metadata item %u cannot be read", k);
                if (guid_is(e, "CAA16737-FA36-4D43-B3B6-33F0AA44E76B")) {
                        v->block_size = le32(val);
                        v->has_parent = le32(val + 4) & 2;
                } else if (guid_is(e, "2FA54224-CD1B-4876-B211-5DBED83BF4B8"))
                        v->size = le64(val);
                else if (guid_is(e, "8141BF1D-A96F-4709-BA47-F233A8FAAB5F"))
                        v->sector_size = le32(val);
                else if (guid_is(e, "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"))
                        v->has_parent = true; /* parent locator */
        }
        if (v->has_parent)
                return -EOPNOTSUPP;
        if (v->block_size < MiB || v->block_size > 256 * MiB ||
            (v->block_size & (v->block_size - 1)))
                return bad(ret_error, "invalid block size %llu", (unsigned long long)v->block_size);
        if (v->sector_size != 512 && v->sector_size != 4096)
                return bad(ret_error, "invalid logical sector size %llu",
                           (unsigned long long)v->sector_size);
        if (v->size == 0 || v->size > 64 * 1024 * 1024 * MiB || v->size % v->sector_size)
                return bad(ret_error, "invalid virtual size %llu", (unsigned long long)v->size);
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int diff_vhdx_to_raw(int fd, uint64_t file_size, int out_fd, uint64_t *ret_size, char **ret_error) {
        uint8_t h[4096];
        uint64_t best_seq = 0;
        bool have_header = false, has_log = false;
        Vhdx v = {};
        int r;

        if (file_size < 1 * MiB || pread_all(fd, h, 8, 0) < 0 || memcmp(h, "vhdxfile", 8) != 0)
                return bad(ret_error, "no VHDX file identifier");
        for (int i = 0; i < 2; i++) {
                if (!read_checked(fd, h, sizeof(h), (64 + 64 * (uint64_t)i) * KiB, "head"))
                        continue;
                if (have_header && le64(h + 8) <= best_seq)
                        continue;
                have_header = true;
                best_seq = le64(h + 8);
                static const uint8_t zero[16];
                has_log = memcmp(h + 48, zero, 16) != 0;
        }
        if (!have_header)
                return bad(ret_error, "no valid header");
        if (has_log) /* a log to replay first: leave it to qemu-img */
                return -EOPNOTSUPP;
        r = read_regions(fd, file_size, &v, ret_error);
        if (r >= 0)
                r = read_metadata(fd, &v, ret_error);
        if (r < 0)
                return r;

        uint64_t chunk_ratio = (UINT64_C(1) << 23) * v.sector_size / v.block_size;
        uint64_t blocks = (v.size + v.block_size - 1) / v.block_size;
        uint64_t entries = blocks + (blocks - 1) / chunk_ratio;
        if (entries * 8 > v.bat_length || entries * 8 > VHDX_MAX_BAT_BYTES)
                return bad(ret_error, "a BAT of %llu bytes for %llu blocks",
                           (unsigned long long)v.bat_length, (unsigned long long)blocks);
        _cleanup_free_ uint8_t *bat = xmalloc(entries * 8);
        r = pread_all(fd, bat, entries * 8, v.bat_offset);
        if (r < 0)
                return bad(ret_error, "the BAT cannot be read: %s", strerror(-r));
        if (ftruncate(out_fd, (off_t)v.size) < 0)
                return -errno;

        /* A valid image stores each block once: more present blocks than the file holds would
         * be blocks used twice, a way to make a small file fill the disk. */
        uint64_t budget = file_size / v.block_size + 1;
        _cleanup_free_ uint8_t *buf = xmalloc(VHDX_COPY_CHUNK);
        for (uint64_t b = 0; b < blocks; b++) {
                uint64_t e = le64(bat + 8 * (b + b / chunk_ratio));
                unsigned state = e & 7;
                uint64_t host_mib = e >> 20, guest = b * v.block_size;
                uint64_t host = host_mib <= file_size / MiB ? host_mib * MiB : UINT64_MAX;
                uint64_t n = MIN(v.block_size, v.size - guest);
                if (state == BAT_NOT_PRESENT || state == BAT_UNDEFINED || state == BAT_ZERO ||
                    state == BAT_UNMAPPED)
                        continue;
                if (state != BAT_FULLY_PRESENT)
                        return state == BAT_PARTIALLY_PRESENT
                                       ? -EOPNOTSUPP
                                       : bad(ret_error, "block %llu has invalid state %u",
                                             (unsigned long long)b, state);
                if (budget-- == 0)
                        return bad(ret_error, "more present blocks than the file holds (blocks "
                                              "used twice)");
                if (host < 1 * MiB || host > file_size || n > file_size - host)
                        return bad(ret_error,
                                   "block %llu (guest byte %llu) is at %llu, outside the file "
                                   "(truncated?)",
                                   (unsigned long long)b, (unsigned long long)guest,
                                   (unsigned long long)host);
                for (uint64_t done = 0; done < n;) {
                        size_t k = (size_t)MIN((uint64_t)VHDX_COPY_CHUNK, n - done);
                        r = pread_all(fd, buf, k, host + done);
                        if (r >= 0 && !all_zero(buf, k))
                                r = pwrite_all(out_fd, buf, k, guest + done);
                        if (r < 0)
                                return r;
                        done += k;
                }
        }
        *ret_size = v.size;
        return 0;
}
