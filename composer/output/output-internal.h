/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/endian.h"
#include "vmcompose/output.h"

extern const OutputFormat output_raw, output_vhd, output_qcow2, output_vhdx, output_raw_zst,
        output_tar;

/* Big- and little-endian stores and loads for header encoders. */

/* Calls fn for every run of clusters of cluster_size bytes in [0, size) of fd that holds any
 * nonzero byte (holes and all-zero clusters are skipped). The last cluster may be short. */
int output_scan_clusters(int fd, uint64_t size, uint64_t cluster_size,
                         int (*fn)(uint64_t first, uint64_t count, void *userdata), void *userdata);

/* --- VHD (Virtual Hard Disk Image Format Specification, footer) --- */
#define VHD_FOOTER_SIZE 512
#define VHD_EPOCH_OFFSET UINT64_C(946684800) /* 2000-01-01 in Unix time */

typedef struct VhdFooter {
        uint32_t timestamp; /* seconds since 2000-01-01 */
        char creator_app[5];
        uint64_t original_size, current_size;
        uint16_t cylinders;
        uint8_t heads, sectors;
        uint32_t disk_type; /* VHD_FIXED, VHD_DYNAMIC, VHD_DIFFERENCING */
        uint32_t checksum;
        uint8_t uuid[16];
        uint64_t data_offset; /* a dynamic disk's header; all ones for a fixed one */
} VhdFooter;

enum { VHD_FIXED = 2, VHD_DYNAMIC = 3, VHD_DIFFERENCING = 4 };

void vhd_footer_encode(const VhdFooter *f, uint8_t out[VHD_FOOTER_SIZE]);
/* Decodes a footer of any VHD: cookie, version, checksum, a known disk type. Returns 0, or
 * -EBADMSG with the reason in *ret_error (static). */
int vhd_footer_parse(const uint8_t in[VHD_FOOTER_SIZE], VhdFooter *ret, const char **ret_error);
/* What Azure asks of a decoded footer beyond that: a fixed disk whose original and current
 * sizes are equal and a whole number of MiB. Returns 0 or -EMEDIUMTYPE with the reason. */
int vhd_footer_azure(const VhdFooter *f, const char **ret_error);
/* Both: a footer vmcompose writes, for Azure. Returns 0, or -EBADMSG with the reason. */
int vhd_footer_decode(const uint8_t in[VHD_FOOTER_SIZE], VhdFooter *ret, const char **ret_error);
uint32_t vhd_checksum(const uint8_t footer[VHD_FOOTER_SIZE]);

/* --- qcow2 (qemu docs/interop/qcow2.txt) --- */
#define QCOW2_CLUSTER_BITS 16
#define QCOW2_CLUSTER_SIZE (UINT64_C(1) << QCOW2_CLUSTER_BITS)

typedef struct Qcow2Layout {
        uint64_t size;           /* guest size */
        uint64_t guest_clusters; /* ceil(size / cluster) */
        uint64_t l1_entries;     /* ceil(guest_clusters / l2 entries) */
        uint64_t l1_clusters;
        uint64_t l2_tables;     /* allocated L2 tables */
        uint64_t data_clusters; /* allocated data clusters */
        uint64_t refcount_table_clusters;
        uint64_t refcount_blocks;
        uint64_t total_clusters; /* every host cluster, header to last data cluster */
        uint64_t l1_offset, refcount_table_offset, refcount_blocks_offset, l2_offset, data_offset;
        unsigned compression_type; /* QCOW2_COMPRESSION_*: zstd sets the incompatible bit */
} Qcow2Layout;

/* Computes the host layout: header, L1, refcount table, refcount blocks, L2 tables, data. */
void qcow2_layout_compute(uint64_t size, uint64_t l2_tables, uint64_t data_clusters,
                          Qcow2Layout *ret);
void qcow2_header_encode(const Qcow2Layout *l, uint8_t out[112]);

/* Compressed clusters (qcow2-codec.c). A compressor holds one thread's zstd or zlib state. */
typedef struct Qcow2Compressor Qcow2Compressor;
/* A compressor for type (ZLIB or ZSTD), or NULL (out of memory, or NONE). */
Qcow2Compressor *qcow2_compressor_new(OutputCompression type);
Qcow2Compressor *qcow2_compressor_free(Qcow2Compressor *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Qcow2Compressor *, qcow2_compressor_free);
/* The most bytes qcow2_cluster_compress() writes for a cluster of cluster_size bytes. */
size_t qcow2_compress_bound(size_t cluster_size);
/* Compresses one cluster of cluster_size bytes at in into out (out_cap bytes, at least
 * qcow2_compress_bound()); the same input gives the same bytes. Returns 0 with the length in
 * *ret_len, or -EIO. */
int qcow2_cluster_compress(Qcow2Compressor *c, const void *in, size_t cluster_size, void *out,
                           size_t out_cap, size_t *ret_len);
/* The L2 entry of a compressed cluster of len bytes at host offset off (64 KiB clusters):
 * bit 62, the offset, and the number of 512-byte sectors after the first one it touches. */
uint64_t qcow2_compressed_entry(uint64_t off, uint64_t len);

/* --- VHDX ([MS-VHDX]) --- */
#define VHDX_GUID_BAT "2DC27766-F623-4200-9D64-115E9BFD4A08"
#define VHDX_GUID_METADATA "8B7CA206-4790-4B9A-B8FE-575F050F886E"
#define VHDX_GUID_FILE_PARAMETERS "CAA16737-FA36-4D43-B3B6-33F0AA44E76B"
#define VHDX_GUID_DISK_SIZE "2FA54224-CD1B-4876-B211-5DBED83BF4B8"
#define VHDX_GUID_DISK_ID "BECA12AB-B2E6-4523-93EF-C309E000C746"
#define VHDX_GUID_LOGICAL_SECTOR "8141BF1D-A96F-4709-BA47-F233A8FAAB5F"
#define VHDX_GUID_PHYSICAL_SECTOR "CDA348C7-445D-4471-9CC9-E9885251C556"
/* Stores the GUID written as text in s in the byte order Windows uses (16 bytes at p). */
void vhdx_put_guid_str(uint8_t *p, const char *s);
/* BAT arithmetic for the writer's 1 MiB blocks and 512-byte sectors. */
uint64_t vhdx_chunk_ratio(void);
/* Payload blocks plus the interleaved sector bitmap entries. */
uint64_t vhdx_bat_entries(uint64_t size);
/* The BAT index of payload block n. */
uint64_t vhdx_bat_index(uint64_t block);

/* --- inspect (inspect.c, inspect-qcow2.c, inspect-vhdx.c): image readers over a read
 * callback, so that unit tests and the fuzzer hand them buffers and inspect a file --- */
typedef struct ImageSource {
        uint64_t size; /* the file's size in bytes */
        /* Reads len bytes at offset; offset + len <= size. Returns 0 or a negative errno. */
        int (*read)(void *userdata, void *buf, size_t len, uint64_t offset);
        void *userdata;
} ImageSource;

/* A source over size bytes at data (not copied: data must outlive the source). */
ImageSource image_source_memory(const void *data, size_t size);
/* Reads len bytes at offset, -ENODATA when they do not all lie inside the file. */
int image_read(const ImageSource *s, void *buf, size_t len, uint64_t offset);
/* Walks a table of count entries of entry_size bytes at offset, called for i = 0, 1, ... in
 * order: reads the next IMAGE_TABLE_CHUNK bytes into buf when entry i starts them, and points
 * *ret at entry i. Returns 0 or a negative errno. */
#define IMAGE_TABLE_CHUNK 65536
int image_table_entry(const ImageSource *s, uint64_t offset, uint64_t count, size_t entry_size,
                      uint64_t i, uint8_t buf[IMAGE_TABLE_CHUNK], const uint8_t **ret);
/* Appends "  error: ...\n" to out; returns -EBADMSG. */
int image_error(Buffer *out, const char *fmt, ...) _printf_(2, 3);
/* Whether [offset, offset + length) lies inside the file (no overflow). */
bool image_contains(const ImageSource *s, uint64_t offset, uint64_t length);

/* Each reader appends "  key: value" lines to out and checks that every structure the format
 * describes lies inside the file. Returns 0 when the image is valid, -EBADMSG after an
 * "  error: ..." line naming what is wrong, -EMEDIUMTYPE after one for a VHD that is sound but
 * not for Azure (see output_inspect()), or another negative errno when reading failed. */
int inspect_qcow2(const ImageSource *s, Buffer *out);
int inspect_vhdx(const ImageSource *s, Buffer *out);
int inspect_vhd(const ImageSource *s, Buffer *out);
/* Detects the format from the content and runs its reader. name (the file name, or NULL)
 * is checked too: a name ending in .vhd, .vhdx, .qcow2 or .raw.zst whose content is not of
 * that format is an error. *ret_format (optional): the format found, a static string. */
int inspect_source(const ImageSource *s, const char *name, Buffer *out, const char **ret_format);
