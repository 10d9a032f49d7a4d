/* SPDX-License-Identifier: MIT */
/* Licences from Debian copyright files as SPDX expressions; purls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vmcompose/report.h"
#include "vmcompose/size.h"

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

/* Squarified treemap: every rectangle's area is its share of the whole, inside the area, none
 * overlapping, and close to square for values of one size. */
static void test_squarify(void **state) {
        (void)state;
        static const uint64_t v[] = {600, 300, 200, 100, 60, 40, 3, 1};
        SizeRect area = {10, 20, 300, 200}, out[8];
        size_squarify(v, 8, area, out);
        double sum = 0;
        for (size_t i = 0; i < 8; i++) {
                double a = out[i].w * out[i].h;
                sum += a;
                assert_true(fabs(a - (double)v[i] * 60000.0 / 1304) < 0.01);
                assert_true(out[i].x >= 10 - 1e-9 && out[i].y >= 20 - 1e-9);
                assert_true(out[i].x + out[i].w <= 310 + 1e-6 && out[i].y + out[i].h <= 220 + 1e-6);
                for (size_t j = 0; j < i; j++) {
                        double ox = MIN(out[i].x + out[i].w, out[j].x + out[j].w) -
                                    MAX(out[i].x, out[j].x);
                        double oy = MIN(out[i].y + out[i].h, out[j].y + out[j].h) -
                                    MAX(out[i].y, out[j].y);
                        assert_false(ox > 1e-6 && oy > 1e-6);
                }
        }
        assert_true(fabs(sum - 60000) < 0.01);
        static const uint64_t same[] = {1, 1, 1, 1};
        size_squarify(same, 4, (SizeRect){0, 0, 100, 100}, out);
        for (size_t i = 0; i < 4; i++)
                assert_true(fabs(out[i].w - 50) < 1e-9 && fabs(out[i].h - 50) < 1e-9);
}

/* By package, then directory; the largest first; the eighth and later directories summed. */
static void test_size_report(void **state) {
        (void)state;
        SizeReport r = {};
        size_report_add(&r, "libc6", "/usr/lib/x86_64-linux-gnu/libc.so.6", 2000);
        size_report_add(&r, "linux-image", "/boot/vmlinuz", 8000);
        size_report_add(&r, "linux-image", "/usr/lib/modules/6.1/kernel/fs/ext4.ko", 500);
        size_report_add(&r, "linux-image", "/usr/lib/modules/6.1/kernel/net/x.ko", 500);
        size_report_add(&r, NULL, "/etc/machine-id", 33);
        size_report_add(&r, NULL, "/init", 7);
        for (int i = 0; i < 10; i++) {
                char p[64];
                snprintf(p, sizeof(p), "/usr/share/d%d/f", i);
                size_report_add(&r, "docs", p, 10 + (uint64_t)i);
        }
        size_report_finish(&r);
        assert_int_equal(r.bytes, 2000 + 9000 + 40 + 145);
        assert_string_equal(r.packages[0].name, "linux-image");
        assert_int_equal(r.packages[0].n_dirs, 2);
        assert_string_equal(r.packages[0].dirs[0].path, "/boot");
        assert_string_equal(r.packages[0].dirs[1].path, "/usr/lib/modules/6.1");
        assert_int_equal(r.packages[0].dirs[1].bytes, 1000);
        assert_string_equal(r.packages[1].name, "libc6");
        assert_string_equal(r.packages[2].name, "docs");
        assert_int_equal(r.packages[2].n_dirs, SIZE_MAX_DIRS);
        assert_string_equal(r.packages[2].dirs[0].path, "/usr/share/d9");
        assert_string_equal(r.packages[2].dirs[SIZE_MAX_DIRS - 1].path, SIZE_OTHER_DIRS);
        assert_int_equal(r.packages[2].dirs[SIZE_MAX_DIRS - 1].bytes, 10 + 11 + 12);
        assert_string_equal(r.packages[3].name, SIZE_NO_PACKAGE);
        assert_string_equal(r.packages[3].dirs[0].path, "/etc");
        assert_string_equal(r.packages[3].dirs[1].path, "/");

        /* Through JSON and back: the same table. */
        JsonWriter w = {};
        size_report_json(&w, &r);
        char *json = json_finish(&w);
        Node *n = NULL;
        Diagnostics diag = {};
        assert_int_equal(node_parse_yaml("size.json", json, strlen(json), &diag, &n), 0);
        SizeReport back = {};
        assert_int_equal(size_report_from_node(n, &back), 0);
        char *t1 = size_report_table(&r), *t2 = size_report_table(&back);
        assert_string_equal(t1, t2);
        assert_non_null(strstr(t1, "linux-image"));
        assert_non_null(strstr(t1, "root: 3 packages, 11185 bytes\n")); /* not (no package) */
        /* The SVG names every package and escapes what XML needs. */
        char *svg = size_report_svg(&r, "a <test> & more");
        assert_non_null(strstr(svg, "a &lt;test&gt; &amp; more"));
        assert_non_null(strstr(svg, "data-bytes=\"9000\""));
        assert_null(strstr(svg, "<test>"));
        free(svg);
        free(t1);
        free(t2);
        free(json);
        node_free(n);
        diag_done(&diag);
        size_report_done(&back);
        size_report_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spdx_ids),    cmocka_unit_test(test_squarify),
                cmocka_unit_test(test_size_report), cmocka_unit_test(test_copyright),
                cmocka_unit_test(test_purl),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
