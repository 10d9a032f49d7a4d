/* SPDX-License-Identifier: MIT */
/* Boot loader text and boot code: BLS entries, loader.conf, grub.cfg, and GRUB's i386-pc boot
 * sector and core image patched the way grub-bios-setup does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
                        .data_dir = data_dir(),
                        .arch = arch_find("amd64")};
        /* arm64's loader and name come from its row of the architecture table. */
        p.arch = arch_find("arm64");
        assert_int_equal(b->prepare(&p), -ENOENT); /* no systemd-bootaa64.efi in the root */
        assert_int_equal(root_write_file(root_fd, "usr/lib/systemd/boot/efi/systemd-bootaa64.efi",
                                         "AA64", 4, 0644, ROOT_WRITE_MKDIR),
                         0);
        assert_int_equal(b->prepare(&p), 0);
        _cleanup_free_ char *aa64 = read_at(esp_fd, "EFI/BOOT/BOOTAA64.EFI");
        assert_string_equal(aa64, "AA64");
        assert_int_equal(root_unlink(esp_fd, "EFI/BOOT/BOOTAA64.EFI", 0), 0);
        p.arch = arch_find("amd64");
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

/* The names vfat holds as they are. */
static void test_esp_name(void **state) {
        (void)state;
        assert_true(esp_name_ok("shimx64.efi"));
        assert_true(esp_name_ok("BOOTX64.EFI"));
        assert_true(esp_name_ok("a b+c,d;e=f[g]h"));
        static const char *const bad[] = {"",    "a:b",    "a*",          "a?",   "a<",
                                          "a>",  "a|b",    "a\\b",        "a\"b", "trailing.",
                                          "x. ", "tab\tx", "caf\xc3\xa9", "\x7f"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(esp_name_ok(bad[i]));
        char longest[257];
        memset(longest, 'a', 256);
        longest[256] = 0;
        assert_false(esp_name_ok(longest));
        longest[255] = 0;
        assert_true(esp_name_ok(longest));
}

/* Writes text at path in the tree dir_fd, with its parents. */
static void put(int dir_fd, const char *path, const char *text) {
        assert_int_equal(root_write_file(dir_fd, path, text, strlen(text), 0644, ROOT_WRITE_MKDIR),
                         0);
}

/* Whether path in the tree dir_fd holds text. */
static bool holds(int dir_fd, const char *path, const char *text) {
        _cleanup_free_ char *data = NULL;
        return root_read_file(dir_fd, path, 1 << 20, &data, NULL) == 0 && streq(data, text);
}

/* The number of entries in the directory path of the tree dir_fd (-1: none). */
static int entries(int dir_fd, const char *path) {
        int fd = root_open(dir_fd, path, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return -1;
        DIR *d = fdopendir(fd);
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        return n;
}

/* What the packages put below the ESP's mount point goes onto the ESP at the same paths and out
 * of the root; a file the ESP has already (vmcompose's loader) merges when it is the same, as
 * vfat matches names without case; whatever vfat cannot hold is refused with its path, and then
 * nothing has moved. */
static void test_esp_take_root_files(void **state) {
        (void)state;
        char base[] = "/tmp/vmc-esp-XXXXXX";
        assert_non_null(mkdtemp(base));
        _cleanup_free_ char *root = xasprintf("%s/root", base), *esp = xasprintf("%s/esp", base);
        assert_int_equal(mkdir(root, 0755), 0);
        assert_int_equal(mkdir(esp, 0755), 0);
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int esp_fd = open(esp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        EspProblem pb = {};

        /* No mount point in the root: nothing to move. */
        assert_int_equal(esp_take_root_files(root_fd, "boot/efi", esp_fd, &pb), 0);

        put(esp_fd, "EFI/BOOT/BOOTX64.EFI", "SHIM");
        put(root_fd, "boot/efi/EFI/fedora/shimx64.efi", "SHIM");
        put(root_fd, "boot/efi/EFI/fedora/grubx64.efi", "GRUB");
        put(root_fd, "boot/efi/EFI/BOOT/bootx64.efi", "SHIM");
        assert_int_equal(esp_take_root_files(root_fd, "boot/efi", esp_fd, &pb), 3);
        assert_true(holds(esp_fd, "EFI/fedora/shimx64.efi", "SHIM"));
        assert_true(holds(esp_fd, "EFI/fedora/grubx64.efi", "GRUB"));
        assert_int_equal(entries(esp_fd, "EFI/BOOT"), 1); /* BOOTX64.EFI, once */
        assert_int_equal(entries(esp_fd, "EFI"), 2);
        assert_int_equal(entries(root_fd, "boot/efi"), 0); /* the mount point stays, empty */
        assert_int_equal(esp_take_root_files(root_fd, "boot/efi", esp_fd, &pb), 0);

        static const struct {
                const char *path, *why;
        } refused[] = {
                {"EFI/fedora/link", "a symbolic link"},
                {"EFI/fedora/a:b", "a name vfat cannot hold"},
                {"EFI/fedora/NEW.EFI", "the same name as NEW.EFI"},
                {"EFI/BOOT/BOOTX64.EFI", "with other content"},
                {"EFI/fedora/grubx64.efi/x", "a directory where the ESP has a file"},
                {"EFI/fedora/fifo", "neither a file nor a directory"},
                {"EFI/fedora/theirs", "owned by 1000:0"},
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                if (i == 6 && geteuid() != 0)
                        continue; /* chown needs root */
                _cleanup_free_ char *path = xasprintf("boot/efi/%s", refused[i].path);
                _cleanup_free_ char *want = xasprintf("/%s", path);
                put(root_fd, "boot/efi/EFI/fedora/new.efi", "NEW");
                if (i == 0)
                        assert_int_equal(root_symlink(root_fd, "new.efi", path, 0), 0);
                else if (i == 5)
                        assert_int_equal(mkfifoat(root_fd, path, 0644), 0);
                else
                        put(root_fd, path, "OTHER");
                if (i == 2)
                        want = (free(want), xstrdup("/boot/efi/EFI/fedora/new.efi"));
                if (i == 4)
                        want = (free(want), xstrdup("/boot/efi/EFI/fedora/grubx64.efi"));
                if (i == 6)
                        assert_int_equal(fchownat(root_fd, path, 1000, 0, AT_SYMLINK_NOFOLLOW), 0);
                assert_int_equal(esp_take_root_files(root_fd, "boot/efi", esp_fd, &pb), -EBADMSG);
                assert_string_equal(pb.path, want);
                assert_non_null(strstr(pb.why, refused[i].why));
                /* Checked before anything was copied, and the root as it was. */
                assert_int_equal(entries(esp_fd, "EFI/fedora/new.efi"), -1);
                assert_false(holds(esp_fd, "EFI/fedora/new.efi", "NEW"));
                assert_true(holds(root_fd, "boot/efi/EFI/fedora/new.efi", "NEW"));
                assert_true(holds(esp_fd, "EFI/BOOT/BOOTX64.EFI", "SHIM"));
                assert_int_equal(root_rm_rf(root_fd, "boot/efi/EFI"), 0);
        }
        esp_problem_done(&pb);
        assert_null(pb.path);

        /* A mount point that is a symlink is refused too. */
        assert_int_equal(root_rm_rf(root_fd, "boot/efi"), 0);
        assert_int_equal(root_symlink(root_fd, "/", "boot/efi", 0), 0);
        assert_int_equal(esp_take_root_files(root_fd, "boot/efi", esp_fd, &pb), -EBADMSG);
        assert_string_equal(pb.path, "/boot/efi");
        esp_problem_done(&pb);
        assert_int_equal(rm_rf(base), 0);
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
                cmocka_unit_test(test_esp_name),
                cmocka_unit_test(test_esp_take_root_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
