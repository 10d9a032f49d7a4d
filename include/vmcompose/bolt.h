/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcompose/macro.h"

/* bbolt (go.etcd.io/bbolt, file format version 2) databases built in memory and encoded to the
 * bytes of a database file, and decoded back (composer/containers/bolt.c). containerd keeps its
 * metadata in one (meta.db); vmcompose writes it at build time.
 *
 * A bucket holds keys in byte order (as Go's bytes.Compare), each with either a value or a
 * nested bucket. */

typedef struct BoltBucket BoltBucket;

typedef struct BoltEntry {
        uint8_t *key;
        size_t key_size;
        uint8_t *value; /* NULL for a nested bucket (a value may also be empty, never NULL) */
        size_t value_size;
        BoltBucket *bucket;
} BoltEntry;

struct BoltBucket {
        BoltEntry *entries; /* sorted by key */
        size_t n_entries;
        size_t n_allocated; /* entries' capacity */
};

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2
#define BOLT_PAGE_HEADER_SIZE 16
#define BOLT_ELEMENT_SIZE 16
#define BOLT_BUCKET_HEADER_SIZE 16
#define BOLT_META_SIZE 64
#define BOLT_MAX_KEY_SIZE 32768
#define BOLT_FLAG_BRANCH 0x01
#define BOLT_FLAG_LEAF 0x02
#define BOLT_FLAG_META 0x04
#define BOLT_FLAG_FREELIST 0x10
#define BOLT_ELEMENT_BUCKET 0x01

BoltBucket *bolt_bucket_new(void);
/* Frees b and its nested buckets; accepts NULL, returns NULL. */
BoltBucket *bolt_bucket_free(BoltBucket *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(BoltBucket *, bolt_bucket_free);

/* Sets key to a copy of value (replacing a value already there). -EINVAL for an empty key or
 * one longer than BOLT_MAX_KEY_SIZE, -EISDIR when key names a nested bucket. */
int bolt_bucket_put(BoltBucket *b, const void *key, size_t key_size, const void *value,
                    size_t value_size);
/* The same with a NUL-terminated key. */
int bolt_bucket_put_str(BoltBucket *b, const char *key, const void *value, size_t value_size);

/* The nested bucket key (NUL-terminated), created empty when missing. *ret is owned by b.
 * -EINVAL for a bad key, -ENOTDIR when key holds a value. */
int bolt_bucket_sub(BoltBucket *b, const char *key, BoltBucket **ret);

/* The entry whose key is key (NUL-terminated), or NULL. */
const BoltEntry *bolt_bucket_find(const BoltBucket *b, const char *key);
/* The nested bucket at the path of keys (NULL-terminated list), or NULL. */
const BoltBucket *bolt_bucket_path(const BoltBucket *b, const char *const *keys);

/* The bytes of a database file holding root's tree: meta pages 0 and 1 (transaction ids 0 and
 * 1, FNV-1a checksums), an empty freelist at page 2, then one leaf page (with overflow pages
 * when larger) per bucket that bbolt would not inline, children before parents, the root
 * bucket's last. Buckets without nested buckets and at most page_size/4 bytes are inlined in
 * their parent's value, as bbolt does. Every byte is determined by the tree: unused space is
 * zero. big_endian: the byte order of the machine that opens it (bbolt uses the native one).
 * Returns 0 and the bytes in *ret_data (caller frees), -E2BIG when a bucket holds 65535
 * entries or more (one leaf page cannot count them), -EINVAL for a page size that is not a
 * power of two in 1 KiB..64 KiB. */
int bolt_encode(const BoltBucket *root, uint32_t page_size, bool big_endian, uint8_t **ret_data,
                size_t *ret_size);

/* Reads a database file's bytes back into a tree: the valid meta page with the higher
 * transaction id, then its root bucket (leaf and branch pages, overflow, inline buckets), every
 * offset checked against the file, each node laid out as bbolt writes it (keys and values packed
 * after the elements, in element order, keys ascending): the tree's keys and values never add
 * up to more bytes than the file. Returns 0 and the tree in *ret (caller frees), or -EBADMSG
 * for a file that is not a bbolt database or is damaged. */
int bolt_decode(const void *data, size_t size, BoltBucket **ret);

/* FNV-1a (64 bit) of data: bbolt's meta page checksum. */
uint64_t bolt_fnv1a(const void *data, size_t size);
