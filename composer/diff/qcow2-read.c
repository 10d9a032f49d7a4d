/* SPDX-License-Identifier: MIT */
/* A qcow2 reader for `vmcompose diff` (qemu docs/interop/qcow2.txt): copies the guest clusters
 * an image stores into a raw file, so the partition table and filesystems can be read from it.
 * Version 2 or 3, no backing file, no encryption, no external data file, no extended L2
 * entries, no snapshots needed; clusters compressed with zlib or zstd (qcow2_cluster_decompress(),
 * shared with the writer and inspect): anything else is -EOPNOTSUPP and the caller lets qemu-img
 * convert it. Every table and cluster offset is checked against the file, so a cut or damaged
 * image is refused (-EBADMSG) rather than read as zeros. */
#include <stdio.h>
#include <string.h>

#include "diff-internal.h"
#include "vmcompose/endian.h"
#include "vmcompose/output.h"
#include "vmcompose/sparse.h"

#define QCOW2_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define QCOW2_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_COPIED (UINT64_C(1) << 63)
#define QCOW2_ZERO UINT64_C(1) /* v3 L2 entry: the cluster reads as zeros */
#define QCOW2_INCOMPAT_DIRTY UINT64_C(1)
#define QCOW2_INCOMPAT_COMPRESSION (UINT64_C(1) << 3) /* the header's compression_type */
#define QCOW2_MAX_L1_BYTES (32u << 20)

#define bad(ret_error, ...) diff_error(ret_error, -EBADMSG, __VA_ARGS__)

/* Whether [offset, offset + size) is inside the file; qemu, too, lets the last cluster end
 * past the end of the file. */
static bool in_file(uint64_t offset, uint64_t size, uint64_t file_size, uint64_t cluster) {
        return offset < file_size && size <= file_size - offset + (cluster - 1);
}

static bool all_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The compressed cluster of L2 entry entry, for guest byte guest, unpacked into data (one
 * cluster; packed: two clusters of room). 0, -EOPNOTSUPP for an unknown compression type, or
 * -EBADMSG with the reason. */
static int read_compressed(int fd, uint64_t file_size, uint32_t bits, unsigned compression,
                           uint64_t entry, uint8_t *packed, uint8_t *data, uint64_t guest,
                           char **ret_error) {
        uint64_t cluster = UINT64_C(1) << bits;
        unsigned x = 62 - (bits - 8); /* the sector count's first bit */
        uint64_t host = entry & ((UINT64_C(1) << x) - 1);
        uint64_t sectors = ((entry & ~(QCOW2_COPIED | QCOW2_COMPRESSED)) >> x) + 1;
        uint64_t len = sectors * 512 - host % 512;
        int r;

        if (host >= file_size || len > 2 * cluster)
                return bad(ret_error,
                           "the compressed cluster for guest byte %llu is at %llu, outside the "
                           "file (truncated?)",
                           (unsigned long long)guest, (unsigned long long)host);
        /* The last sector may end past the end of the file, as qemu-img writes it. */
        uint64_t avail = MIN(len, file_size - host);
        memset(packed + avail, 0, len - avail);
        r = pread_all(fd, packed, avail, host);
        if (r < 0)
                return bad(ret_error, "the compressed cluster at %llu cannot be read: %s",
                           (unsigned long long)host, strerror(-r));
        r = qcow2_cluster_decompress(compression, packed, len, data, cluster);
        if (r == -EOPNOTSUPP)
                return r;
        if (r < 0)
                return bad(ret_error,
                           "the compressed cluster for guest byte %llu (at %llu) is corrupt",
                           (unsigned long long)guest, (unsigned long long)host);
        return 0;
}

int diff_qcow2_to_raw(int fd, uint64_t file_size, int out_fd, uint64_t *ret_size,
                      char **ret_error) {
        uint8_t h[112] = {};
        int r;

        if (file_size < 104 || pread_all(fd, h, (size_t)MIN(file_size, sizeof(h)), 0) < 0 ||
            memcmp(h, "QFI\xfb", 4) != 0)
                return bad(ret_error, "no qcow2 header");
        uint32_t version = be32(h + 4), bits = be32(h + 20), l1_entries = be32(h + 36);
        uint64_t size = be64(h + 24), l1_offset = be64(h + 40);
        uint64_t incompatible = version >= 3 ? be64(h + 72) : 0;
        if (version != 2 && version != 3)
                return -EOPNOTSUPP;
        if (be64(h + 8) != 0 || be32(h + 32) != 0)
                return -EOPNOTSUPP; /* a backing file; encryption */
        /* Anything but "dirty" (refcounts only) and a compression type. */
        if (incompatible & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_COMPRESSION))
                return -EOPNOTSUPP;
        unsigned compression = QCOW2_COMPRESSION_ZLIB;
        if (incompatible & QCOW2_INCOMPAT_COMPRESSION) {
                if (be32(h + 100) < 105 || file_size < 105)
                        return bad(ret_error, "a compression type outside the header");
                compression = h[104];
        }
        if (bits < 9 || bits > 21)
                return bad(ret_error, "cluster bits %u out of range", bits);
        uint64_t cluster = UINT64_C(1) << bits, l2_entries = cluster / 8;
        if (size > (UINT64_C(1) << 56))
                return bad(ret_error, "a virtual size of %llu bytes", (unsigned long long)size);
        uint64_t need = (size + cluster * l2_entries - 1) / (cluster * l2_entries);
        if (l1_entries < need)
                return bad(ret_error, "an L1 table of %u entries for %llu bytes", l1_entries,
                           (unsigned long long)size);
        if ((uint64_t)l1_entries * 8 > QCOW2_MAX_L1_BYTES)
                return bad(ret_error, "an L1 table of %u entries", l1_entries);
        if (l1_offset % cluster || !in_file(l1_offset, need * 8, file_size, cluster))
                return bad(ret_error, "the L1 table at %llu is outside the file (truncated?)",
                           (unsigned long long)l1_offset);
        if (ftruncate(out_fd, (off_t)size) < 0)
                return -errno;

        _cleanup_free_ uint8_t *l1 = xcalloc(need ? need : 1, 8);
        _cleanup_free_ uint8_t *l2 = xmalloc(cluster);
        _cleanup_free_ uint8_t *data = xmalloc(cluster);
        _cleanup_free_ uint8_t *packed = xmalloc(2 * cluster);
        r = pread_all(fd, l1, need * 8, l1_offset);
        if (r < 0)
                return bad(ret_error, "the L1 table cannot be read: %s", strerror(-r));
        /* A valid image maps each host cluster once: more copies than the file has clusters
         * would be clusters used twice, a way to make a small file fill the disk. */
        uint64_t budget = file_size / cluster + 1;
        /* A compressed cluster takes a few bytes at least (a zstd frame of one repeated byte,
         * 13): more than one per 8 bytes of the file would be data used twice, too. */
        uint64_t compressed_budget = file_size / 8 + 1;
        for (uint64_t i = 0; i < need; i++) {
                uint64_t l2_offset = be64(l1 + 8 * i) & QCOW2_OFFSET_MASK;
                if (l2_offset == 0)
                        continue;
                if (l2_offset % cluster || l2_offset + cluster > file_size)
                        return bad(ret_error,
                                   "L2 table %llu at %llu is outside the file (truncated?)",
                                   (unsigned long long)i, (unsigned long long)l2_offset);
                r = pread_all(fd, l2, cluster, l2_offset);
                if (r < 0)
                        return bad(ret_error, "L2 table %llu cannot be read: %s",
                                   (unsigned long long)i, strerror(-r));
                for (uint64_t j = 0; j < l2_entries; j++) {
                        uint64_t guest = (i * l2_entries + j) * cluster;
                        uint64_t entry = be64(l2 + 8 * j);
                        if (guest >= size)
                                break;
                        if (entry & QCOW2_COMPRESSED) {
                                if (compressed_budget-- == 0)
                                        return bad(ret_error, "more compressed clusters than the "
                                                              "file holds (data used twice)");
                                r = read_compressed(fd, file_size, bits, compression, entry, packed,
                                                    data, guest, ret_error);
                                if (r < 0)
                                        return r;
                                uint64_t n = MIN(cluster, size - guest);
                                if (!all_zero(data, n))
                                        r = pwrite_all(out_fd, data, n, guest);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        uint64_t host = entry & QCOW2_OFFSET_MASK;
                        if (host == 0 || (version >= 3 && (entry & QCOW2_ZERO)))
                                continue;
                        if (host % cluster || !in_file(host, cluster, file_size, cluster))
                                return bad(ret_error,
                                           "the cluster for guest byte %llu is at %llu, outside "
                                           "the file (truncated?)",
                                           (unsigned long long)guest, (unsigned long long)host);
                        if (budget-- == 0)
                                return bad(ret_error, "more data clusters than the file holds "
                                                      "(clusters used twice)");
                        uint64_t n = MIN(cluster, size - guest);
                        uint64_t avail = MIN(n, file_size - host);
                        memset(data + avail, 0, n - avail);
                        r = pread_all(fd, data, avail, host);
                        /* A cluster of zeros stays a hole, as qemu-img convert leaves it. */
                        if (r >= 0 && !all_zero(data, n))
                                r = pwrite_all(out_fd, data, n, guest);
                        if (r < 0)
                                return r;
                }
        }
        *ret_size = size;
        return 0;
}
