/* SPDX-License-Identifier: MIT */
#include "vmcompose/crc32c.h"

/* Slicing-by-8 tables, built once. */
static uint32_t table[8][256];

static void init_tables(void) {
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
                table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
                for (int t = 1; t < 8; t++)
                        table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t crc32c_update(uint32_t crc, const void *data, size_t size) {
        static int ready;
        const uint8_t *p = data;

        if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
                init_tables(); /* idempotent: a race only computes the same table twice */
                __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
        }
        while (size >= 8) {
                uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                     (uint32_t)p[3] << 24);
                crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
                      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][p[4]] ^
                      table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
                p += 8;
                size -= 8;
        }
        while (size--)
                crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
        return crc;
}

uint32_t crc32c(const void *data, size_t size) {
        return ~crc32c_update(~0u, data, size);
}
