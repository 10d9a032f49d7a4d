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
        static const char letters[] = "-KRDPEFN";
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

/* Recorded serial consoles of firmware that found nothing to boot (QEMU 7.2, TCG). */
/* OVMF (Debian 12, 2022.11), a GPT disk whose ESP has no EFI/BOOT/BOOTX64.EFI. */
static const char ovmf_empty_esp[] =
        "\033[2J\033[01;01H\033[=3h\033[2J\033[01;01H\033[2J\033[01;01H\033[=3h\033[2J\033[01;"
        "01H\033[2J\033[01;01H\033[=3h\033[2J\033[01;01HBdsDxe: failed to load Boot0001 \"UEFI "
        "QEMU DVD-ROM QM00005 \" from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x2,0xFFFF,0x0): Not "
        "Found\r\n"
        "BdsDxe: failed to load Boot0002 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): Not "
        "Found\r\n"
        "BdsDxe: loading Boot0003 \"EFI Internal Shell\" from "
        "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n"
        "BdsDxe: starting Boot0003 \"EFI Internal Shell\" from "
        "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n"
        "\033[2J\033[01;01H\033[01;01HUEFI Interactive Shell v2.2\r\n"
        "EDK II\r\n"
        "UEFI v2.70 (EDK II, 0x00010000)\r\n"
        "\033[1m\033[33m\033[40mMapping table\033[0m\033[37m\033[40m\r\n"
        "\033[1m\033[33m\033[40m      FS0:\033[0m\033[37m\033[40m "
        "\033[1m\033[37m\033[40mAlias(s):\033[0m\033[37m\033[40mHD1b:;BLK2:\r\n"
        "          "
        "PciRoot(0x0)/Pci(0x2,0x0)/HD(1,GPT,0A4F8C5D-78E7-6D43-8E7D-0DE52160C9E8,0x800,0x186A0)\r\n"
        "\033[1m\033[33m\033[40m     BLK1:\033[0m\033[37m\033[40m "
        "\033[1m\033[37m\033[40mAlias(s):\033[0m\033[37m\033[40m\r\n"
        "          PciRoot(0x0)/Pci(0x2,0x0)\r\n"
        "\033[1m\033[33m\033[40m     BLK0:\033[0m\033[37m\033[40m "
        "\033[1m\033[37m\033[40mAlias(s):\033[0m\033[37m\033[40m\r\n"
        "          PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x2,0xFFFF,0x0)\r\n"
        "\033[11;01HPress \033[1m\033[37m\033[40mESC\033[0m\033[37m\033[40m in 5 seconds to skip "
        "\033[1m\033[33m\033[40mstartup.nsh\033[0m\033[37m\033[40m or any other key to "
        "continue.\033[11;01HPress \033[1m\033[37m\033[40mESC\033[0m\033[37m\033[40m in 4 seconds "
        "to skip \033[1m\033[33m\033[40mstartup.nsh\033[0m\033[37m\033[40m or any other key to "
        "continue.\033[11;01HPress \033[1m\033[37m\033[40mESC\033[0m\033[37m\033[40m in 3 seconds "
        "to skip \033[1m\033[33m\033[40mstartup.nsh\033[0m\033[37m\033[40m or any other key to "
        "continue.\033[11;01HPress \033[1m\033[37m\033[40mESC\033[0m\033[37m\033[40m in 2 seconds "
        "to skip \033[1m\033[33m\033[40mstartup.nsh\033[0m\033[37m\033[40m or any other key to "
        "continue.\033[11;01HPress \033[1m\033[37m\033[40mESC\033[0m\033[37m\033[40m in 1 seconds "
        "to skip \033[1m\033[33m\033[40mstartup.nsh\033[0m\033[37m\033[40m or any other key to "
        "continue.\r\n"
        "\033[12;01H\033[1m\033[33m\033[40mShell> ";

/* OVMF with Secure Boot (OVMF_CODE_4M.secboot.fd, Microsoft keys), a disk of zeros. */
static const char ovmf_secureboot_nothing[] =
        "BdsDxe: failed to load Boot0001 \"UEFI QEMU DVD-ROM QM00005 \" from "
        "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x2,0xFFFF,0x0): Not Found\r\n"
        "BdsDxe: failed to load Boot0002 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): Not "
        "Found\r\n"
        "BdsDxe: loading Boot0003 \"EFI Internal Shell\" from "
        "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n"
        "BdsDxe: starting Boot0003 \"EFI Internal Shell\" from "
        "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)\r\n"
        "BdsDxe: failed to start Boot0003 \"EFI Internal Shell\" from "
        "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1): "
        "Security Violation\r\n"
        "BdsDxe: No bootable option or device was found.\r\n"
        "BdsDxe: Press any key to enter the Boot Manager Menu.\r\n";

/* SeaBIOS 1.16.2 on its debug port (isa-debugcon), a disk of zeros. */
static const char seabios_nothing[] = "enter handle_19:\n"
                                      "  NULL\n"
                                      "Booting from Hard Disk...\n"
                                      "Boot failed: not a bootable disk\n"
                                      "\n"
                                      "enter handle_18:\n"
                                      "  NULL\n"
                                      "Booting from DVD/CD...\n"
                                      "Device reports MEDIUM NOT PRESENT - 2 tries left\n"
                                      "Device reports MEDIUM NOT PRESENT - 1 tries left\n"
                                      "Device reports MEDIUM NOT PRESENT - 0 tries left\n"
                                      "Boot failed: Could not read from CDROM (code 0003)\n"
                                      "enter handle_18:\n"
                                      "  NULL\n"
                                      "Booting from Floppy...\n"
                                      "Boot failed: could not read the boot disk\n"
                                      "\n"
                                      "enter handle_18:\n"
                                      "  NULL\n"
                                      "No bootable device.\n";

static void test_nothing_to_boot(void **state) {
        (void)state;
        static const struct {
                const char *text, *what;
        } cases[] = {
                {ovmf_empty_esp, "OVMF dropped to the UEFI shell"},
                /* Secure Boot refusing the shell is not the boot loader being denied. */
                {ovmf_secureboot_nothing, "OVMF found no bootable option or device"},
                {seabios_nothing, "SeaBIOS found no bootable device"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (size_t n = 1; n <= 64; n = n * 2 + 1) {
                        BootWatch w;
                        assert_int_equal(boot_watch_init(&w, NULL, NULL), 0);
                        char *ev = feed(&w, cases[i].text, n);
                        if (!streq(ev, "N"))
                                fail_msg("case %zu, chunks of %zu: events '%s'", i, n, ev);
                        assert_string_equal(w.what[BOOT_EVENT_NO_BOOT], cases[i].what);
                        free(ev);
                        /* The tail reads as text: no terminal escapes, the prompt last. */
                        char *tail = boot_watch_tail(&w);
                        assert_null(strchr(tail, '\033'));
                        if (i == 0) {
                                assert_non_null(strstr(tail, "Press ESC in 1 seconds to skip "
                                                             "startup.nsh"));
                                assert_non_null(strstr(tail, "\nShell> \n"));
                        }
                        free(tail);
                        boot_watch_done(&w);
                }
}

static void test_firmware_words_after_kernel(void **state) {
        (void)state;
        /* Once the kernel runs, a "Shell> " prompt or such words are the guest's own. */
        static const char *const texts[] = {
                "Linux version 6.1\nShell> ",
                "Linux version 6.1\nNo bootable device.\n",
                "Linux version 6.1\n\033[1mNo bootable option or device was found\033[0m\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                BootWatch w;
                assert_int_equal(boot_watch_init(&w, NULL, NULL), 0);
                char *ev = feed(&w, texts[i], 5);
                if (!streq(ev, "K"))
                        fail_msg("case %zu: events '%s'", i, ev);
                free(ev);
                boot_watch_done(&w);
        }
        /* An escape sequence split across chunks is still dropped, and a ready line wrapped in
         * colour still counts. */
        BootWatch w;
        assert_int_equal(boot_watch_init(&w, "^vmcompose-boot: ready$", NULL), 0);
        char *ev = feed(&w, "\033[1;32mvmcompose-boot: ready\033[0m\r\n", 2);
        assert_string_equal(ev, "R");
        free(ev);
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
                cmocka_unit_test(test_nothing_to_boot),
                cmocka_unit_test(test_firmware_words_after_kernel),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
