/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmcompose/json.h"

static void assert_escaped(const char *in, const char *expected) {
        Buffer b = {};
        json_escape(&b, in);
        assert_string_equal(b.data, expected);
        buffer_done(&b);
}

static void test_escape(void **state) {
        (void)state;
        assert_escaped("", "\"\"");
        assert_escaped("plain", "\"plain\"");
        assert_escaped("a\"b", "\"a\\\"b\"");
        assert_escaped("back\\slash", "\"back\\\\slash\"");
        assert_escaped("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
        assert_escaped("\b\f", "\"\\b\\f\"");
        assert_escaped("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
        assert_escaped("/slash", "\"/slash\""); /* need not be escaped */
        /* Valid UTF-8 passes through. */
        assert_escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
        /* Invalid UTF-8 becomes U+FFFD: a lone continuation byte, a truncated sequence, an
         * overlong encoding, a surrogate, a code point above U+10FFFF. */
        assert_escaped("a\x80z", "\"a\\ufffdz\"");
        assert_escaped("\xc3", "\"\\ufffd\"");
        assert_escaped("\xc0\xaf", "\"\\ufffd\\ufffd\"");
        assert_escaped("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
        assert_escaped("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
        assert_escaped("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_compact(void **state) {
        (void)state;
        JsonWriter w = {};
        json_begin_object(&w);
        json_key(&w, "a");
        json_uint(&w, 1);
        json_key(&w, "b");
        json_begin_array(&w);
        json_bool(&w, true);
        json_bool(&w, false);
        json_null(&w);
        json_string(&w, "x");
        json_begin_object(&w);
        json_end_object(&w);
        json_begin_array(&w);
        json_end_array(&w);
        json_end_array(&w);
        json_key(&w, "big");
        json_uint(&w, UINT64_MAX);
        json_end_object(&w);
        char *s = json_finish(&w);
        assert_string_equal(
                s, "{\"a\":1,\"b\":[true,false,null,\"x\",{},[]],\"big\":18446744073709551615}");
        free(s);
}

static void test_pretty(void **state) {
        (void)state;
        JsonWriter w = {.pretty = true};
        json_begin_object(&w);
        json_key(&w, "k\"ey");
        json_begin_array(&w);
        json_string(&w, "v");
        json_uint(&w, 2);
        json_end_array(&w);
        json_key(&w, "e");
        json_begin_object(&w);
        json_end_object(&w);
        json_end_object(&w);
        char *s = json_finish(&w);
        assert_string_equal(s, "{\n"
                               "  \"k\\\"ey\": [\n"
                               "    \"v\",\n"
                               "    2\n"
                               "  ],\n"
                               "  \"e\": {}\n"
                               "}\n");
        free(s);
}

static void test_top_level_scalar(void **state) {
        (void)state;
        JsonWriter w = {};
        json_string(&w, "only");
        char *s = json_finish(&w);
        assert_string_equal(s, "\"only\"");
        free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_compact),
                cmocka_unit_test(test_pretty),
                cmocka_unit_test(test_top_level_scalar),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
