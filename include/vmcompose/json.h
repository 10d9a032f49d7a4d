/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/util.h"

/* A small streaming JSON writer: output is always well-formed as long as calls nest properly
 * (asserted). Strings are escaped per RFC 8259; bytes that are not valid UTF-8 are replaced by
 * U+FFFD so the output stays valid JSON whatever the input. */
typedef struct JsonWriter {
        Buffer out;
        unsigned depth;
        bool pretty;
        bool need_comma[64];
        bool after_key;
} JsonWriter;

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s);
void json_uint(JsonWriter *w, uint64_t v);
void json_bool(JsonWriter *w, bool b);
void json_null(JsonWriter *w);
/* A key and its string value (null when value is NULL); a key and a number. */
void json_kv(JsonWriter *w, const char *key, const char *value);
void json_kv_uint(JsonWriter *w, const char *key, uint64_t value);
/* Appends the escaped form of s, with quotes, to b. */
void json_escape(Buffer *b, const char *s);
/* Returns the document (with a final newline when pretty) and resets the writer. */
char *json_finish(JsonWriter *w);
