/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "output-internal.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"

static const OutputFormat *const formats[] = {
        &output_raw, &output_raw_zst, &output_vhd, &output_vhdx, &output_qcow2, &output_tar, NULL,
};

const OutputFormat *const *output_formats(void) {
        return formats;
}

const OutputFormat *output_format_find(const char *name) {
        for (const OutputFormat *const *f = formats; *f; f++)
                if (streq((*f)->name, name))
                        return *f;
        return NULL;
}

int output_write_file(const OutputFormat *f, int source_fd, uint64_t size, const char *path,
                      const OutputOptions *o) {
        _cleanup_free_ char *dir = path_dirname(path);
        _cleanup_free_ char *tmp = path_join(dir, ".vmcompose-output-XXXXXX");
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        int r;

        if (fd < 0)
                return -errno;
        if (f->write_tree)
                r = f->write_tree(source_fd, fd, o);
        else
                r = f->write_image(source_fd, size, fd, o);
        if (r == 0 && signals_interrupted())
                r = -EINTR;
        if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0))
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

int output_scan_clusters(int fd, uint64_t size, uint64_t cluster_size,
                         int (*fn)(uint64_t first, uint64_t count, void *userdata),
                         void *userdata) {
        _cleanup_free_ uint8_t *buf = xmalloc(cluster_size);
        uint64_t pos = 0, s, e, run_first = 0, run_count = 0;
        int r;

        while ((r = sparse_next_data(fd, pos, size, &s, &e)) > 0) {
                for (uint64_t c = s / cluster_size; c * cluster_size < e; c++) {
                        uint64_t off = c * cluster_size;
                        size_t len = (size_t)MIN(cluster_size, size - off);
                        if (signals_interrupted())
                                return -EINTR;
                        r = pread_all(fd, buf, len, off);
                        if (r < 0)
                                return r;
                        /* All zero: the first byte is, and every byte equals the next. */
                        if (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0)
                                continue;
                        if (run_count > 0 && run_first + run_count == c)
                                run_count++;
                        else {
                                if (run_count > 0 && (r = fn(run_first, run_count, userdata)) < 0)
                                        return r;
                                run_first = c;
                                run_count = 1;
                        }
                }
                pos = e;
        }
        if (r < 0)
                return r;
        if (run_count > 0)
                return fn(run_first, run_count, userdata);
        return 0;
}

static int raw_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        (void)o;
        if (ftruncate(out_fd, (off_t)size) < 0)
                return -errno;
        return sparse_copy(raw_fd, 0, size, out_fd, 0);
}

const OutputFormat output_raw = {
        .name = "raw",
        .suffix = "raw",
        .write_image = raw_write,
        .raw_prefix = true,
};
