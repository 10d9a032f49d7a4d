/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vmcompose/macro.h"
#include "vmcompose/sparse.h"

int pwrite_all(int fd, const void *buf, size_t size, uint64_t offset) {
        const char *p = buf;
        while (size > 0) {
                ssize_t n = pwrite(fd, p, size, (off_t)offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t)n;
                offset += (uint64_t)n;
        }
        return 0;
}

int pread_all(int fd, void *buf, size_t size, uint64_t offset) {
        char *p = buf;
        while (size > 0) {
                ssize_t n = pread(fd, p, size, (off_t)offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t)n;
                offset += (uint64_t)n;
        }
        return 0;
}

int sparse_next_data(int fd, uint64_t offset, uint64_t end, uint64_t *ret_start,
                     uint64_t *ret_end) {
        if (offset >= end)
                return 0;
        off_t d = lseek(fd, (off_t)offset, SEEK_DATA);
        if (d < 0) {
                if (errno == ENXIO)
                        return 0; /* only a hole up to the end of the file */
                if (errno != EINVAL && errno != EOPNOTSUPP)
                        return -errno;
                *ret_start = offset; /* no SEEK_DATA here: everything is data */
                *ret_end = end;
                return 1;
        }
        if ((uint64_t)d >= end)
                return 0;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
                return -errno;
        *ret_start = (uint64_t)d;
        *ret_end = MIN((uint64_t)h, end);
        return 1;
}

int copy_data(int in_fd, uint64_t in_off, uint64_t len, int out_fd, uint64_t out_off) {
        static bool no_cfr;
        _cleanup_free_ char *buf = NULL;

        while (len > 0 && !no_cfr) {
                loff_t i = (loff_t)in_off, o = (loff_t)out_off;
                ssize_t n = copy_file_range(in_fd, &i, out_fd, &o, MIN(len, (uint64_t)1 << 30), 0);
                if (n < 0 && errno == EINTR)
                        return -EINTR;
                if (n < 0 &&
                    (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
                        no_cfr = true;
                        break;
                }
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                in_off += (uint64_t)n;
                out_off += (uint64_t)n;
                len -= (uint64_t)n;
        }
        if (len == 0)
                return 0;
        buf = xmalloc(1 << 20);
        while (len > 0) {
                size_t chunk = (size_t)MIN(len, (uint64_t)1 << 20);
                int r = pread_all(in_fd, buf, chunk, in_off);
                if (r < 0)
                        return r;
                r = pwrite_all(out_fd, buf, chunk, out_off);
                if (r < 0)
                        return r;
                in_off += chunk;
                out_off += chunk;
                len -= chunk;
        }
        return 0;
}

int sparse_copy(int in_fd, uint64_t in_offset, uint64_t length, int out_fd, uint64_t out_offset) {
        uint64_t end = in_offset + length, pos = in_offset, s = 0, e = 0;
        int r;

        while ((r = sparse_next_data(in_fd, pos, end, &s, &e)) > 0) {
                r = copy_data(in_fd, s, e - s, out_fd, out_offset + (s - in_offset));
                if (r < 0)
                        return r;
                pos = e;
        }
        return r;
}
