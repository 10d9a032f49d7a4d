/* SPDX-License-Identifier: MIT */
/* `vmcompose inspect`: what an image file is, and whether every structure it describes lies
 * inside it. The readers (this file: detection, VHD, raw; inspect-qcow2.c; inspect-vhdx.c) work
 * on an ImageSource, a size and a read callback, so tests and the fuzzer hand them buffers. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "output-internal.h"
#include "vmcompose/hash.h"
#include "vmcompose/sparse.h"

typedef struct Memory {
        const uint8_t *data;
} Memory;

static int memory_read(void *userdata, void *buf, size_t len, uint64_t offset) {
        memcpy(buf, (const uint8_t *)userdata + offset, len);
        return 0;
}

ImageSource image_source_memory(const void *data, size_t size) {
        return (ImageSource){.size = size, .read = memory_read, .userdata = (void *)data};
}

static int fd_read(void *userdata, void *buf, size_t len, uint64_t offset) {
        return pread_all(*(int *)userdata, buf, len, offset);
}

bool image_contains(const ImageSource *s, uint64_t offset, uint64_t length) {
        return offset <= s->size && length <= s->size - offset;
}

int image_read(const ImageSource *s, void *buf, size_t len, uint64_t offset) {
        if (!image_contains(s, offset, len))
                return -ENODATA;
        return s->read(s->userdata, buf, len, offset);
}

int image_table_entry(const ImageSource *s, uint64_t offset, uint64_t count, size_t entry_size,
                      uint64_t i, uint8_t buf[IMAGE_TABLE_CHUNK], const uint8_t **ret) {
        uint64_t per_chunk = IMAGE_TABLE_CHUNK / entry_size;

        if (i % per_chunk == 0) {
                int r = image_read(s, buf, (size_t)(MIN(per_chunk, count - i) * entry_size),
                                   offset + i * entry_size);
                if (r < 0)
                        return r;
        }
        *ret = buf + (i % per_chunk) * entry_size;
        return 0;
}

int image_error(Buffer *out, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        buffer_printf(out, "  error: %s\n", s ? s : fmt);
        free(s);
        return -EBADMSG;
}

static unsigned long long ull(uint64_t v) {
        return (unsigned long long)v;
}

/* A dynamic VHD: the footer's copy at the start, the dynamic disk header, the block allocation
 * table, and every block it allocates (a sector bitmap, then the data), before the footer. */
static int inspect_vhd_dynamic(const ImageSource *s, Buffer *out, const VhdFooter *f) {
        uint8_t h[1024];
        int r;

        if (s->size < 2 * VHD_FOOTER_SIZE)
                return image_error(out, "a dynamic VHD starts with a copy of its footer, and this "
                                        "file has no room for it");
        r = image_read(s, h, VHD_FOOTER_SIZE, 0);
        if (r < 0)
                return r;
        if (memcmp(h, "conectix", 8) != 0)
                return image_error(out, "the copy of the footer at the start of the dynamic VHD "
                                        "is missing");
        uint64_t end = s->size - VHD_FOOTER_SIZE; /* where the footer starts */
        if (!image_contains(s, f->data_offset, sizeof(h)) || f->data_offset + sizeof(h) > end)
                return image_error(out,
                                   "the dynamic disk header (offset %llu, 1024 bytes) ends past "
                                   "the footer (offset %llu)",
                                   ull(f->data_offset), ull(end));
        r = image_read(s, h, sizeof(h), f->data_offset);
        if (r < 0)
                return r;
        uint32_t sum = 0;
        for (size_t i = 0; i < sizeof(h); i++)
                if (i < 36 || i >= 40) /* the checksum field counts as zero */
                        sum += h[i];
        if (memcmp(h, "cxsparse", 8) != 0)
                return image_error(out,
                                   "the dynamic disk header (offset %llu) has no "
                                   "\"cxsparse\" cookie",
                                   ull(f->data_offset));
        if (be32(h + 36) != ~sum)
                return image_error(out, "dynamic disk header checksum mismatch (corrupt header)");
        if (be32(h + 24) != 0x00010000)
                return image_error(out, "unsupported dynamic disk header version");
        uint64_t bat = be64(h + 16), entries = be32(h + 28), block = be32(h + 32);
        buffer_printf(out, "  block size: %llu\n", ull(block));
        if (block < 512 || (block & (block - 1)) != 0)
                return image_error(out, "block size %llu is not a power of 2 of at least 512",
                                   ull(block));
        uint64_t needed = f->current_size / block + (f->current_size % block != 0);
        if (entries < needed)
                return image_error(out,
                                   "the block allocation table has %llu entries; the virtual size "
                                   "needs %llu",
                                   ull(entries), ull(needed));
        if (!image_contains(s, bat, entries * 4) || bat + entries * 4 > end)
                return image_error(out,
                                   "the block allocation table (offset %llu, %llu entries) ends "
                                   "past the footer (offset %llu)",
                                   ull(bat), ull(entries), ull(end));
        /* A block: its sector bitmap, one bit a sector, in whole sectors; then its data. */
        uint64_t bitmap = (block / 512 / 8 + 511) / 512 * 512;
        uint64_t present = 0, bad = 0, first = 0, first_offset = 0;
        _cleanup_free_ uint8_t *buf = xmalloc(IMAGE_TABLE_CHUNK);
        for (uint64_t i = 0; i < entries; i++) {
                const uint8_t *p;
                r = image_table_entry(s, bat, entries, 4, i, buf, &p);
                if (r < 0)
                        return r;
                uint32_t sector = be32(p);
                if (sector == UINT32_MAX)
                        continue;
                present++;
                uint64_t off = (uint64_t)sector * 512;
                if (off + bitmap + block <= end)
                        continue;
                if (bad++ == 0) {
                        first = i;
                        first_offset = off;
                }
        }
        buffer_printf(out, "  blocks present: %llu of %llu\n", ull(present), ull(needed));
        if (bad > 0)
                return image_error(out,
                                   "%llu block%s the allocation table lists end%s past the footer "
                                   "(offset %llu); the first, block %llu, at offset %llu",
                                   ull(bad), bad == 1 ? "" : "s", bad == 1 ? "s" : "", ull(end),
                                   ull(first), ull(first_offset));
        return 0;
}

int inspect_vhd(const ImageSource *s, Buffer *out) {
        static const char *const types[] = {[VHD_FIXED] = "fixed",
                                            [VHD_DYNAMIC] = "dynamic",
                                            [VHD_DIFFERENCING] = "differencing"};
        uint8_t footer[VHD_FOOTER_SIZE];
        const char *err = NULL;
        VhdFooter f;
        char u[37];
        int r;

        buffer_puts(out, "  format: vhd\n");
        if (s->size < VHD_FOOTER_SIZE)
                return image_error(
                        out, "the VHD footer (512 bytes) does not fit in the file (%llu bytes)",
                        ull(s->size));
        r = image_read(s, footer, sizeof(footer), s->size - VHD_FOOTER_SIZE);
        if (r < 0)
                return r;
        if (vhd_footer_parse(footer, &f, &err) < 0)
                return image_error(out, "%s", err);
        uuid_format(f.uuid, u);
        buffer_printf(out, "  virtual size: %llu (%llu MiB)\n", ull(f.current_size),
                      ull(f.current_size >> 20));
        buffer_printf(out, "  type: %s\n  creator: %.4s\n  geometry: %u/%u/%u\n  uuid: %s\n",
                      types[f.disk_type], f.creator_app, f.cylinders, f.heads, f.sectors, u);
        buffer_printf(out, "  timestamp: %llu\n", ull(f.timestamp + VHD_EPOCH_OFFSET));
        if (f.disk_type == VHD_DIFFERENCING)
                return image_error(out, "differencing VHDs (with a parent) are not supported");
        if (f.disk_type == VHD_DYNAMIC)
                r = inspect_vhd_dynamic(s, out, &f);
        else if (f.current_size > UINT64_MAX - VHD_FOOTER_SIZE ||
                 f.current_size + VHD_FOOTER_SIZE != s->size)
                r = image_error(out,
                                "the footer says the disk has %llu bytes, so the file should "
                                "have %llu bytes with its footer, not %llu",
                                ull(f.current_size), ull(f.current_size) + VHD_FOOTER_SIZE,
                                ull(s->size));
        if (r < 0)
                return r;
        /* A sound image that Azure would not take: an error of its own kind. */
        if (vhd_footer_azure(&f, &err) < 0) {
                (void)image_error(out, "%s", err);
                return -EMEDIUMTYPE;
        }
        return 0;
}

static int inspect_raw(const ImageSource *s, Buffer *out) {
        buffer_puts(out, "  format: raw\n");
        buffer_printf(out, "  virtual size: %llu\n", (unsigned long long)s->size);
        /* A VHD whose footer cookie is damaged must not pass as raw: look for the rest of it. */
        if (s->size >= VHD_FOOTER_SIZE) {
                uint8_t f[VHD_FOOTER_SIZE];
                if (image_read(s, f, sizeof(f), s->size - VHD_FOOTER_SIZE) == 0 &&
                    be32(f + 12) == 0x00010000 && be32(f + 60) == 2 && be64(f + 16) == UINT64_MAX)
                        return image_error(out,
                                           "the last 512 bytes look like a damaged VHD footer");
        }
        return 0;
}

#define ZSTD_MAGIC "\x28\xb5\x2f\xfd"

static int inspect_zst(const ImageSource *s, Buffer *out) {
        uint8_t h[18] = {};

        buffer_puts(out, "  format: raw.zst\n");
        int r = image_read(s, h, MIN(sizeof(h), s->size), 0);
        if (r < 0)
                return r;
        /* Frame header descriptor: the content size field's width, after the window byte
         * (absent for single-segment frames) and the dictionary ID (RFC 8878, 3.1.1.1). */
        uint8_t d = h[4];
        unsigned fcs_flag = d >> 6, single = (d >> 5) & 1, did_flag = d & 3;
        static const unsigned did_size[] = {0, 1, 2, 4}, fcs_size[] = {0, 2, 4, 8};
        unsigned fcs = fcs_flag == 0 && single ? 1 : fcs_size[fcs_flag];
        unsigned at = 5 + !single + did_size[did_flag];
        if (fcs > 0 && at + fcs <= MIN(sizeof(h), s->size)) {
                uint64_t v = 0;
                for (unsigned i = 0; i < fcs; i++)
                        v |= (uint64_t)h[at + i] << (8 * i);
                if (fcs == 2)
                        v += 256;
                buffer_printf(out, "  virtual size: %llu (uncompressed)\n", (unsigned long long)v);
        }
        buffer_puts(out, "  note: compressed; decompress it (zstd -d) to use it as a disk\n");
        return 0;
}

/* What a file name's suffix promises, and how to say the content breaks the promise. */
static const struct {
        const char *suffix, *format, *missing;
} promises[] = {
        {".vhd", "vhd",
         "has no VHD footer (a .vhd file ends with a 512-byte footer starting "
         "\"conectix\")"},
        {".vhdx", "vhdx", "has no VHDX file identifier (a .vhdx file starts with \"vhdxfile\")"},
        {".qcow2", "qcow2", "has no qcow2 header (a .qcow2 file starts with \"QFI\\xfb\")"},
        {".raw.zst", "raw.zst",
         "is not zstd-compressed (a .raw.zst file starts with the zstd magic 28 b5 2f fd)"},
};

static bool has_suffix(const char *name, const char *suffix) {
        size_t n = strlen(name), k = strlen(suffix);
        return n > k && strcasecmp(name + n - k, suffix) == 0;
}

int inspect_source(const ImageSource *s, const char *name, Buffer *out, const char **ret_format) {
        uint8_t head[8] = {}, foot[8] = {};
        const char *format = "raw";
        int r;

        buffer_printf(out, "  file size: %llu\n", (unsigned long long)s->size);
        if (s->size >= 8 && (r = image_read(s, head, 8, 0)) < 0)
                return r;
        if (s->size >= VHD_FOOTER_SIZE && (r = image_read(s, foot, 8, s->size - 512)) < 0)
                return r;
        if (memcmp(head, "QFI\xfb", 4) == 0)
                format = "qcow2";
        else if (memcmp(head, "vhdxfile", 8) == 0)
                format = "vhdx";
        else if (memcmp(foot, "conectix", 8) == 0)
                format = "vhd";
        else if (memcmp(head, ZSTD_MAGIC, 4) == 0)
                format = "raw.zst";
        if (ret_format)
                *ret_format = format;

        if (streq(format, "raw") && name)
                for (size_t i = 0; i < ELEMENTSOF(promises); i++)
                        if (has_suffix(name, promises[i].suffix)) {
                                buffer_puts(out, "  format: unknown\n");
                                return image_error(out, "%s %s", name, promises[i].missing);
                        }
        if (streq(format, "qcow2"))
                return inspect_qcow2(s, out);
        if (streq(format, "vhdx"))
                return inspect_vhdx(s, out);
        if (streq(format, "vhd"))
                return inspect_vhd(s, out);
        if (streq(format, "raw.zst"))
                return inspect_zst(s, out);
        return inspect_raw(s, out);
}

static int inspect_path(const char *path, Buffer *out, const char **ret_format) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0) {
                int r = -errno;
                buffer_printf(out, "  error: %s\n", strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                buffer_printf(out, "  error: not a regular file\n");
                return -EBADMSG;
        }
        uint64_t size = (uint64_t)st.st_size;
        if (S_ISBLK(st.st_mode)) {
                off_t end = lseek(fd, 0, SEEK_END);
                size = end > 0 ? (uint64_t)end : 0;
        }
        ImageSource s = {.size = size, .read = fd_read, .userdata = &fd};
        return inspect_source(&s, path, out, ret_format);
}

int output_inspect(const char *path, Buffer *out) {
        return inspect_path(path, out, NULL);
}

int output_inspect_verdict(const char *path, const char **ret_format, char **ret_error) {
        Buffer out = {};
        const char *format = NULL;
        int r = inspect_path(path, &out, &format);

        if (r < 0 && ret_error) {
                const char *e = out.data ? strstr(out.data, "  error: ") : NULL;
                *ret_error = e ? xasprintf("%.*s", (int)strcspn(e + 9, "\n"), e + 9)
                               : xstrdup(strerror(-r));
        }
        if (ret_format)
                *ret_format = format;
        buffer_done(&out);
        return r;
}
