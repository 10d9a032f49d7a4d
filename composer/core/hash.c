/* SPDX-License-Identifier: MIT */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
