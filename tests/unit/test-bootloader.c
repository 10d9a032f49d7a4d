/* SPDX-License-Identifier: MIT */
/* Boot loader text and boot code: BLS entries, loader.conf, grub.cfg, and GRUB's i386-pc boot
 * sector and core image patched the way grub-bios-setup does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/boottest.h"
#include "vmcompose/profile.h"
#include "vmcompose/macro.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"

static const char *data_dir(void) {
        return vmcompose_data_dir();
}

/* The texts made from the shipped data files (bootloader/) are the ones vmcompose wrote when
 * they were C strings, byte for byte. */
static void test_text(void **state) {
        Diagnostics diag = {};
        char *e = NULL, *c = NULL, *g = NULL, *early = NULL, *unit = NULL;
        (void)state;
        BootEntry entry = {.title = "minimal",
                           .version = "6.1.0-56-cloud-amd64",
                           .linux_path = "/k/linux",
                           .initrd_path = "/k/initrd",
                           .options = "root=PARTUUID=x console=ttyS0"};
        assert_int_equal(bls_entry(data_dir(), &entry, &e, &diag), 0);
        assert_string_equal(e, "title minimal\nversion 6.1.0-56-cloud-amd64\nlinux /k/linux\n"
                               "initrd /k/initrd\noptions root=PARTUUID=x console=ttyS0\n");
        free(e);
        assert_int_equal(loader_conf(data_dir(), "vmcompose.conf", &c, &diag), 0);
        assert_string_equal(c, "default vmcompose.conf\ntimeout 0\nconsole-mode keep\neditor no\n");
        free(c);
        BootEntry grub = {.title = "minimal",
                          .version = "6.1.0-56",
                          .linux_path = "/boot/vmlinuz-6.1.0-56",
                          .initrd_path = "/boot/initrd.img-6.1.0-56",
                          .options = "root=PARTUUID=y rw",
                          .root_fs_uuid = "1111-2222"};
        assert_int_equal(grub_cfg(data_dir(), &grub, &g, &diag), 0);
        assert_string_equal(g, "# Written by vmcompose\n"
                               "set timeout=0\n"
                               "serial --unit=0 --speed=115200\n"
                               "terminal_input console serial\n"
                               "terminal_output console serial\n"
                               "search --no-floppy --fs-uuid --set=root 1111-2222\n"
                               "menuentry 'minimal' {\n"
                               "        linux /boot/vmlinuz-6.1.0-56 root=PARTUUID=y rw\n"
                               "        initrd /boot/initrd.img-6.1.0-56\n"
                               "}\n");
        free(g);
        assert_int_equal(grub_early_cfg(data_dir(), "1111-2222", &early, &diag), 0);
        assert_string_equal(early, "search --no-floppy --fs-uuid --set=root 1111-2222\n"
                                   "set prefix=($root)/boot/grub\n");
        free(early);
        /* The boot report unit does not wait for itself, and prints boottest's markers. */
        assert_int_equal(boot_ready_unit(data_dir(), &unit, &diag), 0);
        assert_string_equal(
                unit,
                "# Written by vmcompose: reports the result of every boot on the console, for\n"
                "# `vmcompose boot` and for anyone reading the serial log.\n"
                "[Unit]\n"
                "Description=vmcompose boot report on the console\n"
                "After=multi-user.target\n"
                "\n"
                "[Service]\n"
                "Type=simple\n"
                "ExecStart=/bin/sh -c 'state=$(systemctl is-system-running --wait); "
                "if [ \"$state\" = running ]; then echo \"" BOOT_MARKER_READY "\"; "
                "else echo \"" BOOT_MARKER_DEGRADED
                " ($state: $(systemctl list-units --state=failed "
                "--no-legend --plain | cut -d\" \" -f1 | tr \"\\\\n\" \" \"))\"; fi > "
                "/dev/console'\n"
                "\n"
                "[Install]\n"
                "WantedBy=multi-user.target\n");
        free(unit);
        assert_int_equal(diag.n_errors, 0);
}

/* @NAME@ is a variable, @@ one @, any other @ itself; a variable the file may not use is an
 * error naming the file, line and column. */
static void test_template(void **state) {
        const BootVar vars[] = {{"A", "1"}, {"B_2", "two"}};
        Diagnostics diag = {};
        char *out = NULL;
        (void)state;

        static const char ok[] = "x @A@ y@B_2@\n@@A@@ a@b.c @ @lower@ @A";
        assert_int_equal(boot_template_render("t", ok, strlen(ok), vars, 2, &out, &diag), 0);
        assert_string_equal(out, "x 1 ytwo\n@A@ a@b.c @ @lower@ @A");
        free(out);
        assert_int_equal(boot_template_render("t", "", 0, vars, 2, &out, &diag), 0);
        assert_string_equal(out, "");
        free(out);

        out = NULL;
        static const char bad[] = "line one\nsee @A@ and @TITEL@\n";
        assert_int_equal(
                boot_template_render("dir/entry.conf", bad, strlen(bad), vars, 2, &out, &diag),
                -EBADMSG);
        assert_null(out);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0], "dir/entry.conf:2:13: unknown variable @TITEL@"));
        assert_non_null(strstr(diag.messages[0], "@A@, @B_2@"));
        diag_done(&diag);

        assert_int_equal(boot_template_render("bin", "a\0b", 3, vars, 2, &out, &diag), -EBADMSG);
        assert_non_null(strstr(diag.messages[0], "bin:1:2: a NUL byte"));
        diag_done(&diag);
}

/* A data file that is missing is named in the error. */
static void test_data_missing(void **state) {
        Diagnostics diag = {};
        char *out = NULL;
        (void)state;
        assert_int_equal(loader_conf("/nonexistent", "x.conf", &out, &diag), -ENOENT);
        assert_null(out);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0],
                               "/nonexistent/bootloader/systemd-boot/loader.conf: cannot read"));
        diag_done(&diag);
}

/* Every boot loader's templates (the shipped ones) check out; a malformed or missing one is
 * found before a build installs anything, named with its file and line. */
static void test_check_data(void **state) {
        static const char *const names[] = {"systemd-boot", "shim", "grub-bios", "grub-efi", "uki"};
        Diagnostics diag = {};
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert_int_equal(
                        bootloader_check_data(data_dir(), bootloader_find(names[i]), &diag), 0);
        assert_int_equal(diag.n_errors, 0);

        char dir[] = "/tmp/vmcompose-test-bootdata-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *entry = xasprintf("%s/bootloader/systemd-boot/entry.conf", dir);
        _cleanup_free_ char *sub = xasprintf("%s/bootloader/systemd-boot", dir);
        static const char bad[] = "title @TITLE@\nversion @VERSON@\n";
        assert_int_equal(mkdir_p(sub), 0);
        assert_int_equal(write_file_atomic(entry, bad, strlen(bad), 0644), 0);
        assert_int_equal(bootloader_check_data(dir, bootloader_find("systemd-boot"), &diag),
                         -EBADMSG);
        assert_int_equal(diag.n_errors, 3);
        assert_non_null(strstr(diag.messages[0], "entry.conf:2:9: unknown variable @VERSON@"));
        assert_non_null(strstr(diag.messages[1], "systemd-boot/loader.conf: cannot read"));
        assert_non_null(strstr(diag.messages[2], "vmcompose-ready.service: cannot read"));
        diag_done(&diag);
        /* uki writes no template, but every image has the boot report unit. */
        assert_int_equal(bootloader_check_data(dir, bootloader_find("uki"), &diag), -ENOENT);
        diag_done(&diag);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_grub_boot_code(void **state) {
        (void)state;
        uint8_t boot[512], mbr[512];
        for (int i = 0; i < 512; i++) {
                boot[i] = 0xaa;
                mbr[i] = (uint8_t)i;
        }
        grub_patch_boot_sector(boot, mbr, 0x1122334455ull);
        /* The LBA of core.img, little-endian at 0x5c; the boot drive; the drive check nops. */
        assert_int_equal(boot[0x5c], 0x55);
        assert_int_equal(boot[0x5d], 0x44);
        assert_int_equal(boot[0x60], 0x11);
        assert_int_equal(boot[0x63], 0x00);
        assert_int_equal(boot[0x64], 0xff);
        assert_int_equal(boot[0x66], 0x90);
        assert_int_equal(boot[0x67], 0x90);
        /* The disk signature, partition table and 0x55aa come from the disk. */
        assert_memory_equal(boot + 440, mbr + 440, 72);
        assert_int_equal(boot[0], 0xaa);

        uint8_t *core = calloc(1, 40 * 512);
        grub_patch_core(core, 40 * 512, 2048);
        /* The first blocklist: from the sector after core.img's first, 39 sectors. */
        assert_int_equal(core[500], 0x01);
        assert_int_equal(core[501], 0x08);
        assert_int_equal(core[508], 39);
        assert_int_equal(core[509], 0);
        grub_patch_core(core, 40 * 512 - 100, 1); /* a short last sector still counts */
        assert_int_equal(core[500], 2);
        assert_int_equal(core[508], 39);
        free(core);
}

static char *read_at(int fd, const char *path) {
        char *data = NULL;
        assert_int_equal(root_read_file(fd, path, 1 << 20, &data, NULL), 0);
        return data;
}

/* systemd-boot's ESP from a root whose /boot is a link to "/" (a package may ship one): the
 * kernel is the root's own (ROOT/vmlinuz-*), and a kernel that links to a host file is
 * refused, not copied onto the ESP. */
static void test_systemd_boot_hostile_root(void **state) {
        (void)state;
        char base[] = "/tmp/vmc-bootloader-XXXXXX";
        assert_non_null(mkdtemp(base));
        _cleanup_free_ char *root = xasprintf("%s/root", base), *esp = xasprintf("%s/esp", base);
        _cleanup_free_ char *work = xasprintf("%s/work", base);
        _cleanup_free_ char *host = xasprintf("%s/host-secret", base);
        assert_int_equal(write_file_atomic(host, "host secret\n", 12, 0600), 0);
        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(mkdir(esp, 0755), 0);
        assert_int_equal(mkdir(work, 0755), 0);
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int esp_fd = open(esp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int work_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(symlinkat("/", root_fd, "boot"), 0);
        assert_int_equal(root_write_file(root_fd, "/boot/vmlinuz-6.1-test", "KERNEL", 6, 0644, 0),
                         0);
        assert_int_equal(root_write_file(root_fd, "boot/initrd.img-6.1-test", "INITRD", 6, 0644, 0),
                         0);
        assert_int_equal(root_write_file(root_fd, "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
                                         "EFI", 3, 0644, ROOT_WRITE_MKDIR),
                         0);

        BootKernel k = {};
        assert_int_equal(boot_kernel_find(root_fd, true, &k), 0);
        assert_string_equal(k.version, "6.1-test");
        const Bootloader *b = bootloader_find("systemd-boot");
        BootParams p = {.root_dir = root,
                        .root_fd = root_fd,
                        .esp_dir = esp,
                        .esp_fd = esp_fd,
                        .work_dir = work,
                        .work_fd = work_fd,
                        .kernel = &k,
                        .cmdline = "root=PARTUUID=x ro",
                        .title = "test",
                        .data_dir = data_dir()};
        assert_int_equal(b->prepare(&p), 0);
        _cleanup_free_ char *efi = read_at(esp_fd, "EFI/BOOT/BOOTX64.EFI");
        _cleanup_free_ char *kernel = read_at(esp_fd, "vmcompose/6.1-test/linux");
        _cleanup_free_ char *entry = read_at(esp_fd, "loader/entries/vmcompose.conf");
        assert_string_equal(efi, "EFI");
        assert_string_equal(kernel, "KERNEL");
        assert_string_equal(entry, "title test\nversion 6.1-test\nlinux /vmcompose/6.1-test/linux\n"
                                   "initrd /vmcompose/6.1-test/initrd\noptions root=PARTUUID=x "
                                   "ro\n");

        /* The kernel a link to a host file: resolved in the root, where there is none. */
        assert_int_equal(root_unlink(root_fd, "boot/vmlinuz-6.1-test", 0), 0);
        assert_int_equal(root_symlink(root_fd, host, "boot/vmlinuz-6.1-test", 0), 0);
        assert_int_equal(root_unlink(esp_fd, "vmcompose/6.1-test/linux", 0), 0);
        assert_int_equal(b->prepare(&p), -ENOENT);
        char *leak = NULL;
        assert_int_equal(root_read_file(esp_fd, "vmcompose/6.1-test/linux", 1 << 20, &leak, NULL),
                         -ENOENT);
        boot_kernel_done(&k);
        assert_int_equal(rm_rf(base), 0);
}

/* The UKI's PE time: set, and the checksum made again as Windows' CheckSumMappedFile does
 * (the expected value computed independently, and the algorithm checked against the checksums
 * objcopy writes). */
static void test_pe_timestamp(void **state) {
        (void)state;
        uint8_t b[512];
        for (size_t i = 0; i < sizeof(b); i++)
                b[i] = (uint8_t)(i * 7);
        memcpy(b, "MZ", 2);
        b[0x3c] = 0x80, b[0x3d] = b[0x3e] = b[0x3f] = 0;
        memcpy(b + 0x80, "PE\0\0", 4);
        b[0x98] = 0x0b, b[0x99] = 0x02;               /* PE32+ */
        b[0xd8] = 1, b[0xd9] = b[0xda] = b[0xdb] = 0; /* a checksum */
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1700000000), 0);
        assert_int_equal(b[0x88] | b[0x89] << 8 | b[0x8a] << 16 | (uint32_t)b[0x8b] << 24,
                         1700000000);
        assert_int_equal(b[0xd8] | b[0xd9] << 8 | b[0xda] << 16 | (uint32_t)b[0xdb] << 24, 0x460f);
        /* A zero checksum stays zero; what is not PE is refused. */
        b[0xd8] = b[0xd9] = 0;
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1), 0);
        assert_int_equal(b[0xd8] | b[0xd9], 0);
        b[0x81] = 'X';
        assert_int_equal(pe_set_timestamp(b, sizeof(b), 1), -EBADMSG);
        assert_int_equal(pe_set_timestamp(b, 0x50, 1), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_template),
                cmocka_unit_test(test_data_missing),
                cmocka_unit_test(test_check_data),
                cmocka_unit_test(test_pe_timestamp),
                cmocka_unit_test(test_grub_boot_code),
                cmocka_unit_test(test_systemd_boot_hostile_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
