/* SPDX-License-Identifier: MIT */
/* Which archive members may be written, and dpkg-style path-exclude/path-include matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmcompose/install.h"
#include "vmcompose/macro.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"
#include "vmcompose/util.h"

static void ok(const char *member, const char *expect) {
        char *n = NULL;
        if (!install_member_path_ok(member, &n))
                fail_msg("'%s' refused", member);
        assert_string_equal(n, expect);
        free(n);
}

static void refused(const char *member) {
        char *n = NULL;
        if (install_member_path_ok(member, &n))
                fail_msg("'%s' accepted as '%s'", member, n);
}

static void test_members(void **state) {
        (void)state;
        ok("./usr/bin/tool", "usr/bin/tool");
        ok("usr/bin/tool", "usr/bin/tool");
        ok("./bin//sh", "bin/sh");
        ok("./usr/./share/doc/", "usr/share/doc");
        ok("./", "");
        ok("./..x/y..", "..x/y..");
        refused("/etc/passwd");
        refused("../etc/passwd");
        refused("./usr/../../etc/passwd");
        refused("./a/..");
        refused("");
}

static void test_exclude(void **state) {
        (void)state;
        char *exclude[] = {(char *)"/usr/share/doc/*", (char *)"/usr/share/man/*", NULL};
        char *include[] = {(char *)"/usr/share/doc/*/copyright", NULL};
        assert_true(install_path_excluded("/usr/share/doc/bash/README", exclude, include));
        assert_true(install_path_excluded("/usr/share/man/man1/ls.1.gz", exclude, include));
        assert_false(install_path_excluded("/usr/share/doc/bash/copyright", exclude, include));
        assert_false(install_path_excluded("/usr/bin/bash", exclude, include));
        /* dpkg's fnmatch without FNM_PATHNAME: '*' crosses '/'. */
        assert_true(install_path_excluded("/usr/share/doc/a/b/c", exclude, NULL));
        assert_false(install_path_excluded("/usr/share/doc", exclude, NULL));
        assert_false(install_path_excluded("/x", NULL, NULL));
}

/* /etc/shadow's change days after the epoch's day are clamped; nothing else moves. */
static void test_shadow_clamp(void **state) {
        (void)state;
        char *out = NULL;
        const uint64_t epoch = 1700000000; /* day 19675 */
        assert_int_equal(reproducible_shadow_clamp("root:*:20426:0:99999:7:::\n"
                                                   "daemon:*:19000:0:99999:7:::\n"
                                                   "systemd-network:!*:20426::::::\n"
                                                   "nobody:*::0:99999:7:::\n"
                                                   "odd:x:2042a6:0\n"
                                                   "short:x\n"
                                                   "last:*:30000:0:99999:7:::",
                                                   epoch, &out),
                         3);
        assert_string_equal(out, "root:*:19675:0:99999:7:::\n"
                                 "daemon:*:19000:0:99999:7:::\n"
                                 "systemd-network:!*:19675::::::\n"
                                 "nobody:*::0:99999:7:::\n"
                                 "odd:x:2042a6:0\n"
                                 "short:x\n"
                                 "last:*:19675:0:99999:7:::");
        free(out);
        out = (char *)1;
        assert_int_equal(reproducible_shadow_clamp("root:*:19000:0:99999:7:::\n", epoch, &out), 0);
        assert_null(out);
}

static void put(const char *root, const char *path, const char *text, mode_t mode) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", root, path);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static bool exists(const char *root, const char *path) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", root, path);
        return lstat(p, &st) == 0;
}

/* The build's logs and caches go, resolved inside the root: a root whose /var/log is a link
 * to a host directory loses nothing there. /etc/shadow keeps its mode. */
static void test_clean_root(void **state) {
        (void)state;
        char root[] = "/tmp/vmcompose-test-clean-XXXXXX",
             host[] = "/tmp/vmcompose-test-host-XXXXXX";
        assert_non_null(mkdtemp(root));
        assert_non_null(mkdtemp(host));
        char p[4096];
        static const char *const dirs[] = {"var", "var/cache", "var/cache/ldconfig",
                                           "etc", "var/lib",   "var/lib/systemd"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        put(root, "var/cache/ldconfig/aux-cache", "cache", 0644);
        put(root, "var/lib/systemd/random-seed", "seed", 0600);
        put(root, "etc/shadow", "root:*:20426:0:99999:7:::\n", 0640);
        /* var/log -> the host's directory, which holds a dpkg.log of its own */
        snprintf(p, sizeof(p), "%s/var/log", root);
        assert_int_equal(symlink(host, p), 0);
        put(host, "dpkg.log", "the host's log", 0644);

        int fd = open(root, O_RDONLY | O_DIRECTORY);
        assert_true(fd >= 0);
        char **removed = NULL;
        assert_int_equal(reproducible_clean_root(fd, 1700000000, &removed), 0);
        close(fd);
        assert_false(exists(root, "var/cache/ldconfig/aux-cache"));
        assert_false(exists(root, "var/lib/systemd/random-seed"));
        assert_true(exists(host, "dpkg.log"));
        assert_non_null(removed);
        assert_string_equal(removed[0], "var/cache/ldconfig/aux-cache");
        assert_string_equal(removed[1], "var/lib/systemd/random-seed");
        assert_null(removed[2]);
        strv_free(removed);

        char text[256] = {};
        snprintf(p, sizeof(p), "%s/etc/shadow", root);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        fd = open(p, O_RDONLY);
        assert_true(read(fd, text, sizeof(text) - 1) > 0);
        close(fd);
        assert_string_equal(text, "root:*:19675:0:99999:7:::\n");

        assert_int_equal(rm_rf(root), 0);
        assert_int_equal(rm_rf(host), 0);
}

/* A .deb repacked with its tars decompressed (for an emulated dpkg-deb): dpkg-deb itself reads
 * the same control fields and the same data, byte for byte, and the members are plain tars. */
static void test_repack_plain(void **state) {
        (void)state;
        char dir[] = "/tmp/vmcompose-test-repack-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *make = xasprintf(
                "cd %s && mkdir -p p/DEBIAN p/usr/bin && printf 'odd' > p/usr/bin/tool && "
                "printf 'Package: t\\nVersion: 1\\nArchitecture: arm64\\nMaintainer: m <m@x>\\n"
                "Description: d\\n' > p/DEBIAN/control && "
                "dpkg-deb -Zxz --root-owner-group -b p t.deb >/dev/null",
                dir);
        if (system(make) != 0)
                skip(); /* no dpkg-deb */
        _cleanup_free_ char *in = xasprintf("%s/t.deb", dir), *out = xasprintf("%s/plain.deb", dir);
        _cleanup_close_ int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(deb_repack_plain(in, fd), 0);
        _cleanup_free_ char *cmp = xasprintf(
                "cd %s && ar t plain.deb | tr '\\n' ' ' | grep -qx 'debian-binary control.tar "
                "data.tar ' && cmp -s <(dpkg-deb --fsys-tarfile t.deb) "
                "<(dpkg-deb --fsys-tarfile plain.deb) && cmp -s <(dpkg-deb -f t.deb) "
                "<(dpkg-deb -f plain.deb) && dpkg-deb -c plain.deb | grep -q ' ./usr/bin/tool$'",
                dir);
        _cleanup_free_ char *quoted = shell_quote(cmp);
        _cleanup_free_ char *bash = xasprintf("bash -c %s", quoted);
        assert_int_equal(system(bash), 0);
        /* Not a .deb: refused. */
        _cleanup_close_ int fd2 = open(out, O_RDWR | O_TRUNC | O_CLOEXEC);
        assert_int_equal(deb_repack_plain("/etc/hostname", fd2), -EBADMSG);
        assert_int_equal(rm_rf(dir), 0);
}

/* Counts the mounts under dir in this process's mount table. */
static int mounts_under(const char *dir) {
        _cleanup_free_ char *text = NULL;
        if (read_full_file("/proc/self/mountinfo", 1 << 20, &text, NULL) < 0)
                return -1;
        int n = 0;
        for (char *p = text; (p = strstr(p, dir)); p++)
                n++;
        return n;
}

/* In a child, in a mount namespace of its own: binds a file and a directory deep in a root; a
 * package then turns usr into a link to the host's /: unmounting detaches both, in the root,
 * and nothing on the host. Exit 0 when all held. */
static int binds_child(const char *dir) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return 77;
        _cleanup_free_ char *root = path_join(dir, "root"), *src = path_join(dir, "src");
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int src_fd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int file_fd = openat(src_fd, "file", O_PATH | O_CLOEXEC);
        InstallMounts m = {};
        _cleanup_free_ char *error = NULL;
        if (root_fd < 0 || src_fd < 0 || file_fd < 0 ||
            install_mounts_open(&m, root, root_fd, &error) < 0)
                return 10;
        if (install_bind_file(&m, file_fd, "usr/bin/f", &error) < 0 ||
            install_bind_dir(&m, src_fd, "usr/lib/x86_64-linux-gnu", &error) < 0)
                return 11;
        _cleanup_free_ char *seen = NULL, *f = path_join(root, "usr/bin/f");
        if (read_full_file(f, 100, &seen, NULL) < 0 || strcmp(seen, "host\n") != 0)
                return 12;
        if (mounts_under(root) != 2)
                return 13;
        /* usr moved away, a link to / in its place. */
        _cleanup_free_ char *usr = path_join(root, "usr"), *usr2 = path_join(root, "usr2");
        if (rename(usr, usr2) < 0 || symlink("/", usr) < 0)
                return 14;
        int r = install_unmount_all(&m, NULL);
        install_mounts_close(&m);
        if (r < 0 || mounts_under(root) != 0)
                return 15;
        return 0;
}

static void test_mount_binds(void **state) {
        (void)state;
        if (geteuid() != 0)
                skip();
        char dir[] = "/tmp/vmcompose-binds-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *script = xasprintf(
                "set -e; cd %s; mkdir -p root/usr/bin root/usr/lib src; echo host >src/file; "
                "echo root >root/usr/bin/f",
                dir);
        assert_int_equal(system(script), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(binds_child(dir));
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
                skip();
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        /* The made directory is left for the caller to remove; the host untouched. */
        assert_int_equal(access("/x86_64-linux-gnu", F_OK), -1);
        rm_rf(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_members),    cmocka_unit_test(test_repack_plain),
                cmocka_unit_test(test_exclude),    cmocka_unit_test(test_shadow_clamp),
                cmocka_unit_test(test_clean_root), cmocka_unit_test(test_mount_binds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
