/* SPDX-License-Identifier: MIT */
/* Which archive members may be written, and dpkg-style path-exclude/path-include matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/install.h"
#include "vmcompose/macro.h"

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_members),
                cmocka_unit_test(test_exclude),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
