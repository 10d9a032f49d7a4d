/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/sparse.h"
#include "vmcompose/util.h"

char *path_join(const char *a, const char *b) {
        if (!a || !*a || b[0] == '/')
                return xstrdup(b);
        size_t la = strlen(a);
        while (la > 1 && a[la - 1] == '/')
                la--;
        return xasprintf("%.*s/%s", (int)la, a, b);
}

char *path_dirname(const char *path) {
        const char *slash = strrchr(path, '/');
        if (!slash)
                return xstrdup(".");
        if (slash == path)
                return xstrdup("/");
        return xstrndup(path, (size_t)(slash - path));
}

int read_full_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max_size, ret_data, ret_size);
}

int read_full_fd(int fd, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0, cap = 0;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        for (;;) {
                if (size + 4096 + 1 > cap) {
                        cap = MAX(cap * 2, size + 4096 + 1);
                        data = xrealloc(data, cap);
                }
                ssize_t n = read(fd, data + size, cap - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t)n;
                if (size > max_size)
                        return -EFBIG;
        }
        if (!data)
                data = xmalloc(1);
        data[size] = 0;
        *ret_data = TAKE_PTR(data);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int write_all(int fd, const void *data, size_t size) {
        const char *p = data;
        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t)n;
        }
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        _cleanup_free_ char *dir = path_dirname(path);
        _cleanup_free_ char *tmpl = path_join(dir, ".vmcompose-XXXXXX");
        _cleanup_close_ int fd = -1;
        int r;

        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r == 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmpl, path) < 0))
                r = -errno;
        if (r < 0)
                (void)unlink(tmpl);
        return r;
}

char *path_normalize(const char *path) {
        bool absolute = path[0] == '/';
        _cleanup_strv_free_ char **parts = NULL;
        size_t n = 0;

        for (const char *p = path; *p;) {
                size_t l = strcspn(p, "/");
                if (l == 0 || (l == 1 && p[0] == '.')) {
                        /* skip */
                } else if (l == 2 && p[0] == '.' && p[1] == '.') {
                        if (n > 0 && !streq(parts[n - 1], "..")) {
                                free(parts[--n]);
                                parts[n] = NULL;
                        } else if (!absolute) {
                                strv_extend(&parts, "..");
                                n++;
                        }
                } else {
                        strv_push(&parts, xstrndup(p, l));
                        n++;
                }
                p += l;
                while (*p == '/')
                        p++;
        }

        Buffer b = {};
        if (absolute)
                buffer_putc(&b, '/');
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        buffer_putc(&b, '/');
                buffer_puts(&b, parts[i]);
        }
        if (b.len == 0)
                buffer_putc(&b, '.');
        return buffer_steal(&b);
}

int mkdir_parents(const char *path) {
        _cleanup_free_ char *copy = xstrdup(path);
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

int mkdir_p(const char *path) {
        int r = mkdir_parents(path);
        if (r < 0)
                return r;
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int copy_file(const char *from, const char *to, mode_t mode) {
        _cleanup_close_ int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        struct stat st;

        if (in < 0 || fstat(in, &st) < 0)
                return -errno;
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (out < 0)
                return -errno;
        return sparse_copy(in, 0, (uint64_t)st.st_size, out, 0);
}
