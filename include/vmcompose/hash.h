/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

typedef struct Sha256 Sha256;

/* Incremental SHA-256 (OpenSSL's libcrypto underneath). sha256_new() never returns NULL. */
Sha256 *sha256_new(void);
void sha256_update(Sha256 *h, const void *data, size_t size);
/* Writes the digest and frees h. */
void sha256_finish(Sha256 *h, uint8_t out[SHA256_DIGEST_SIZE]);
void sha256(const void *data, size_t size, uint8_t out[SHA256_DIGEST_SIZE]);
/* Feeds h a labelled field of a cache key: label, NUL, value, NUL; a NULL value as the byte 0xff
 * (no string holds it), so that NULL, "" and neighbouring fields never collide. */
void sha256_update_field(Sha256 *h, const char *label, const char *value);
/* Lower-case hex of a digest, NUL-terminated. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char out[2 * SHA256_DIGEST_SIZE + 1]);
/* A copy of h's state: the digest of what h has seen, continued separately. */
Sha256 *sha256_copy(const Sha256 *h);
/* Feeds h the bytes [offset, offset + size) of fd; holes (SEEK_HOLE) as zeros without reading
 * them. 0 or a negative errno. */
int sha256_update_fd(Sha256 *h, int fd, uint64_t offset, uint64_t size);
/* SHA-256 of a whole regular file (from offset 0, holes read as zeros without reading them):
 * 0 or a negative errno. */
int sha256_file(int fd, uint8_t out[SHA256_DIGEST_SIZE]);
/* SHA-256 of what path names, following a symbolic link at path itself: a regular file's
 * bytes; a directory's tree, as the sorted (byte order) list of every entry below it, each with
 * its path relative to the directory, type, mode, uid, gid and then its content's SHA-256 (a
 * file) or target (a symbolic link). The same tree gives the same digest wherever it lies.
 * 0 or a negative errno. */
int sha256_tree(const char *path, uint8_t out[SHA256_DIGEST_SIZE]);

/* A UUID derived from a seed and a purpose ("disk", "partition:root", "fs:root", ...): the
 * first 16 bytes of SHA-256(seed "\0" purpose) with the RFC 9562 version 8 and variant bits
 * set. The same seed and purpose always give the same UUID; different purposes give unrelated
 * ones. Bytes are in RFC (big-endian) order. */
void uuid_from_seed(const char *seed, const char *purpose, uint8_t out[16]);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case. */
void uuid_format(const uint8_t uuid[16], char out[37]);
/* Parses the text form; 0 or -EINVAL. */
int uuid_parse(const char *s, uint8_t out[16]);
