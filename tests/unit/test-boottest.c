/* SPDX-License-Identifier: MIT */
/* Reading a serial console: events from chunks that split lines anywhere, prompts without a
 * newline, the expected line, the tail kept for error reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmcompose/boottest.h"

/* Feeds text in chunks of n bytes; returns the events in order as letters. */
static char *feed(BootWatch *w, const char *text, size_t n) {
        static const char letters[] = "-KRDPEF";
        Buffer b = {};
        for (size_t i = 0; i < strlen(text); i += n) {
                size_t k = MIN(n, strlen(text) - i);
                for (BootEvent e = boot_watch_feed(w, text + i, k); e != BOOT_EVENT_NONE;
                     e = boot_watch_feed(w, NULL, 0))
                        buffer_putc(&b, letters[e]);
        }
        return buffer_steal(&b);
}

static const char good_boot[] =
        "BdsDxe: loading Boot0002\r\n"
        "[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)\r\n"
        "[  OK  ] Reached target multi-user.target\r\n"
        "vmcompose-boot: ready\r\n"
        "\r\nDebian GNU/Linux 12 minimal ttyS0\r\n\r\nminimal login: ";

static void test_ready_any_chunking(void **state) {
        (void)state;
        for (size_t n = 1; n <= sizeof(good_boot); n += 3) {
                BootWatch w;
                assert_int_equal(boot_watch_init(&w, NULL, NULL), 0);
                char *ev = feed(&w, good_boot, n);
                if (!streq(ev, "KR"))
                        fail_msg("chunks of %zu: events '%s'", n, ev);
                free(ev);
                boot_watch_done(&w);
        }
}

static void test_failures(void **state) {
        (void)state;
        static const struct {
                const char *text;
                const char *events;
        } cases[] = {
                {"Linux version 6.1\nKernel panic - not syncing: No working init found.\n", "KP"},
                {"Linux version 6.1\nvmcompose-boot: degraded (1 failed unit: foo.service)\n",
                 "KD"},
                {"Linux version 6.1\nYou are in emergency mode. After logging in, type\n", "KE"},
                /* A prompt without a newline still counts. */
                {"Linux version 6.1\nGave up waiting for root file system device.\n(initramfs) ",
                 "KE"},
                {"BdsDxe: failed to load Boot0002 \"UEFI Misc Device\": Access Denied\n", "F"},
                /* The ready line only counts as a whole line, and only once. */
                {"vmcompose-boot: rea", ""},
                {"vmcompose-boot: ready\nvmcompose-boot: ready\n", "R"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                BootWatch w;
                assert_int_equal(boot_watch_init(&w, NULL, NULL), 0);
                char *ev = feed(&w, cases[i].text, 7);
                if (!streq(ev, cases[i].events))
                        fail_msg("case %zu: events '%s', expected '%s'", i, ev, cases[i].events);
                free(ev);
                boot_watch_done(&w);
        }
}

static void test_expect_regex(void **state) {
        (void)state;
        BootWatch w;
        char *err = NULL;
        assert_int_equal(boot_watch_init(&w, "^minimal login:", NULL), 0);
        char *ev = feed(&w, "minimal login: \n", 4);
        assert_string_equal(ev, "R");
        free(ev);
        boot_watch_done(&w);
        assert_int_equal(boot_watch_init(&w, "([unclosed", &err), -EINVAL);
        assert_non_null(err);
        free(err);
}

static void test_tail(void **state) {
        (void)state;
        BootWatch w;
        assert_int_equal(boot_watch_init(&w, NULL, NULL), 0);
        Buffer b = {};
        for (int i = 0; i < 50; i++)
                buffer_printf(&b, "line %d\r\n", i);
        buffer_puts(&b, "partial");
        char *ev = feed(&w, b.data, 100);
        free(ev);
        char *tail = boot_watch_tail(&w);
        /* The last 20 complete lines, oldest first, then the unfinished one. */
        assert_true(strncmp(tail, "line 30\n", 8) == 0);
        assert_non_null(strstr(tail, "line 49\npartial\n"));
        assert_null(strstr(tail, "line 29\n"));
        assert_null(strchr(tail, '\r'));
        free(tail);
        buffer_done(&b);
        boot_watch_done(&w);
}

static void test_names(void **state) {
        (void)state;
        assert_int_equal(boot_firmware_from_string("secureboot"), BOOT_FIRMWARE_SECUREBOOT);
        assert_int_equal(boot_firmware_from_string("efi"), _BOOT_FIRMWARE_INVALID);
        assert_string_equal(boot_accel_to_string(BOOT_ACCEL_TCG), "tcg");
        assert_int_equal(boot_accel_from_string("auto"), BOOT_ACCEL_AUTO);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready_any_chunking),
                cmocka_unit_test(test_failures),
                cmocka_unit_test(test_expect_regex),
                cmocka_unit_test(test_tail),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
