/* SPDX-License-Identifier: MIT */
/* raw.zst: the raw image compressed with libzstd, streaming and multi-threaded. Holes are fed
 * as zeros from one shared zero buffer, without reading them. zstd's output does not depend on
 * the number of worker threads (its multi-threaded format is deterministic for a given level
 * and job size), so builds stay reproducible on any machine. */
#include <unistd.h>
#include <zstd.h>

#include "output-internal.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

#define CHUNK (UINT64_C(1) << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_CCtx *, ZSTD_freeCCtx);

static int write_out(int fd, const ZSTD_outBuffer *out, uint64_t *pos) {
        int r = pwrite_all(fd, out->dst, out->pos, *pos);
        *pos += out->pos;
        return r;
}

/* Compresses size bytes from in (or zeros when in is NULL). */
static int feed(ZSTD_CCtx *c, const uint8_t *in, size_t size, uint8_t *obuf, size_t ocap,
                int out_fd, uint64_t *opos) {
        ZSTD_inBuffer ib = {.src = in, .size = size};
        while (ib.pos < ib.size) {
                ZSTD_outBuffer ob = {.dst = obuf, .size = ocap};
                size_t z = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue);
                if (ZSTD_isError(z))
                        return -EIO;
                int r = write_out(out_fd, &ob, opos);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int zst_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        _cleanup_(ZSTD_freeCCtxp) ZSTD_CCtx *c = ZSTD_createCCtx();
        size_t ocap = ZSTD_CStreamOutSize();
        _cleanup_free_ uint8_t *obuf = xmalloc(ocap);
        _cleanup_free_ uint8_t *ibuf = xmalloc(CHUNK);
        _cleanup_free_ uint8_t *zeros = xcalloc(1, CHUNK);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t pos = 0, opos = 0, s, e;
        int r;

        if (!c)
                return -ENOMEM;
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setPledgedSrcSize(c, size);
        ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers,
                               (int)(o->threads ? o->threads : (unsigned)MAX(cpus, 1L)));

        while (pos < size) {
                r = sparse_next_data(raw_fd, pos, size, &s, &e);
                if (r < 0)
                        return r;
                if (r == 0)
                        s = e = size;
                /* The hole before the data: zeros, straight from memory. */
                for (; pos < s; pos += MIN(CHUNK, s - pos)) {
                        r = feed(c, zeros, (size_t)MIN(CHUNK, s - pos), obuf, ocap, out_fd, &opos);
                        if (r < 0)
                                return r;
                }
                for (; pos < e; pos += MIN(CHUNK, e - pos)) {
                        size_t n = (size_t)MIN(CHUNK, e - pos);
                        r = pread_all(raw_fd, ibuf, n, pos);
                        if (r == 0)
                                r = feed(c, ibuf, n, obuf, ocap, out_fd, &opos);
                        if (r == 0 && signals_interrupted())
                                r = -EINTR;
                        if (r < 0)
                                return r;
                }
        }
        for (;;) {
                ZSTD_inBuffer ib = {.src = NULL, .size = 0};
                ZSTD_outBuffer ob = {.dst = obuf, .size = ocap};
                size_t left = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
                if (ZSTD_isError(left))
                        return -EIO;
                r = write_out(out_fd, &ob, &opos);
                if (r < 0)
                        return r;
                if (left == 0)
                        break;
        }
        return ftruncate(out_fd, (off_t)opos) < 0 ? -errno : 0;
}

const OutputFormat output_raw_zst = {
        .name = "raw.zst",
        .suffix = "raw.zst",
        .write_image = zst_write,
};
