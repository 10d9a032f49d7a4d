/* SPDX-License-Identifier: MIT */
/* Repository metadata parsing: deb822 stanzas, apt sources in both syntaxes, apt.conf
 * verification settings, Release files and their dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vmcompose/repo.h"

static int count_stanza(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        Buffer *b = userdata;
        buffer_printf(b, "[%u]", line);
        for (size_t i = 0; i < n; i++)
                buffer_printf(b, "%s=%s;", f[i].name, f[i].value);
        return 0;
}

static void test_deb822(void **state) {
        (void)state;
        Buffer b = {};
        assert_int_equal(deb822_parse("# comment\nA: 1\nB:  two words \n  more\n .\n  end\n\n\n"
                                      "C: 3\n# inside\nD:\n",
                                      count_stanza, &b),
                         0);
        assert_string_equal(b.data, "[2]A=1;B=two words\nmore\n\nend;[9]C=3;D=;");
        buffer_done(&b);
        assert_int_equal(deb822_parse("A: 1\nno colon here\n", count_stanza, &b), -EBADMSG);
        buffer_done(&b);
}

static void test_sources(void **state) {
        (void)state;
        AptSettings apt = {.check_valid_until = false, .check_date = true};
        RepoSources s = {};
        assert_int_equal(
                repo_sources_parse_deb822("Types: deb deb-src\n"
                                          "URIs: http://a.invalid/debian/ https://b.invalid/d\n"
                                          "Suites: bookworm bookworm-updates\n"
                                          "Components: main contrib\n"
                                          "Signed-By: /usr/share/keyrings/k.gpg\n"
                                          "\n"
                                          "Types: deb-src\nURIs: http://c.invalid\nSuites: x\n\n"
                                          "Types: deb\nURIs: http://d.invalid\nSuites: y\n"
                                          "Components: main\nEnabled: no\n",
                                          "t.sources", &apt, &s),
                0);
        assert_int_equal(s.n, 4); /* 2 URIs x 2 suites; deb-src and disabled skipped */
        assert_string_equal(s.items[0].uri, "http://a.invalid/debian");
        assert_string_equal(s.items[1].suite, "bookworm-updates");
        assert_string_equal(s.items[2].uri, "https://b.invalid/d");
        assert_int_equal(strv_length(s.items[0].components), 2);
        assert_string_equal(s.items[0].keyrings[0], "/usr/share/keyrings/k.gpg");
        assert_false(s.items[0].check_valid_until);
        assert_true(s.items[0].check_date);
        assert_string_equal(s.items[0].origin, "t.sources:1");
        repo_sources_done(&s);

        assert_int_equal(repo_sources_parse_list(
                                 "# a comment\n"
                                 "deb http://e.invalid/debian bookworm main non-free\n"
                                 "deb [arch=amd64 signed-by=/k1.gpg,/k2.gpg] file:///srv/r stable "
                                 "main # trailing\n"
                                 "deb-src http://e.invalid/debian bookworm main\n"
                                 "deb [trusted=yes] http://f.invalid ./ \n",
                                 "sources.list", NULL, &s),
                         0);
        assert_int_equal(s.n, 2); /* the last line has no component: not a valid entry */
        assert_string_equal(s.items[0].origin, "sources.list:2");
        assert_int_equal(strv_length(s.items[0].components), 2);
        assert_null(s.items[0].keyrings);
        assert_string_equal(s.items[1].uri, "file:///srv/r");
        assert_string_equal(s.items[1].keyrings[1], "/k2.gpg");
        assert_true(s.items[1].check_valid_until); /* no apt settings: apt's defaults */
        repo_sources_done(&s);
}

static void test_apt_conf(void **state) {
        (void)state;
        AptSettings s = {true, true};
        apt_settings_parse("// comment\nAcquire::Check-Valid-Until \"false\";\n", &s);
        assert_false(s.check_valid_until);
        assert_true(s.check_date);
        s = (AptSettings){true, true};
        apt_settings_parse("Acquire {\n  Check-Date \"false\"; /* c */\n  Retries \"3\";\n};\n"
                           "APT::Get::Foo \"bar\";\n",
                           &s);
        assert_true(s.check_valid_until);
        assert_false(s.check_date);
        s = (AptSettings){false, false};
        apt_settings_parse("acquire::check-valid-until \"true\";\n# x\n", &s);
        assert_true(s.check_valid_until);
}

static const char release[] =
        "Origin: Debian\nSuite: stable\nCodename: bookworm\n"
        "Date: Sat, 10 Jun 2023 08:53:19 UTC\nValid-Until: Sat, 17 Jun 2023 08:53:19 UTC\n"
        "Acquire-By-Hash: yes\n"
        "MD5Sum:\n 0123 10 main/binary-amd64/Packages\n"
        "SHA256:\n"
        " 1111111111111111111111111111111111111111111111111111111111111111 1234 "
        "main/binary-amd64/Packages\n"
        " 2222222222222222222222222222222222222222222222222222222222222222 99 "
        "main/binary-amd64/Packages.xz\n";

static void test_release(void **state) {
        (void)state;
        RepoRelease r;
        assert_int_equal(repo_release_parse(release, &r), 0);
        assert_string_equal(r.codename, "bookworm");
        assert_true(r.by_hash);
        assert_int_equal(r.n_files, 2);
        assert_string_equal(r.files[1].path, "main/binary-amd64/Packages.xz");
        assert_int_equal(r.files[1].size, 99);
        assert_int_equal(r.date, 1686387199);
        assert_int_equal(r.valid_until, 1686991999);

        RepoSource src = {.check_valid_until = true, .check_date = true};
        char *err = NULL;
        assert_int_equal(repo_release_check_dates(&r, &src, 1686400000, &err), 0);
        assert_int_equal(repo_release_check_dates(&r, &src, 1687000000, &err), -EKEYEXPIRED);
        assert_non_null(strstr(err, "expired (Valid-Until 2023-06-17 08:53:19 UTC)"));
        free(err);
        err = NULL;
        assert_int_equal(repo_release_check_dates(&r, &src, 1686300000, &err), -ETIME);
        assert_non_null(strstr(err, "in the future"));
        free(err);
        /* apt.conf's Check-Valid-Until "false" and Check-Date "false" switch them off. */
        src.check_valid_until = src.check_date = false;
        assert_int_equal(repo_release_check_dates(&r, &src, 1687000000, &err), 0);
        assert_int_equal(repo_release_check_dates(&r, &src, 1686300000, &err), 0);
        repo_release_done(&r);

        assert_int_equal(repo_release_parse("Origin: x\nSuite: y\n", &r), -EBADMSG);
}

/* gpgv's verdict, read from its status lines as gpgv 2.2 writes them: the same words for
 * Debian's InRelease and rpm-md's repomd.xml.asc. */
static void test_gpgv_why(void **state) {
        (void)state;
        assert_null(repo_gpgv_why("[GNUPG:] NEWSIG\n"
                                  "[GNUPG:] KEY_CONSIDERED 0123ABCD 0\n"
                                  "[GNUPG:] SIG_ID x 2026-01-01 1767225600\n"
                                  "[GNUPG:] GOODSIG 0123ABCD vmcompose fixture\n"
                                  "[GNUPG:] VALIDSIG 0123ABCD 2026-01-01 1767225600 0 4 0 1 10 "
                                  "00 0123ABCD\n"));
        /* GOODSIG alone (no VALIDSIG) or beside a bad one is not enough. */
        assert_string_equal(repo_gpgv_why("[GNUPG:] GOODSIG 0123ABCD x\n"), "signature not valid");
        assert_string_equal(repo_gpgv_why("[GNUPG:] GOODSIG A x\n[GNUPG:] VALIDSIG A\n"
                                          "[GNUPG:] BADSIG B y\n"),
                            "bad signature (tampered?)");
        assert_string_equal(repo_gpgv_why("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 0123ABCD 1 10 00 "
                                          "1767225600 9 -\n[GNUPG:] NO_PUBKEY 0123ABCD\n"),
                            "signed by an unknown key");
        assert_string_equal(repo_gpgv_why("[GNUPG:] NODATA 1\n"), "not signed (no signature data)");
        assert_string_equal(repo_gpgv_why("[GNUPG:] EXPKEYSIG A x\n"),
                            "signed with an expired key");
        assert_string_equal(repo_gpgv_why("[GNUPG:] REVKEYSIG A x\n"), "signed with a revoked key");
        assert_string_equal(repo_gpgv_why(""), "signature not valid");
        assert_string_equal(repo_gpgv_why(NULL), "gpgv did not run");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_deb822),   cmocka_unit_test(test_sources),
                cmocka_unit_test(test_apt_conf), cmocka_unit_test(test_release),
                cmocka_unit_test(test_gpgv_why),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
