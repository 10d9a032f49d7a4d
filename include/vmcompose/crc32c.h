/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by ext4 metadata checksums
 * and VHDX. crc32c_update() is the raw register update without pre- or post-inversion (ext4's
 * ext2fs_crc32c_le()); crc32c() is the standard checksum: crc32c("123456789") = 0xE3069283. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t size);
uint32_t crc32c(const void *data, size_t size);
