/* SPDX-License-Identifier: MIT */
/* `vmcompose inspect`: what an image file is, and whether its headers hold up. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "output-internal.h"
#include "vmcompose/crc32c.h"
#include "vmcompose/hash.h"
#include "vmcompose/sparse.h"

static int bad(Buffer *out, const char *why) {
        buffer_printf(out, "  error: %s\n", why);
        return -EBADMSG;
}

static int inspect_vhd(int fd, uint64_t file_size, Buffer *out) {
        uint8_t footer[VHD_FOOTER_SIZE];
        const char *err = NULL;
        VhdFooter f;
        char u[37];
        int r = pread_all(fd, footer, sizeof(footer), file_size - VHD_FOOTER_SIZE);

        if (r < 0)
                return r;
        buffer_puts(out, "  format: vhd\n");
        if (vhd_footer_decode(footer, &f, &err) < 0)
                return bad(out, err);
        uuid_format(f.uuid, u);
        buffer_printf(out, "  virtual size: %llu (%llu MiB)\n", (unsigned long long)f.current_size,
                      (unsigned long long)(f.current_size >> 20));
        buffer_printf(out, "  type: fixed\n  creator: %.4s\n  geometry: %u/%u/%u\n  uuid: %s\n",
                      f.creator_app, f.cylinders, f.heads, f.sectors, u);
        buffer_printf(out, "  timestamp: %llu\n",
                      (unsigned long long)(f.timestamp + VHD_EPOCH_OFFSET));
        if (f.current_size + VHD_FOOTER_SIZE != file_size)
                return bad(out, "file size is not the virtual size plus the 512-byte footer");
        return 0;
}

static int inspect_qcow2(int fd, uint64_t file_size, Buffer *out) {
        uint8_t h[112];
        int r = pread_all(fd, h, sizeof(h), 0);

        if (r < 0)
                return r;
        buffer_puts(out, "  format: qcow2\n");
        uint32_t version = be32(h + 4), bits = be32(h + 20);
        buffer_printf(out, "  version: %u\n  cluster size: %llu\n  virtual size: %llu\n", version,
                      bits < 64 ? (unsigned long long)1 << bits : 0ULL,
                      (unsigned long long)be64(h + 24));
        if (version != 2 && version != 3)
                return bad(out, "unsupported qcow2 version");
        if (bits < 9 || bits > 21)
                return bad(out, "cluster bits out of range");
        uint64_t cs = UINT64_C(1) << bits;
        if (be64(h + 40) % cs || be64(h + 48) % cs)
                return bad(out, "L1 or refcount table not cluster-aligned");
        if (be64(h + 40) >= file_size || be64(h + 48) >= file_size)
                return bad(out, "tables beyond the end of the file");
        if (be32(h + 32) != 0)
                return bad(out, "encrypted images are not supported");
        if (version == 3 && be64(h + 72) != 0)
                return bad(out, "unknown incompatible features");
        return 0;
}

static int inspect_vhdx(int fd, Buffer *out) {
        uint8_t *buf = xmalloc(64 * 1024);
        int r = 0, headers = 0, regions = 0;

        buffer_puts(out, "  format: vhdx\n");
        for (int i = 0; i < 2; i++) {
                r = pread_all(fd, buf, 4096, (uint64_t)(64 + 64 * i) * 1024);
                if (r < 0)
                        break;
                uint32_t sum = le32(buf + 4);
                memset(buf + 4, 0, 4);
                bool ok = memcmp(buf, "head", 4) == 0 && crc32c(buf, 4096) == sum;
                buffer_printf(out, "  header %d: %s\n", i + 1, ok ? "valid" : "invalid");
                headers += ok;
        }
        for (int i = 0; i < 2 && r == 0; i++) {
                r = pread_all(fd, buf, 64 * 1024, (uint64_t)(192 + 64 * i) * 1024);
                if (r < 0)
                        break;
                uint32_t sum = le32(buf + 4);
                memset(buf + 4, 0, 4);
                bool ok = memcmp(buf, "regi", 4) == 0 && crc32c(buf, 64 * 1024) == sum;
                buffer_printf(out, "  region table %d: %s\n", i + 1, ok ? "valid" : "invalid");
                regions += ok;
        }
        free(buf);
        if (r < 0)
                return r;
        /* One valid header and one valid region table are enough to open the file. */
        if (headers == 0 || regions == 0)
                return bad(out, "no valid VHDX header or region table");
        return 0;
}

int output_inspect(const char *path, Buffer *out) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        uint8_t head[8] = {}, foot[8] = {};

        if (fd < 0 || fstat(fd, &st) < 0) {
                buffer_printf(out, "  error: %s\n", strerror(errno));
                return -errno;
        }
        uint64_t size = (uint64_t)st.st_size;
        buffer_printf(out, "  file size: %llu\n", (unsigned long long)size);
        if (size >= 8)
                (void)pread_all(fd, head, 8, 0);
        if (size >= VHD_FOOTER_SIZE)
                (void)pread_all(fd, foot, 8, size - VHD_FOOTER_SIZE);
        if (memcmp(head, "QFI\xfb", 4) == 0)
                return inspect_qcow2(fd, size, out);
        if (memcmp(head, "vhdxfile", 8) == 0)
                return inspect_vhdx(fd, out);
        if (memcmp(foot, "conectix", 8) == 0)
                return inspect_vhd(fd, size, out);
        /* A VHD whose footer cookie is damaged must not pass as raw: look for the rest of it. */
        buffer_puts(out, "  format: raw\n");
        buffer_printf(out, "  virtual size: %llu\n", (unsigned long long)size);
        if (size >= VHD_FOOTER_SIZE) {
                uint8_t f[VHD_FOOTER_SIZE];
                if (pread_all(fd, f, sizeof(f), size - VHD_FOOTER_SIZE) == 0 &&
                    be32(f + 12) == 0x00010000 && be32(f + 60) == 2 && be64(f + 16) == UINT64_MAX)
                        return bad(out, "the last 512 bytes look like a damaged VHD footer");
        }
        return 0;
}
