/* SPDX-License-Identifier: MIT */
/* qcow2 version 3, 64 KiB clusters, 16-bit refcounts (qemu docs/interop/qcow2.txt). Host
 * layout, in order: header, L1 table, refcount table, refcount blocks, L2 tables, data. Guest
 * clusters that are holes or all zeros are not stored: they read as zeros. */
#include <string.h>

#include "output-internal.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

#define L2_ENTRIES (QCOW2_CLUSTER_SIZE / 8)
#define REFCOUNTS_PER_BLOCK (QCOW2_CLUSTER_SIZE / 2) /* refcount_order 4: 16 bits each */
#define QCOW_OFLAG_COPIED (UINT64_C(1) << 63)

static uint64_t div_up(uint64_t a, uint64_t b) {
        return a / b + (a % b != 0);
}

void qcow2_layout_compute(uint64_t size, uint64_t l2_tables, uint64_t data_clusters,
                          Qcow2Layout *ret) {
        Qcow2Layout l = {.size = size, .l2_tables = l2_tables, .data_clusters = data_clusters};

        l.guest_clusters = div_up(size, QCOW2_CLUSTER_SIZE);
        l.l1_entries = div_up(l.guest_clusters, L2_ENTRIES);
        l.l1_clusters = div_up(MAX(l.l1_entries, (uint64_t)1) * 8, QCOW2_CLUSTER_SIZE);
        /* The refcount structures count themselves: iterate to the fixed point. */
        uint64_t blocks = 1, table = 1;
        for (;;) {
                uint64_t total = 1 + l.l1_clusters + table + blocks + l2_tables + data_clusters;
                uint64_t nb = div_up(total, REFCOUNTS_PER_BLOCK);
                uint64_t nt = div_up(nb * 8, QCOW2_CLUSTER_SIZE);
                if (nb == blocks && nt == table) {
                        l.total_clusters = total;
                        break;
                }
                blocks = nb;
                table = nt;
        }
        l.refcount_blocks = blocks;
        l.refcount_table_clusters = table;
        l.l1_offset = QCOW2_CLUSTER_SIZE;
        l.refcount_table_offset = l.l1_offset + l.l1_clusters * QCOW2_CLUSTER_SIZE;
        l.refcount_blocks_offset = l.refcount_table_offset + table * QCOW2_CLUSTER_SIZE;
        l.l2_offset = l.refcount_blocks_offset + blocks * QCOW2_CLUSTER_SIZE;
        l.data_offset = l.l2_offset + l2_tables * QCOW2_CLUSTER_SIZE;
        *ret = l;
}

void qcow2_header_encode(const Qcow2Layout *l, uint8_t out[112]) {
        memset(out, 0, 112);
        memcpy(out, "QFI\xfb", 4);
        put_be32(out + 4, 3);                   /* version */
        put_be32(out + 20, QCOW2_CLUSTER_BITS); /* cluster_bits */
        put_be64(out + 24, l->size);
        put_be32(out + 32, 0); /* crypt_method */
        put_be32(out + 36, (uint32_t)l->l1_entries);
        put_be64(out + 40, l->l1_offset);
        put_be64(out + 48, l->refcount_table_offset);
        put_be32(out + 56, (uint32_t)l->refcount_table_clusters);
        put_be32(out + 60, 0);    /* nb_snapshots */
        put_be64(out + 64, 0);    /* snapshots_offset */
        put_be64(out + 72, 0);    /* incompatible features */
        put_be64(out + 80, 0);    /* compatible features */
        put_be64(out + 88, 0);    /* autoclear features */
        put_be32(out + 96, 4);    /* refcount_order: 16-bit refcounts */
        put_be32(out + 100, 112); /* header_length */
}

/* The allocated guest clusters, as runs. */
typedef struct Runs {
        uint64_t (*runs)[2];
        size_t n;
        uint64_t clusters;
} Runs;

static int add_run(uint64_t first, uint64_t count, void *userdata) {
        Runs *r = userdata;
        r->runs = xrealloc(r->runs, (r->n + 1) * sizeof(*r->runs));
        r->runs[r->n][0] = first;
        r->runs[r->n][1] = count;
        r->n++;
        r->clusters += count;
        return 0;
}

static int qcow2_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        Runs runs = {};
        int r;

        (void)o;
        r = output_scan_clusters(raw_fd, size, QCOW2_CLUSTER_SIZE, add_run, &runs);
        if (r < 0) {
                free(runs.runs);
                return r;
        }

        /* Which L2 tables are needed, and where each lands. */
        uint64_t l1_entries = div_up(div_up(size, QCOW2_CLUSTER_SIZE), L2_ENTRIES);
        _cleanup_free_ uint64_t *l2_index = xcalloc(MAX(l1_entries, (uint64_t)1), sizeof(uint64_t));
        uint64_t l2_tables = 0;
        for (size_t i = 0; i < runs.n; i++)
                for (uint64_t t = runs.runs[i][0] / L2_ENTRIES;
                     t <= (runs.runs[i][0] + runs.runs[i][1] - 1) / L2_ENTRIES; t++)
                        if (!l2_index[t])
                                l2_index[t] = ++l2_tables; /* 1-based: 0 means none */

        Qcow2Layout l;
        qcow2_layout_compute(size, l2_tables, runs.clusters, &l);
        if (ftruncate(out_fd, (off_t)(l.total_clusters * QCOW2_CLUSTER_SIZE)) < 0) {
                free(runs.runs);
                return -errno;
        }

        uint8_t header[112];
        qcow2_header_encode(&l, header);
        _cleanup_free_ uint8_t *l1 = xcalloc(l.l1_clusters, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *l2 = xcalloc(MAX(l2_tables, (uint64_t)1), QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *rt = xcalloc(l.refcount_table_clusters, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *rb = xcalloc(l.refcount_blocks, QCOW2_CLUSTER_SIZE);

        for (uint64_t t = 0; t < l1_entries; t++)
                if (l2_index[t])
                        put_be64(l1 + t * 8,
                                 (l.l2_offset + (l2_index[t] - 1) * QCOW2_CLUSTER_SIZE) |
                                         QCOW_OFLAG_COPIED);
        /* Data clusters are stored in guest order, one run after the other. */
        uint64_t host = l.data_offset;
        for (size_t i = 0; i < runs.n && r == 0; i++) {
                uint64_t first = runs.runs[i][0], count = runs.runs[i][1];
                for (uint64_t c = first; c < first + count; c++) {
                        uint64_t t = c / L2_ENTRIES;
                        uint8_t *entry =
                                l2 + (l2_index[t] - 1) * QCOW2_CLUSTER_SIZE + (c % L2_ENTRIES) * 8;
                        put_be64(entry,
                                 (host + (c - first) * QCOW2_CLUSTER_SIZE) | QCOW_OFLAG_COPIED);
                }
                uint64_t off = first * QCOW2_CLUSTER_SIZE;
                uint64_t len = MIN(count * QCOW2_CLUSTER_SIZE, size - off);
                r = sparse_copy(raw_fd, off, len, out_fd, host);
                host += count * QCOW2_CLUSTER_SIZE;
                if (signals_interrupted())
                        r = -EINTR;
        }
        free(runs.runs);
        if (r < 0)
                return r;

        /* Every cluster from the header to the last data cluster is used once. */
        for (uint64_t b = 0; b < l.refcount_blocks; b++)
                put_be64(rt + b * 8, l.refcount_blocks_offset + b * QCOW2_CLUSTER_SIZE);
        for (uint64_t c = 0; c < l.total_clusters; c++)
                put_be16(rb + c * 2, 1);

        r = pwrite_all(out_fd, header, sizeof(header), 0);
        if (r == 0)
                r = pwrite_all(out_fd, l1, l.l1_clusters * QCOW2_CLUSTER_SIZE, l.l1_offset);
        if (r == 0)
                r = pwrite_all(out_fd, rt, l.refcount_table_clusters * QCOW2_CLUSTER_SIZE,
                               l.refcount_table_offset);
        if (r == 0)
                r = pwrite_all(out_fd, rb, l.refcount_blocks * QCOW2_CLUSTER_SIZE,
                               l.refcount_blocks_offset);
        if (r == 0 && l2_tables > 0)
                r = pwrite_all(out_fd, l2, l2_tables * QCOW2_CLUSTER_SIZE, l.l2_offset);
        return r;
}

const OutputFormat output_qcow2 = {
        .name = "qcow2",
        .suffix = "qcow2",
        .write_image = qcow2_write,
};
