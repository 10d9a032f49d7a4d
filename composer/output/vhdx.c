/* SPDX-License-Identifier: MIT */
/* Dynamic VHDX for Hyper-V ([MS-VHDX] v1): 1 MiB blocks, 512-byte logical and 4096-byte
 * physical sectors, blocks that hold only zeros left out. Layout: file identifier (0), headers
 * (64 and 128 KiB), region tables (192 and 256 KiB), an empty log (1 MiB), metadata (2 MiB),
 * the BAT (3 MiB), then the payload blocks in guest order. All structures little-endian,
 * checksums CRC-32C, GUIDs in Windows byte order. */
#include <string.h>

#include "output-internal.h"
#include "vmcompose/crc32c.h"
#include "vmcompose/hash.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define VHDX_BLOCK_SIZE MiB
#define VHDX_LOGICAL_SECTOR 512u
#define VHDX_PHYSICAL_SECTOR 4096u
#define VHDX_LOG_OFFSET (1 * MiB)
#define VHDX_LOG_LENGTH (1 * MiB)
#define VHDX_METADATA_OFFSET (2 * MiB)
#define VHDX_METADATA_LENGTH (1 * MiB)
#define VHDX_BAT_OFFSET (3 * MiB)
#define PAYLOAD_BLOCK_FULLY_PRESENT 6u

static const char guid_bat[] = VHDX_GUID_BAT;
static const char guid_metadata[] = VHDX_GUID_METADATA;
static const char guid_file_parameters[] = VHDX_GUID_FILE_PARAMETERS;
static const char guid_disk_size[] = VHDX_GUID_DISK_SIZE;
static const char guid_disk_id[] = VHDX_GUID_DISK_ID;
static const char guid_logical_sector[] = VHDX_GUID_LOGICAL_SECTOR;
static const char guid_physical_sector[] = VHDX_GUID_PHYSICAL_SECTOR;

/* A GUID in the byte order Windows stores it: the first three fields little-endian. */
static void put_guid(uint8_t *p, const uint8_t rfc[16]) {
        p[0] = rfc[3];
        p[1] = rfc[2];
        p[2] = rfc[1];
        p[3] = rfc[0];
        p[4] = rfc[5];
        p[5] = rfc[4];
        p[6] = rfc[7];
        p[7] = rfc[6];
        memcpy(p + 8, rfc + 8, 8);
}

void vhdx_put_guid_str(uint8_t *p, const char *s) {
        uint8_t u[16];
        (void)uuid_parse(s, u);
        put_guid(p, u);
}

/* Chunk ratio: how many payload blocks share one sector bitmap block. */
uint64_t vhdx_chunk_ratio(void) {
        return (UINT64_C(1) << 23) * VHDX_LOGICAL_SECTOR / VHDX_BLOCK_SIZE;
}

uint64_t vhdx_bat_entries(uint64_t size) {
        uint64_t blocks = (size + VHDX_BLOCK_SIZE - 1) / VHDX_BLOCK_SIZE;
        return blocks == 0 ? 0 : blocks + (blocks - 1) / vhdx_chunk_ratio();
}

uint64_t vhdx_bat_index(uint64_t block) {
        return block + block / vhdx_chunk_ratio();
}

static void encode_header(uint8_t *h, uint64_t sequence, const uint8_t file_write[16],
                          const uint8_t data_write[16]) {
        memset(h, 0, 4 * KiB);
        memcpy(h, "head", 4);
        put_le64(h + 8, sequence);
        put_guid(h + 16, file_write);
        put_guid(h + 32, data_write);
        /* LogGuid (48) zero: nothing to replay. */
        put_le16(h + 64, 0); /* log version */
        put_le16(h + 66, 1); /* version */
        put_le32(h + 68, (uint32_t)VHDX_LOG_LENGTH);
        put_le64(h + 72, VHDX_LOG_OFFSET);
        put_le32(h + 4, crc32c(h, 4 * KiB));
}

static void encode_region_table(uint8_t *t, uint64_t bat_length) {
        memset(t, 0, 64 * KiB);
        memcpy(t, "regi", 4);
        put_le32(t + 8, 2); /* entry count */
        uint8_t *e = t + 16;
        vhdx_put_guid_str(e, guid_bat);
        put_le64(e + 16, VHDX_BAT_OFFSET);
        put_le32(e + 24, (uint32_t)bat_length);
        put_le32(e + 28, 1); /* required */
        e += 32;
        vhdx_put_guid_str(e, guid_metadata);
        put_le64(e + 16, VHDX_METADATA_OFFSET);
        put_le32(e + 24, (uint32_t)VHDX_METADATA_LENGTH);
        put_le32(e + 28, 1);
        put_le32(t + 4, crc32c(t, 64 * KiB));
}

static void encode_metadata(uint8_t *m, uint64_t size, const uint8_t disk_id[16]) {
        enum { IS_USER = 1, IS_VIRTUAL_DISK = 2, IS_REQUIRED = 4 };
        static const struct {
                const char *guid;
                uint32_t length, flags;
        } items[] = {
                {guid_file_parameters, 8, IS_REQUIRED},
                {guid_disk_size, 8, IS_VIRTUAL_DISK | IS_REQUIRED},
                {guid_disk_id, 16, IS_VIRTUAL_DISK | IS_REQUIRED},
                {guid_logical_sector, 4, IS_VIRTUAL_DISK | IS_REQUIRED},
                {guid_physical_sector, 4, IS_VIRTUAL_DISK | IS_REQUIRED},
        };

        memset(m, 0, VHDX_METADATA_LENGTH);
        memcpy(m, "metadata", 8);
        put_le16(m + 10, (uint16_t)ELEMENTSOF(items));
        /* Item data from 64 KiB on, each item 8-byte aligned. */
        uint32_t off = 64 * KiB;
        for (size_t i = 0; i < ELEMENTSOF(items); i++) {
                uint8_t *e = m + 32 + 32 * i;
                vhdx_put_guid_str(e, items[i].guid);
                put_le32(e + 16, off);
                put_le32(e + 20, items[i].length);
                put_le32(e + 24, items[i].flags);
                uint8_t *d = m + off;
                switch (i) {
                case 0:
                        put_le32(d, (uint32_t)VHDX_BLOCK_SIZE);
                        put_le32(d + 4, 0); /* not LeaveBlocksAllocated, no parent */
                        break;
                case 1:
                        put_le64(d, size);
                        break;
                case 2:
                        put_guid(d, disk_id);
                        break;
                case 3:
                        put_le32(d, VHDX_LOGICAL_SECTOR);
                        break;
                default:
                        put_le32(d, VHDX_PHYSICAL_SECTOR);
                }
                off += (items[i].length + 7) & ~7u;
        }
}

typedef struct VhdxWrite {
        int raw_fd, out_fd;
        uint64_t size;
        uint8_t *bat;
        uint64_t next; /* next free file offset for a payload block */
} VhdxWrite;

static int write_blocks(uint64_t first, uint64_t count, void *userdata) {
        VhdxWrite *w = userdata;
        uint64_t off = first * VHDX_BLOCK_SIZE;
        uint64_t len = MIN(count * VHDX_BLOCK_SIZE, w->size - off);

        for (uint64_t b = first; b < first + count; b++)
                put_le64(w->bat + vhdx_bat_index(b) * 8,
                         (w->next + (b - first) * VHDX_BLOCK_SIZE) | PAYLOAD_BLOCK_FULLY_PRESENT);
        int r = sparse_copy(w->raw_fd, off, len, w->out_fd, w->next);
        w->next += count * VHDX_BLOCK_SIZE;
        if (r == 0 && signals_interrupted())
                r = -EINTR;
        return r;
}

static int vhdx_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        uint64_t entries = vhdx_bat_entries(size);
        uint64_t bat_length = (entries * 8 + MiB - 1) / MiB * MiB;
        _cleanup_free_ uint8_t *buf = xcalloc(1, VHDX_METADATA_LENGTH);
        _cleanup_free_ uint8_t *bat = xcalloc(1, bat_length ? bat_length : MiB);
        uint8_t file_write[16], data_write[16];
        char seed[37];
        int r;

        if (size == 0 || size % VHDX_LOGICAL_SECTOR != 0)
                return -EINVAL;
        uuid_format(o->disk_uuid, seed);
        uuid_from_seed(seed, "vhdx:file-write", file_write);
        uuid_from_seed(seed, "vhdx:data-write", data_write);

        VhdxWrite w = {.raw_fd = raw_fd,
                       .out_fd = out_fd,
                       .size = size,
                       .bat = bat,
                       .next = VHDX_BAT_OFFSET + bat_length};
        r = output_scan_clusters(raw_fd, size, VHDX_BLOCK_SIZE, write_blocks, &w);
        if (r < 0)
                return r;
        if (ftruncate(out_fd, (off_t)w.next) < 0)
                return -errno;

        /* File type identifier: signature and creator (UTF-16LE). */
        memset(buf, 0, 64 * KiB);
        memcpy(buf, "vhdxfile", 8);
        static const char creator[] = "vmcompose";
        for (size_t i = 0; i < sizeof(creator) - 1; i++)
                put_le16(buf + 8 + 2 * i, (uint16_t)creator[i]);
        r = pwrite_all(out_fd, buf, 64 * KiB, 0);
        for (int h = 0; h < 2 && r == 0; h++) {
                encode_header(buf, (uint64_t)h + 1, file_write, data_write);
                r = pwrite_all(out_fd, buf, 4 * KiB, (uint64_t)(64 + 64 * h) * KiB);
        }
        for (int t = 0; t < 2 && r == 0; t++) {
                encode_region_table(buf, bat_length);
                r = pwrite_all(out_fd, buf, 64 * KiB, (uint64_t)(192 + 64 * t) * KiB);
        }
        if (r == 0) {
                encode_metadata(buf, size, o->disk_uuid);
                r = pwrite_all(out_fd, buf, VHDX_METADATA_LENGTH, VHDX_METADATA_OFFSET);
        }
        if (r == 0)
                r = pwrite_all(out_fd, bat, bat_length, VHDX_BAT_OFFSET);
        return r;
}

const OutputFormat output_vhdx = {
        .name = "vhdx",
        .suffix = "vhdx",
        .write_image = vhdx_write,
};
