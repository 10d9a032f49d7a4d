/* SPDX-License-Identifier: MIT */
/* The rpm-md resolver over small inline primary.xml and filelists.xml files (compressed and
 * not): rich and file dependencies, obsoletes, conflicts, weak dependencies off by default,
 * repository priorities, missing and forbidden packages with the chain that pulls one in, and
 * the locked plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/resolve.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHC "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHB "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
/* A primary.xml package: name, version, arch, checksum, then rpm:format children. */
#define PKG(name, ver, arch, sum, format)                                                          \
        "<package type=\"rpm\"><name>" name "</name><arch>" arch "</arch>"                         \
        "<version epoch=\"0\" ver=\"" ver "\" rel=\"1.fc43\"/>"                                    \
        "<checksum type=\"sha256\" pkgid=\"YES\">" sum "</checksum>"                               \
        "<summary>" name "</summary><size package=\"1234\" installed=\"10\" archive=\"20\"/>"      \
        "<location href=\"Packages/" name "-" ver "-1.fc43." arch ".rpm\"/>"                       \
        "<format><rpm:license>MIT</rpm:license><rpm:sourcerpm>" name "-" ver                       \
        "-1.fc43.src.rpm</rpm:sourcerpm><rpm:provides><rpm:entry name=\"" name                     \
        "\" flags=\"EQ\" epoch=\"0\" ver=\"" ver "\" rel=\"1.fc43\"/></rpm:provides>" format       \
        "</format></package>\n"
#define REQ(...) "<rpm:requires>" __VA_ARGS__ "</rpm:requires>"
#define E(n) "<rpm:entry name=\"" n "\"/>"
#define PRIMARY(n, body)                                                                           \
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata "                                   \
        "xmlns=\"http://linux.duke.edu/metadata/common\" "                                         \
        "xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"" n "\">\n" body              \
        "</metadata>\n"

/* clang-format off */
static const char primary[] = PRIMARY("18",
        PKG("app", "1.0", "x86_64", SHA,
            REQ(E("(alt-a or alt-b)") E("/usr/lib/helper/tool") E("libfoo.so.1()(64bit)"))
            "<rpm:recommends>" E("extra") "</rpm:recommends>")
        PKG("alt-a", "1.0", "noarch", SHA, "")
        PKG("alt-b", "1.0", "noarch", SHA, "")
        PKG("libfoo", "2.0", "x86_64", SHA,
            "<rpm:provides>" E("libfoo.so.1()(64bit)") "</rpm:provides>")
        PKG("helper", "1.0", "noarch", SHC, "")
        PKG("extra", "1.0", "noarch", SHA, "")
        PKG("old", "1.0", "noarch", SHA, "")
        PKG("new", "2.0", "noarch", SHA,
            "<rpm:obsoletes><rpm:entry name=\"old\" flags=\"LT\" epoch=\"0\" ver=\"2\"/>"
            "</rpm:obsoletes>")
        PKG("left", "1.0", "noarch", SHA, "<rpm:conflicts>" E("right") "</rpm:conflicts>")
        PKG("right", "1.0", "noarch", SHA, "")
        PKG("pager-user", "1.0", "noarch", SHA, REQ(E("pager-helper")))
        PKG("pager-helper", "1.0", "noarch", SHA, REQ(E("less")))
        PKG("less", "608", "x86_64", SHA, "")
        PKG("broken", "1.0", "noarch", SHA, REQ(E("ghost")))
        PKG("sh-user", "1.0", "noarch", SHA,
            "<rpm:requires><rpm:entry name=\"/bin/sh\" pre=\"1\"/></rpm:requires>")
        PKG("shell", "1.0", "x86_64", SHA, "<rpm:provides>" E("/bin/sh") "</rpm:provides>")
        PKG("arm-only", "1.0", "aarch64", SHA, "")
        PKG("app-plugin", "1.0", "noarch", SHA,
            "<rpm:supplements>" E("app") "</rpm:supplements>"));
/* clang-format on */

/* The file only filelists.xml lists (primary lists only /etc and bin/ files). */
static const char filelists[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists "
        "xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"1\">\n"
        "<package pkgid=\"" SHC "\" name=\"helper\" arch=\"noarch\"><version epoch=\"0\" "
        "ver=\"1.0\" rel=\"1.fc43\"/><file>/usr/lib/helper/tool</file></package>\n</filelists>\n";

/* A second repository with a newer libfoo, at a worse (higher) priority. */
static const char updates[] =
        PRIMARY("1", PKG("libfoo", "3.0", "x86_64", SHB,
                         "<rpm:provides>" E("libfoo.so.1()(64bit)") "</rpm:provides>"));

static char dir[64];
static char *primary_gz, *filelists_xml, *updates_xml;

static char *write_in_dir(const char *name, const char *text) {
        char *path;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return path;
}

static int setup(void **state) {
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/vmc-rpmsolve-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        /* primary served gzip-compressed, and named by digest in the cache: no suffix. */
        char *plain = write_in_dir("primary.xml", primary);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "gzip -n -c %s >%s/primary-digest", plain, dir);
        free(plain);
        if (system(cmd) != 0)
                return -1;
        if (asprintf(&primary_gz, "%s/primary-digest", dir) < 0)
                return -1;
        filelists_xml = write_in_dir("filelists.xml", filelists);
        updates_xml = write_in_dir("updates.xml", updates);
        return 0;
}

static int teardown(void **state) {
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        free(primary_gz);
        free(filelists_xml);
        free(updates_xml);
        return system(cmd) == 0 ? 0 : -1;
}

static int solve(char **install, const ResolveForbid *forbid, size_t n_forbid, bool recommends,
                 bool with_updates, Plan *plan, Buffer *problems) {
        ResolveRepo repos[] = {
                {.name = "fedora",
                 .uri = "https://example.invalid/fedora/",
                 .packages_path = primary_gz,
                 .filelists_path = filelists_xml,
                 .priority = 10},
                {.name = "updates",
                 .uri = "https://example.invalid/updates",
                 .packages_path = updates_xml,
                 .priority = 20},
        };
        ResolveRequest req = {.architecture = "amd64",
                              .base = "required",
                              .install = install,
                              .forbid = forbid,
                              .n_forbid = n_forbid,
                              .recommends = recommends};
        return resolve_plan("rpm", repos, with_updates ? 2 : 1, &req, plan, problems);
}

static void test_rich_file_and_library_dependencies(void **state) {
        (void)state;
        char *install[] = {"app", NULL};
        Plan plan = {};
        Buffer problems = {};
        int r = solve(install, NULL, 0, false, true, &plan, &problems);
        if (r < 0)
                print_message("%s", problems.data);
        assert_int_equal(r, 0);
        /* app, one of alt-a/alt-b, helper (only filelists has its file), libfoo; no extra. */
        assert_int_equal(plan.n_packages, 4);
        const PlanPackage *app = plan_find(&plan, "app");
        assert_non_null(app);
        assert_string_equal(app->version, "1.0-1.fc43");
        assert_string_equal(app->architecture, "x86_64");
        assert_string_equal(app->reason, "requested");
        assert_string_equal(app->uri,
                            "https://example.invalid/fedora/Packages/app-1.0-1.fc43.x86_64.rpm");
        assert_string_equal(app->sha256, SHA);
        assert_int_equal(app->size, 1234);
        assert_string_equal(app->source, "app");
        assert_true(plan_find(&plan, "alt-a") || plan_find(&plan, "alt-b"));
        assert_non_null(plan_find(&plan, "helper"));
        assert_string_equal(plan_find(&plan, "helper")->reason, "dependency of app");
        assert_null(plan_find(&plan, "extra"));
        assert_null(plan_find(&plan, "app-plugin")); /* Supplements: weak too */
        /* The better priority wins over the newer version. */
        assert_string_equal(plan_find(&plan, "libfoo")->version, "2.0-1.fc43");
        assert_string_equal(plan_find(&plan, "libfoo")->repo, "fedora");
        assert_non_null(app->depends);
        plan_done(&plan);
        buffer_done(&problems);
}

static void test_recommends_when_asked(void **state) {
        (void)state;
        char *install[] = {"app", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, NULL, 0, true, false, &plan, &problems), 0);
        assert_non_null(plan_find(&plan, "extra"));
        assert_string_equal(plan_find(&plan, "extra")->reason, "recommended by app");
        assert_non_null(plan_find(&plan, "app-plugin"));
        assert_string_equal(plan_find(&plan, "app-plugin")->reason, "supplements app");
        plan_done(&plan);
        buffer_done(&problems);
}

static void test_prerequisite_file_provide(void **state) {
        (void)state;
        char *install[] = {"sh-user", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, NULL, 0, false, false, &plan, &problems), 0);
        assert_int_equal(plan.n_packages, 2);
        const PlanPackage *p = plan_find(&plan, "sh-user");
        assert_non_null(p->pre_depends);
        assert_string_equal(p->pre_depends[0], "shell");
        plan_done(&plan);
        buffer_done(&problems);
}

static void test_obsoleted_request(void **state) {
        (void)state;
        char *install[] = {"old", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, NULL, 0, false, false, &plan, &problems), 0);
        assert_int_equal(plan.n_packages, 1);
        assert_non_null(plan_find(&plan, "new"));
        assert_string_equal(plan_find(&plan, "new")->reason,
                            "requested as old (which it obsoletes)");
        plan_done(&plan);
        buffer_done(&problems);
}

static void test_conflict(void **state) {
        (void)state;
        char *install[] = {"left", "right", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, NULL, 0, false, false, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data, "conflicts with"));
        assert_null(plan.packages);
        buffer_done(&problems);
}

static void test_missing(void **state) {
        (void)state;
        char *install[] = {"broken", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, NULL, 0, false, false, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data, "nothing provides ghost needed by broken"));
        buffer_done(&problems);

        char *unknown[] = {"nosuch", NULL};
        assert_int_equal(solve(unknown, NULL, 0, false, false, &plan, &problems), -ENOPKG);
        assert_string_equal(problems.data, "package nosuch is not in any repository\n");
        buffer_done(&problems);

        /* Another architecture's package is not installable here. */
        char *arm[] = {"arm-only", NULL};
        assert_int_equal(solve(arm, NULL, 0, false, false, &plan, &problems), -ENOPKG);
        buffer_done(&problems);
}

static void test_forbidden_chain(void **state) {
        (void)state;
        const ResolveForbid forbid[] = {{.pattern = "les?", .origin = "policy headless (x:1:1)"}};
        char *install[] = {"pager-user", NULL};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(solve(install, forbid, 1, false, false, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data,
                               "forbidden package needed: less-608-1.fc43.x86_64 <- "
                               "pager-helper-1.0-1.fc43.noarch (Requires: less) <- "
                               "pager-user-1.0-1.fc43.noarch (Requires: pager-helper) <- "
                               "requested by the profile\n  forbidden by policy headless "
                               "(x:1:1)\n"));
        buffer_done(&problems);

        char *direct[] = {"less", NULL};
        assert_int_equal(solve(direct, forbid, 1, false, false, &plan, &problems), -EPERM);
        assert_string_equal(problems.data,
                            "package less is forbidden by policy headless (x:1:1)\n");
        buffer_done(&problems);
}

static void test_locked(void **state) {
        (void)state;
        ResolveRepo repos[] = {{.name = "fedora",
                                .uri = "file:///srv/fedora",
                                .packages_path = primary_gz,
                                .filelists_path = filelists_xml}};
        const LockedPackage pins[] = {{"libfoo", "2.0-1.fc43", "x86_64", SHA},
                                      {"alt-a", "1.0-1.fc43", "noarch", SHA}};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(resolve_locked("rpm", repos, 1, "amd64", pins, 2, &plan, &problems), 0);
        assert_int_equal(plan.n_packages, 2);
        assert_string_equal(plan.packages[0].name, "alt-a");
        assert_string_equal(plan.packages[0].reason, "locked");
        assert_string_equal(plan.packages[1].uri,
                            "file:///srv/fedora/Packages/libfoo-2.0-1.fc43.x86_64.rpm");
        plan_done(&plan);

        const LockedPackage changed[] = {{"libfoo", "2.0-1.fc43", "x86_64", SHB}};
        assert_int_equal(resolve_locked("rpm", repos, 1, "amd64", changed, 1, &plan, &problems),
                         -ENOPKG);
        assert_non_null(strstr(problems.data, "pinned package libfoo 2.0-1.fc43 (x86_64) changed"));
        buffer_done(&problems);
}

/* Groups are rpm-md's: a Debian request with groups is refused. */
static void test_groups_not_debian(void **state) {
        (void)state;
        char *install[] = {"app", NULL}, *groups[] = {"core", NULL};
        ResolveRepo repos[] = {{.name = "x", .uri = "file:///x", .packages_path = "/nonexistent"}};
        ResolveRequest req = {.architecture = "amd64", .install = install, .groups = groups};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(resolve_plan("debian", repos, 1, &req, &plan, &problems), -EINVAL);
        assert_string_equal(problems.data, "packages.groups: debian repositories have no groups\n");
        buffer_done(&problems);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rich_file_and_library_dependencies),
                cmocka_unit_test(test_recommends_when_asked),
                cmocka_unit_test(test_prerequisite_file_provide),
                cmocka_unit_test(test_obsoleted_request),
                cmocka_unit_test(test_conflict),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_forbidden_chain),
                cmocka_unit_test(test_locked),
                cmocka_unit_test(test_groups_not_debian),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
