/* SPDX-License-Identifier: MIT */
/* Fuzz target for the image readers behind `vmcompose inspect` (and `vmcompose boot`'s check):
 * format detection, qcow2, VHDX and VHD on arbitrary bytes, read through a memory source, under
 * each file name that promises a format. Built with -fsanitize=fuzzer by `make fuzz`;
 * otherwise replay.c replays the corpus.
 *
 * VHDX keeps its structures at 64 KiB to 3 MiB: to reach them with small inputs, an input that
 * starts with "VMCSPARS" describes a sparse file instead: a little-endian u32 file size (at most
 * 16 MiB), then segments (u32 offset, u16 length, the bytes) over zeros. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../composer/output/output-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SPARSE_SIZE (16u << 20)

typedef struct Segment {
        uint64_t offset;
        const uint8_t *data;
        size_t length;
} Segment;

typedef struct Sparse {
        Segment *segments;
        size_t n;
} Sparse;

static int sparse_read(void *userdata, void *buf, size_t len, uint64_t offset) {
        const Sparse *sp = userdata;
        memset(buf, 0, len);
        for (size_t i = 0; i < sp->n; i++) {
                const Segment *g = &sp->segments[i];
                uint64_t from = MAX(g->offset, offset);
                uint64_t to = MIN(g->offset + g->length, offset + len);
                if (from < to)
                        memcpy((uint8_t *)buf + (from - offset), g->data + (from - g->offset),
                               (size_t)(to - from));
        }
        return 0;
}

static void run(const ImageSource *s) {
        static const char *const names[] = {NULL, "fuzz.qcow2", "fuzz.vhdx", "fuzz.vhd",
                                            "fuzz.raw.zst"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                Buffer out = {};
                const char *format = NULL;
                int r = inspect_source(s, names[i], &out, &format);
                /* FUZZ_IMAGE_SHOW=1 with the replay binary: what each seed reads as. */
                if (i == 0 && getenv("FUZZ_IMAGE_SHOW"))
                        printf("%d\n%s", r, out.data);
                buffer_done(&out);
        }
        /* Each reader on its own, whatever the content says. */
        int (*const readers[])(const ImageSource *, Buffer *) = {inspect_qcow2, inspect_vhdx,
                                                                 inspect_vhd};
        for (size_t i = 0; i < ELEMENTSOF(readers); i++) {
                Buffer out = {};
                (void)readers[i](s, &out);
                buffer_done(&out);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > (1u << 20))
                return 0;
        if (size < 12 || memcmp(data, "VMCSPARS", 8) != 0) {
                ImageSource s = image_source_memory(data, size);
                run(&s);
                return 0;
        }

        Sparse sp = {};
        uint32_t file_size = le32(data + 8) % (MAX_SPARSE_SIZE + 1);
        for (size_t p = 12; p + 6 <= size;) {
                uint32_t off = le32(data + p);
                size_t len = MIN((size_t)le16(data + p + 4), size - p - 6);
                sp.segments = xrealloc(sp.segments, (sp.n + 1) * sizeof(Segment));
                sp.segments[sp.n++] = (Segment){off, data + p + 6, len};
                p += 6 + len;
        }
        ImageSource s = {.size = file_size, .read = sparse_read, .userdata = &sp};
        run(&s);
        free(sp.segments);
        return 0;
}
