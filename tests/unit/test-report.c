/* SPDX-License-Identifier: MIT */
/* Licences from Debian copyright files as SPDX expressions; purls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/report.h"

static void test_spdx_ids(void **state) {
        (void)state;
        assert_string_equal(license_spdx_id("GPL-2+"), "GPL-2.0-or-later");
        assert_string_equal(license_spdx_id("GPL-2"), "GPL-2.0-only");
        assert_string_equal(license_spdx_id("lgpl-2.1+"), "LGPL-2.1-or-later");
        assert_string_equal(license_spdx_id("LGPL-2.0+"), "LGPL-2.0-or-later");
        assert_string_equal(license_spdx_id("GFDL-NIV-1.3+"), "GFDL-1.3-no-invariants-or-later");
        assert_string_equal(license_spdx_id("Expat"), "MIT");
        assert_string_equal(license_spdx_id("BSD-3-clause"), "BSD-3-Clause");
        assert_null(license_spdx_id("public-domain"));
        assert_null(license_spdx_id("MIT+")); /* only GNU names have an "-or-later" form */
        assert_null(license_spdx_id("+"));
}

static char *expression_of(const char *text, LicenseInfo *l) {
        assert_int_equal(license_from_copyright(text, "/copyright", l), 0);
        return l->expression;
}

static void test_copyright(void **state) {
        LicenseInfo l = {};
        (void)state;

        assert_string_equal(
                expression_of("Format: https://www.debian.org/doc/packaging-manuals/"
                              "copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: GPL-2+\n"
                              "\nFiles: a/*\nCopyright: y\nLicense: GPL-2+\n"
                              "\nFiles: b/*\nCopyright: y\nLicense: BSD-3-clause or GPL-2+, "
                              "and Zlib\n",
                              &l),
                "GPL-2.0-or-later AND ((BSD-3-Clause OR GPL-2.0-or-later) AND Zlib)");
        assert_int_equal(l.n_refs, 0);
        license_info_done(&l);

        /* An unknown name becomes a LicenseRef with the file's own text for it. */
        assert_string_equal(expression_of("Format: http://dep.debian.net/deps/dep5\n\n"
                                          "Files: *\nCopyright: x\nLicense: Kazlib\n\n"
                                          "License: Kazlib\n Permission is granted.\n",
                                          &l),
                            "LicenseRef-Kazlib");
        assert_int_equal(l.n_refs, 1);
        assert_string_equal(l.refs[0].text, "Permission is granted.");
        license_info_done(&l);

        /* A name given with an exception is one LicenseRef, with a pointer to the file. */
        assert_string_equal(expression_of("Format: https://www.debian.org/doc/packaging-manuals/"
                                          "copyright-format/1.0/\n\nFiles: *\nCopyright: x\n"
                                          "License: GPL-3+ with Bison exception\n",
                                          &l),
                            "LicenseRef-GPL-3--with-Bison-exception");
        assert_non_null(strstr(l.refs[0].text, "/copyright"));
        license_info_done(&l);

        /* Free-form text declares nothing. */
        assert_null(expression_of("This package was debianized by someone.\n\nGPL-2\n", &l));
        license_info_done(&l);
        assert_null(expression_of("", &l));
        license_info_done(&l);
}

static void test_purl(void **state) {
        (void)state;
        char *p = sbom_deb_purl("libstdc++6", "1:12.2.0-14+deb12u1", "amd64", "bookworm");
        assert_string_equal(p, "pkg:deb/debian/libstdc++6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64"
                               "&distro=bookworm");
        free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spdx_ids),
                cmocka_unit_test(test_copyright),
                cmocka_unit_test(test_purl),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
