/* SPDX-License-Identifier: MIT */
/* bbolt database files (go.etcd.io/bbolt v1.3, file format version 2), as bbolt's page.go,
 * node.go, bucket.go and db.go lay them out:
 *
 *   page header (16 bytes): id u64, flags u16, count u16, overflow u32 (pages after this one)
 *   meta (at 16 in pages 0 and 1): magic u32, version u32, page size u32, flags u32, root bucket
 *     {root page u64, sequence u64}, freelist page u64, high-water page u64, txid u64, then the
 *     FNV-1a 64 of the 56 bytes before it
 *   leaf page: count elements {flags u32, pos u32, ksize u32, vsize u32}, pos counted from the
 *     element itself to its key, the value right after the key; flags 1: the value is a bucket
 *   branch page: count elements {pos u32, ksize u32, child page u64}
 *   bucket value: {root page u64, sequence u64}; root 0: an inline bucket, whose leaf page
 *     (header id 0) follows in the value
 *   freelist page: count page ids u64 (count 0xffff: the first u64 is the count)
 *
 * Integers are in the byte order of the machine (bbolt maps the file into memory). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/bolt.h"

BoltBucket *bolt_bucket_new(void) {
        return xcalloc(1, sizeof(BoltBucket));
}

BoltBucket *bolt_bucket_free(BoltBucket *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_entries; i++) {
                free(b->entries[i].key);
                free(b->entries[i].value);
                bolt_bucket_free(b->entries[i].bucket);
        }
        free(b->entries);
        free(b);
        return NULL;
}

static int key_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
        int c = memcmp(a, b, MIN(na, nb));
        if (c != 0)
                return c;
        return na < nb ? -1 : na > nb ? 1 : 0;
}

/* The index of key in b, or where it would go (*found false). */
static size_t find(const BoltBucket *b, const void *key, size_t key_size, bool *found) {
        size_t lo = 0, hi = b->n_entries;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = key_cmp(b->entries[mid].key, b->entries[mid].key_size, key, key_size);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

/* A new empty entry (no value, no bucket) for key at index at of b, the entries array grown
 * geometrically (the reader appends entry after entry). */
static BoltEntry *entry_insert(BoltBucket *b, size_t at, const void *key, size_t key_size) {
        if (b->n_entries == b->n_allocated) {
                b->n_allocated = MAX(2 * b->n_allocated, (size_t)8);
                b->entries = xrealloc(b->entries, b->n_allocated * sizeof(BoltEntry));
        }
        memmove(&b->entries[at + 1], &b->entries[at], (b->n_entries - at) * sizeof(BoltEntry));
        b->n_entries++;
        BoltEntry *e = &b->entries[at];
        *e = (BoltEntry){.key = xmalloc(key_size), .key_size = key_size};
        memcpy(e->key, key, key_size);
        return e;
}

/* The entry of key in b, a new empty one when there is none; NULL for a key bbolt refuses
 * (empty, or longer than BOLT_MAX_KEY_SIZE). */
static BoltEntry *entry_get(BoltBucket *b, const void *key, size_t key_size) {
        if (key_size == 0 || key_size > BOLT_MAX_KEY_SIZE)
                return NULL;
        bool found;
        size_t at = find(b, key, key_size, &found);
        return found ? &b->entries[at] : entry_insert(b, at, key, key_size);
}

static uint8_t *dup_bytes(const void *p, size_t n) {
        uint8_t *d = xmalloc(n ? n : 1);
        if (n)
                memcpy(d, p, n);
        return d;
}

int bolt_bucket_put(BoltBucket *b, const void *key, size_t key_size, const void *value,
                    size_t value_size) {
        BoltEntry *e = value_size <= INT32_MAX - 1 ? entry_get(b, key, key_size) : NULL;
        if (!e)
                return -EINVAL;
        if (e->bucket)
                return -EISDIR;
        free(e->value);
        e->value = dup_bytes(value, value_size);
        e->value_size = value_size;
        return 0;
}

int bolt_bucket_put_str(BoltBucket *b, const char *key, const void *value, size_t value_size) {
        return bolt_bucket_put(b, key, strlen(key), value, value_size);
}

static int sub(BoltBucket *b, const void *key, size_t key_size, BoltBucket **ret) {
        BoltEntry *e = entry_get(b, key, key_size);
        if (!e)
                return -EINVAL;
        if (e->value)
                return -ENOTDIR;
        if (!e->bucket)
                e->bucket = bolt_bucket_new();
        *ret = e->bucket;
        return 0;
}

int bolt_bucket_sub(BoltBucket *b, const char *key, BoltBucket **ret) {
        return sub(b, key, strlen(key), ret);
}

const BoltEntry *bolt_bucket_find(const BoltBucket *b, const char *key) {
        bool found;
        size_t i = b ? find(b, key, strlen(key), &found) : 0;
        return b && found ? &b->entries[i] : NULL;
}

const BoltBucket *bolt_bucket_path(const BoltBucket *b, const char *const *keys) {
        for (; b && *keys; keys++) {
                const BoltEntry *e = bolt_bucket_find(b, *keys);
                b = e ? e->bucket : NULL;
        }
        return b;
}

uint64_t bolt_fnv1a(const void *data, size_t size) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (const uint8_t *p = data; size > 0; p++, size--) {
                h ^= *p;
                h *= 0x100000001b3ull;
        }
        return h;
}

/* Integers in the file's byte order. */
static void put_uint(uint8_t *p, uint64_t v, unsigned width, bool big) {
        for (unsigned i = 0; i < width; i++)
                p[big ? width - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_uint(const uint8_t *p, unsigned width, bool big) {
        uint64_t v = 0;
        for (unsigned i = 0; i < width; i++)
                v |= (uint64_t)p[big ? width - 1 - i : i] << (8 * i);
        return v;
}

typedef struct Encoder {
        uint32_t page_size;
        bool big;
        uint8_t *file; /* pages 0..next-1 */
        uint64_t next; /* the next free page id */
} Encoder;

static size_t node_size(const BoltBucket *b, const size_t *value_sizes) {
        size_t n = BOLT_PAGE_HEADER_SIZE;
        for (size_t i = 0; i < b->n_entries; i++)
                n += BOLT_ELEMENT_SIZE + b->entries[i].key_size + value_sizes[i];
        return n;
}

/* bucket.go's inlineable(): a leaf without nested buckets, at most a quarter page. */
static bool inlineable(const Encoder *enc, const BoltBucket *b) {
        size_t n = BOLT_PAGE_HEADER_SIZE;
        for (size_t i = 0; i < b->n_entries; i++) {
                if (b->entries[i].bucket)
                        return false;
                n += BOLT_ELEMENT_SIZE + b->entries[i].key_size + b->entries[i].value_size;
        }
        return n <= enc->page_size / 4;
}

static int bucket_value(Encoder *enc, const BoltBucket *b, uint8_t **ret, size_t *ret_size);

/* b's leaf node: a page header (id 0, flags, count; the caller sets id and overflow), the
 * elements and the keys and values, as node.go's write(). */
static int node_encode(Encoder *enc, const BoltBucket *b, uint8_t **ret, size_t *ret_size) {
        if (b->n_entries >= 0xffff)
                return -E2BIG;
        _cleanup_free_ size_t *sizes = xcalloc(b->n_entries + 1, sizeof(size_t));
        uint8_t **values = xcalloc(b->n_entries + 1, sizeof(uint8_t *));
        int r = 0;
        for (size_t i = 0; i < b->n_entries && r == 0; i++) {
                if (b->entries[i].bucket)
                        r = bucket_value(enc, b->entries[i].bucket, &values[i], &sizes[i]);
                else
                        sizes[i] = b->entries[i].value_size;
        }
        size_t size = node_size(b, sizes);
        uint8_t *node = r == 0 ? xcalloc(1, size) : NULL;
        if (node) {
                put_uint(node + 8, BOLT_FLAG_LEAF, 2, enc->big);
                put_uint(node + 10, b->n_entries, 2, enc->big);
                size_t off = BOLT_PAGE_HEADER_SIZE + b->n_entries * BOLT_ELEMENT_SIZE;
                for (size_t i = 0; i < b->n_entries; i++) {
                        const BoltEntry *e = &b->entries[i];
                        uint8_t *el = node + BOLT_PAGE_HEADER_SIZE + i * BOLT_ELEMENT_SIZE;
                        put_uint(el, e->bucket ? BOLT_ELEMENT_BUCKET : 0, 4, enc->big);
                        put_uint(el + 4, off - (size_t)(el - node), 4, enc->big);
                        put_uint(el + 8, e->key_size, 4, enc->big);
                        put_uint(el + 12, sizes[i], 4, enc->big);
                        memcpy(node + off, e->key, e->key_size);
                        off += e->key_size;
                        if (sizes[i] > 0)
                                memcpy(node + off, e->bucket ? values[i] : e->value, sizes[i]);
                        off += sizes[i];
                }
                *ret = node;
                *ret_size = size;
        }
        for (size_t i = 0; i < b->n_entries; i++)
                free(values[i]);
        free(values);
        return r;
}

/* Places a node in the next free pages (its own plus overflow): returns its page id. */
static uint64_t page_place(Encoder *enc, uint8_t *node, size_t size) {
        uint64_t n = (size + enc->page_size - 1) / enc->page_size, id = enc->next;
        enc->file = xrealloc(enc->file, (id + n) * enc->page_size);
        memset(enc->file + id * enc->page_size, 0, n * enc->page_size);
        put_uint(node, id, 8, enc->big);
        put_uint(node + 12, n - 1, 4, enc->big);
        memcpy(enc->file + id * enc->page_size, node, size);
        enc->next += n;
        return id;
}

/* The value of a nested bucket in its parent: its header, then its leaf when it is inline. */
static int bucket_value(Encoder *enc, const BoltBucket *b, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *node = NULL;
        size_t size;
        int r = node_encode(enc, b, &node, &size);
        if (r < 0)
                return r;
        uint8_t *v;
        if (inlineable(enc, b)) {
                v = xcalloc(1, BOLT_BUCKET_HEADER_SIZE + size);
                memcpy(v + BOLT_BUCKET_HEADER_SIZE, node, size);
                *ret_size = BOLT_BUCKET_HEADER_SIZE + size;
        } else {
                v = xcalloc(1, BOLT_BUCKET_HEADER_SIZE);
                put_uint(v, page_place(enc, node, size), 8, enc->big);
                *ret_size = BOLT_BUCKET_HEADER_SIZE;
        }
        *ret = v;
        return 0;
}

static void meta_write(Encoder *enc, uint64_t id, uint64_t root, uint64_t high) {
        uint8_t *p = enc->file + id * enc->page_size, *m = p + BOLT_PAGE_HEADER_SIZE;
        put_uint(p, id, 8, enc->big);
        put_uint(p + 8, BOLT_FLAG_META, 2, enc->big);
        put_uint(m, BOLT_MAGIC, 4, enc->big);
        put_uint(m + 4, BOLT_VERSION, 4, enc->big);
        put_uint(m + 8, enc->page_size, 4, enc->big);
        put_uint(m + 16, root, 8, enc->big); /* root bucket: its page, sequence 0 */
        put_uint(m + 32, 2, 8, enc->big);    /* freelist page */
        put_uint(m + 40, high, 8, enc->big); /* high-water mark: pages in the file */
        put_uint(m + 48, id, 8, enc->big);   /* txid */
        put_uint(m + 56, bolt_fnv1a(m, 56), 8, enc->big);
}

int bolt_encode(const BoltBucket *root, uint32_t page_size, bool big_endian, uint8_t **ret_data,
                size_t *ret_size) {
        if (page_size < 1024 || page_size > 65536 || (page_size & (page_size - 1)) != 0)
                return -EINVAL;
        Encoder enc = {.page_size = page_size, .big = big_endian, .next = 3};
        enc.file = xcalloc(3, page_size);
        _cleanup_free_ uint8_t *node = NULL;
        size_t size;
        int r = node_encode(&enc, root, &node, &size);
        if (r < 0) {
                free(enc.file);
                return r;
        }
        uint64_t root_page = page_place(&enc, node, size);
        meta_write(&enc, 0, root_page, enc.next);
        meta_write(&enc, 1, root_page, enc.next);
        uint8_t *freelist = enc.file + 2 * page_size;
        put_uint(freelist, 2, 8, big_endian);
        put_uint(freelist + 8, BOLT_FLAG_FREELIST, 2, big_endian);
        *ret_data = enc.file;
        *ret_size = enc.next * page_size;
        return 0;
}

typedef struct Decoder {
        const uint8_t *data;
        size_t size;
        uint32_t page_size;
        uint64_t high;
        bool big;
        uint8_t *seen; /* a bit per page: each page belongs to one node, read once */
} Decoder;

static int node_decode(Decoder *d, const uint8_t *page, size_t span, BoltBucket *into,
                       unsigned depth);

/* The page id's bytes (with its overflow pages): NULL when outside the file or already read (a
 * page two nodes point at, or a cycle: never in a bbolt file, and a way to make a reader walk
 * forever). */
static const uint8_t *page_at(Decoder *d, uint64_t id, size_t *ret_span) {
        if (id < 2 || id >= d->high || id >= d->size / d->page_size ||
            (d->seen[id / 8] & (1u << (id % 8))))
                return NULL;
        d->seen[id / 8] |= (uint8_t)(1u << (id % 8));
        const uint8_t *p = d->data + id * d->page_size;
        if ((size_t)(d->size - id * d->page_size) < d->page_size || get_uint(p, 8, d->big) != id)
                return NULL;
        uint64_t overflow = get_uint(p + 12, 4, d->big);
        if (id + overflow >= d->high || (id + overflow + 1) > d->size / d->page_size)
                return NULL;
        for (uint64_t o = id + 1; o <= id + overflow; o++) {
                if (d->seen[o / 8] & (1u << (o % 8)))
                        return NULL;
                d->seen[o / 8] |= (uint8_t)(1u << (o % 8));
        }
        *ret_span = (overflow + 1) * d->page_size;
        return p;
}

static int bucket_decode(Decoder *d, const uint8_t *v, size_t size, BoltBucket *into,
                         unsigned depth) {
        if (size < BOLT_BUCKET_HEADER_SIZE)
                return -EBADMSG;
        uint64_t root = get_uint(v, 8, d->big);
        if (root == 0)
                return node_decode(d, v + BOLT_BUCKET_HEADER_SIZE, size - BOLT_BUCKET_HEADER_SIZE,
                                   into, depth + 1);
        size_t span;
        const uint8_t *p = page_at(d, root, &span);
        return p ? node_decode(d, p, span, into, depth + 1) : -EBADMSG;
}

/* A leaf element's key and value, appended to into: its key must come after into's last (a
 * bbolt bucket's leaves, read in order, hold its keys in ascending order). */
static int leaf_element_decode(Decoder *d, uint64_t eflags, const uint8_t *key, size_t ksize,
                               const uint8_t *value, size_t vsize, BoltBucket *into,
                               unsigned depth) {
        const BoltEntry *last = into->n_entries > 0 ? &into->entries[into->n_entries - 1] : NULL;
        if (last && key_cmp(last->key, last->key_size, key, ksize) >= 0)
                return -EBADMSG;
        BoltEntry *e = entry_insert(into, into->n_entries, key, ksize);
        if (eflags & BOLT_ELEMENT_BUCKET) {
                e->bucket = bolt_bucket_new();
                return bucket_decode(d, value, vsize, e->bucket, depth);
        }
        e->value = dup_bytes(value, vsize);
        e->value_size = vsize;
        return 0;
}

/* A leaf or branch node of span bytes at page (a page, or an inline bucket's value), its
 * entries added to into. Only what bbolt's node.go write() lays out is accepted: each
 * element's key (and value) right where the previous element's ended, the first right after
 * the elements, keys in ascending order. So no two elements share bytes, and what a node
 * decodes to is never larger than the node. */
static int node_decode(Decoder *d, const uint8_t *page, size_t span, BoltBucket *into,
                       unsigned depth) {
        if (depth > 64 || span < BOLT_PAGE_HEADER_SIZE)
                return -EBADMSG;
        unsigned flags = (unsigned)get_uint(page + 8, 2, d->big);
        size_t count = (size_t)get_uint(page + 10, 2, d->big);
        if ((flags != BOLT_FLAG_LEAF && flags != BOLT_FLAG_BRANCH) ||
            count > (span - BOLT_PAGE_HEADER_SIZE) / BOLT_ELEMENT_SIZE)
                return -EBADMSG;
        bool branch = flags == BOLT_FLAG_BRANCH;
        size_t off = BOLT_PAGE_HEADER_SIZE + count * BOLT_ELEMENT_SIZE; /* the next key */
        const uint8_t *prev = NULL;
        size_t prev_size = 0;
        for (size_t i = 0; i < count; i++) {
                size_t at = BOLT_PAGE_HEADER_SIZE + i * BOLT_ELEMENT_SIZE;
                const uint8_t *el = page + at;
                /* leaf {flags, pos, ksize, vsize}, branch {pos, ksize, child page} */
                uint64_t pos = get_uint(el + (branch ? 0 : 4), 4, d->big);
                uint64_t ksize = get_uint(el + (branch ? 4 : 8), 4, d->big);
                uint64_t vsize = branch ? 0 : get_uint(el + 12, 4, d->big);
                if (at + pos != off || ksize == 0 || ksize > BOLT_MAX_KEY_SIZE ||
                    ksize > span - off || vsize > span - off - ksize)
                        return -EBADMSG;
                const uint8_t *key = page + off;
                off += ksize + vsize;
                int r;
                if (branch) {
                        if (prev && key_cmp(prev, prev_size, key, ksize) >= 0)
                                return -EBADMSG;
                        prev = key;
                        prev_size = ksize;
                        size_t child_span;
                        const uint8_t *child = page_at(d, get_uint(el + 8, 8, d->big), &child_span);
                        if (!child || child == page)
                                return -EBADMSG;
                        r = node_decode(d, child, child_span, into, depth + 1);
                } else
                        r = leaf_element_decode(d, get_uint(el, 4, d->big), key, ksize, key + ksize,
                                                vsize, into, depth);
                if (r < 0)
                        return -EBADMSG;
        }
        return 0;
}

/* Meta page id's fields when it is valid: -EBADMSG otherwise. */
static int meta_read(const uint8_t *data, size_t size, size_t offset, Decoder *d,
                     uint64_t *ret_root, uint64_t *ret_txid) {
        if (offset + BOLT_PAGE_HEADER_SIZE + BOLT_META_SIZE > size)
                return -EBADMSG;
        const uint8_t *m = data + offset + BOLT_PAGE_HEADER_SIZE;
        for (int big = 0; big <= 1; big++) {
                if (get_uint(m, 4, big) != BOLT_MAGIC || get_uint(m + 4, 4, big) != BOLT_VERSION ||
                    get_uint(m + 56, 8, big) != bolt_fnv1a(m, 56))
                        continue;
                d->big = big;
                d->page_size = (uint32_t)get_uint(m + 8, 4, big);
                d->high = get_uint(m + 40, 8, big);
                *ret_root = get_uint(m + 16, 8, big);
                *ret_txid = get_uint(m + 48, 8, big);
                if (d->page_size < 512 || (d->page_size & (d->page_size - 1)) != 0)
                        return -EBADMSG;
                return 0;
        }
        return -EBADMSG;
}

int bolt_decode(const void *data, size_t size, BoltBucket **ret) {
        Decoder d0 = {.data = data, .size = size}, d1 = d0;
        uint64_t root0 = 0, root1 = 0, tx0 = 0, tx1 = 0;
        int r0 = meta_read(data, size, 0, &d0, &root0, &tx0);
        /* Meta page 1 is one page further, the page size meta page 0 says (or 4096). */
        int r1 = meta_read(data, size, r0 == 0 ? d0.page_size : 4096, &d1, &root1, &tx1);
        if (r0 < 0 && r1 < 0)
                return -EBADMSG;
        bool use1 = r1 == 0 && (r0 < 0 || tx1 > tx0);
        Decoder *d = use1 ? &d1 : &d0;
        uint64_t root = use1 ? root1 : root0;
        _cleanup_free_ uint8_t *seen = xcalloc(size / d->page_size / 8 + 1, 1);
        d->seen = seen;
        size_t span;
        const uint8_t *p = page_at(d, root, &span);
        if (!p)
                return -EBADMSG;
        _cleanup_(bolt_bucket_freep) BoltBucket *b = bolt_bucket_new();
        int r = node_decode(d, p, span, b, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}
