/* SPDX-License-Identifier: MIT */
/* qcow2 version 3, 64 KiB clusters, 16-bit refcounts (qemu docs/interop/qcow2.txt). Host
 * layout, in order: header, L1 table, refcount table, refcount blocks, L2 tables, data. Guest
 * clusters that are holes or all zeros are not stored: they read as zeros.
 *
 * With compression, every stored cluster is compressed on its own (qcow2-codec.c) and packed
 * byte after byte, as qemu packs them: header, L1 table, L2 tables, compressed data, then the
 * refcount table and blocks (their size depends on where the data ends). A host cluster's
 * refcount is the number of compressed clusters with bytes in it. Threads compress a round of
 * clusters at once; the round is written in guest order, so the bytes do not depend on them. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "output-internal.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

#define L2_ENTRIES (QCOW2_CLUSTER_SIZE / 8)
#define REFCOUNTS_PER_BLOCK (QCOW2_CLUSTER_SIZE / 2) /* refcount_order 4: 16 bits each */
#define QCOW_OFLAG_COPIED (UINT64_C(1) << 63)
#define QCOW_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define CSIZE_SHIFT (62 - (QCOW2_CLUSTER_BITS - 8)) /* the sector count's first bit */
#define SECTOR 512
#define ROUND_PER_THREAD 16 /* clusters each thread compresses per round */

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
        put_be32(out + 60, 0); /* nb_snapshots */
        put_be64(out + 64, 0); /* snapshots_offset */
        /* incompatible features: bit 3, compression type */
        put_be64(out + 72, l->compression_type != QCOW2_COMPRESSION_ZLIB ? UINT64_C(1) << 3 : 0);
        put_be64(out + 80, 0);    /* compatible features */
        put_be64(out + 88, 0);    /* autoclear features */
        put_be32(out + 96, 4);    /* refcount_order: 16-bit refcounts */
        put_be32(out + 100, 112); /* header_length */
        out[104] = (uint8_t)l->compression_type;
}

uint64_t qcow2_compressed_entry(uint64_t off, uint64_t len) {
        uint64_t sectors = (off + len - 1) / SECTOR - off / SECTOR;
        return QCOW_OFLAG_COMPRESSED | (sectors << CSIZE_SHIFT) | off;
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

/* Where the guest's data lies and which L2 tables it needs. */
typedef struct Qcow2Plan {
        Runs runs;
        uint64_t l1_entries;
        uint64_t *l2_index; /* per L1 entry: its L2 table's number from 1, or 0 for none */
        uint64_t l2_tables;
} Qcow2Plan;

static void plan_done(Qcow2Plan *p) {
        free(p->runs.runs);
        free(p->l2_index);
}

static int plan_compute(int raw_fd, uint64_t size, Qcow2Plan *ret) {
        Qcow2Plan p = {};
        int r = output_scan_clusters(raw_fd, size, QCOW2_CLUSTER_SIZE, add_run, &p.runs);
        if (r < 0) {
                plan_done(&p);
                return r;
        }
        p.l1_entries = div_up(div_up(size, QCOW2_CLUSTER_SIZE), L2_ENTRIES);
        p.l2_index = xcalloc(MAX(p.l1_entries, (uint64_t)1), sizeof(uint64_t));
        for (size_t i = 0; i < p.runs.n; i++)
                for (uint64_t t = p.runs.runs[i][0] / L2_ENTRIES;
                     t <= (p.runs.runs[i][0] + p.runs.runs[i][1] - 1) / L2_ENTRIES; t++)
                        if (!p.l2_index[t])
                                p.l2_index[t] = ++p.l2_tables; /* 1-based: 0 means none */
        *ret = p;
        return 0;
}

/* The L2 entry of guest cluster c, in the L2 tables at l2. */
static uint8_t *l2_entry(const Qcow2Plan *p, uint8_t *l2, uint64_t c) {
        return l2 + (p->l2_index[c / L2_ENTRIES] - 1) * QCOW2_CLUSTER_SIZE + (c % L2_ENTRIES) * 8;
}

static void l1_fill(const Qcow2Plan *p, uint64_t l2_offset, uint8_t *l1) {
        for (uint64_t t = 0; t < p->l1_entries; t++)
                if (p->l2_index[t])
                        put_be64(l1 + t * 8,
                                 (l2_offset + (p->l2_index[t] - 1) * QCOW2_CLUSTER_SIZE) |
                                         QCOW_OFLAG_COPIED);
}

static int qcow2_write_plain(int raw_fd, uint64_t size, int out_fd) {
        _cleanup_(plan_done) Qcow2Plan p = {};
        int r = plan_compute(raw_fd, size, &p);
        if (r < 0)
                return r;

        Qcow2Layout l;
        qcow2_layout_compute(size, p.l2_tables, p.runs.clusters, &l);
        if (ftruncate(out_fd, (off_t)(l.total_clusters * QCOW2_CLUSTER_SIZE)) < 0)
                return -errno;

        uint8_t header[112];
        qcow2_header_encode(&l, header);
        _cleanup_free_ uint8_t *l1 = xcalloc(l.l1_clusters, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *l2 = xcalloc(MAX(p.l2_tables, (uint64_t)1), QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *rt = xcalloc(l.refcount_table_clusters, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *rb = xcalloc(l.refcount_blocks, QCOW2_CLUSTER_SIZE);

        l1_fill(&p, l.l2_offset, l1);
        /* Data clusters are stored in guest order, one run after the other. */
        uint64_t host = l.data_offset;
        for (size_t i = 0; i < p.runs.n && r == 0; i++) {
                uint64_t first = p.runs.runs[i][0], count = p.runs.runs[i][1];
                for (uint64_t c = first; c < first + count; c++)
                        put_be64(l2_entry(&p, l2, c),
                                 (host + (c - first) * QCOW2_CLUSTER_SIZE) | QCOW_OFLAG_COPIED);
                uint64_t off = first * QCOW2_CLUSTER_SIZE;
                uint64_t len = MIN(count * QCOW2_CLUSTER_SIZE, size - off);
                r = sparse_copy(raw_fd, off, len, out_fd, host);
                host += count * QCOW2_CLUSTER_SIZE;
                if (signals_interrupted())
                        r = -EINTR;
        }
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
        if (r == 0 && p.l2_tables > 0)
                r = pwrite_all(out_fd, l2, p.l2_tables * QCOW2_CLUSTER_SIZE, l.l2_offset);
        return r;
}

/* One round of the compressed writer: n clusters read into in, compressed by the threads. */
typedef struct Round {
        size_t n;
        uint8_t *in;  /* n clusters */
        uint8_t *out; /* n slots of bound bytes */
        size_t *len;  /* the compressed length of each */
        size_t bound; /* qcow2_compress_bound() */
        size_t next;  /* the next cluster to take */
        int result;   /* the first error */
        pthread_mutex_t lock;
} Round;

typedef struct Worker {
        Round *round;
        Qcow2Compressor *c;
} Worker;

static void *compress_worker(void *userdata) {
        Worker *w = userdata;
        Round *rd = w->round;

        for (;;) {
                pthread_mutex_lock(&rd->lock);
                size_t i = rd->next < rd->n && rd->result == 0 ? rd->next++ : SIZE_MAX;
                pthread_mutex_unlock(&rd->lock);
                if (i == SIZE_MAX)
                        return NULL;
                int r = qcow2_cluster_compress(w->c, rd->in + i * QCOW2_CLUSTER_SIZE,
                                               QCOW2_CLUSTER_SIZE, rd->out + i * rd->bound,
                                               rd->bound, &rd->len[i]);
                if (r < 0) {
                        pthread_mutex_lock(&rd->lock);
                        if (rd->result == 0)
                                rd->result = r;
                        pthread_mutex_unlock(&rd->lock);
                }
        }
}

/* Compresses the round with n_workers threads (this one included). */
static int round_compress(Round *rd, Worker *workers, size_t n_workers) {
        pthread_t *threads = xcalloc(n_workers, sizeof(pthread_t));
        size_t started = 0;

        rd->next = 0;
        rd->result = 0;
        for (; started + 1 < n_workers; started++)
                if (pthread_create(&threads[started], NULL, compress_worker,
                                   &workers[started + 1]) != 0)
                        break;
        compress_worker(&workers[0]);
        for (size_t t = 0; t < started; t++)
                pthread_join(threads[t], NULL);
        free(threads);
        return rd->result;
}

/* Host cluster refcounts of the compressed writer, grown as data is placed. */
typedef struct Refcounts {
        uint16_t *v;
        uint64_t n;
} Refcounts;

static void refcount_add(Refcounts *rc, uint64_t first, uint64_t last) {
        if (last >= rc->n) {
                uint64_t n = MAX(last + 1, rc->n * 2);
                rc->v = xrealloc(rc->v, n * sizeof(uint16_t));
                memset(rc->v + rc->n, 0, (n - rc->n) * sizeof(uint16_t));
                rc->n = n;
        }
        /* At most cluster / 9 bytes (the smallest zstd frame) per cluster: no overflow. */
        for (uint64_t c = first; c <= last; c++)
                rc->v[c]++;
}

static int qcow2_write_compressed(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        _cleanup_(plan_done) Qcow2Plan p = {};
        int r = plan_compute(raw_fd, size, &p);
        if (r < 0)
                return r;

        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t n_workers = o->threads ? o->threads : (size_t)MAX(cpus, 1L);
        _cleanup_free_ Worker *workers = xcalloc(n_workers, sizeof(Worker));
        size_t per_round = n_workers * ROUND_PER_THREAD;
        Round rd = {.bound = qcow2_compress_bound(QCOW2_CLUSTER_SIZE)};
        _cleanup_free_ uint8_t *in = rd.in = xmalloc(per_round * QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *out = rd.out = xmalloc(per_round * rd.bound);
        _cleanup_free_ uint8_t *stage = xmalloc(per_round * rd.bound);
        _cleanup_free_ size_t *len = rd.len = xcalloc(per_round, sizeof(size_t));
        _cleanup_free_ uint64_t *guest = xcalloc(per_round, sizeof(uint64_t));
        pthread_mutex_init(&rd.lock, NULL);
        for (size_t t = 0; t < n_workers; t++) {
                workers[t] = (Worker){.round = &rd, .c = qcow2_compressor_new(o->compression)};
                if (!workers[t].c)
                        r = -ENOMEM;
        }

        Qcow2Layout l = {.size = size,
                         .l1_entries = p.l1_entries,
                         .l1_clusters =
                                 div_up(MAX(p.l1_entries, (uint64_t)1) * 8, QCOW2_CLUSTER_SIZE),
                         .l2_tables = p.l2_tables,
                         .compression_type = o->compression == OUTPUT_COMPRESSION_ZSTD
                                                     ? QCOW2_COMPRESSION_ZSTD
                                                     : QCOW2_COMPRESSION_ZLIB};
        l.l1_offset = QCOW2_CLUSTER_SIZE;
        l.l2_offset = l.l1_offset + l.l1_clusters * QCOW2_CLUSTER_SIZE;
        l.data_offset = l.l2_offset + l.l2_tables * QCOW2_CLUSTER_SIZE;
        _cleanup_free_ uint8_t *l1 = xcalloc(l.l1_clusters, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *l2 = xcalloc(MAX(p.l2_tables, (uint64_t)1), QCOW2_CLUSTER_SIZE);
        Refcounts rc = {};
        refcount_add(&rc, 0, l.data_offset / QCOW2_CLUSTER_SIZE - 1); /* the metadata */
        l1_fill(&p, l.l2_offset, l1);

        /* Rounds of clusters, in guest order; each round is placed right after the last. */
        uint64_t host = l.data_offset;
        size_t run = 0;
        uint64_t next = p.runs.n ? p.runs.runs[0][0] : 0;
        while (r == 0 && run < p.runs.n) {
                rd.n = 0;
                for (; rd.n < per_round && run < p.runs.n && r == 0; rd.n++) {
                        uint64_t off = next * QCOW2_CLUSTER_SIZE;
                        size_t n = (size_t)MIN(QCOW2_CLUSTER_SIZE, size - off);
                        uint8_t *b = rd.in + rd.n * QCOW2_CLUSTER_SIZE;
                        memset(b + n, 0, QCOW2_CLUSTER_SIZE - n); /* a short last cluster */
                        r = pread_all(raw_fd, b, n, off);
                        guest[rd.n] = next++;
                        if (next == p.runs.runs[run][0] + p.runs.runs[run][1] && ++run < p.runs.n)
                                next = p.runs.runs[run][0];
                }
                if (r == 0)
                        r = round_compress(&rd, workers, n_workers);
                size_t staged = 0;
                for (size_t i = 0; i < rd.n && r == 0; i++) {
                        put_be64(l2_entry(&p, l2, guest[i]),
                                 qcow2_compressed_entry(host + staged, rd.len[i]));
                        refcount_add(&rc, (host + staged) / QCOW2_CLUSTER_SIZE,
                                     (host + staged + rd.len[i] - 1) / QCOW2_CLUSTER_SIZE);
                        memcpy(stage + staged, rd.out + i * rd.bound, rd.len[i]);
                        staged += rd.len[i];
                }
                if (r == 0)
                        r = pwrite_all(out_fd, stage, staged, host);
                host += staged;
                if (r == 0 && signals_interrupted())
                        r = -EINTR;
        }
        for (size_t t = 0; t < n_workers; t++)
                qcow2_compressor_free(workers[t].c);
        pthread_mutex_destroy(&rd.lock);
        if (r < 0) {
                free(rc.v);
                return r;
        }

        /* The refcount table and blocks after the data; they count themselves. */
        uint64_t data_end = div_up(host, QCOW2_CLUSTER_SIZE), blocks = 1, table = 1;
        for (;;) {
                uint64_t total = data_end + table + blocks;
                uint64_t nb = div_up(total, REFCOUNTS_PER_BLOCK);
                uint64_t nt = div_up(nb * 8, QCOW2_CLUSTER_SIZE);
                if (nb == blocks && nt == table)
                        break;
                blocks = nb;
                table = nt;
        }
        l.refcount_table_clusters = table;
        l.refcount_blocks = blocks;
        l.refcount_table_offset = data_end * QCOW2_CLUSTER_SIZE;
        l.refcount_blocks_offset = l.refcount_table_offset + table * QCOW2_CLUSTER_SIZE;
        l.total_clusters = data_end + table + blocks;
        refcount_add(&rc, data_end, l.total_clusters - 1);
        _cleanup_free_ uint8_t *rt = xcalloc(table, QCOW2_CLUSTER_SIZE);
        _cleanup_free_ uint8_t *rb = xcalloc(blocks, QCOW2_CLUSTER_SIZE);
        for (uint64_t b = 0; b < blocks; b++)
                put_be64(rt + b * 8, l.refcount_blocks_offset + b * QCOW2_CLUSTER_SIZE);
        for (uint64_t c = 0; c < l.total_clusters; c++)
                put_be16(rb + c * 2, rc.v[c]);
        free(rc.v);

        uint8_t header[112];
        qcow2_header_encode(&l, header);
        r = pwrite_all(out_fd, header, sizeof(header), 0);
        if (r == 0)
                r = pwrite_all(out_fd, l1, l.l1_clusters * QCOW2_CLUSTER_SIZE, l.l1_offset);
        if (r == 0 && p.l2_tables > 0)
                r = pwrite_all(out_fd, l2, p.l2_tables * QCOW2_CLUSTER_SIZE, l.l2_offset);
        if (r == 0)
                r = pwrite_all(out_fd, rt, table * QCOW2_CLUSTER_SIZE, l.refcount_table_offset);
        if (r == 0)
                r = pwrite_all(out_fd, rb, blocks * QCOW2_CLUSTER_SIZE, l.refcount_blocks_offset);
        return r;
}

static int qcow2_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        if (o->compression == OUTPUT_COMPRESSION_NONE)
                return qcow2_write_plain(raw_fd, size, out_fd);
        return qcow2_write_compressed(raw_fd, size, out_fd, o);
}

const OutputFormat output_qcow2 = {
        .name = "qcow2",
        .suffix = "qcow2",
        .write_image = qcow2_write,
        .compression = true,
};
