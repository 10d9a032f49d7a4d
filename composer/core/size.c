/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "vmcompose/util.h"

int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static const struct {
        char letter;
        unsigned shift;
} suffixes[] = {
        {'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}, {'P', 50}, {'E', 60},
};

int parse_size(const char *s, uint64_t *ret_bytes) {
        size_t ndigits = 0;
        unsigned shift = 0;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        while (s[ndigits] >= '0' && s[ndigits] <= '9')
                ndigits++;
        if (ndigits == 0)
                return -EINVAL;

        const char *suffix = s + ndigits;
        if (*suffix) {
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                        if (suffix[0] == suffixes[i].letter ||
                            suffix[0] == (suffixes[i].letter | 0x20)) {
                                shift = suffixes[i].shift;
                                found = true;
                                break;
                        }
                if (found) {
                        const char *rest = suffix + 1;
                        if (*rest && !streq(rest, "iB") && !streq(rest, "B"))
                                return -EINVAL;
                } else if (!streq(suffix, "B"))
                        return -EINVAL;
        }

        _cleanup_free_ char *digits = xstrndup(s, ndigits);
        r = parse_uint64(digits, &v);
        if (r < 0)
                return r;
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret_bytes = v << shift;
        return 0;
}

char *format_size(uint64_t bytes, char buf[static 32]) {
        for (size_t i = ELEMENTSOF(suffixes); i > 0; i--) {
                unsigned shift = suffixes[i - 1].shift;
                if (bytes != 0 && (bytes & ((UINT64_C(1) << shift) - 1)) == 0) {
                        snprintf(buf, 32, "%llu%c", (unsigned long long)(bytes >> shift),
                                 suffixes[i - 1].letter);
                        return buf;
                }
        }
        snprintf(buf, 32, "%llu", (unsigned long long)bytes);
        return buf;
}

int parse_percent(const char *s, unsigned *ret_percent) {
        size_t n = s ? strlen(s) : 0;
        uint64_t v;
        int r;

        if (n < 2 || s[n - 1] != '%')
                return -EINVAL;
        _cleanup_free_ char *digits = xstrndup(s, n - 1);
        r = parse_uint64(digits, &v);
        if (r < 0)
                return r;
        if (v > 100)
                return -ERANGE;
        *ret_percent = (unsigned)v;
        return 0;
}
