/* SPDX-License-Identifier: MIT */
/* Fuzz target for the bbolt reader behind `vmcompose audit`'s list of containerd's images
 * (composer/containers/bolt.c, containerd.c): a meta.db from an image is untrusted bytes. A file
 * that reads back must encode again, and that encoding must read back to the same bytes; its
 * keys and values add up to no more bytes than the file (no two elements share bytes). Built
 * with -fsanitize=fuzzer by `make fuzz`; otherwise replay.c replays the corpus (databases
 * bolt_encode() wrote with 1 KiB pages, in both byte orders, and branch: one as bbolt leaves it,
 * a branch root over two leaves, an overflow page, an inline bucket, a freed page). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/bolt.h"
#include "vmcompose/containers.h"
#include "vmcompose/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t tree_bytes(const BoltBucket *b) {
        size_t n = 0;
        for (size_t i = 0; i < b->n_entries; i++)
                n += b->entries[i].key_size + b->entries[i].value_size +
                     (b->entries[i].bucket ? tree_bytes(b->entries[i].bucket) : 0);
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > (1u << 20))
                return 0;
        char **images = NULL;
        if (containerd_meta_images(data, size, &images) == 0)
                strv_free(images);

        BoltBucket *tree = NULL;
        if (bolt_decode(data, size, &tree) < 0)
                return 0;
        if (tree_bytes(tree) > size)
                abort();
        uint8_t *a = NULL, *b = NULL;
        size_t na, nb;
        if (bolt_encode(tree, 1024, false, &a, &na) == 0) {
                BoltBucket *again = NULL;
                if (bolt_decode(a, na, &again) < 0 ||
                    bolt_encode(again, 1024, false, &b, &nb) < 0 || na != nb ||
                    memcmp(a, b, na) != 0)
                        abort();
                bolt_bucket_free(again);
        }
        free(a);
        free(b);
        bolt_bucket_free(tree);
        return 0;
}
