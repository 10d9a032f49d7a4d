/* SPDX-License-Identifier: MIT */
/* The root cache: its key changes with every input of the install stage and only with them,
 * a stored root comes back with everything a root carries (as root: owners, setuid, sticky
 * bits, xattrs and file capabilities, hard links, symlinks, device nodes, FIFOs, holes,
 * times), and the least recently used roots are evicted. */
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
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vmcompose/install.h"
#include "vmcompose/macro.h"
#include "vmcompose/signals.h"

/* Paths here are short, made by the test: snprintf cannot truncate them. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char *deps[] = {(char *)"libc6", NULL};
static char *excl[] = {(char *)"/usr/share/doc/*", NULL};

static void fill(InstallPackage p[2], InstallFile f[1], InstallOptions *o) {
        p[0] = (InstallPackage){.name = "libc6",
                                .version = "2.36-9",
                                .architecture = "amd64",
                                .sha256 = "aa",
                                .essential = true};
        p[1] = (InstallPackage){.name = "bash",
                                .version = "5.2.15-2",
                                .architecture = "amd64",
                                .sha256 = "bb",
                                .pre_depends = deps};
        f[0] = (InstallFile){.path = "etc/initramfs-tools/modules", .content = "virtio_blk\n"};
        *o = (InstallOptions){.files = f,
                              .n_files = 1,
                              .merged_usr = true,
                              .architecture = "amd64",
                              .path_exclude = excl};
}

static void test_key(void **state) {
        InstallPackage p[2];
        InstallFile f[1];
        InstallOptions o;
        (void)state;

        fill(p, f, &o);
        char *base = install_root_key(p, 2, &o);
        assert_int_equal(strlen(base), 64);
        char *same = install_root_key(p, 2, &o);
        assert_string_equal(base, same);
        free(same);

        /* The .deb's path is where the cache keeps it, not an input. */
        p[1].deb_path = "/elsewhere/bash.deb";
        same = install_root_key(p, 2, &o);
        assert_string_equal(base, same);
        free(same);

        /* Every input changes the key. */
        for (int change = 0; change < 10; change++) {
                fill(p, f, &o);
                switch (change) {
                case 0:
                        p[1].sha256 = "bc";
                        break;
                case 1:
                        p[1].version = "5.2.15-3";
                        break;
                case 2:
                        p[0].essential = false;
                        break;
                case 3:
                        p[1].pre_depends = NULL;
                        p[1].depends = deps;
                        break;
                case 4:
                        o.path_exclude = NULL;
                        break;
                case 5:
                        o.path_include = excl;
                        break;
                case 6:
                        f[0].content = "virtio_blk\nvirtio_net\n";
                        break;
                case 7:
                        f[0].mode = 0755;
                        break;
                case 8:
                        o.merged_usr = false;
                        break;
                case 9:
                        o.n_files = 0;
                        break;
                }
                char *k = install_root_key(p, 2, &o);
                if (streq(k, base))
                        fail_msg("change %d left the key as it was", change);
                free(k);
        }
        fill(p, f, &o);
        char *one = install_root_key(p, 1, &o);
        assert_string_not_equal(one, base);
        free(one);
        free(base);
}

static char *tmpdir(void) {
        char t[] = "/var/tmp/vmcompose-test-rootcache-XXXXXX";
        assert_non_null(mkdtemp(t));
        return strdup(t);
}

static void write_file(const char *dir, const char *name, const char *data, off_t at) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, data, strlen(data), at), (ssize_t)strlen(data));
        close(fd);
}

static void at(const char *dir, const char *name, char *out) {
        snprintf(out, 4096, "%s/%s", dir, name);
}

/* A small root with one of everything. */
static void make_tree(const char *t) {
        char p[4096], q[4096];
        mkdir(t, 0755);
        at(t, "tmp", p);
        assert_int_equal(mkdir(p, 0700), 0);
        assert_int_equal(chmod(p, 01777), 0);
        at(t, "home", p);
        assert_int_equal(mkdir(p, 0750), 0);
        assert_int_equal(chown(p, 1234, 5678), 0);
        write_file(t, "home/notes", "private\n", 0);
        at(t, "home/notes", p);
        assert_int_equal(chown(p, 1234, 5678), 0);
        assert_int_equal(chmod(p, 0600), 0);
        write_file(t, "su", "#!/bin/sh\n", 0);
        at(t, "su", p);
        assert_int_equal(chmod(p, 04755), 0);
        write_file(t, "ping", "binary\n", 0);
        at(t, "ping", p);
        /* security.capability v2: cap_net_raw permitted and effective. */
        uint32_t cap[5] = {0x02000001, 1u << 13, 0, 0, 0};
        assert_int_equal(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
        assert_int_equal(setxattr(p, "user.origin", "deb", 3, 0), 0);
        write_file(t, "perl", "#!perl\n", 0);
        at(t, "perl", p);
        at(t, "perl5.36", q);
        assert_int_equal(link(p, q), 0);
        at(t, "sh", p);
        assert_int_equal(symlink("dash", p), 0);
        at(t, "escape", p);
        assert_int_equal(symlink("../../../../etc/passwd", p), 0);
        at(t, "null", p);
        assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
        at(t, "initctl", p);
        assert_int_equal(mkfifo(p, 0600), 0);
        write_file(t, "sparse", "end\n", 4 << 20);
        /* Zeros written as data (dpkg writes every byte): they must come back as data, not as
         * a hole, or a warm build's ext4 (which keeps holes) differs from a cold one's. */
        at(t, "zeros", p);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        static const char zero[256 << 10];
        assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
        assert_int_equal(write(fd, "x", 1), 1);
        assert_int_equal(fsync(fd), 0);
        close(fd);
        write_file(t, "empty", "", 0);
        struct timespec ts[2] = {{1700000000, 123456789}, {1600000000, 987654321}};
        at(t, "su", p);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
        at(t, "sh", p);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
        at(t, "home", p);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compares a and b entry by entry: type, mode, owner, size, mtime, device, link target,
 * content, xattrs. Returns the number of differences (each printed). */
static int compare(const char *a, const char *b) {
        struct stat sa, sb;
        int diff = 0;

        assert_int_equal(lstat(a, &sa), 0);
        if (lstat(b, &sb) < 0) {
                printf("missing: %s\n", b);
                return 1;
        }
        if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
            sa.st_rdev != sb.st_rdev || sa.st_nlink != sb.st_nlink ||
            (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size)) {
                printf("differs: %s (mode %o/%o, owner %u:%u/%u:%u, links %lu/%lu)\n", b,
                       sa.st_mode, sb.st_mode, sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid,
                       (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
                diff++;
        }
        if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
                printf("mtime differs: %s\n", b);
                diff++;
        }
        char la[4096] = "", lb[4096] = "";
        ssize_t na = llistxattr(a, la, sizeof(la)), nb = llistxattr(b, lb, sizeof(lb));
        if (na != nb) { /* the same names, in any order: the same total length */
                printf("xattr names differ: %s\n", b);
                diff++;
        }
        for (ssize_t i = 0; na > 0 && i < na; i += (ssize_t)strlen(la + i) + 1) {
                char va[256], vb[256];
                ssize_t xa = lgetxattr(a, la + i, va, sizeof(va));
                ssize_t xb = lgetxattr(b, la + i, vb, sizeof(vb));
                if (xa != xb || (xa > 0 && memcmp(va, vb, (size_t)xa) != 0)) {
                        printf("xattr %s differs: %s\n", la + i, b);
                        diff++;
                }
        }
        if (S_ISLNK(sa.st_mode)) {
                char ta[4096] = "", tb[4096] = "";
                assert_true(readlink(a, ta, sizeof(ta) - 1) > 0);
                if (readlink(b, tb, sizeof(tb) - 1) < 0 || !streq(ta, tb)) {
                        printf("link target differs: %s\n", b);
                        diff++;
                }
        } else if (S_ISREG(sa.st_mode) && sa.st_size == sb.st_size) {
                FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
                assert_non_null(fa);
                assert_non_null(fb);
                int ca, cb;
                do {
                        ca = fgetc(fa);
                        cb = fgetc(fb);
                } while (ca == cb && ca != EOF);
                if (ca != cb) {
                        printf("content differs: %s\n", b);
                        diff++;
                }
                fclose(fa);
                fclose(fb);
        } else if (S_ISDIR(sa.st_mode)) {
                DIR *d = opendir(a);
                char **names = NULL;
                size_t n = 0;
                struct dirent *de;
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                                names = realloc(names, (n + 1) * sizeof(char *));
                                names[n++] = strdup(de->d_name);
                        }
                closedir(d);
                if (n > 0)
                        qsort(names, n, sizeof(char *), cmp_str);
                for (size_t i = 0; i < n; i++) {
                        char pa[4096], pb[4096];
                        snprintf(pa, sizeof(pa), "%s/%s", a, names[i]);
                        snprintf(pb, sizeof(pb), "%s/%s", b, names[i]);
                        diff += compare(pa, pb);
                        free(names[i]);
                }
                free(names);
                size_t nb_entries = 0;
                d = opendir(b);
                while (d && (de = readdir(d)))
                        nb_entries += !streq(de->d_name, ".") && !streq(de->d_name, "..");
                if (d)
                        closedir(d);
                if (nb_entries != n) {
                        printf("%s has %zu entries, %s %zu\n", a, n, b, nb_entries);
                        diff++;
                }
        }
        return diff;
}

static void test_roundtrip(void **state) {
        (void)state;
        if (geteuid() != 0)
                skip(); /* owners, device nodes and file capabilities need root */
        char *w = tmpdir(), tree[4096], cache[4096], back[4096], p[4096], q[4096];
        at(w, "tree", tree);
        at(w, "cache", cache);
        at(w, "back", back);
        make_tree(tree);

        assert_int_equal(install_root_cache_restore(cache, "k1", back), 0);
        assert_int_equal(access(back, F_OK), -1);

        assert_int_equal(install_root_cache_store(cache, "k1", tree, 2), 0);
        assert_int_equal(install_root_cache_restore(cache, "k1", back), 1);
        assert_int_equal(compare(tree, back), 0);
        struct stat s1, s2;
        at(back, "perl", p);
        at(back, "perl5.36", q);
        assert_int_equal(stat(p, &s1), 0);
        assert_int_equal(stat(q, &s2), 0);
        assert_true(s1.st_ino == s2.st_ino); /* still one file */
        struct stat sp;
        at(back, "sparse", p);
        assert_int_equal(stat(p, &sp), 0);
        assert_true(sp.st_blocks * 512 < sp.st_size); /* the hole stayed a hole */
        at(back, "zeros", p);
        assert_int_equal(stat(p, &sp), 0);
        assert_true(sp.st_blocks * 512 >= sp.st_size); /* and zeros stayed data */
        at(cache, "roots", p);
        assert_int_equal(stat(p, &sp), 0);
        assert_int_equal(sp.st_mode & 07777, 0700);

        /* Least recently used out: k1 restored after k2 was stored, so k2 goes for k3. */
        assert_int_equal(install_root_cache_store(cache, "k2", tree, 2), 0);
        assert_int_equal(rm_rf(back), 0);
        assert_int_equal(install_root_cache_restore(cache, "k1", back), 1);
        assert_int_equal(install_root_cache_store(cache, "k3", tree, 2), 0);
        assert_int_equal(rm_rf(back), 0);
        assert_int_equal(install_root_cache_restore(cache, "k2", back), 0);
        assert_int_equal(install_root_cache_restore(cache, "k1", back), 1);
        assert_int_equal(rm_rf(back), 0);
        assert_int_equal(install_root_cache_restore(cache, "k3", back), 1);

        /* A truncated archive is an error, and leaves no half-made root behind. */
        assert_int_equal(rm_rf(back), 0);
        snprintf(p, sizeof(p), "%s/roots/k3.tar", cache);
        assert_int_equal(truncate(p, 20000), 0);
        assert_true(install_root_cache_restore(cache, "k3", back) < 0);
        assert_int_equal(access(back, F_OK), -1);

        assert_int_equal(rm_rf(w), 0);
        free(w);
}

/* VMCOMPOSE_TEST_ROOT=DIR: a real root (say, an mmdebstrap tree) round-trips too. */
static void test_real_root(void **state) {
        const char *root = getenv("VMCOMPOSE_TEST_ROOT");
        (void)state;
        if (!root || geteuid() != 0)
                skip();
        char *w = tmpdir(), cache[4096], back[4096];
        at(w, "cache", cache);
        at(w, "back", back);
        assert_int_equal(install_root_cache_store(cache, "real", root, 1), 0);
        assert_int_equal(install_root_cache_restore(cache, "real", back), 1);
        assert_int_equal(compare(root, back), 0);
        assert_int_equal(rm_rf(w), 0);
        free(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key),
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_real_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
