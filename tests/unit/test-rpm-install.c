/* SPDX-License-Identifier: MIT */
/* The RPM backend's install half on the signed fixture distribution (tests/rpm/make-fixture.sh,
 * with its variants) and one package with documentation (tests/rpm/make-docs-package.sh):
 * signatures against the repository's key only, a payload changed after signing, hostile
 * paths, a failing scriptlet, the policy's exclusions through %_netsharedpath with
 * `rpm -Va` clean, and the rpmdb read back (list, audit, licence, purl). The install cases
 * need root (librpm chroots for scriptlets) and are skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../composer/distro/rpm/rpm-install.h"
#include "vmcompose/install.h"
#include "vmcompose/macro.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/util.h"

static char *fixture; /* make-fixture.sh's output */
static char *tmp;     /* a scratch directory for roots */

/* The package NAME of the fixture's repository, "VARIANT/NAME" of a variant repository,
 * "docs/NAME" of make-docs-package.sh's. */
static char *pkg(const char *name) {
        const char *slash = strchr(name, '/');
        _cleanup_free_ char *dir = NULL;
        if (!slash)
                dir = xasprintf("%s/repo", fixture);
        else if (strneq(name, "docs/", 5))
                dir = xasprintf("%s/docs", tmp);
        else
                dir = xasprintf("%s/variants/%.*s", fixture, (int)(slash - name), name);
        _cleanup_free_ char *pattern = xasprintf("%s/%s-[0-9]*.rpm", dir, slash ? slash + 1 : name);
        glob_t g = {};
        if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc != 1)
                fail_msg("not one package %s", pattern);
        char *path = xstrdup(g.gl_pathv[0]);
        globfree(&g);
        return path;
}

/* "key": the repository's key; "other": another one. */
static char *key(const char *name) {
        return streq(name, "key") ? xasprintf("%s/RPM-GPG-KEY-fixture", fixture)
                                  : xasprintf("%s/other-key.asc", fixture);
}

static bool exists(const char *root, const char *path) {
        _cleanup_free_ char *p = xasprintf("%s%s", root, path);
        struct stat st;
        return lstat(p, &st) == 0;
}

static bool diag_has(const Diagnostics *d, const char *what) {
        for (size_t i = 0; d->messages && d->messages[i]; i++)
                if (strstr(d->messages[i], what))
                        return true;
        return false;
}

static void print_diag(const Diagnostics *d) {
        for (size_t i = 0; d->messages && d->messages[i]; i++)
                print_message("  diag: %s\n", d->messages[i]);
}

static void test_path_ok(void **state) {
        (void)state;
        assert_true(rpm_file_path_ok("/"));
        assert_true(rpm_file_path_ok("/usr/bin/hello"));
        assert_true(rpm_file_path_ok("/usr/share/..x/y.."));
        assert_false(rpm_file_path_ok("/../../x/evil"));
        assert_false(rpm_file_path_ok("/usr/../etc"));
        assert_false(rpm_file_path_ok("/usr/./bin"));
        assert_false(rpm_file_path_ok("/usr//bin"));
        assert_false(rpm_file_path_ok("/usr/bin/"));
        assert_false(rpm_file_path_ok("usr/bin"));
        assert_false(rpm_file_path_ok(""));
}

static void test_root_is(void **state) {
        (void)state;
        assert_true(rpm_root_is("/tmp/root/", "/tmp/root"));
        assert_true(rpm_root_is("/tmp/root", "/tmp/root"));
        assert_false(rpm_root_is("/", "/tmp/root"));
        assert_false(rpm_root_is("/tmp/rootx/", "/tmp/root"));
        assert_false(rpm_root_is("/", "/"));
        assert_false(rpm_root_is("/", "tmp/root"));
        assert_false(rpm_root_is(NULL, "/tmp/root"));
}

static void test_netshared(void **state) {
        (void)state;
        char *exclude[] = {(char *)"/usr/share/doc/*", (char *)"/usr/share/man/*",
                           (char *)"/usr/share/info/*", (char *)"/usr/share/locale/*", NULL};
        char *include[] = {(char *)"/usr/share/doc/*/copyright",
                           (char *)"/usr/share/locale/locale.alias", NULL};
        char *files[] = {(char *)"/usr/bin/hello",
                         (char *)"/usr/share/doc/hello/README",
                         (char *)"/usr/share/doc/hello/copyright",
                         (char *)"/usr/share/doc/bash/FAQ",
                         (char *)"/usr/share/doc/bash/NEWS",
                         (char *)"/usr/share/doc-base/x",
                         (char *)"/usr/share/man/man1/hello.1",
                         (char *)"/usr/share/man/man1/bash.1",
                         (char *)"/usr/share/locale/de/LC_MESSAGES/hello.mo",
                         (char *)"/usr/share/locale/locale.alias",
                         NULL};
        _cleanup_free_ char *n = rpm_netshared_paths(files, exclude, include);
        /* A directory whose every listed path is excluded is given once; where a kept path
         * lies below, each excluded path is given itself. */
        assert_string_equal(n, "/usr/share/doc/bash:/usr/share/doc/hello/README:"
                               "/usr/share/locale/de:/usr/share/man/man1");
        assert_null(rpm_netshared_paths(files, NULL, NULL));
        char *none[] = {(char *)"/usr/share/nothing/*", NULL};
        assert_null(rpm_netshared_paths(files, none, NULL));

        assert_string_equal(rpm_install_langs(exclude, include), "C:en:en_US");
        assert_null(rpm_install_langs(NULL, NULL));
        assert_true(rpm_exclude_docs(exclude, include));
        char *docs_only[] = {(char *)"/usr/share/doc/*", NULL};
        assert_false(rpm_exclude_docs(docs_only, NULL));
}

static void test_purl(void **state) {
        (void)state;
        _cleanup_free_ char *a = rpm_purl_fedora("bash", "5.2.37-1.fc43", "x86_64", "fedora-43");
        assert_string_equal(a, "pkg:rpm/fedora/bash@5.2.37-1.fc43?arch=x86_64&distro=fedora-43");
        _cleanup_free_ char *b =
                rpm_purl_azurelinux("shadow-utils", "2:4.14.0-2.azl3", "x86_64", "azurelinux-3.0");
        assert_string_equal(b, "pkg:rpm/azurelinux/shadow-utils@4.14.0-2.azl3?arch=x86_64&"
                               "epoch=2&distro=azurelinux-3.0");
        _cleanup_free_ char *c = rpm_purl_fedora("x", "0:1+git-1", "noarch", NULL);
        assert_string_equal(c, "pkg:rpm/fedora/x@1%2Bgit-1?arch=noarch");
}

static void verify_fails(const char *name, const char *key_name, const char *what) {
        _cleanup_free_ char *p = pkg(name), *k = key_name ? key(key_name) : NULL;
        _cleanup_free_ char *error = NULL;
        int r = rpm_verify_package(p, k, &error);
        if (r != -EBADMSG)
                fail_msg("%s: %d (%s)", name, r, error ? error : "no error");
        print_message("  %s: %s\n", name, error);
        assert_non_null(strstr(error, what));
}

static void test_verify(void **state) {
        (void)state;
        _cleanup_free_ char *good = pkg("fixture-alt-a"),
                            *unsigned_ = pkg("unsigned-package/fixture-alt-a");
        _cleanup_free_ char *k = key("key");
        char *error = NULL;
        assert_int_equal(rpm_verify_package(good, k, &error), 0);
        /* gpgcheck: false: the digests are still checked. */
        assert_int_equal(rpm_verify_package(unsigned_, NULL, &error), 0);
        assert_int_equal(rpm_verify_package(good, NULL, &error), 0);
        verify_fails("unsigned-package/fixture-alt-a", "key", "unsigned");
        verify_fails("other-key/fixture-alt-a", "key", "not signed by the repository's key");
        verify_fails("fixture-alt-a", "other", "not signed by the repository's key");
        verify_fails("payload-changed/fixture-alt-a", "key", "payload");
        verify_fails("payload-changed/fixture-alt-a", NULL, "payload");
        /* The error names the package. */
        verify_fails("other-key/fixture-alt-a", "key", "fixture-alt-a-1.0-1.fx.noarch");
}

static void test_file_list(void **state) {
        (void)state;
        _cleanup_free_ char *evil = pkg("hostile-dotdot/fixture-dotdot"),
                            *good = pkg("fixture-scriptlet"), *error = NULL;
        _cleanup_strv_free_ char **files = NULL;
        assert_int_equal(rpm_check_file_list(good, &files, &error), 0);
        assert_true(strv_contains(files, "/usr/share/fixture/fixture-scriptlet"));
        assert_int_equal(rpm_check_file_list(evil, NULL, &error), -EBADMSG);
        assert_non_null(strstr(error, "/usr/lib/../../"));
        assert_non_null(strstr(error, "fixture-dotdot-1.0-1.fx"));
}

static int count_members(const char *path, uint64_t size, bool directory, void *userdata) {
        (void)size;
        (void)directory;
        if (streq(path, "/usr/share/fixture/fixture-scriptlet"))
                ++*(int *)userdata;
        return 0;
}

static void test_members(void **state) {
        (void)state;
        _cleanup_free_ char *p = pkg("fixture-scriptlet");
        int seen = 0;
        assert_int_equal(rpm_package_members(p, count_members, &seen), 0);
        assert_int_equal(seen, 1);
}

/* A fresh root directory path (not created). */
static char *new_root(const char *name) {
        return xasprintf("%s/%s/a/b/root", tmp, name);
}

static InstallPackage package(const char *name, const char *key_name) {
        const char *slash = strchr(name, '/');
        return (InstallPackage){.name = slash ? slash + 1 : name,
                                .deb_path = pkg(name),
                                .signing_key = key_name ? key(key_name) : NULL,
                                .unsigned_ok = !key_name};
}

static void packages_done(InstallPackage *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free((char *)p[i].deb_path);
                free((char *)p[i].signing_key);
        }
}

static bool skip_without_root(void) {
        if (geteuid() == 0)
                return false;
        print_message("  skipped: installing needs root (chroot for the scriptlets)\n");
        return true;
}

/* rpm -Va in the root prints nothing and succeeds: what the policy left out is recorded as
 * not installed. */
static void rpm_verify_all_clean(const char *root) {
        if (access("/usr/bin/rpm", X_OK) != 0)
                return;
        _cleanup_free_ char *cmd =
                xasprintf("rpm --root '%s' --dbpath " RPM_DBPATH " -Va 2>&1", root);
        FILE *f = popen(cmd, "r");
        char buf[4096];
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        buf[k] = 0;
        int st = pclose(f);
        if (st != 0 || k > 0)
                fail_msg("rpm -Va in the root: status %d:\n%s", st, buf);
}

/* Nothing is mounted in or under root (the scriptlets' /proc, /sys and /dev are gone). */
static void assert_nothing_mounted(const char *root) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        assert_non_null(f);
        size_t len = strlen(root);
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
                char point[4096];
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 &&
                    strneq(point, root, len) && (point[len] == 0 || point[len] == '/'))
                        fail_msg("still mounted after the install: %s", point);
        }
        fclose(f);
}

static void check_database(const char *root) {
        Diagnostics diag = {};
        _cleanup_strv_free_ char **have = NULL;
        assert_int_equal(rpm_list_installed(root, &have), 0);
        assert_int_equal(strv_length(have), 4);
        assert_string_equal(have[0], "busybox 1.35.0-1.fx x86_64");
        assert_string_equal(have[1], "filesystem 1.0-1.fx noarch");
        assert_string_equal(have[2], "fixture-docs 1.0-1.fx noarch");
        assert_string_equal(have[3], "fixture-scriptlet 1.0-1.fx noarch");

        PlanPackage plan_pkgs[4];
        for (size_t i = 0; i < 4; i++) {
                char *sp1 = strchr(have[i], ' '), *sp2 = strrchr(have[i], ' ');
                *sp1 = *sp2 = 0;
                plan_pkgs[i] =
                        (PlanPackage){.name = have[i], .version = sp1 + 1, .architecture = sp2 + 1};
        }
        Plan plan = {.packages = plan_pkgs, .n_packages = 4};
        assert_int_equal(rpm_verify_installed(root, &plan, &diag), 0);
        plan.n_packages = 3;
        assert_int_equal(rpm_verify_installed(root, &plan, &diag), -EBADMSG);
        assert_true(diag_has(&diag, "the rpmdb holds 4 packages, the plan has 3"));
        diag_done(&diag);

        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);
        AuditImage img = {};
        assert_int_equal(rpm_read_installed(root_fd, &img), 0);
        assert_int_equal(img.n_packages, 4);
        assert_string_equal(img.packages[2].name, "fixture-docs");
        assert_string_equal(img.packages[2].version, "1.0-1.fx");
        assert_string_equal(img.packages[2].source, "fixture-docs");
        assert_string_equal(audit_owner(&img, "/usr/bin/fixture-docs"), "fixture-docs");
        assert_string_equal(audit_owner(&img, "/usr/bin/busybox"), "busybox");
        /* Not installed: no owner on disk. */
        assert_null(audit_owner(&img, "/usr/share/doc/fixture-docs/README"));
        audit_image_done(&img);

        LicenseInfo lic = {};
        assert_int_equal(rpm_package_license(root_fd, "fixture-docs", &lic), 0);
        assert_string_equal(lic.expression, "MIT AND (GPL-2.0-only OR BSD-3-Clause)");
        license_info_done(&lic);
        assert_int_equal(rpm_package_license(root_fd, "nonesuch", &lic), 0);
        assert_null(lic.expression);

        /* The database as bytes (audit and diff read it from an image). */
        _cleanup_free_ char *db_path = xasprintf("%s" RPM_DBPATH "/rpmdb.sqlite", root);
        _cleanup_free_ char *db = NULL, *error = NULL;
        size_t size;
        assert_int_equal(read_full_file(db_path, 1 << 30, &db, &size), 0);
        AuditImage img2 = {};
        assert_int_equal(rpm_parse_installed(db, size, &img2, &error), 0);
        assert_int_equal(img2.n_packages, 4);
        audit_image_done(&img2);
        assert_int_equal(rpm_parse_installed("SQLite format 2 nope", 21, &img2, &error), -EBADMSG);
        assert_non_null(strstr(error, "not an SQLite database"));
        audit_image_done(&img2);

        /* strip.remove: the entry goes, inside the root. */
        assert_int_equal(rpm_remove_path(root, root_fd, "/usr/bin/fixture-docs", &diag), 0);
        assert_false(exists(root, "/usr/bin/fixture-docs"));
}

static void test_install(void **state) {
        (void)state;
        if (skip_without_root())
                skip();
        _cleanup_free_ char *root = new_root("good");
        InstallPackage p[] = {package("filesystem", "key"), package("busybox", "key"),
                              package("fixture-scriptlet", "key"),
                              package("docs/fixture-docs", "key")};
        char *exclude[] = {(char *)"/usr/share/doc/*", (char *)"/usr/share/man/*",
                           (char *)"/usr/share/locale/*", NULL};
        char *include[] = {(char *)"/usr/share/doc/*/copyright", NULL};
        InstallOptions o = {.path_exclude = exclude, .path_include = include};
        Diagnostics diag = {};
        int r = rpm_install_root(root, p, ELEMENTSOF(p), &o, &diag);
        print_diag(&diag);
        assert_int_equal(r, 0);
        diag_done(&diag);
        packages_done(p, ELEMENTSOF(p));

        assert_true(exists(root, "/usr/bin/fixture-docs"));
        assert_true(exists(root, "/usr/share/doc/fixture-docs/copyright"));
        assert_false(exists(root, "/usr/share/doc/fixture-docs/README"));
        assert_false(exists(root, "/usr/share/man/man1/fixture-docs.1"));
        assert_false(exists(root, "/usr/share/locale/de/LC_MESSAGES/fixture-docs.mo"));
        assert_true(exists(root, RPM_DBPATH "/rpmdb.sqlite"));
        /* The scriptlet ran in the root, with the root's shell. */
        _cleanup_free_ char *ran_path = xasprintf("%s/etc/fixture-scriptlet-ran", root);
        _cleanup_free_ char *ran = NULL;
        assert_int_equal(read_full_file(ran_path, 4096, &ran, NULL), 0);
        assert_non_null(strstr(ran, "fixture-scriptlet"));
        /* It read /proc/self/status (its first line names the process) and wrote /dev/null. */
        assert_non_null(strstr(ran, "(Name:"));
        assert_nothing_mounted(root);
        rpm_verify_all_clean(root);
        check_database(root);
}

/* The install refuses: r, a message containing each of what, and no rpmdb in the root. */
static void install_refused(const char *case_name, InstallPackage *p, size_t n, int want,
                            const char *const *what) {
        _cleanup_free_ char *root = new_root(case_name);
        Diagnostics diag = {};
        int r = rpm_install_root(root, p, n, NULL, &diag);
        print_diag(&diag);
        assert_int_equal(r, want);
        for (const char *const *w = what; *w; w++)
                if (!diag_has(&diag, *w))
                        fail_msg("%s: no message says '%s'", case_name, *w);
        assert_nothing_mounted(root);
        diag_done(&diag);
        packages_done(p, n);
}

static void test_refused(void **state) {
        (void)state;
        if (skip_without_root())
                skip();
        InstallPackage other[] = {package("filesystem", "key"),
                                  package("other-key/fixture-alt-a", "key")};
        install_refused("other", other, 2, -EBADMSG,
                        (const char *const[]){"fixture-alt-a", "not signed", NULL});
        InstallPackage unsigned_[] = {package("unsigned-package/fixture-alt-a", "key")};
        install_refused("unsigned", unsigned_, 1, -EBADMSG,
                        (const char *const[]){"fixture-alt-a", "unsigned", NULL});
        InstallPackage changed[] = {package("payload-changed/fixture-alt-a", "key")};
        install_refused("changed", changed, 1, -EBADMSG,
                        (const char *const[]){"fixture-alt-a", "payload", NULL});
        InstallPackage nokey[] = {package("fixture-alt-a", "key")};
        free((char *)nokey[0].signing_key);
        nokey[0].signing_key = NULL;
        nokey[0].unsigned_ok = false;
        install_refused("nokey", nokey, 1, -ENOKEY,
                        (const char *const[]){"names no signing key", NULL});

        /* Nothing of a refused install outside (or inside) the root. */
        (void)rmdir("/tmp/vmcompose-rpm-dotdot");
        InstallPackage evil[] = {package("filesystem", "key"),
                                 package("hostile-dotdot/fixture-dotdot", "key")};
        install_refused("evil", evil, 2, -EBADMSG,
                        (const char *const[]){"/usr/lib/../../", "fixture-dotdot", NULL});
        assert_int_equal(access("/tmp/vmcompose-rpm-dotdot", F_OK), -1);
        _cleanup_free_ char *evil_root = new_root("evil");
        assert_false(exists(evil_root, RPM_DBPATH "/rpmdb.sqlite"));

        InstallPackage fails[] = {package("filesystem", "key"), package("busybox", "key"),
                                  package("fixture-post-fails", "key")};
        install_refused("fails", fails, 3, -EIO,
                        (const char *const[]){
                                "%post scriptlet of package fixture-post-fails failed", NULL});
}

/* A package's absolute symbolic link to a host directory, and a file below it in another
 * package: rpm runs the transaction chrooted into the root, so the link resolves inside it. */
static void test_escape(void **state) {
        (void)state;
        if (skip_without_root())
                skip();
        _cleanup_free_ char *root = new_root("escape");
        InstallPackage p[] = {package("filesystem", "key"), package("fixture-escape-link", "key"),
                              package("fixture-escape-file", "key")};
        Diagnostics diag = {};
        (void)mkdir("/tmp/vmcompose-rpm-escape", 0755);
        int r = rpm_install_root(root, p, 3, NULL, &diag);
        print_diag(&diag);
        print_message("  escape: install returned %d\n", r);
        diag_done(&diag);
        packages_done(p, 3);
        /* The host's directory the link names stays empty. */
        assert_int_equal(rmdir("/tmp/vmcompose-rpm-escape"), 0);
}

/* A relative root is the root, not the host's "/" (librpm ignores a relative root and installs
 * into "/"), and "/" itself is refused before anything is read. */
static void test_relative_root(void **state) {
        (void)state;
        if (skip_without_root())
                skip();
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        InstallPackage p[] = {package("filesystem", "key"), package("busybox", "key"),
                              package("fixture-scriptlet", "key")};
        Diagnostics diag = {};
        assert_int_equal(chdir(tmp), 0);
        int r = rpm_install_root("relative/root", p, 3, NULL, &diag);
        print_diag(&diag);
        diag_done(&diag);
        _cleanup_strv_free_ char **have = NULL;
        int r2 = r == 0 ? rpm_list_installed("relative/root", &have) : r;
        assert_int_equal(chdir(cwd), 0);
        assert_int_equal(r, 0);
        assert_int_equal(r2, 0);
        assert_int_equal(strv_length(have), 3);
        _cleanup_free_ char *root = xasprintf("%s/relative/root", tmp);
        assert_true(exists(root, "/etc/fixture-scriptlet-ran"));
        assert_true(exists(root, RPM_DBPATH "/rpmdb.sqlite"));

        r = rpm_install_root("/", p, 3, NULL, &diag);
        assert_int_equal(r, -EINVAL);
        assert_true(diag_has(&diag, "refusing to install into /"));
        diag_done(&diag);
        packages_done(p, 3);
}

static int setup(void **state) {
        (void)state;
        char t[] = "/tmp/test-rpm-install-XXXXXX";
        if (!mkdtemp(t))
                return -1;
        tmp = xstrdup(t);
        fixture = path_join(tmp, "fixture");
        const char *src = getenv("VMCOMPOSE_DATA_DIR") ?: ".";
        const char *cache = getenv("VMCOMPOSE_TEST_CACHE");
        _cleanup_free_ char *cache_arg = cache ? xasprintf("--cache '%s'", cache) : xstrdup("");
        _cleanup_free_ char *cmd = xasprintf(
                "bash '%s/tests/rpm/make-fixture.sh' %s --variants '%s' >'%s/fixture.log' 2>&1 "
                "&& bash '%s/tests/rpm/make-docs-package.sh' '%s' '%s/docs' >>'%s/fixture.log' "
                "2>&1",
                src, cache_arg, fixture, tmp, src, fixture, tmp, tmp);
        int st = system(cmd);
        _cleanup_free_ char *show = xasprintf("cat '%s/fixture.log'", tmp);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
                (void)system(show);
                exit(77);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                (void)system(show);
                return -1;
        }
        return 0;
}

static int teardown(void **state) {
        (void)state;
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", tmp);
        if (!getenv("VMCOMPOSE_KEEP_TMP"))
                (void)system(cmd);
        free(fixture);
        free(tmp);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_ok),       cmocka_unit_test(test_root_is),
                cmocka_unit_test(test_netshared),     cmocka_unit_test(test_purl),
                cmocka_unit_test(test_verify),        cmocka_unit_test(test_file_list),
                cmocka_unit_test(test_members),       cmocka_unit_test(test_install),
                cmocka_unit_test(test_refused),       cmocka_unit_test(test_escape),
                cmocka_unit_test(test_relative_root),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
