/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "vmcompose/util.h"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

void strv_push(char ***l, char *s) {
        size_t n = strv_length(*l);
        *l = xrealloc(*l, (n + 2) * sizeof(char *));
        (*l)[n] = s;
        (*l)[n + 1] = NULL;
}

void strv_extend(char ***l, const char *s) {
        strv_push(l, xstrdup(s));
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (char *const *p = l; *p; p++)
                        if (streq(*p, s))
                                return true;
        return false;
}

size_t string_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        _cleanup_free_ size_t *row = xcalloc(lb + 1, sizeof(size_t));

        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        size_t best = MIN(row[j] + 1, row[j - 1] + 1);
                        row[j] = MIN(best, diag + cost);
                        diag = up;
                }
        }
        return row[lb];
}

void buffer_append(Buffer *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 1);
                cap = MAX(cap, (size_t)64);
                b->data = xrealloc(b->data, cap);
                b->cap = cap;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

void buffer_puts(Buffer *b, const char *s) {
        buffer_append(b, s, strlen(s));
}

void buffer_putc(Buffer *b, char c) {
        buffer_append(b, &c, 1);
}

void buffer_printf(Buffer *b, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                s = xstrdup(""); /* only on ENOMEM; xstrdup ends the process then */
        buffer_append(b, s, (size_t)(r < 0 ? 0 : r));
        free(s);
}

char *buffer_steal(Buffer *b) {
        char *s = b->data ? b->data : xstrdup("");
        *b = (Buffer){};
        return s;
}

void buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer){};
}
