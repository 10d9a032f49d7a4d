/* SPDX-License-Identifier: MIT */
/* bbolt database files (composer/containers/bolt.c) and containerd's records in one
 * (composer/containers/containerd.c): the pages as bbolt lays them out (meta pages and their
 * FNV-1a checksums, page ids, the freelist, sorted leaf elements, nested and inline buckets,
 * overflow), the same bytes every time, the file read back, damaged files refused, and so are
 * nodes bbolt never writes (elements sharing bytes, keys out of order); Go's varint
 * and time encodings; containerd's keys for an image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/bolt.h"
#include "vmcompose/containers.h"
#include "vmcompose/util.h"

#define PS 4096

static uint64_t le(const uint8_t *p, unsigned width) {
        uint64_t v = 0;
        for (unsigned i = 0; i < width; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* Page id's header fields, checked against what it should be. */
static const uint8_t *page(const uint8_t *db, uint64_t id, unsigned flags) {
        const uint8_t *p = db + id * PS;
        assert_int_equal(le(p, 8), id);
        assert_int_equal(le(p + 8, 2), flags);
        return p;
}

/* Leaf element i of the node at p: its flags, key and value. */
static void element(const uint8_t *p, size_t i, unsigned *flags, const uint8_t **key, size_t *ksize,
                    const uint8_t **value, size_t *vsize) {
        const uint8_t *el = p + BOLT_PAGE_HEADER_SIZE + i * BOLT_ELEMENT_SIZE;
        *flags = (unsigned)le(el, 4);
        *key = el + le(el + 4, 4);
        *ksize = le(el + 8, 4);
        *value = *key + *ksize;
        *vsize = le(el + 12, 4);
}

static void check_meta(const uint8_t *db, uint64_t id, uint64_t root, uint64_t high) {
        const uint8_t *m = page(db, id, BOLT_FLAG_META) + BOLT_PAGE_HEADER_SIZE;
        assert_int_equal(le(m, 4), 0xED0CDAED);
        assert_int_equal(le(m + 4, 4), 2);
        assert_int_equal(le(m + 8, 4), PS);
        assert_int_equal(le(m + 12, 4), 0);
        assert_int_equal(le(m + 16, 8), root);
        assert_int_equal(le(m + 24, 8), 0);
        assert_int_equal(le(m + 32, 8), 2);
        assert_int_equal(le(m + 40, 8), high);
        assert_int_equal(le(m + 48, 8), id);
        assert_int_equal(le(m + 56, 8), bolt_fnv1a(m, 56));
}

static void test_fnv1a(void **state) {
        (void)state;
        /* The FNV-1a 64 test vectors (Go's hash/fnv, which bbolt's meta checksum uses). */
        assert_int_equal(bolt_fnv1a("", 0), 0xcbf29ce484222325ull);
        assert_int_equal(bolt_fnv1a("a", 1), 0xaf63dc4c8601ec8cull);
        assert_int_equal(bolt_fnv1a("foobar", 6), 0x85944171f73967e8ull);
}

/* An empty database is the four pages bbolt's own db.init() writes. */
static void test_empty(void **state) {
        (void)state;
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), 0);
        assert_int_equal(size, 4 * PS);
        check_meta(db, 0, 3, 4);
        check_meta(db, 1, 3, 4);
        assert_int_equal(le(page(db, 2, BOLT_FLAG_FREELIST) + 10, 2), 0);
        assert_int_equal(le(page(db, 3, BOLT_FLAG_LEAF) + 10, 2), 0);
        /* Unused bytes are zero: after each meta, and the rest of the freelist and leaf. */
        for (size_t i = BOLT_PAGE_HEADER_SIZE + BOLT_META_SIZE; i < PS; i++)
                assert_int_equal(db[i] | db[PS + i], 0);
        for (size_t i = BOLT_PAGE_HEADER_SIZE; i < PS; i++)
                assert_int_equal(db[2 * PS + i] | db[3 * PS + i], 0);
        assert_int_equal(bolt_encode(root, 3000, false, &db, &size), -EINVAL);
}

/* Keys in byte order whatever the order they were put in; a value replaced; a key that names a
 * bucket cannot take a value and the other way round. */
static void test_sorted_keys(void **state) {
        (void)state;
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        BoltBucket *sub;
        assert_int_equal(bolt_bucket_put_str(root, "b", "2", 1), 0);
        assert_int_equal(bolt_bucket_put_str(root, "ab", "x", 1), 0);
        assert_int_equal(bolt_bucket_put_str(root, "a", "1", 1), 0);
        assert_int_equal(bolt_bucket_put_str(root, "ab", "3", 1), 0);
        assert_int_equal(bolt_bucket_put(root, "\xff", 1, "", 0), 0);
        assert_int_equal(bolt_bucket_sub(root, "c", &sub), 0);
        assert_int_equal(bolt_bucket_put_str(root, "c", "v", 1), -EISDIR);
        assert_int_equal(bolt_bucket_sub(root, "a", &sub), -ENOTDIR);
        assert_int_equal(bolt_bucket_put_str(root, "", "v", 1), -EINVAL);

        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), 0);
        /* The root has a nested bucket, so it is never inline: its leaf at page 3. */
        assert_int_equal(size, 4 * PS);
        const uint8_t *p = page(db, 3, BOLT_FLAG_LEAF);
        assert_int_equal(le(p + 10, 2), 5);
        assert_int_equal(le(p + 12, 4), 0);
        static const char *const keys[] = {"a", "ab", "b", "c", "\xff"};
        static const char *const values[] = {"1", "3", "2", NULL, ""};
        const uint8_t *prev_end = p + BOLT_PAGE_HEADER_SIZE + 5 * BOLT_ELEMENT_SIZE;
        for (size_t i = 0; i < 5; i++) {
                unsigned flags;
                const uint8_t *k, *v;
                size_t ks, vs;
                element(p, i, &flags, &k, &ks, &v, &vs);
                /* Keys and values are packed after the elements, in element order. */
                assert_ptr_equal(k, prev_end);
                prev_end = v + vs;
                assert_int_equal(ks, strlen(keys[i]));
                assert_memory_equal(k, keys[i], ks);
                if (values[i]) {
                        assert_int_equal(flags, 0);
                        assert_int_equal(vs, strlen(values[i]));
                        assert_memory_equal(v, values[i], vs);
                } else {
                        /* An empty bucket, inline: header {0, 0} and an empty leaf. */
                        assert_int_equal(flags, BOLT_ELEMENT_BUCKET);
                        assert_int_equal(vs, BOLT_BUCKET_HEADER_SIZE + BOLT_PAGE_HEADER_SIZE);
                        assert_int_equal(le(v, 8) | le(v + 8, 8), 0);
                        assert_int_equal(le(v + 16 + 8, 2), BOLT_FLAG_LEAF);
                        assert_int_equal(le(v + 16 + 10, 2), 0);
                }
        }
}

/* v1 (has a nested bucket: a page of its own) -> ns (small, no nested bucket: inline in v1's
 * leaf) -> k = v; big (more than a quarter page: its own page) -> more than a page: overflow. */
static void test_nested(void **state) {
        (void)state;
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        BoltBucket *v1, *ns, *big;
        assert_int_equal(bolt_bucket_sub(root, "v1", &v1), 0);
        assert_int_equal(bolt_bucket_sub(v1, "ns", &ns), 0);
        assert_int_equal(bolt_bucket_put_str(ns, "k", "v", 1), 0);
        assert_int_equal(bolt_bucket_sub(v1, "big", &big), 0);
        char value[3000];
        memset(value, 'x', sizeof(value));
        assert_int_equal(bolt_bucket_put_str(big, "1", value, sizeof(value)), 0);
        assert_int_equal(bolt_bucket_put_str(big, "2", value, sizeof(value)), 0);

        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), 0);
        /* Children before parents: big at 3 (two pages: overflow 1), v1 at 5, root at 6. */
        assert_int_equal(size, 7 * PS);
        check_meta(db, 0, 6, 7);
        check_meta(db, 1, 6, 7);
        const uint8_t *p = page(db, 3, BOLT_FLAG_LEAF);
        assert_int_equal(le(p + 10, 2), 2);
        assert_int_equal(le(p + 12, 4), 1);
        unsigned flags;
        const uint8_t *k, *v;
        size_t ks, vs;
        element(p, 1, &flags, &k, &ks, &v, &vs);
        assert_memory_equal(k, "2", 1);
        assert_int_equal(vs, sizeof(value));
        assert_true(v + vs <= db + 5 * PS);

        p = page(db, 6, BOLT_FLAG_LEAF);
        assert_int_equal(le(p + 10, 2), 1);
        element(p, 0, &flags, &k, &ks, &v, &vs);
        assert_int_equal(flags, BOLT_ELEMENT_BUCKET);
        assert_memory_equal(k, "v1", 2);
        assert_int_equal(vs, BOLT_BUCKET_HEADER_SIZE);
        assert_int_equal(le(v, 8), 5);

        p = page(db, 5, BOLT_FLAG_LEAF);
        assert_int_equal(le(p + 10, 2), 2);
        element(p, 0, &flags, &k, &ks, &v, &vs);
        assert_memory_equal(k, "big", 3);
        assert_int_equal(flags, BOLT_ELEMENT_BUCKET);
        assert_int_equal(le(v, 8), 3);
        element(p, 1, &flags, &k, &ks, &v, &vs);
        assert_memory_equal(k, "ns", 2);
        assert_int_equal(flags, BOLT_ELEMENT_BUCKET);
        assert_int_equal(le(v, 8), 0);
        /* The inline leaf: page header (id 0), one element, "k" "v". */
        assert_int_equal(vs,
                         BOLT_BUCKET_HEADER_SIZE + BOLT_PAGE_HEADER_SIZE + BOLT_ELEMENT_SIZE + 2);
        const uint8_t *inl = v + BOLT_BUCKET_HEADER_SIZE;
        assert_int_equal(le(inl, 8), 0);
        assert_int_equal(le(inl + 8, 2), BOLT_FLAG_LEAF);
        assert_int_equal(le(inl + 10, 2), 1);
        element(inl, 0, &flags, &k, &ks, &v, &vs);
        assert_int_equal(flags, 0);
        assert_memory_equal(k, "k", 1);
        assert_memory_equal(v, "v", 1);

        /* The same tree, the same bytes. */
        _cleanup_free_ uint8_t *again = NULL;
        size_t again_size;
        assert_int_equal(bolt_encode(root, PS, false, &again, &again_size), 0);
        assert_int_equal(again_size, size);
        assert_memory_equal(again, db, size);

        /* Read back. */
        _cleanup_(bolt_bucket_freep) BoltBucket *back = NULL;
        assert_int_equal(bolt_decode(db, size, &back), 0);
        const BoltBucket *b = bolt_bucket_path(back, (const char *const[]){"v1", "ns", NULL});
        assert_non_null(b);
        const BoltEntry *e = bolt_bucket_find(b, "k");
        assert_non_null(e);
        assert_int_equal(e->value_size, 1);
        assert_memory_equal(e->value, "v", 1);
        b = bolt_bucket_path(back, (const char *const[]){"v1", "big", NULL});
        assert_non_null(b);
        assert_int_equal(b->n_entries, 2);
        assert_int_equal(b->entries[1].value_size, sizeof(value));
        assert_memory_equal(b->entries[1].value, value, sizeof(value));
        /* Re-encoding what was read gives the same file. */
        _cleanup_free_ uint8_t *third = NULL;
        assert_int_equal(bolt_encode(back, PS, false, &third, &again_size), 0);
        assert_memory_equal(third, db, size);
}

/* A damaged meta page: the other one is used; both, a truncated file or a page pointer out of
 * the file: refused. Big-endian files read back too. */
static void test_damaged(void **state) {
        (void)state;
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        BoltBucket *sub;
        assert_int_equal(bolt_bucket_sub(root, "s", &sub), 0);
        assert_int_equal(bolt_bucket_put_str(sub, "k", "v", 1), 0);
        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        BoltBucket *back = NULL;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), 0);
        db[PS + 16 + 20] ^= 1; /* meta 1's root page: its checksum no longer matches */
        assert_int_equal(bolt_decode(db, size, &back), 0);
        assert_non_null(bolt_bucket_path(back, (const char *const[]){"s", NULL}));
        back = bolt_bucket_free(back);
        db[16 + 20] ^= 1;
        assert_int_equal(bolt_decode(db, size, &back), -EBADMSG);
        db[16 + 20] ^= 1;
        db[PS + 16 + 20] ^= 1;
        assert_int_equal(bolt_decode(db, 3 * PS, &back), -EBADMSG);
        assert_int_equal(bolt_decode(db, 100, &back), -EBADMSG);
        /* An element whose key runs past its page. */
        db[3 * PS + 16 + 9] = 0xff;
        assert_int_equal(bolt_decode(db, size, &back), -EBADMSG);
        assert_null(back);

        /* Two buckets pointing at the same page (a way to make a reader walk a page again and
         * again): refused. a and b both have a nested bucket, so each has a page: a at 3, b at
         * 4, the root at 5; b is pointed at a's page. */
        _cleanup_(bolt_bucket_freep) BoltBucket *twice = bolt_bucket_new();
        BoltBucket *a, *b;
        assert_int_equal(bolt_bucket_sub(twice, "a", &a), 0);
        assert_int_equal(bolt_bucket_sub(a, "x", &sub), 0);
        assert_int_equal(bolt_bucket_sub(twice, "b", &b), 0);
        assert_int_equal(bolt_bucket_sub(b, "x", &sub), 0);
        _cleanup_free_ uint8_t *tdb = NULL;
        assert_int_equal(bolt_encode(twice, PS, false, &tdb, &size), 0);
        assert_int_equal(size, 6 * PS);
        assert_int_equal(bolt_decode(tdb, size, &back), 0);
        back = bolt_bucket_free(back);
        unsigned flags;
        const uint8_t *k, *v;
        size_t ks, vs;
        element(tdb + 5 * PS, 1, &flags, &k, &ks, &v, &vs);
        assert_memory_equal(k, "b", 1);
        assert_int_equal(le(v, 8), 4);
        tdb[v - tdb] = 3;
        assert_int_equal(bolt_decode(tdb, size, &back), -EBADMSG);
        assert_null(back);

        _cleanup_free_ uint8_t *be = NULL;
        assert_int_equal(bolt_encode(root, PS, true, &be, &size), 0);
        assert_memory_equal(be + 16, "\xed\x0c\xda\xed\x00\x00\x00\x02", 8);
        assert_int_equal(bolt_decode(be, size, &back), 0);
        const BoltEntry *e =
                bolt_bucket_find(bolt_bucket_path(back, (const char *const[]){"s", NULL}), "k");
        assert_non_null(e);
        assert_memory_equal(e->value, "v", 1);
        bolt_bucket_free(back);
}

/* One leaf page counts at most 65534 elements. */
static void test_too_many(void **state) {
        (void)state;
        _cleanup_(bolt_bucket_freep) BoltBucket *root = bolt_bucket_new();
        for (unsigned i = 0; i < 0xffff; i++) {
                char key[8];
                snprintf(key, sizeof(key), "%06u", i);
                assert_int_equal(bolt_bucket_put_str(root, key, "", 0), 0);
        }
        uint8_t *db = NULL;
        size_t size;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), -E2BIG);
        assert_null(db);
}

static void test_go_encodings(void **state) {
        (void)state;
        uint8_t b[10];
        /* encoding/binary.PutVarint: zig-zag, then base 128, low group first. */
        assert_int_equal(containerd_varint(3, b), 1);
        assert_int_equal(b[0], 6);
        assert_int_equal(containerd_varint(-1, b), 1);
        assert_int_equal(b[0], 1);
        assert_int_equal(containerd_varint(300, b), 2);
        assert_memory_equal(b, "\xd8\x04", 2);
        assert_int_equal(containerd_varint(INT64_MAX, b), 10);
        /* time.Unix(1700000000, 0).UTC().MarshalBinary(): version 1, 62135596800 + t seconds
         * since year 1, 0 ns, offset -1 (UTC). */
        uint8_t t[CONTAINERD_TIME_SIZE];
        containerd_time(1700000000, t);
        assert_memory_equal(t, "\x01\x00\x00\x00\x0e\xdc\xe5\xe8\x00\x00\x00\x00\x00\xff\xff", 15);
}

#define DM "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DC "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DL0 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define DL1 "sha256:4444444444444444444444444444444444444444444444444444444444444444"

static void check_value(const BoltBucket *b, const char *key, const void *value, size_t size) {
        const BoltEntry *e = bolt_bucket_find(b, key);
        assert_non_null(e);
        assert_non_null(e->value);
        assert_int_equal(e->value_size, size);
        assert_memory_equal(e->value, value, size);
}

/* containerd 1.6's records of an image: v1/version 3, the image and its target, every blob with
 * its size, the manifest's labels naming its config and layers for the garbage collector; and
 * the audit's listing of them from the encoded file. */
static void test_containerd_records(void **state) {
        (void)state;
        OciDescriptor layers[] = {
                {.media_type = (char *)"application/vnd.oci.image.layer.v1.tar+gzip",
                 .digest = (char *)DL0,
                 .size = 300},
                {.media_type = (char *)"application/vnd.oci.image.layer.v1.tar",
                 .digest = (char *)DL1,
                 .size = 5},
        };
        OciImage img = {
                .ref = (char *)"localhost/t:1",
                .manifest = {.media_type = (char *)OCI_MEDIA_TYPE_MANIFEST,
                             .digest = (char *)DM,
                             .size = 400},
                .config = {.media_type = (char *)"application/vnd.oci.image.config.v1+json",
                           .digest = (char *)DC,
                           .size = 200},
                .layers = layers,
                .n_layers = 2,
        };
        _cleanup_(bolt_bucket_freep) BoltBucket *root = NULL;
        assert_int_equal(containerd_meta_build(&img, 1, 1700000000, &root), 0);
        assert_int_equal(root->n_entries, 1);
        check_value(bolt_bucket_path(root, (const char *const[]){"v1", NULL}), "version", "\x06",
                    1);
        uint8_t t[CONTAINERD_TIME_SIZE];
        containerd_time(1700000000, t);
        const BoltBucket *image = bolt_bucket_path(
                root, (const char *const[]){"v1", "default", "images", "localhost/t:1", NULL});
        assert_non_null(image);
        check_value(image, "createdat", t, sizeof(t));
        check_value(image, "updatedat", t, sizeof(t));
        const BoltBucket *target = bolt_bucket_path(image, (const char *const[]){"target", NULL});
        check_value(target, "digest", DM, strlen(DM));
        check_value(target, "mediatype", OCI_MEDIA_TYPE_MANIFEST, strlen(OCI_MEDIA_TYPE_MANIFEST));
        check_value(target, "size", "\xa0\x06", 2); /* 400 */
        const BoltBucket *blobs = bolt_bucket_path(
                root, (const char *const[]){"v1", "default", "content", "blob", NULL});
        assert_non_null(blobs);
        assert_int_equal(blobs->n_entries, 4);
        const BoltBucket *m = bolt_bucket_path(blobs, (const char *const[]){DM, NULL});
        check_value(m, "size", "\xa0\x06", 2);
        check_value(m, "createdat", t, sizeof(t));
        const BoltBucket *labels = bolt_bucket_path(m, (const char *const[]){"labels", NULL});
        assert_non_null(labels);
        assert_int_equal(labels->n_entries, 3);
        check_value(labels, "containerd.io/gc.ref.content.config", DC, strlen(DC));
        check_value(labels, "containerd.io/gc.ref.content.l.0", DL0, strlen(DL0));
        check_value(labels, "containerd.io/gc.ref.content.l.1", DL1, strlen(DL1));
        const BoltBucket *l1 = bolt_bucket_path(blobs, (const char *const[]){DL1, NULL});
        check_value(l1, "size", "\x0a", 1);
        assert_null(bolt_bucket_find(l1, "labels"));

        _cleanup_free_ uint8_t *db = NULL;
        size_t size;
        assert_int_equal(bolt_encode(root, PS, false, &db, &size), 0);
        char **images = NULL;
        assert_int_equal(containerd_meta_images(db, size, &images), 0);
        assert_int_equal(strv_length(images), 1);
        assert_string_equal(images[0], "localhost/t:1 " DM " (namespace default)");
        strv_free(images);
        images = NULL;
        assert_int_equal(containerd_meta_images(db, 100, &images), -EBADMSG);
        _cleanup_(bolt_bucket_freep) BoltBucket *other = bolt_bucket_new();
        _cleanup_free_ uint8_t *odb = NULL;
        assert_int_equal(bolt_encode(other, PS, false, &odb, &size), 0);
        assert_int_equal(containerd_meta_images(odb, size, &images), -ENOENT);
}

static void put_le(uint8_t *p, uint64_t v, unsigned width) {
        for (unsigned i = 0; i < width; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* A file of pages pages as bbolt leaves one: meta pages 0 and 1 (transaction ids 5 and 4, the
 * root bucket at page root, high-water mark high), the freelist at page 2 holding page free (0:
 * none); the caller writes pages 3... */
static uint8_t *file_new(size_t pages, uint64_t root, uint64_t high, uint64_t free) {
        uint8_t *db = xcalloc(pages, PS);
        for (uint64_t id = 0; id < 2; id++) {
                uint8_t *p = db + id * PS, *m = p + BOLT_PAGE_HEADER_SIZE;
                put_le(p, id, 8);
                put_le(p + 8, BOLT_FLAG_META, 2);
                put_le(m, BOLT_MAGIC, 4);
                put_le(m + 4, BOLT_VERSION, 4);
                put_le(m + 8, PS, 4);
                put_le(m + 16, root, 8);
                put_le(m + 32, 2, 8);
                put_le(m + 40, high, 8);
                put_le(m + 48, 5 - id, 8);
                put_le(m + 56, bolt_fnv1a(m, 56), 8);
        }
        put_le(db + 2 * PS, 2, 8);
        put_le(db + 2 * PS + 8, BOLT_FLAG_FREELIST, 2);
        put_le(db + 2 * PS + 10, free ? 1 : 0, 2);
        put_le(db + 2 * PS + 16, free, 8);
        return db;
}

/* Node page id (overflow pages after it) as node.go's write() lays it out: the elements, then
 * each one's key and value packed in element order. A leaf when children is NULL (values[i]
 * NULL: an empty value), a branch otherwise. */
static void node_write(uint8_t *db, uint64_t id, uint32_t overflow, size_t count,
                       const char *const *keys, const char *const *values,
                       const uint64_t *children) {
        uint8_t *p = db + id * PS;
        put_le(p, id, 8);
        put_le(p + 8, children ? BOLT_FLAG_BRANCH : BOLT_FLAG_LEAF, 2);
        put_le(p + 10, count, 2);
        put_le(p + 12, overflow, 4);
        size_t off = BOLT_PAGE_HEADER_SIZE + count * BOLT_ELEMENT_SIZE;
        for (size_t i = 0; i < count; i++) {
                size_t at = BOLT_PAGE_HEADER_SIZE + i * BOLT_ELEMENT_SIZE;
                size_t ks = strlen(keys[i]), vs = values && values[i] ? strlen(values[i]) : 0;
                if (children) {
                        put_le(p + at, off - at, 4);
                        put_le(p + at + 4, ks, 4);
                        put_le(p + at + 8, children[i], 8);
                } else {
                        put_le(p + at + 4, off - at, 4);
                        put_le(p + at + 8, ks, 4);
                        put_le(p + at + 12, vs, 4);
                }
                memcpy(p + off, keys[i], ks);
                memcpy(p + off + ks, vs ? values[i] : "", vs);
                off += ks + vs;
        }
        assert_true(off <= (overflow + 1) * (size_t)PS);
}

/* A file as bbolt leaves it after a few transactions, not as bolt_encode() writes it: the root
 * bucket a branch page (a split leaf) whose children are not in page order, one of them with
 * an overflow page, a freed page in the freelist, stale bytes after a node, the file longer
 * than its high-water mark. It reads back. */
static void test_bbolt_layout(void **state) {
        (void)state;
        _cleanup_free_ char *large = xmalloc(5001);
        memset(large, 'L', 5000);
        large[5000] = '\0';
        _cleanup_free_ uint8_t *db = file_new(9, 3, 8, 6);
        node_write(db, 3, 0, 2, (const char *const[]){"a", "c"}, NULL, (const uint64_t[]){7, 4});
        node_write(db, 7, 0, 2, (const char *const[]){"a", "b"}, (const char *const[]){"1", NULL},
                   NULL);
        node_write(db, 4, 1, 3, (const char *const[]){"c", "d", "e"},
                   (const char *const[]){"3", large, "5"}, NULL);
        memset(db + 7 * PS + 200, 0xaa, 100); /* stale bytes past the node's end */
        memset(db + 6 * PS, 0xbb, PS);        /* the freed page */
        _cleanup_(bolt_bucket_freep) BoltBucket *back = NULL;
        assert_int_equal(bolt_decode(db, 9 * PS, &back), 0);
        assert_int_equal(back->n_entries, 5);
        static const char *const keys[] = {"a", "b", "c", "d", "e"};
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(back->entries[i].key_size, 1);
                assert_memory_equal(back->entries[i].key, keys[i], 1);
        }
        check_value(back, "a", "1", 1);
        check_value(back, "b", "", 0);
        check_value(back, "d", large, 5000);
        check_value(back, "e", "5", 1);
}

/* Elements sharing bytes (a 1 MiB file whose thousands of elements all named the same large
 * value once made the audit try to allocate 12 GB), or leaving a gap: refused. */
static void test_overlap(void **state) {
        (void)state;
        _cleanup_free_ uint8_t *db = file_new(5, 3, 5, 0);
        node_write(db, 3, 1, 3, (const char *const[]){"a", "b", "c"},
                   (const char *const[]){"1", "22", "333"}, NULL);
        BoltBucket *back = NULL;
        assert_int_equal(bolt_decode(db, 5 * PS, &back), 0);
        back = bolt_bucket_free(back);
        uint8_t *el = db + 3 * PS + BOLT_PAGE_HEADER_SIZE;
        /* b's value as long as b's and c's: c's key and value inside it. */
        put_le(el + 16 + 12, 2 + 1 + 3, 4);
        assert_int_equal(bolt_decode(db, 5 * PS, &back), -EBADMSG);
        put_le(el + 16 + 12, 2, 4);
        /* c pointing at b's bytes. */
        put_le(el + 32 + 4, le(el + 32 + 4, 4) - 3, 4);
        assert_int_equal(bolt_decode(db, 5 * PS, &back), -EBADMSG);
        /* c a byte further than where b ends. */
        put_le(el + 32 + 4, le(el + 32 + 4, 4) + 4, 4);
        assert_int_equal(bolt_decode(db, 5 * PS, &back), -EBADMSG);
        /* a's key inside the elements. */
        put_le(el + 32 + 4, le(el + 32 + 4, 4) - 1, 4);
        assert_int_equal(bolt_decode(db, 5 * PS, &back), 0);
        back = bolt_bucket_free(back);
        put_le(el + 4, le(el + 4, 4) - 1, 4);
        assert_int_equal(bolt_decode(db, 5 * PS, &back), -EBADMSG);
        put_le(el + 4, le(el + 4, 4) + 1, 4);

        /* The proof of concept's shape: 200 ascending keys, each one's value running to the end
         * of the node's two pages. */
        uint8_t *p = db + 3 * PS;
        memset(p + BOLT_PAGE_HEADER_SIZE, 0, 2 * PS - BOLT_PAGE_HEADER_SIZE);
        put_le(p + 10, 200, 2);
        size_t keys = BOLT_PAGE_HEADER_SIZE + 200 * BOLT_ELEMENT_SIZE;
        for (size_t i = 0; i < 200; i++) {
                size_t at = BOLT_PAGE_HEADER_SIZE + i * BOLT_ELEMENT_SIZE, k = keys + 2 * i;
                put_le(p + at + 4, k - at, 4);
                put_le(p + at + 8, 2, 4);
                put_le(p + at + 12, 2 * PS - k - 2, 4);
                p[k] = (uint8_t)(i >> 8);
                p[k + 1] = (uint8_t)i;
        }
        assert_int_equal(bolt_decode(db, 5 * PS, &back), -EBADMSG);
        char **images = NULL;
        assert_int_equal(containerd_meta_images(db, 5 * PS, &images), -EBADMSG);
        assert_null(back);
}

/* Keys out of order in a leaf, twice the same key, a leaf's keys not after the previous
 * leaf's, a branch's keys out of order: refused (bbolt never writes them, and a reader that
 * took them would insert each key in the middle). */
static void test_out_of_order(void **state) {
        (void)state;
        _cleanup_free_ uint8_t *db = file_new(6, 3, 6, 0);
        BoltBucket *back = NULL;
        node_write(db, 3, 0, 3, (const char *const[]){"a", "c", "b"}, NULL, NULL);
        assert_int_equal(bolt_decode(db, 6 * PS, &back), -EBADMSG);
        node_write(db, 3, 0, 3, (const char *const[]){"a", "b", "b"}, NULL, NULL);
        assert_int_equal(bolt_decode(db, 6 * PS, &back), -EBADMSG);
        node_write(db, 3, 0, 3, (const char *const[]){"a", "ab", "b"}, NULL, NULL);
        assert_int_equal(bolt_decode(db, 6 * PS, &back), 0);
        back = bolt_bucket_free(back);

        node_write(db, 3, 0, 2, (const char *const[]){"a", "m"}, NULL, (const uint64_t[]){4, 5});
        node_write(db, 4, 0, 2, (const char *const[]){"a", "b"}, NULL, NULL);
        node_write(db, 5, 0, 2, (const char *const[]){"m", "n"}, NULL, NULL);
        assert_int_equal(bolt_decode(db, 6 * PS, &back), 0);
        assert_int_equal(back->n_entries, 4);
        back = bolt_bucket_free(back);
        node_write(db, 5, 0, 2, (const char *const[]){"b", "n"}, NULL, NULL);
        assert_int_equal(bolt_decode(db, 6 * PS, &back), -EBADMSG);
        node_write(db, 5, 0, 2, (const char *const[]){"m", "n"}, NULL, NULL);
        node_write(db, 3, 0, 2, (const char *const[]){"m", "a"}, NULL, (const uint64_t[]){4, 5});
        assert_int_equal(bolt_decode(db, 6 * PS, &back), -EBADMSG);
        assert_null(back);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fnv1a),        cmocka_unit_test(test_empty),
                cmocka_unit_test(test_sorted_keys),  cmocka_unit_test(test_nested),
                cmocka_unit_test(test_damaged),      cmocka_unit_test(test_too_many),
                cmocka_unit_test(test_go_encodings), cmocka_unit_test(test_containerd_records),
                cmocka_unit_test(test_bbolt_layout), cmocka_unit_test(test_overlap),
                cmocka_unit_test(test_out_of_order),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
