/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vmcompose/json.h"

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one (overlongs, surrogates and
 * code points above U+10FFFF are invalid). */
static size_t utf8_valid_len(const unsigned char *s) {
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                return (s[1] & 0xc0) == 0x80 ? 2 : 0;
        if (s[0] >= 0xe0 && s[0] <= 0xef) {
                if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
                        return 0;
                if (s[0] == 0xe0 && s[1] < 0xa0)
                        return 0; /* overlong */
                if (s[0] == 0xed && s[1] >= 0xa0)
                        return 0; /* surrogate */
                return 3;
        }
        if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
                        return 0;
                if (s[0] == 0xf0 && s[1] < 0x90)
                        return 0;
                if (s[0] == 0xf4 && s[1] >= 0x90)
                        return 0;
                return 4;
        }
        return 0;
}

void json_escape(Buffer *b, const char *str) {
        const unsigned char *s = (const unsigned char *)str;

        buffer_putc(b, '"');
        while (*s) {
                switch (*s) {
                case '"':
                        buffer_puts(b, "\\\"");
                        s++;
                        continue;
                case '\\':
                        buffer_puts(b, "\\\\");
                        s++;
                        continue;
                case '\n':
                        buffer_puts(b, "\\n");
                        s++;
                        continue;
                case '\r':
                        buffer_puts(b, "\\r");
                        s++;
                        continue;
                case '\t':
                        buffer_puts(b, "\\t");
                        s++;
                        continue;
                case '\b':
                        buffer_puts(b, "\\b");
                        s++;
                        continue;
                case '\f':
                        buffer_puts(b, "\\f");
                        s++;
                        continue;
                default:
                        break;
                }
                if (*s < 0x20 || *s == 0x7f) {
                        buffer_printf(b, "\\u%04x", *s);
                        s++;
                        continue;
                }
                size_t n = utf8_valid_len(s);
                if (n == 0) {
                        buffer_puts(b, "\\ufffd");
                        s++;
                        continue;
                }
                buffer_append(b, (const char *)s, n);
                s += n;
        }
        buffer_putc(b, '"');
}

static void newline_indent(JsonWriter *w) {
        if (!w->pretty)
                return;
        buffer_putc(&w->out, '\n');
        for (unsigned i = 0; i < w->depth; i++)
                buffer_puts(&w->out, "  ");
}

/* Called before every value or key: writes the separator and indentation. */
static void before_item(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth == 0)
                return;
        if (w->need_comma[w->depth])
                buffer_putc(&w->out, ',');
        w->need_comma[w->depth] = true;
        newline_indent(w);
}

static void open_container(JsonWriter *w, char c) {
        before_item(w);
        buffer_putc(&w->out, c);
        assert(w->depth + 1 < ELEMENTSOF(w->need_comma));
        w->depth++;
        w->need_comma[w->depth] = false;
}

static void close_container(JsonWriter *w, char c) {
        assert(w->depth > 0);
        assert(!w->after_key);
        bool had_items = w->need_comma[w->depth];
        w->depth--;
        if (had_items)
                newline_indent(w);
        buffer_putc(&w->out, c);
}

void json_begin_object(JsonWriter *w) {
        open_container(w, '{');
}

void json_end_object(JsonWriter *w) {
        close_container(w, '}');
}

void json_begin_array(JsonWriter *w) {
        open_container(w, '[');
}

void json_end_array(JsonWriter *w) {
        close_container(w, ']');
}

void json_key(JsonWriter *w, const char *key) {
        assert(w->depth > 0);
        before_item(w);
        json_escape(&w->out, key);
        buffer_puts(&w->out, w->pretty ? ": " : ":");
        w->after_key = true;
}

void json_string(JsonWriter *w, const char *s) {
        before_item(w);
        json_escape(&w->out, s);
}

void json_uint(JsonWriter *w, uint64_t v) {
        before_item(w);
        buffer_printf(&w->out, "%" PRIu64, v);
}

void json_kv(JsonWriter *w, const char *key, const char *value) {
        json_key(w, key);
        if (value)
                json_string(w, value);
        else
                json_null(w);
}

void json_kv_uint(JsonWriter *w, const char *key, uint64_t value) {
        json_key(w, key);
        json_uint(w, value);
}

void json_bool(JsonWriter *w, bool v) {
        before_item(w);
        buffer_puts(&w->out, v ? "true" : "false");
}

void json_null(JsonWriter *w) {
        before_item(w);
        buffer_puts(&w->out, "null");
}

char *json_finish(JsonWriter *w) {
        assert(w->depth == 0);
        if (w->pretty)
                buffer_putc(&w->out, '\n');
        w->after_key = false;
        return buffer_steal(&w->out);
}
