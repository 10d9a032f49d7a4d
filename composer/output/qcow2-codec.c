/* SPDX-License-Identifier: MIT */
/* qcow2's compressed clusters (qemu docs/interop/qcow2.txt, "Compressed Clusters Descriptor"
 * and the header's compression_type): each cluster is compressed on its own, as raw deflate
 * (type 0, zlib without header or checksum, a window of 4 KiB as qemu writes it) or as one zstd
 * frame (type 1). The data ends where the cluster is complete; the bytes after it in the last
 * sector belong to the next compressed cluster. */
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "output-internal.h"

/* qemu's window for raw deflate (block/qcow2-threads.c): readers inflate with any window up to
 * 32 KiB, so ours reads images from both. */
#define DEFLATE_WINDOW_BITS 12
/* The levels qemu-img -c uses (and raw.zst's): on the minimal image's clusters zstd 19 makes
 * them 12% smaller than level 3 at a fortieth of the speed (3 minutes of a build). */
#define ZLIB_LEVEL 6
#define ZSTD_LEVEL 3

static const char *const compression_names[_OUTPUT_COMPRESSION_MAX] = {
        [OUTPUT_COMPRESSION_NONE] = "none",
        [OUTPUT_COMPRESSION_ZLIB] = "zlib",
        [OUTPUT_COMPRESSION_ZSTD] = "zstd",
};

const char *output_compression_to_string(OutputCompression c) {
        return c >= 0 && c < _OUTPUT_COMPRESSION_MAX ? compression_names[c] : NULL;
}

OutputCompression output_compression_from_string(const char *s) {
        for (int c = 0; s && c < _OUTPUT_COMPRESSION_MAX; c++)
                if (streq(compression_names[c], s))
                        return (OutputCompression)c;
        return _OUTPUT_COMPRESSION_INVALID;
}

struct Qcow2Compressor {
        OutputCompression type;
        ZSTD_CCtx *zstd;
        z_stream zlib;
        bool zlib_ready;
};

Qcow2Compressor *qcow2_compressor_new(OutputCompression type) {
        Qcow2Compressor *c = xcalloc(1, sizeof(*c));

        c->type = type;
        if (type == OUTPUT_COMPRESSION_ZSTD) {
                c->zstd = ZSTD_createCCtx();
                if (!c->zstd)
                        return qcow2_compressor_free(c);
                ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel, ZSTD_LEVEL);
                /* The frame says how long the cluster is: a reader checks it. */
                ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_contentSizeFlag, 1);
        } else if (type == OUTPUT_COMPRESSION_ZLIB) {
                if (deflateInit2(&c->zlib, ZLIB_LEVEL, Z_DEFLATED, -DEFLATE_WINDOW_BITS, 9,
                                 Z_DEFAULT_STRATEGY) != Z_OK)
                        return qcow2_compressor_free(c);
                c->zlib_ready = true;
        } else
                return qcow2_compressor_free(c);
        return c;
}

Qcow2Compressor *qcow2_compressor_free(Qcow2Compressor *c) {
        if (!c)
                return NULL;
        ZSTD_freeCCtx(c->zstd);
        if (c->zlib_ready)
                deflateEnd(&c->zlib);
        free(c);
        return NULL;
}

size_t qcow2_compress_bound(size_t cluster_size) {
        return MAX(ZSTD_compressBound(cluster_size), (size_t)compressBound((uLong)cluster_size));
}

int qcow2_cluster_compress(Qcow2Compressor *c, const void *in, size_t cluster_size, void *out,
                           size_t out_cap, size_t *ret_len) {
        if (c->type == OUTPUT_COMPRESSION_ZSTD) {
                size_t n = ZSTD_compress2(c->zstd, out, out_cap, in, cluster_size);
                if (ZSTD_isError(n))
                        return -EIO;
                *ret_len = n;
                return 0;
        }
        if (deflateReset(&c->zlib) != Z_OK)
                return -EIO;
        c->zlib.next_in = (Bytef *)in;
        c->zlib.avail_in = (uInt)cluster_size;
        c->zlib.next_out = out;
        c->zlib.avail_out = (uInt)out_cap;
        if (deflate(&c->zlib, Z_FINISH) != Z_STREAM_END)
                return -EIO;
        *ret_len = out_cap - c->zlib.avail_out;
        return 0;
}

static int inflate_cluster(const void *in, size_t in_len, void *out, size_t cluster_size) {
        z_stream z = {.next_in = (Bytef *)in,
                      .avail_in = (uInt)in_len,
                      .next_out = out,
                      .avail_out = (uInt)cluster_size};
        if (inflateInit2(&z, -15) != Z_OK)
                return -ENOMEM;
        int r = inflate(&z, Z_FINISH);
        bool full = z.avail_out == 0;
        inflateEnd(&z);
        /* Z_BUF_ERROR with a full output: the stream goes on past the cluster, as qemu
         * allows; anything else short of a full cluster is corrupt. */
        return (r == Z_STREAM_END || r == Z_BUF_ERROR) && full ? 0 : -EBADMSG;
}

static int zstd_cluster(const void *in, size_t in_len, void *out, size_t cluster_size) {
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer ib = {.src = in, .size = in_len};
        ZSTD_outBuffer ob = {.dst = out, .size = cluster_size};
        size_t z = 1;

        if (!d)
                return -ENOMEM;
        /* One frame, read until the cluster is full; the sector's tail is not ours. */
        while (ob.pos < ob.size) {
                size_t in_before = ib.pos, out_before = ob.pos;
                z = ZSTD_decompressStream(d, &ob, &ib);
                if (ZSTD_isError(z) || (ib.pos == in_before && ob.pos == out_before))
                        break;
        }
        ZSTD_freeDCtx(d);
        return ob.pos == ob.size && !ZSTD_isError(z) && z == 0 ? 0 : -EBADMSG;
}

int qcow2_cluster_decompress(unsigned type, const void *in, size_t in_len, void *out,
                             size_t cluster_size) {
        switch (type) {
        case QCOW2_COMPRESSION_ZLIB:
                return inflate_cluster(in, in_len, out, cluster_size);
        case QCOW2_COMPRESSION_ZSTD:
                return zstd_cluster(in, in_len, out, cluster_size);
        default:
                return -EOPNOTSUPP;
        }
}
