/* SPDX-License-Identifier: MIT */
/* Azure's fixed VHD: the raw disk followed by a 512-byte footer (Virtual Hard Disk Image Format
 * Specification, "Hard Disk Footer Format"). Azure takes only fixed VHDs whose virtual size is a
 * whole number of MiB. Geometry is written as the maximum, 65535/16/255, with current size =
 * original size = the exact size, so that every reader (QEMU included) uses the size field
 * instead of the CHS value, which rounds down (../shared/PLATFORMS.md, "Geometry trap"). */
#include <string.h>

#include "output-internal.h"
#include "vmcompose/sparse.h"

#define MiB (UINT64_C(1) << 20)

uint32_t vhd_checksum(const uint8_t footer[VHD_FOOTER_SIZE]) {
        uint32_t sum = 0;
        for (size_t i = 0; i < VHD_FOOTER_SIZE; i++)
                if (i < 64 || i >= 68) /* the checksum field counts as zero */
                        sum += footer[i];
        return ~sum;
}

void vhd_footer_encode(const VhdFooter *f, uint8_t out[VHD_FOOTER_SIZE]) {
        memset(out, 0, VHD_FOOTER_SIZE);
        memcpy(out, "conectix", 8);
        put_be32(out + 8, 0x00000002);  /* features: reserved bit, always set */
        put_be32(out + 12, 0x00010000); /* file format version 1.0 */
        put_be64(out + 16, UINT64_MAX); /* data offset: none, a fixed disk */
        put_be32(out + 24, f->timestamp);
        memcpy(out + 28, f->creator_app, 4);
        put_be32(out + 32, 0x00010000); /* creator version */
        memcpy(out + 36, "Wi2k", 4);    /* creator host OS, as Azure's own tools write */
        put_be64(out + 40, f->original_size);
        put_be64(out + 48, f->current_size);
        put_be16(out + 56, f->cylinders);
        out[58] = f->heads;
        out[59] = f->sectors;
        put_be32(out + 60, f->disk_type);
        memcpy(out + 68, f->uuid, 16);
        out[84] = 0; /* saved state */
        put_be32(out + 64, vhd_checksum(out));
}

int vhd_footer_parse(const uint8_t in[VHD_FOOTER_SIZE], VhdFooter *ret, const char **ret_error) {
        VhdFooter f = {};
        const char *err = NULL;
        uint32_t type = be32(in + 60);

        if (memcmp(in, "conectix", 8) != 0)
                err = "no VHD footer (cookie \"conectix\" missing)";
        else if (be32(in + 12) != 0x00010000)
                err = "unsupported VHD version";
        else if (be32(in + 64) != vhd_checksum(in))
                err = "footer checksum mismatch (corrupt footer)";
        else if (type != VHD_FIXED && type != VHD_DYNAMIC && type != VHD_DIFFERENCING)
                err = "unknown VHD disk type";
        else if (type == VHD_FIXED && be64(in + 16) != UINT64_MAX)
                err = "a fixed VHD's data offset must be all ones";
        if (err) {
                if (ret_error)
                        *ret_error = err;
                return -EBADMSG;
        }
        f.data_offset = be64(in + 16);
        f.timestamp = be32(in + 24);
        memcpy(f.creator_app, in + 28, 4);
        f.original_size = be64(in + 40);
        f.current_size = be64(in + 48);
        f.cylinders = be16(in + 56);
        f.heads = in[58];
        f.sectors = in[59];
        f.disk_type = type;
        f.checksum = be32(in + 64);
        memcpy(f.uuid, in + 68, 16);
        *ret = f;
        return 0;
}

int vhd_footer_azure(const VhdFooter *f, const char **ret_error) {
        const char *err = NULL;

        if (f->disk_type != VHD_FIXED)
                err = "not a fixed VHD (Azure accepts only fixed VHDs)";
        else if (f->current_size % MiB != 0)
                err = "virtual size is not a whole number of MiB (Azure rejects it)";
        else if (f->original_size != f->current_size)
                err = "original and current size differ";
        if (err && ret_error)
                *ret_error = err;
        return err ? -EMEDIUMTYPE : 0;
}

int vhd_footer_decode(const uint8_t in[VHD_FOOTER_SIZE], VhdFooter *ret, const char **ret_error) {
        VhdFooter f;
        int r = vhd_footer_parse(in, &f, ret_error);

        if (r == 0 && vhd_footer_azure(&f, ret_error) < 0)
                r = -EBADMSG;
        if (r == 0)
                *ret = f;
        return r;
}

static int vhd_write(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o) {
        uint8_t footer[VHD_FOOTER_SIZE];
        int r;

        if (size % MiB != 0 || size == 0)
                return -EINVAL; /* the disk stage always makes whole MiB */
        uint64_t t = o->timestamp > VHD_EPOCH_OFFSET ? o->timestamp - VHD_EPOCH_OFFSET : 0;
        VhdFooter f = {
                .timestamp = (uint32_t)MIN(t, (uint64_t)UINT32_MAX),
                .creator_app = "vmcc",
                .original_size = size,
                .current_size = size,
                .cylinders = 65535,
                .heads = 16,
                .sectors = 255,
                .disk_type = 2,
        };
        memcpy(f.uuid, o->disk_uuid, 16); /* the disk GUID identifies the virtual disk too */
        vhd_footer_encode(&f, footer);

        if (ftruncate(out_fd, (off_t)(size + VHD_FOOTER_SIZE)) < 0)
                return -errno;
        r = sparse_copy(raw_fd, 0, size, out_fd, 0);
        if (r < 0)
                return r;
        return pwrite_all(out_fd, footer, sizeof(footer), size);
}

const OutputFormat output_vhd = {
        .name = "vhd",
        .suffix = "vhd",
        .write_image = vhd_write,
        .raw_prefix = true,
};
