/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/hash.h"
#include "vmcompose/macro.h"
#include "vmcompose/sparse.h"

struct Sha256 {
        EVP_MD_CTX *ctx;
};

Sha256 *sha256_new(void) {
        Sha256 *h = xmalloc(sizeof(Sha256));
        h->ctx = EVP_MD_CTX_new();
        /* Only allocation can fail here: like any other out-of-memory. */
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                oom_fatal();
        return h;
}

void sha256_update(Sha256 *h, const void *data, size_t size) {
        EVP_DigestUpdate(h->ctx, data, size);
}

void sha256_finish(Sha256 *h, uint8_t out[SHA256_DIGEST_SIZE]) {
        unsigned n = SHA256_DIGEST_SIZE;
        EVP_DigestFinal_ex(h->ctx, out, &n);
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

Sha256 *sha256_copy(const Sha256 *h) {
        Sha256 *c = xmalloc(sizeof(Sha256));
        c->ctx = EVP_MD_CTX_new();
        if (!c->ctx || EVP_MD_CTX_copy_ex(c->ctx, h->ctx) != 1)
                oom_fatal();
        return c;
}

int sha256_update_fd(Sha256 *h, int fd, uint64_t offset, uint64_t size) {
        static const uint8_t zeros[1 << 16];
        _cleanup_free_ uint8_t *buf = xmalloc(1 << 20);
        uint64_t pos = offset, end = offset + size, s, e;
        int r;

        while (pos < end) {
                r = sparse_next_data(fd, pos, end, &s, &e);
                if (r < 0)
                        return r;
                if (r == 0)
                        s = e = end; /* a hole up to the end */
                for (; pos < s; pos += MIN(s - pos, sizeof(zeros)))
                        sha256_update(h, zeros, (size_t)MIN(s - pos, sizeof(zeros)));
                while (pos < e) {
                        size_t n = (size_t)MIN(e - pos, (uint64_t)1 << 20);
                        r = pread_all(fd, buf, n, pos);
                        if (r < 0)
                                return r;
                        sha256_update(h, buf, n);
                        pos += n;
                }
        }
        return 0;
}

void sha256(const void *data, size_t size, uint8_t out[SHA256_DIGEST_SIZE]) {
        Sha256 *h = sha256_new();
        sha256_update(h, data, size);
        sha256_finish(h, out);
}

void sha256_update_field(Sha256 *h, const char *label, const char *value) {
        sha256_update(h, label, strlen(label) + 1);
        if (value)
                sha256_update(h, value, strlen(value) + 1);
        else
                sha256_update(h, "\377", 1);
}

void sha256_hex(const uint8_t d[SHA256_DIGEST_SIZE], char out[2 * SHA256_DIGEST_SIZE + 1]) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++) {
                out[2 * i] = hex[d[i] >> 4];
                out[2 * i + 1] = hex[d[i] & 15];
        }
        out[2 * SHA256_DIGEST_SIZE] = 0;
}

int sha256_file(int fd, uint8_t out[SHA256_DIGEST_SIZE]) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        Sha256 *h = sha256_new();
        int r = sha256_update_fd(h, fd, 0, (uint64_t)st.st_size);
        sha256_finish(h, out);
        return r;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int no_dots(const struct dirent *d) {
        return !streq(d->d_name, ".") && !streq(d->d_name, "..");
}

static int tree_update(Sha256 *h, int dfd, const char *rel);

/* Feeds h one entry of the directory dfd: its path, type and mode, owner, and content. */
static int tree_entry(Sha256 *h, int dfd, const char *rel, const char *name) {
        _cleanup_free_ char *sub = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
        struct stat st;
        char meta[64], hex[2 * SHA256_DIGEST_SIZE + 1], target[4096];
        uint8_t d[SHA256_DIGEST_SIZE];
        int r;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        sha256_update(h, sub, strlen(sub) + 1);
        int m = snprintf(meta, sizeof(meta), "%o %u %u", (unsigned)st.st_mode, (unsigned)st.st_uid,
                         (unsigned)st.st_gid);
        sha256_update(h, meta, (size_t)m + 1);
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                r = sha256_file(fd, d);
                if (r < 0)
                        return r;
                sha256_hex(d, hex);
                sha256_update(h, hex, sizeof(hex));
        } else if (S_ISLNK(st.st_mode)) {
                ssize_t k = readlinkat(dfd, name, target, sizeof(target) - 1);
                if (k < 0)
                        return -errno;
                sha256_update(h, target, (size_t)k);
                sha256_update(h, "", 1);
        } else if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd =
                        openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return -errno;
                return tree_update(h, fd, sub);
        }
        return 0;
}

/* Feeds h the entries of the directory dfd (relative names under rel), sorted. */
static int tree_update(Sha256 *h, int dfd, const char *rel) {
        struct dirent **names = NULL;
        int n = scandirat(dfd, ".", &names, no_dots, name_cmp), r = 0;
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++) {
                if (r == 0)
                        r = tree_entry(h, dfd, rel, names[i]->d_name);
                free(names[i]);
        }
        free(names);
        return r;
}

int sha256_tree(const char *path, uint8_t out[SHA256_DIGEST_SIZE]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return sha256_file(fd, out);
        Sha256 *h = sha256_new();
        int r = tree_update(h, fd, "");
        sha256_finish(h, out);
        return r;
}

void uuid_from_seed(const char *seed, const char *purpose, uint8_t out[16]) {
        uint8_t d[SHA256_DIGEST_SIZE];
        Sha256 *h = sha256_new();

        sha256_update(h, seed, strlen(seed) + 1); /* the NUL separates seed and purpose */
        sha256_update(h, purpose, strlen(purpose));
        sha256_finish(h, d);
        memcpy(out, d, 16);
        out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* version 8: custom */
        out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* variant 10 */
}

void uuid_format(const uint8_t u[16], char out[37]) {
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int uuid_parse(const char *s, uint8_t out[16]) {
        uint8_t u[16];
        size_t j = 0;

        if (strlen(s) != 36)
                return -EINVAL;
        for (size_t i = 0; i < 36;) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return -EINVAL;
                        i++;
                        continue;
                }
                int hi = hexval(s[i]), lo = hexval(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                u[j++] = (uint8_t)(hi << 4 | lo);
                i += 2;
        }
        memcpy(out, u, 16);
        return 0;
}
