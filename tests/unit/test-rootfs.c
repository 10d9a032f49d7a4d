/* SPDX-License-Identifier: MIT */
/* composer/core/rootfs.c on a hostile root: symlinks a package could ship (boot -> /,
 * etc/kernel -> a host directory, relative ones climbing with "..", dangling and looping ones).
 * Every write must land inside the root; a canary directory on the host stays empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"
#include "vmcompose/util.h"

typedef struct Fixture {
        char base[64]; /* holds root/ and host/ */
        char *root, *host;
        int root_fd;
        char *top_name; /* a name that must never appear in the host's "/" */
} Fixture;

static void make_link(Fixture *f, const char *target, const char *path) {
        assert_int_equal(symlinkat(target, f->root_fd, path), 0);
}

static int setup(void **state) {
        Fixture *f = xcalloc(1, sizeof(Fixture));
        snprintf(f->base, sizeof(f->base), "/tmp/vmc-rootfs-XXXXXX");
        assert_non_null(mkdtemp(f->base));
        f->root = xasprintf("%s/root", f->base);
        f->host = xasprintf("%s/host", f->base); /* the canary: the build host's directory */
        assert_int_equal(mkdir(f->root, 0755), 0);
        assert_int_equal(mkdir(f->host, 0755), 0);
        _cleanup_free_ char *secret = xasprintf("%s/secret", f->host);
        assert_int_equal(write_file_atomic(secret, "host secret\n", 12, 0600), 0);
        f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->root_fd >= 0);
        f->top_name = xasprintf("vmcompose-test-rootfs-%d", (int)getpid());

        assert_int_equal(mkdirat(f->root_fd, "etc", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "usr", 0755), 0);
        assert_int_equal(mkdirat(f->root_fd, "usr/lib", 0755), 0);
        assert_int_equal(root_write_file(f->root_fd, "usr/lib/os-release", "ID=test\n", 8, 0644, 0),
                         0);
        make_link(f, "/", "boot");
        make_link(f, f->host, "etc/kernel");
        _cleanup_free_ char *to_secret = xasprintf("%s/secret", f->host);
        make_link(f, to_secret, "etc/os-release");
        make_link(f, "../usr/lib/os-release", "etc/os-release.rel");
        make_link(f, "../../../../../../..", "up");
        make_link(f, "/proc/self/root", "magic");
        make_link(f, "/nonexistent/deeper", "dangling");
        make_link(f, "loop-b", "loop-a");
        make_link(f, "loop-a", "loop-b");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        close(f->root_fd);
        assert_int_equal(rm_rf(f->base), 0);
        free(f->root);
        free(f->host);
        free(f->top_name);
        free(f);
        return 0;
}

/* The canary directory holds only the file the fixture put there; "/" on the host has no
 * entry of the test's name. */
static void assert_host_untouched(const Fixture *f) {
        DIR *d = opendir(f->host);
        assert_non_null(d);
        unsigned n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        assert_string_equal(de->d_name, "secret");
                        n++;
                }
        closedir(d);
        assert_int_equal(n, 1);
        _cleanup_free_ char *top = xasprintf("/%s", f->top_name);
        struct stat st;
        assert_int_equal(lstat(top, &st), -1);
}

static char *read_in(const Fixture *f, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", f->root, rel);
        char *data = NULL;
        assert_int_equal(read_full_file(p, 1 << 20, &data, NULL), 0);
        return data;
}

static void test_write_through_boot_to_slash(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = xasprintf("/boot/%s", f->top_name);
        assert_int_equal(root_write_file(f->root_fd, path, "x\n", 2, 0644, 0), 0);
        _cleanup_free_ char *data = read_in(f, f->top_name);
        assert_string_equal(data, "x\n");
        assert_host_untouched(f);

        /* Replacing it again: same place, mode as asked. */
        assert_int_equal(root_write_file(f->root_fd, path, "yz\n", 3, 0600, 0), 0);
        _cleanup_free_ char *again = read_in(f, f->top_name);
        assert_string_equal(again, "yz\n");
        struct stat st;
        assert_int_equal(fstatat(f->root_fd, f->top_name, &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_write_through_host_link(void **state) {
        Fixture *f = *state;
        /* etc/kernel -> HOST: inside the root HOST does not exist. */
        assert_true(root_write_file(f->root_fd, "etc/kernel/cmdline", "quiet\n", 6, 0644, 0) < 0);
        assert_true(root_write_file(f->root_fd, "etc/kernel/cmdline", "quiet\n", 6, 0644,
                                    ROOT_WRITE_MKDIR) < 0);
        assert_host_untouched(f);
        /* Once HOST exists in the root, the write lands there: ROOT/HOST/cmdline. */
        assert_int_equal(root_mkdir_p(f->root_fd, f->host, 0755), 0);
        assert_int_equal(root_write_file(f->root_fd, "etc/kernel/cmdline", "quiet\n", 6, 0644, 0),
                         0);
        _cleanup_free_ char *rel = xasprintf("%s/cmdline", f->host + 1);
        _cleanup_free_ char *data = read_in(f, rel);
        assert_string_equal(data, "quiet\n");
        assert_host_untouched(f);
}

static void test_dotdot(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = xasprintf("../../../../%s", f->top_name);
        _cleanup_free_ char *b = xasprintf("up/%s.b", f->top_name);
        _cleanup_free_ char *c = xasprintf("etc/../../boot/../%s.c", f->top_name);
        assert_int_equal(root_write_file(f->root_fd, a, "a", 1, 0644, 0), 0);
        assert_int_equal(root_write_file(f->root_fd, b, "b", 1, 0644, 0), 0);
        assert_int_equal(root_write_file(f->root_fd, c, "c", 1, 0644, 0), 0);
        _cleanup_free_ char *ra = read_in(f, f->top_name);
        _cleanup_free_ char *nb = xasprintf("%s.b", f->top_name),
                            *nc = xasprintf("%s.c", f->top_name);
        _cleanup_free_ char *rb = read_in(f, nb), *rc = read_in(f, nc);
        assert_string_equal(ra, "a");
        assert_string_equal(rb, "b");
        assert_string_equal(rc, "c");
        assert_host_untouched(f);
        /* No last component to write. */
        assert_int_equal(root_write_file(f->root_fd, "etc/..", "x", 1, 0644, 0), -EINVAL);
        assert_int_equal(root_write_file(f->root_fd, "/", "x", 1, 0644, 0), -EINVAL);
}

static void test_mkdir_symlink_unlink(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *dir = xasprintf("boot/%s/a/b", f->top_name);
        assert_int_equal(root_mkdir_p(f->root_fd, dir, 0755), 0);
        assert_int_equal(root_mkdir_p(f->root_fd, dir, 0755), 0); /* exists: fine */
        _cleanup_free_ char *in = xasprintf("%s/%s/a/b", f->root, f->top_name);
        struct stat st;
        assert_int_equal(stat(in, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* A dangling link in the way is refused, not followed to the host. */
        assert_int_equal(root_mkdir_p(f->root_fd, "dangling/x", 0755), -ELOOP);
        assert_true(root_mkdir_p(f->root_fd, "etc/kernel", 0755) < 0);
        assert_host_untouched(f);

        /* ln -sfn, through boot -> /: ROOT/NAME-link, replaced atomically. */
        _cleanup_free_ char *link = xasprintf("boot/%s-link", f->top_name);
        assert_int_equal(root_symlink(f->root_fd, "/dev/null", link, 0), 0);
        assert_int_equal(root_symlink(f->root_fd, "/dev/zero", link, 0), 0);
        _cleanup_free_ char *lin = xasprintf("%s/%s-link", f->root, f->top_name);
        char target[64] = "";
        assert_int_equal(readlink(lin, target, sizeof(target) - 1), 9);
        assert_string_equal(target, "/dev/zero");
        assert_int_equal(root_symlink(f->root_fd, "/x", "etc", 0), -EISDIR);
        assert_int_equal(root_symlink(f->root_fd, "/x", "etc/kernel/new", ROOT_WRITE_MKDIR) < 0,
                         true);

        /* Removing etc/kernel removes the link, never the host directory. */
        assert_int_equal(root_unlink(f->root_fd, "etc/kernel", 0), 0);
        assert_int_equal(root_unlink(f->root_fd, "etc/kernel", 0), 0); /* gone: fine */
        assert_int_equal(lstat(f->host, &st), 0);
        assert_host_untouched(f);
}

static void test_rm_rf(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *tree = xasprintf("/boot/%s", f->top_name);
        _cleanup_free_ char *file = xasprintf("%s/a/b/file", tree);
        _cleanup_free_ char *link = xasprintf("%s/a/to-host", tree);
        assert_int_equal(root_write_file(f->root_fd, file, "x", 1, 0644, ROOT_WRITE_MKDIR), 0);
        assert_int_equal(root_symlink(f->root_fd, f->host, link, 0), 0);
        assert_int_equal(root_rm_rf(f->root_fd, tree), 0);
        assert_int_equal(faccessat(f->root_fd, f->top_name, F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(root_rm_rf(f->root_fd, tree), 0); /* gone: fine */
        /* rm -rf of a link to the host removes the link only. */
        assert_int_equal(root_rm_rf(f->root_fd, "etc/kernel"), 0);
        assert_host_untouched(f);
}

static void test_read(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        /* etc/os-release -> HOST/secret: the root has no such file; the host's is not read. */
        assert_int_equal(root_read_file(f->root_fd, "etc/os-release", 1 << 20, &data, NULL),
                         -ENOENT);
        assert_null(data);
        assert_int_equal(root_read_file(f->root_fd, "etc/os-release.rel", 1 << 20, &data, NULL), 0);
        assert_string_equal(data, "ID=test\n");
        free(data);
        data = NULL;
        assert_int_equal(
                root_read_file(f->root_fd, "/boot/boot/usr/lib/os-release", 1 << 20, &data, NULL),
                0);
        assert_string_equal(data, "ID=test\n");
        free(data);
        data = NULL;
        assert_int_equal(root_read_file(f->root_fd, "etc", 1 << 20, &data, NULL), -EISDIR);
        assert_int_equal(root_read_file(f->root_fd, "magic/etc/passwd", 1 << 20, &data, NULL) < 0,
                         true);
        assert_int_equal(root_read_file(f->root_fd, "loop-a", 1 << 20, &data, NULL), -ELOOP);
        /* A FIFO would block; a device node would read the host's device. */
        assert_int_equal(mkfifoat(f->root_fd, "fifo", 0600), 0);
        assert_int_equal(root_read_file(f->root_fd, "fifo", 1 << 20, &data, NULL), -EBADFD);
        assert_null(data);

        /* Copies: from the root through boot -> /, to a second root. */
        char other[] = "/tmp/vmc-rootfs-copy-XXXXXX";
        assert_non_null(mkdtemp(other));
        _cleanup_close_ int ofd = open(other, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(root_copy_file(f->root_fd, "boot/usr/lib/os-release", ofd, "copy", 0644),
                         0);
        assert_int_equal(root_read_file(ofd, "copy", 1 << 20, &data, NULL), 0);
        assert_string_equal(data, "ID=test\n");
        free(data);
        data = NULL;
        assert_int_equal(root_copy_file(f->root_fd, "etc/os-release", ofd, "secret", 0644),
                         -ENOENT);
        assert_int_equal(rm_rf(other), 0);
}

/* The O_NOFOLLOW walk resolves every path as openat2(RESOLVE_IN_ROOT) does: the same inode,
 * or the same error. */
static void test_walk_matches_openat2(void **state) {
        Fixture *f = *state;
        assert_int_equal(root_mkdir_p(f->root_fd, "usr/bin", 0755), 0);
        assert_int_equal(symlinkat("usr/bin", f->root_fd, "bin"), 0);
        assert_int_equal(root_write_file(f->root_fd, "usr/bin/sh", "#!", 2, 0755, 0), 0);
        static const char *const paths[] = {
                "",
                "/",
                "etc",
                "etc/os-release",
                "etc/os-release.rel",
                "boot",
                "boot/etc/os-release.rel",
                "up/usr/lib/os-release",
                "../../usr/lib/./os-release",
                "etc/kernel",
                "etc/kernel/x",
                "dangling",
                "loop-a",
                "bin/sh",
                "/bin/../bin/sh",
                "usr/lib/os-release/x",
                "nothing",
                "magic",
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                for (int nofollow = 0; nofollow < 2; nofollow++) {
                        int flags = O_PATH | (nofollow ? O_NOFOLLOW : 0);
                        _cleanup_close_ int a = root_open(f->root_fd, paths[i], flags, 0);
                        _cleanup_close_ int b = root_open_walk(f->root_fd, paths[i], flags, 0);
                        if (a < 0 || b < 0) {
                                if (a != b)
                                        print_error("%s (nofollow %d): openat2 %d, walk %d\n",
                                                    paths[i], nofollow, a, b);
                                assert_int_equal(a, b);
                                continue;
                        }
                        struct stat sa, sb;
                        assert_int_equal(fstat(a, &sa), 0);
                        assert_int_equal(fstat(b, &sb), 0);
                        assert_int_equal(sa.st_ino, sb.st_ino);
                        assert_int_equal(sa.st_dev, sb.st_dev);
                }
        /* Creating through the walk lands inside the root too. */
        _cleanup_free_ char *p = xasprintf("boot/up/%s", f->top_name);
        _cleanup_close_ int fd = root_open_walk(f->root_fd, p, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        assert_int_equal(faccessat(f->root_fd, f->top_name, F_OK, AT_SYMLINK_NOFOLLOW), 0);
        assert_host_untouched(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_through_boot_to_slash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_through_host_link, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_symlink_unlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_walk_matches_openat2, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
