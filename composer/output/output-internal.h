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
        uint32_t disk_type;
        uint32_t checksum;
        uint8_t uuid[16];
} VhdFooter;

void vhd_footer_encode(const VhdFooter *f, uint8_t out[VHD_FOOTER_SIZE]);
/* Decodes and validates a footer: cookie, version, checksum, fixed type, sizes equal and a
 * whole number of MiB. Returns 0, or -EBADMSG with the reason in *ret_error (static). */
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
} Qcow2Layout;

/* Computes the host layout: header, L1, refcount table, refcount blocks, L2 tables, data. */
void qcow2_layout_compute(uint64_t size, uint64_t l2_tables, uint64_t data_clusters,
                          Qcow2Layout *ret);
void qcow2_header_encode(const Qcow2Layout *l, uint8_t out[112]);

/* --- VHDX ([MS-VHDX]) BAT arithmetic --- */
uint64_t vhdx_chunk_ratio(void);
/* Payload blocks plus the interleaved sector bitmap entries. */
uint64_t vhdx_bat_entries(uint64_t size);
/* The BAT index of payload block n. */
uint64_t vhdx_bat_index(uint64_t block);
