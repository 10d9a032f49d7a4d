/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "vmcompose/arch.h"
#include "vmcompose/elf.h"
#include "vmcompose/hash.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"
#include "vmcompose/userns.h"
#include "vmcompose/util.h"
#include "vmcompose/workdir.h"

static void assert_size(const char *s, uint64_t expected) {
        uint64_t v = 0;
        int r = parse_size(s, &v);
        if (r != 0)
                fail_msg("parse_size(\"%s\") failed: %d", s, r);
        assert_int_equal(v, expected);
}

static void assert_size_error(const char *s, int expected) {
        uint64_t v = 42;
        int r = parse_size(s, &v);
        if (r != expected)
                fail_msg("parse_size(\"%s\") returned %d, expected %d", s, r, expected);
        assert_int_equal(v, 42); /* untouched on failure */
}

static void test_size_valid(void **state) {
        (void)state;
        assert_size("0", 0);
        assert_size("1", 1);
        assert_size("512", 512);
        assert_size("512B", 512);
        assert_size("1K", 1024);
        assert_size("1k", 1024);
        assert_size("256M", 256ull << 20);
        assert_size("256MiB", 256ull << 20);
        assert_size("256MB", 256ull << 20);
        assert_size("2G", 2ull << 30);
        assert_size("3T", 3ull << 40);
        assert_size("1P", 1ull << 50);
        assert_size("15E", 15ull << 60);
        assert_size("18446744073709551615", UINT64_MAX);
        assert_size("007M", 7ull << 20);
}

static void test_size_invalid(void **state) {
        (void)state;
        assert_size_error("", -EINVAL);
        assert_size_error("12Q", -EINVAL);
        assert_size_error("-1G", -EINVAL);
        assert_size_error("+1G", -EINVAL);
        assert_size_error(" 1G", -EINVAL);
        assert_size_error("1G ", -EINVAL);
        assert_size_error("1.5G", -EINVAL);
        assert_size_error("G", -EINVAL);
        assert_size_error("1GG", -EINVAL);
        assert_size_error("1Gi", -EINVAL);
        assert_size_error("0x10", -EINVAL);
        assert_size_error("auto", -EINVAL);
        assert_size_error("16E", -ERANGE);
        assert_size_error("18446744073709551616", -ERANGE);
        assert_size_error("99999999999999999999G", -ERANGE);
        assert_size_error("17179869184G", -ERANGE); /* 2^34 G = 2^64 */
        assert_size("17179869183G", 17179869183ull << 30);
}

static void test_size_format(void **state) {
        (void)state;
        char buf[32];
        assert_string_equal(format_size(0, buf), "0");
        assert_string_equal(format_size(1000, buf), "1000");
        assert_string_equal(format_size(1024, buf), "1K");
        assert_string_equal(format_size(256ull << 20, buf), "256M");
        assert_string_equal(format_size(3ull << 30, buf), "3G");
        assert_string_equal(format_size((1ull << 30) + (1ull << 20), buf), "1025M");
        assert_string_equal(format_size(UINT64_MAX, buf), "18446744073709551615");

        /* Round trip. */
        uint64_t v;
        for (uint64_t x = 1; x < (1ull << 62); x = x * 3 + 7) {
                assert_int_equal(parse_size(format_size(x, buf), &v), 0);
                assert_int_equal(v, x);
        }
}

static void test_percent(void **state) {
        (void)state;
        unsigned p;
        assert_int_equal(parse_percent("10%", &p), 0);
        assert_int_equal(p, 10);
        assert_int_equal(parse_percent("0%", &p), 0);
        assert_int_equal(p, 0);
        assert_int_equal(parse_percent("100%", &p), 0);
        assert_int_equal(p, 100);
        assert_int_equal(parse_percent("101%", &p), -ERANGE);
        assert_int_equal(parse_percent("%", &p), -EINVAL);
        assert_int_equal(parse_percent("10", &p), -EINVAL);
        assert_int_equal(parse_percent("-5%", &p), -EINVAL);
        assert_int_equal(parse_percent("1.5%", &p), -EINVAL);
}

static void test_uint64(void **state) {
        (void)state;
        uint64_t v;
        assert_int_equal(parse_uint64("1700000000", &v), 0);
        assert_int_equal(v, 1700000000);
        assert_int_equal(parse_uint64("18446744073709551615", &v), 0);
        assert_int_equal(v, UINT64_MAX);
        assert_int_equal(parse_uint64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(parse_uint64("", &v), -EINVAL);
        assert_int_equal(parse_uint64("-1", &v), -EINVAL);
        assert_int_equal(parse_uint64("1e3", &v), -EINVAL);
}

static void assert_norm(const char *in, const char *out) {
        char *n = path_normalize(in);
        assert_string_equal(n, out);
        free(n);
}

static void test_paths(void **state) {
        (void)state;
        assert_norm("a/b/../c", "a/c");
        assert_norm("./a//b/./c/", "a/b/c");
        assert_norm("../a", "../a");
        assert_norm("a/../../b", "../b");
        assert_norm("/../a", "/a");
        assert_norm("/", "/");
        assert_norm(".", ".");
        assert_norm("a/..", ".");
        assert_norm("profiles/targets/../base/debian-12.yaml", "profiles/base/debian-12.yaml");

        char *j = path_join("a/", "b");
        assert_string_equal(j, "a/b");
        free(j);
        j = path_join("a", "/abs");
        assert_string_equal(j, "/abs");
        free(j);
        j = path_join("", "b");
        assert_string_equal(j, "b");
        free(j);

        char *d = path_dirname("a/b/c.yaml");
        assert_string_equal(d, "a/b");
        free(d);
        d = path_dirname("c.yaml");
        assert_string_equal(d, ".");
        free(d);
        d = path_dirname("/c.yaml");
        assert_string_equal(d, "/");
        free(d);
}

static void test_distance(void **state) {
        (void)state;
        assert_int_equal(string_distance("packages", "packages"), 0);
        assert_int_equal(string_distance("pakages", "packages"), 1);
        assert_int_equal(string_distance("", "abc"), 3);
        assert_int_equal(string_distance("kitten", "sitting"), 3);
        assert_int_equal(string_distance("bootloadr", "bootloader"), 1);
}

static void test_strv_buffer(void **state) {
        (void)state;
        char **l = NULL;
        assert_int_equal(strv_length(l), 0);
        strv_extend(&l, "a");
        strv_push(&l, xstrdup("b"));
        assert_int_equal(strv_length(l), 2);
        assert_true(strv_contains(l, "b"));
        assert_false(strv_contains(l, "c"));
        assert_null(l[2]);
        strv_free(l);

        Buffer b = {};
        for (int i = 0; i < 1000; i++)
                buffer_printf(&b, "%d,", i);
        assert_int_equal(b.len, strlen(b.data));
        assert_true(strneq(b.data, "0,1,2,", 6));
        char *s = buffer_steal(&b);
        assert_null(b.data);
        free(s);
        s = buffer_steal(&b); /* an empty buffer gives an empty string */
        assert_string_equal(s, "");
        free(s);
}

static void test_files(void **state) {
        (void)state;
        char dir[] = "/tmp/vmcompose-test-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *path = path_join(dir, "f");

        assert_int_equal(write_file_atomic(path, "hello\n", 6, 0600), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        char *data;
        size_t size;
        assert_int_equal(read_full_file(path, 100, &data, &size), 0);
        assert_int_equal(size, 6);
        assert_string_equal(data, "hello\n");
        free(data);
        assert_int_equal(read_full_file(path, 3, &data, &size), -EFBIG);
        assert_int_equal(read_full_file(dir, 100, &data, &size), -EISDIR);

        /* Replacing keeps no temporary file behind. */
        assert_int_equal(write_file_atomic(path, "x", 1, 0644), 0);
        char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        /* A directory that does not exist: an error, nothing written. */
        char *bad = path_join(dir, "missing/f");
        assert_int_equal(write_file_atomic(bad, "x", 1, 0644), -ENOENT);
        free(bad);

        unlink(path);
        rmdir(dir);
        free(path);
}

static void test_sha256(void **state) {
        (void)state;
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[65];
        sha256("abc", 3, d);
        sha256_hex(d, hex);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        sha256("", 0, d);
        sha256_hex(d, hex);
        assert_string_equal(hex,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        /* Incremental over a file equals one shot. */
        char path[] = "/tmp/vmcompose-sha-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        Buffer b = {};
        for (int i = 0; i < 300000; i++)
                buffer_printf(&b, "%d\n", i);
        assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        uint8_t d2[SHA256_DIGEST_SIZE];
        assert_int_equal(sha256_file(fd, d2), 0);
        sha256(b.data, b.len, d);
        assert_memory_equal(d, d2, sizeof(d));
        close(fd);
        unlink(path);
        buffer_done(&b);
}

static void test_uuid(void **state) {
        (void)state;
        uint8_t a[16], b[16], c[16];
        char s[37];
        uuid_from_seed("minimal", "disk", a);
        uuid_from_seed("minimal", "disk", b);
        uuid_from_seed("minimal", "partition:root", c);
        assert_memory_equal(a, b, 16);
        assert_memory_not_equal(a, c, 16);
        uuid_from_seed("minimal\0disk", "", b); /* the separator cannot be forged */
        uuid_from_seed("minimald", "isk", c);
        assert_memory_not_equal(a, c, 16);
        assert_int_equal(a[6] >> 4, 8);      /* version 8 */
        assert_int_equal(a[8] & 0xc0, 0x80); /* RFC variant */
        uuid_format(a, s);
        assert_int_equal(strlen(s), 36);
        assert_int_equal(uuid_parse(s, b), 0);
        assert_memory_equal(a, b, 16);
        assert_int_equal(uuid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", b), 0);
        uuid_format(b, s);
        assert_string_equal(s, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_int_equal(uuid_parse("c12a7328f81f-11d2-ba4b-00a0c93ec93b0", b), -EINVAL);
        assert_int_equal(uuid_parse("g12a7328-f81f-11d2-ba4b-00a0c93ec93b", b), -EINVAL);
}

/* shell_quote(): whatever the string, sh reads back exactly it, and runs nothing. */
static void test_shell_quote(void **state) {
        (void)state;
        char marker[] = "/tmp/vmc-pwned-XXXXXX";
        int fd = mkstemp(marker);
        assert_true(fd >= 0);
        close(fd);
        unlink(marker);
        _cleanup_free_ char *subst = xasprintf("$(touch %s)", marker);
        _cleanup_free_ char *backtick = xasprintf("`touch %s`", marker);
        _cleanup_free_ char *mixed =
                xasprintf("a'b\"c$(touch %s)`touch %s`\\\n;|&", marker, marker);
        const char *cases[] = {"",
                               "plain",
                               "/usr/bin/zsh",
                               "with space",
                               "'",
                               "''",
                               "it's",
                               "\"double\"",
                               "$HOME",
                               "${PATH}",
                               subst,
                               backtick,
                               mixed,
                               "line1\nline2\n",
                               "\n",
                               "tab\there",
                               "back\\slash\\",
                               "glob * ? [a]",
                               "~root",
                               "-n",
                               "--",
                               "a;b|c&d>e<f",
                               "#comment",
                               "caf\xc3\xa9 \xe2\x82\xac \xff\xfe",
                               "!bang",
                               "x=y",
                               "%1",
                               "{a,b}"};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *q = shell_quote(cases[i]);
                _cleanup_free_ char *script = xasprintf("printf %%s %s", q);
                char *const argv[] = {(char *)"/bin/sh", (char *)"-c", script, NULL};
                Buffer out = {};
                assert_int_equal(spawn_run(argv, NULL, &out), 0);
                assert_int_equal(out.len, strlen(cases[i]));
                assert_memory_equal(out.data ? out.data : "", cases[i], out.len);
                buffer_done(&out);
                /* And as one of several words: exactly one argument. */
                _cleanup_free_ char *count = xasprintf("set -- %s %s; printf %%s $#", q, q);
                char *const argv2[] = {(char *)"/bin/sh", (char *)"-c", count, NULL};
                assert_int_equal(spawn_run(argv2, NULL, &out), 0);
                assert_string_equal(out.data, "2");
                buffer_done(&out);
        }
        assert_int_equal(access(marker, F_OK), -1);
        /* Plain words stay as they are (generated files keep their bytes). */
        _cleanup_free_ char *p = shell_quote("virtio_blk"), *e = shell_quote("");
        _cleanup_free_ char *a = shell_quote("it's");
        assert_string_equal(p, "virtio_blk");
        assert_string_equal(e, "''");
        assert_string_equal(a, "'it'\\''s'");
}

/* /etc/subuid lines: the user's range by name or by uid, at least the ids asked for; a free
 * start for the line the error suggests. */
static void test_subid(void **state) {
        (void)state;
        const char *text = "alice:100000:65536\n"
                           "bob:165536:1000\n"
                           "1002:300000:65536\n"
                           "bob:231072:70000\n"
                           "# carol:1:65536\n"
                           "dave:x:65536\n";
        SubidRange r = {};
        assert_int_equal(subid_find(text, "alice", 1001, 65536, &r), 0);
        assert_int_equal(r.start, 100000);
        assert_int_equal(r.count, 65536);
        /* bob's first range is too small: the second. */
        assert_int_equal(subid_find(text, "bob", 1003, 65536, &r), 0);
        assert_int_equal(r.start, 231072);
        assert_int_equal(r.count, 70000);
        /* By uid. */
        assert_int_equal(subid_find(text, "erin", 1002, 65536, &r), 0);
        assert_int_equal(r.start, 300000);
        assert_int_equal(subid_find(text, "carol", 1004, 1, &r), -ENOENT);
        assert_int_equal(subid_find(text, "dave", 1005, 1, &r), -ENOENT);
        assert_int_equal(subid_find("", "alice", 1001, 1, &r), -ENOENT);
        assert_int_equal(subid_find("alice:5:65536", "alice", 1001, 65536, &r), 0);
        /* Past every range it meets, at a multiple of 65536. */
        assert_int_equal(subid_free_start("", 65536), 100000);
        assert_int_equal(subid_free_start(NULL, 65536), 100000);
        assert_int_equal(subid_free_start("a:100000:65536\n", 65536), 196608);
        assert_int_equal(subid_free_start(text, 65536), 393216);
        assert_int_equal(subid_free_start("a:200000:65536\n", 65536), 100000);
}

/* The architecture table: lookups by each key, and the binfmt_misc check on a directory laid
 * out as /proc/sys/fs/binfmt_misc is (status, one file per handler). */
static void test_arch(void **state) {
        (void)state;
        const Arch *arm = arch_find("arm64"), *x86 = arch_find("amd64");
        assert_non_null(arm);
        assert_non_null(x86);
        assert_null(arch_find("s390x"));
        assert_ptr_equal(arch_find_by(offsetof(Arch, kernel_package), "linux-image-cloud-arm64"),
                         arm);
        assert_ptr_equal(arch_find_by(offsetof(Arch, serial_console), "ttyS0"), x86);
        assert_null(arch_find_by(offsetof(Arch, serial_console), "ttyUSB0"));
        assert_string_equal(arm->efi_boot, "BOOTAA64.EFI");
        assert_string_equal(arm->root_type, "B921B045-1DF0-41C3-AF44-4C6F280D3FAE");
        assert_string_equal(arch_names(), "amd64, arm64");
        assert_false(arm->bios);
        assert_true(arch_is_foreign(arch_host() == arm ? x86 : arm));
        assert_false(arch_is_foreign(arch_host()));

        char dir[] = "/tmp/vmcompose-test-binfmt-XXXXXX";
        assert_non_null(mkdtemp(dir));
        const char *why = NULL;
        _cleanup_free_ char *fix = arch_binfmt_fix(dir, "qemu-aarch64");
        assert_int_equal(arch_binfmt_check(dir, "qemu-aarch64", &why), -ENOENT);
        assert_string_equal(why, "binfmt_misc is not mounted");
        assert_non_null(strstr(fix, "mount -t binfmt_misc binfmt_misc "));
        assert_non_null(strstr(fix, " && update-binfmts --enable qemu-aarch64"));

        _cleanup_free_ char *status = path_join(dir, "status");
        _cleanup_free_ char *h = path_join(dir, "qemu-aarch64");
        assert_int_equal(write_file_atomic(status, "enabled\n", 8, 0644), 0);
        assert_int_equal(arch_binfmt_check(dir, "qemu-aarch64", &why), -ENOENT);
        assert_string_equal(why, "no such binfmt_misc handler is registered");
        free(fix);
        fix = arch_binfmt_fix(dir, "qemu-aarch64");
        assert_string_equal(fix, "update-binfmts --enable qemu-aarch64");
        static const struct {
                const char *text;
                int r;
        } cases[] = {
                {"enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"
                 "offset 0\n",
                 0},
                {"enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OC\noffset 0\n",
                 -EPERM},
                {"enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: \noffset F\n", -EPERM},
                {"disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n", -ESRCH},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(write_file_atomic(h, cases[i].text, strlen(cases[i].text), 0644),
                                 0);
                assert_int_equal(arch_binfmt_check(dir, "qemu-aarch64", &why), cases[i].r);
        }
        assert_int_equal(rm_rf(dir), 0);
}

/* VMCOMPOSE_TMPFS and the memory: when the root goes into a tmpfs, and how big it may grow. */
static void test_workdir_decide(void **state) {
        (void)state;
        const uint64_t gib = UINT64_C(1) << 30;
        bool use = false;
        uint64_t size = 1;
        assert_int_equal(workdir_tmpfs_decide(NULL, 8 * gib, &use, &size), 0);
        assert_true(use);
        assert_int_equal(size, 4 * gib);
        assert_int_equal(workdir_tmpfs_decide("auto", 8 * gib, &use, &size), 0);
        assert_true(use);
        assert_int_equal(workdir_tmpfs_decide("", WORKDIR_TMPFS_MIN_MEMORY, &use, &size), 0);
        assert_true(use);
        assert_int_equal(workdir_tmpfs_decide(NULL, WORKDIR_TMPFS_MIN_MEMORY - 1, &use, &size), 0);
        assert_false(use);
        assert_int_equal(size, 0);
        assert_int_equal(workdir_tmpfs_decide("0", 64 * gib, &use, &size), 0);
        assert_false(use);
        use = true;
        assert_int_equal(workdir_tmpfs_decide("yes", 64 * gib, &use, &size), -EINVAL);
        assert_true(use); /* untouched on failure */

        uint64_t avail = 0;
        assert_int_equal(workdir_parse_meminfo("MemTotal:       24683792 kB\n"
                                               "MemFree:        17239000 kB\n"
                                               "MemAvailable:   23248000 kB\n"
                                               "Buffers:          100 kB\n",
                                               &avail),
                         0);
        assert_int_equal(avail, UINT64_C(23248000) * 1024);
        assert_int_equal(workdir_parse_meminfo("MemTotal: 1 kB\nMemFree: 1 kB\n", &avail), -ENOENT);
        assert_int_equal(workdir_parse_meminfo("MemAvailable: kB\n", &avail), -EBADMSG);
        assert_int_equal(workdir_parse_meminfo("", &avail), -ENOENT);
}

/* As root: the tmpfs is mounted in the process's own mount namespace (a child's here, so that
 * this test's own namespace stays as it is), holds what is written under it, and goes. */
static void test_workdir_mount(void **state) {
        (void)state;
        if (geteuid() != 0)
                skip();
        char dir[] = "/tmp/test-workdir-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *mem = path_join(dir, "mem");
        assert_int_equal(mkdir(mem, 0700), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct statfs sf;
                _cleanup_free_ char *f = path_join(mem, "file");
                int m = workdir_mount_tmpfs(mem, 16 << 20);
                /* 0: this system cannot (a chroot, whose / is no mount point to make a slave):
                 * the build stays on the disk, which other tests cover. */
                int code = m == 0                                               ? 5
                           : m != 1                                             ? 1
                           : statfs(mem, &sf) < 0 || sf.f_type != TMPFS_MAGIC   ? 2
                           : write_file_atomic(f, "x", 1, 0644) < 0             ? 3
                           : workdir_unmount(mem) < 0 || access(mem, F_OK) == 0 ? 4
                                                                                : 0;
                _exit(code);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 5) {
                assert_int_equal(rm_rf(dir), 0);
                skip();
        }
        assert_int_equal(WEXITSTATUS(status), 0);
        /* Nothing reached this namespace: the file was written in the tmpfs only. */
        _cleanup_free_ char *f = path_join(mem, "file");
        assert_int_equal(access(f, F_OK), -1);
        assert_int_equal(rm_rf(dir), 0);
}

/* The programs run in an image root do not wait for the disk: under spawn_run_in_root()'s
 * filter, fsync() succeeds at once, even on /dev/null, which refuses it (EINVAL) otherwise. */
static void test_filter_sync(void **state) {
        (void)state;
        char *const dd[] = {(char *)"dd",         (char *)"if=/dev/null", (char *)"of=/dev/null",
                            (char *)"conv=fsync", (char *)"status=none",  NULL};
        Buffer out = {};
        assert_int_equal(spawn_run(dd, NULL, &out), 1); /* without the filter */
        buffer_done(&out);
        if (geteuid() == 0) { /* a user gets the filter from its namespace's uid 0 */
                assert_int_equal(spawn_run_in_root(dd, NULL, &out), 0);
                buffer_done(&out);
        }
        /* Any user, with no_new_privs: the filter itself. */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || fsync(fd) == 0 || errno != EINVAL)
                        _exit(2);
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || spawn_filter_sync() < 0)
                        _exit(3);
                _exit(fsync(fd) == 0 && fdatasync(fd) == 0 && syncfs(fd) == 0 && close(-1) < 0 &&
                                      errno == EBADF
                              ? 0
                              : 4);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* Which sysctl refuses user namespaces, named with the line that changes it. */
static void test_userns_refusal(void **state) {
        (void)state;
        static const struct {
                UsernsSysctls s;
                int error;
                const char *expected;
        } cases[] = {
                {{0, -1, -1},
                 -ENOSPC,
                 "the sysctl user.max_user_namespaces is 0 (as root: sysctl "
                 "-w user.max_user_namespaces=15000)"},
                {{0, 0, 1}, -ENOSPC, "user.max_user_namespaces is 0"},
                {{15000, 0, -1},
                 -EPERM,
                 "kernel.unprivileged_userns_clone is 0 (as root: sysctl "
                 "-w kernel.unprivileged_userns_clone=1)"},
                {{15000, 1, 1},
                 -EPERM,
                 "AppArmor restricts unprivileged user namespaces: the "
                 "sysctl kernel.apparmor_restrict_unprivileged_userns is 1"},
                {{15000, -1, 0}, -EPERM, "cannot create a user namespace: Operation not permitted"},
                {{-1, -1, -1}, -ENOSPC, "cannot create a user namespace: No space left on device"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *m = userns_refusal_message(cases[i].error, &cases[i].s);
                if (!strstr(m, cases[i].expected))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, m, cases[i].expected);
        }
}

/* rm_rf() on a tree of more files than one thread takes: all of it gone, a symlink in it
 * removed and not followed, a missing path no error. */
static void test_rm_rf(void **state) {
        (void)state;
        char outside[] = "/tmp/vmcompose-test-rmrf-out-XXXXXX",
             dir[] = "/tmp/vmcompose-test-rmrf-XXXXXX";
        assert_non_null(mkdtemp(outside));
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *kept = path_join(outside, "kept");
        assert_int_equal(write_file_atomic(kept, "x", 1, 0644), 0);
        for (unsigned d = 0; d < 8; d++) {
                _cleanup_free_ char *sub = xasprintf("%s/d%u/e", dir, d);
                assert_int_equal(mkdir_p(sub), 0);
                for (unsigned f = 0; f < 200; f++) {
                        _cleanup_free_ char *file = xasprintf("%s/f%u", sub, f);
                        assert_int_equal(write_file_atomic(file, "y", 1, 0644), 0);
                }
        }
        _cleanup_free_ char *link = path_join(dir, "d0/out");
        assert_int_equal(symlink(outside, link), 0);
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(access(kept, F_OK), 0);
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(rm_rf(outside), 0);
}

/* The ELF reader on the host's own programs: what ld.so would load, as ldd shows it. */
static void test_elf(void **state) {
        (void)state;
        const Arch *host = arch_host();
        if (!host)
                skip();
        _cleanup_free_ char *interp = NULL;
        _cleanup_strv_free_ char **needed = NULL;
        assert_int_equal(elf_dynamic_info("/usr/bin/ls", host->elf_machine, &interp, &needed), 0);
        assert_non_null(interp);
        assert_non_null(strstr(interp, "/ld-linux"));
        assert_true(strv_contains(needed, "libc.so.6"));
        /* Another machine, a script, a directory, a truncated program. */
        int other = host->elf_machine == EM_X86_64 ? EM_AARCH64 : EM_X86_64;
        char *i2 = NULL, **n2 = NULL;
        assert_int_equal(elf_dynamic_info("/usr/bin/ls", other, &i2, &n2), -ENOEXEC);
        assert_int_equal(elf_dynamic_info("/usr/bin/ldd", host->elf_machine, &i2, &n2), -ENOEXEC);
        assert_int_equal(elf_dynamic_info("/usr", host->elf_machine, &i2, &n2), -ENOEXEC);
        char dir[] = "/tmp/vmcompose-elf-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *cut = path_join(dir, "cut"), *copy = path_join(dir, "copy");
        _cleanup_free_ char *data = NULL;
        size_t size;
        assert_int_equal(read_full_file("/usr/bin/ls", 64 << 20, &data, &size), 0);
        assert_int_equal(write_file_atomic(cut, data, 200, 0755), 0);
        assert_int_equal(elf_dynamic_info(cut, host->elf_machine, &i2, &n2), -EBADMSG);
        assert_null(i2);

        /* PT_INTERP rewritten in place, padded: the rest of the file as it was. */
        assert_int_equal(write_file_atomic(copy, data, size, 0755), 0);
        _cleanup_close_ int fd = open(copy, O_RDWR | O_CLOEXEC);
        assert_int_equal(elf_set_interp(fd, "/x/ld.so"), 0);
        assert_int_equal(elf_set_interp(fd, "/a/name/longer/than/the/one/there/was/ld.so"),
                         -ENOSPC);
        _cleanup_free_ char *interp2 = NULL;
        _cleanup_strv_free_ char **needed2 = NULL;
        assert_int_equal(elf_dynamic_info(copy, host->elf_machine, &interp2, &needed2), 0);
        assert_string_equal(interp2, "/x/ld.so");
        assert_int_equal(strv_length(needed2), strv_length(needed));
        _cleanup_free_ char *after = NULL;
        size_t size2;
        assert_int_equal(read_full_file(copy, 64 << 20, &after, &size2), 0);
        assert_int_equal(size2, size);
        size_t differ = 0;
        for (size_t i = 0; i < size; i++)
                differ += after[i] != data[i];
        assert_true(differ > 0 && differ <= strlen(interp));
        rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arch),
                cmocka_unit_test(test_size_valid),
                cmocka_unit_test(test_size_invalid),
                cmocka_unit_test(test_size_format),
                cmocka_unit_test(test_percent),
                cmocka_unit_test(test_uint64),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_distance),
                cmocka_unit_test(test_strv_buffer),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_uuid),
                cmocka_unit_test(test_shell_quote),
                cmocka_unit_test(test_subid),
                cmocka_unit_test(test_workdir_decide),
                cmocka_unit_test(test_workdir_mount),
                cmocka_unit_test(test_elf),
                cmocka_unit_test(test_filter_sync),
                cmocka_unit_test(test_userns_refusal),
                cmocka_unit_test(test_rm_rf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
