/* SPDX-License-Identifier: MIT */
/* The time in a PE image's COFF header (objcopy stamps the clock's, with no way to ask for
 * another), set to source-date-epoch, and the optional header's checksum made again. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/endian.h"

/* The PE checksum (as in the Windows ImageHlp's CheckSumMappedFile): the file's 16-bit
 * little-endian words added with end-around carry, the checksum field itself counted as zero,
 * then the file's length added. */
static uint32_t pe_checksum(const uint8_t *b, size_t size, size_t field) {
        uint64_t sum = 0;
        for (size_t i = 0; i < size; i += 2) {
                if (i >= field && i < field + 4)
                        continue;
                uint32_t w = b[i] | (i + 1 < size ? (uint32_t)b[i + 1] << 8 : 0);
                sum += w;
                sum = (sum & 0xffff) + (sum >> 16);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        return (uint32_t)(sum + size);
}

int pe_set_timestamp(uint8_t *b, size_t size, uint32_t timestamp) {
        if (size < 0x40 || b[0] != 'M' || b[1] != 'Z')
                return -EBADMSG;
        uint32_t pe = le32(b + 0x3c);
        /* "PE\0\0", the 20-byte COFF header, then the optional header's magic and, 64 bytes
         * into it for PE32 and PE32+ alike, the checksum. */
        if ((uint64_t)pe + 24 + 68 > size || memcmp(b + pe, "PE\0\0", 4) != 0)
                return -EBADMSG;
        uint16_t magic = le16(b + pe + 24);
        if (magic != 0x10b && magic != 0x20b)
                return -EBADMSG;
        put_le32(b + pe + 8, timestamp);
        size_t field = pe + 24 + 64;
        if (le32(b + field) != 0) /* a zero checksum is not checked: keep it so */
                put_le32(b + field, pe_checksum(b, size, field));
        return 0;
}
