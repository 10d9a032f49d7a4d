/* SPDX-License-Identifier: MIT */
/* The audit's verdict on an image already read: policies against packages, sections and
 * paths; the attack surface summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/audit.h"
#include "vmcompose/util.h"

static const char *kinds(const AuditReport *r, const char *subject) {
        for (size_t i = 0; i < r->n_findings; i++)
                if (streq(r->findings[i].subject, subject))
                        return r->findings[i].kind;
        return NULL;
}

static void test_check(void **state) {
        (void)state;
        char *names[] = {(char *)"headless", NULL};
        Diagnostics diag = {};
        Profile *p = NULL;
        assert_int_equal(profile_load_policies(names, vmcompose_data_dir(), &diag, &p), 0);
        diag_done(&diag);

        AuditPackage pkgs[] = {
                {.name = (char *)"bash", .section = (char *)"shells", .installed_size = 1 << 20},
                {.name = (char *)"less", .section = (char *)"text", .installed_size = 1 << 10},
                {.name = (char *)"xfonts-x", .section = (char *)"x11"},
        };
        AuditFile files[] = {
                {.path = (char *)"/tmp", .mode = S_IFDIR | 01777},
                {.path = (char *)"/usr/bin/less", .mode = S_IFREG | 0755},
                {.path = (char *)"/usr/bin/passwd", .mode = S_IFREG | 04755},
                {.path = (char *)"/usr/share/icons/hicolor", .mode = S_IFDIR | 0755},
                {.path = (char *)"/var/lib/open", .mode = S_IFREG | 0666},
                {.path = (char *)"/var/lib/link", .mode = S_IFLNK | 0777},
        };
        char *owners[] = {(char *)"/usr/bin/less\tless", (char *)"/usr/bin/passwd\tpasswd", NULL};
        AuditImage img = {
                .packages = pkgs, .n_packages = 3, .files = files, .n_files = 6, .owners = owners};

        assert_string_equal(audit_owner(&img, "/usr/bin/less"), "less");
        assert_null(audit_owner(&img, "/usr/bin/les"));
        assert_null(audit_owner(&img, "/usr/bin/lesser"));

        AuditReport r = {};
        audit_check(&img, p, &r);
        assert_string_equal(kinds(&r, "less"), "forbidden-package");
        assert_string_equal(kinds(&r, "xfonts-x (section x11)"), "forbidden-section");
        assert_string_equal(kinds(&r, "/usr/bin/less"), "forbidden-path");
        assert_string_equal(kinds(&r, "/usr/share/icons/hicolor"), "forbidden-path");
        assert_null(kinds(&r, "bash"));
        for (size_t i = 0; i < r.n_findings; i++)
                if (streq(r.findings[i].subject, "/usr/bin/less")) {
                        assert_string_equal(r.findings[i].package, "less");
                        assert_non_null(strstr(r.findings[i].rule, "headless.yaml:"));
                }
        assert_int_equal(r.installed_size, (1 << 20) + (1 << 10));
        assert_int_equal(strv_length(r.setuid), 1);
        assert_non_null(strstr(r.setuid[0], "/usr/bin/passwd (setuid"));
        /* /tmp is sticky and a symlink's mode means nothing: only the open file. */
        assert_int_equal(strv_length(r.world_writable), 1);
        assert_string_equal(r.world_writable[0], "/var/lib/open");

        char *json = audit_format_json("x.raw", &img, &r);
        assert_non_null(strstr(json, "\"clean\": false"));
        free(json);
        audit_report_done(&r);
        profile_free(p);
}

static void test_unknown_policy(void **state) {
        (void)state;
        char *names[] = {(char *)"no-such-policy", NULL};
        Diagnostics diag = {};
        Profile *p = NULL;
        assert_int_equal(profile_load_policies(names, vmcompose_data_dir(), &diag, &p), -EBADMSG);
        assert_true(diag.n_errors > 0);
        diag_done(&diag);
}

/* containerd's socket from config.toml's [grpc] address, and nothing from other tables. */
static void test_containerd_address(void **state) {
        (void)state;
        static const char config[] = "version = 2\n"
                                     "[ttrpc]\n  address = \"/wrong\"\n"
                                     "# [grpc]\n"
                                     "[grpc]\n  uid = 0\n  address = \"/run/c/api.sock\"\n"
                                     "[debug]\n  address = \"/run/c/debug.sock\"\n";
        char *a = audit_containerd_address(config);
        assert_string_equal(a, "/run/c/api.sock");
        free(a);
        assert_null(audit_containerd_address("[debug]\naddress = \"/x\"\n"));
        assert_null(audit_containerd_address(""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_containerd_address),
                cmocka_unit_test(test_unknown_policy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
