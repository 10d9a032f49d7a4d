/* SPDX-License-Identifier: MIT */
/* The resolver over small inline Packages indexes: the plan, base sets, recommends, conflicts,
 * missing dependencies, removed and forbidden packages with the chain that pulls them in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmcompose/resolve.h"
#include "vmcompose/signals.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PKG(name, extra)                                                                           \
        "Package: " name "\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/main/" name        \
        "_1.0-1_amd64.deb\nSize: 1234\nInstalled-Size: 10\nSHA256: " SHA "\n" extra "\n"

static const char main_index[] = PKG(
        "app", "Depends: libfoo (>= 1.0), tool\nRecommends: extra\nSection: utils\n")
        PKG("libfoo", "Source: foo\nSection: libs\n") PKG("tool", "Depends: man-db\n") PKG(
                "man-db", "Depends: less | pager\n") PKG("less",
                                                         "Provides: pager\nPriority: important\n")
                PKG("extra", "") PKG("base-files", "Priority: required\nEssential: yes\n") PKG(
                        "coreutils",
                        "Priority: required\nEssential: yes\n") PKG("mawk", "Priority: required\n")
                        PKG("nano", "Priority: important\n") PKG("xterm", "Section: x11\n") PKG(
                                "beep", "Section: sound\nPriority: required\n")
                                PKG("left", "Conflicts: right\n") PKG("right", "") PKG(
                                        "broken", "Depends: ghost\n") PKG("needs-mawk",
                                                                          "Depends: mawk\n")
                                        PKG("early", "Pre-Depends: mawk\nDepends: coreutils\n");

static const char security_index[] =
        "Package: libfoo\nVersion: 1.0-1+deb12u1\nArchitecture: amd64\nSource: foo\n"
        "Filename: pool/updates/libfoo_1.0-1+deb12u1_amd64.deb\nSize: 99\nSHA256: " SHA "\n\n";

static char dir[64];
static char *paths[2];

static int setup(void **state) {
        (void)state;
        strcpy(dir, "/tmp/vmcompose-resolve-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        const char *data[] = {main_index, security_index};
        for (int i = 0; i < 2; i++) {
                paths[i] = xasprintf("%s/Packages-%d", dir, i);
                FILE *f = fopen(paths[i], "w");
                fputs(data[i], f);
                fclose(f);
        }
        return 0;
}

static int teardown(void **state) {
        (void)state;
        for (int i = 0; i < 2; i++) {
                unlink(paths[i]);
                free(paths[i]);
        }
        rmdir(dir);
        return 0;
}

static const ResolveForbid headless[] = {
        {.pattern = "less", .origin = "policy headless (headless.yaml:3:7)"},
        {.pattern = "x11", .section = true, .origin = "policy headless (headless.yaml:9:7)"},
        {.pattern = "sound", .section = true, .origin = "policy headless (headless.yaml:10:7)"},
};

typedef struct Case {
        const char *base;
        const char *install[8];
        const char *remove[4];
        bool recommends;
        bool forbid;
} Case;

/* The two fixture indexes as repositories. */
static void fixture_repos(ResolveRepo repos[2]) {
        repos[0] = (ResolveRepo){.name = "bookworm/main",
                                 .uri = "http://mirror.invalid/debian",
                                 .packages_path = paths[0]};
        repos[1] = (ResolveRepo){.name = "bookworm-security/main",
                                 .uri = "file:///srv/security/",
                                 .packages_path = paths[1]};
}

static int solve(const Case *c, Plan *plan, char **ret_problems) {
        ResolveRepo repos[2];
        fixture_repos(repos);
        ResolveRequest req = {
                .architecture = "amd64",
                .base = c->base ? c->base : "none",
                .install = (char **)c->install,
                .remove = (char **)c->remove,
                .recommends = c->recommends,
                .forbid = c->forbid ? headless : NULL,
                .n_forbid = c->forbid ? ELEMENTSOF(headless) : 0,
        };
        Buffer problems = {};
        int r = resolve_plan("debian", repos, 2, &req, plan, &problems);
        *ret_problems = buffer_steal(&problems);
        return r;
}

static char *names(const Plan *p) {
        Buffer b = {};
        for (size_t i = 0; i < p->n_packages; i++)
                buffer_printf(&b, "%s%s", i ? " " : "", p->packages[i].name);
        return buffer_steal(&b);
}

static void expect_plan(const Case *c, const char *expected) {
        Plan plan = {};
        char *problems;
        int r = solve(c, &plan, &problems);
        if (r != 0)
                fail_msg("solve failed (%d):\n%s", r, problems);
        char *got = names(&plan);
        if (!streq(got, expected))
                fail_msg("plan [%s], expected [%s]", got, expected);
        free(got);
        free(problems);
        plan_done(&plan);
}

static void expect_failure(const Case *c, int code, ...) {
        Plan plan = {};
        char *problems;
        int r = solve(c, &plan, &problems);
        if (r != code)
                fail_msg("solve returned %d, expected %d:\n%s", r, code, problems);
        va_list ap;
        va_start(ap, code);
        for (const char *needle; (needle = va_arg(ap, const char *));)
                if (!strstr(problems, needle))
                        fail_msg("expected '%s' in:\n%s", needle, problems);
        va_end(ap);
        assert_int_equal(plan.n_packages, 0);
        free(problems);
}

static void test_dependencies_and_fields(void **state) {
        (void)state;
        Case c = {.install = {"app"}};
        expect_plan(&c, "app less libfoo man-db tool");

        Plan plan = {};
        char *problems;
        assert_int_equal(solve(&c, &plan, &problems), 0);
        free(problems);
        const PlanPackage *foo = plan_find(&plan, "libfoo");
        /* The newer version from the second repository wins, with its own URI and size. */
        assert_string_equal(foo->version, "1.0-1+deb12u1");
        assert_string_equal(foo->repo, "bookworm-security/main");
        assert_string_equal(foo->uri,
                            "file:///srv/security/pool/updates/libfoo_1.0-1+deb12u1_amd64.deb");
        assert_int_equal(foo->size, 99);
        assert_string_equal(foo->source, "foo");
        assert_string_equal(foo->reason, "dependency of app");
        const PlanPackage *app = plan_find(&plan, "app");
        assert_string_equal(app->uri, "http://mirror.invalid/debian/pool/main/app_1.0-1_amd64.deb");
        assert_string_equal(app->sha256, SHA);
        assert_int_equal(app->size, 1234);
        assert_int_equal(app->installed_size, 10 * 1024);
        assert_string_equal(app->section, "utils");
        assert_string_equal(app->reason, "requested");
        /* Each dependency maps to the plan package that satisfies it. */
        assert_true(strv_contains(app->depends, "libfoo"));
        assert_true(strv_contains(app->depends, "tool"));
        assert_true(strv_contains(plan_find(&plan, "man-db")->depends, "less"));
        assert_null(plan_find(&plan, "less")->depends);
        plan_done(&plan);
}

static void test_pre_depends(void **state) {
        (void)state;
        Case c = {.install = {"early"}};
        Plan plan = {};
        char *problems;
        assert_int_equal(solve(&c, &plan, &problems), 0);
        const PlanPackage *e = plan_find(&plan, "early");
        assert_true(strv_contains(e->pre_depends, "mawk"));
        assert_false(strv_contains(e->depends, "mawk"));
        assert_true(strv_contains(e->depends, "coreutils"));
        free(problems);
        plan_done(&plan);
}

static void test_recommends(void **state) {
        (void)state;
        Case c = {.install = {"app"}, .recommends = true};
        expect_plan(&c, "app extra less libfoo man-db tool");
}

static void test_base_sets(void **state) {
        (void)state;
        Case c = {.base = "essential"};
        expect_plan(&c, "base-files coreutils");
        c.base = "required";
        expect_plan(&c, "base-files beep coreutils mawk");
        c.base = "important";
        expect_plan(&c, "base-files beep coreutils less mawk nano");
        /* The policy keeps forbidden packages out of the base set too. */
        c.forbid = true;
        expect_plan(&c, "base-files coreutils mawk nano");

        Plan plan = {};
        char *problems;
        c.base = "required";
        assert_int_equal(solve(&c, &plan, &problems), 0);
        assert_string_equal(plan_find(&plan, "mawk")->reason, "base (required)");
        assert_true(plan_find(&plan, "coreutils")->essential);
        assert_false(plan_find(&plan, "mawk")->essential);
        free(problems);
        plan_done(&plan);
}

static void test_remove(void **state) {
        (void)state;
        Case c = {.base = "required", .remove = {"mawk", "beep"}};
        expect_plan(&c, "base-files coreutils");
        Case needs = {.base = "required", .install = {"needs-mawk"}, .remove = {"mawk"}};
        expect_failure(&needs, -ENOPKG, "needs-mawk", "mawk", NULL);
}

static void test_conflict_and_missing(void **state) {
        (void)state;
        Case c = {.install = {"left", "right"}};
        expect_failure(&c, -ENOPKG, "problem 1:", "left", "right", NULL);
        Case m = {.install = {"broken"}};
        expect_failure(&m, -ENOPKG, "nothing provides ghost", NULL);
        Case u = {.install = {"no-such-package"}};
        expect_failure(&u, -ENOPKG, "package no-such-package is not in any repository", NULL);
}

static void test_forbidden(void **state) {
        (void)state;
        Case direct = {.install = {"less"}, .forbid = true};
        expect_failure(&direct, -EPERM,
                       "package less is forbidden by policy headless (headless.yaml:3:7)", NULL);
        Case section = {.install = {"xterm"}, .forbid = true};
        expect_failure(&section, -EPERM,
                       "package xterm is forbidden by policy headless (headless.yaml:9:7)", NULL);
        /* Pulled in by a dependency: the chain from the request to the forbidden package. */
        Case chain = {.install = {"app"}, .forbid = true};
        expect_failure(&chain, -ENOPKG,
                       "forbidden package needed: less-1.0-1.amd64 <- man-db-1.0-1.amd64 "
                       "(Depends: less | pager) <- tool-1.0-1.amd64 (Depends: man-db) <- "
                       "app-1.0-1.amd64 (Depends: tool) <- requested by the profile",
                       "forbidden by policy headless (headless.yaml:3:7)", NULL);
}

static void test_locked(void **state) {
        (void)state;
        ResolveRepo repos[] = {
                {.name = "main", .uri = "http://mirror.invalid/debian", .packages_path = paths[0]},
                {.name = "security", .uri = "file:///srv/security", .packages_path = paths[1]},
        };
        LockedPackage pins[] = {
                {"app", "1.0-1", "amd64", SHA},
                {"libfoo", "1.0-1", "amd64", SHA}, /* the older one, still in main */
        };
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(resolve_locked("debian", repos, 2, "amd64", pins, 2, &plan, &problems), 0);
        assert_int_equal(plan.n_packages, 2);
        assert_string_equal(plan_find(&plan, "libfoo")->version, "1.0-1");
        assert_string_equal(plan_find(&plan, "libfoo")->uri,
                            "http://mirror.invalid/debian/pool/main/libfoo_1.0-1_amd64.deb");
        assert_string_equal(plan_find(&plan, "app")->reason, "locked");
        plan_done(&plan);

        LockedPackage bad[] = {
                {"app", "0.9-1", "amd64", SHA},
                {"tool", "1.0-1", "amd64",
                 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
        };
        assert_int_equal(resolve_locked("debian", repos, 2, "amd64", bad, 2, &plan, &problems),
                         -ENOPKG);
        assert_non_null(
                strstr(problems.data, "pinned package app 0.9-1 (amd64) is not in any repository"));
        assert_non_null(strstr(problems.data, "pinned package tool 1.0-1 (amd64) changed"));
        assert_int_equal(plan.n_packages, 0);
        buffer_done(&problems);
}

/* The plan cache: a plan reads back as it was written, anything less is refused, the key moves
 * with every input, and a second resolution of the same inputs comes from the cache. */
static void test_plan_cache(void **state) {
        (void)state;
        Case c = {.base = "none", .install = {"app"}};
        ResolveRepo repos[2];
        fixture_repos(repos);
        ResolveRequest req = {.architecture = "amd64",
                              .base = c.base,
                              .install = (char **)c.install,
                              .forbid = headless + 1, /* x11 and sound; less stays */
                              .n_forbid = ELEMENTSOF(headless) - 1};
        _cleanup_free_ char *cache = xasprintf("%s/cache", dir);
        char key[65], key2[65];
        Plan solved = {}, cached = {};
        Buffer problems = {};

        int r = resolve_plan_cached(cache, "code-a", "debian", repos, 2, &req, &solved, &problems,
                                    key);
        if (r != 0)
                fail_msg("resolve_plan_cached: %d: %s", r, problems.data);
        assert_int_equal(strlen(key), 64);
        assert_int_equal(resolve_plan_cached(cache, "code-a", "debian", repos, 2, &req, &cached,
                                             &problems, key2),
                         1);
        assert_string_equal(key, key2);
        _cleanup_free_ char *a = plan_serialize(&solved), *b = plan_serialize(&cached);
        assert_string_equal(a, b);
        assert_non_null(strstr(a, "\npackage app\n"));
        assert_non_null(strstr(a, "\ndepends libfoo\n"));
        plan_done(&cached);

        /* Escapes and absent values survive; a cut or unknown line is refused. */
        PlanPackage odd = {.name = (char *)"odd",
                           .version = (char *)"1\\2\n3",
                           .reason = (char *)"dependency of app",
                           .size = 7};
        Plan one = {.packages = &odd, .n_packages = 1};
        _cleanup_free_ char *t = plan_serialize(&one);
        char *copy = xstrdup(t);
        assert_int_equal(plan_deserialize(copy, &cached), 0);
        assert_int_equal(cached.n_packages, 1);
        assert_string_equal(cached.packages[0].version, "1\\2\n3");
        assert_null(cached.packages[0].uri);
        assert_int_equal(cached.packages[0].size, 7);
        plan_done(&cached);
        free(copy);
        copy = xstrdup(t);
        *strstr(copy, "packages 1\n") = 0; /* the count line lost */
        assert_int_equal(plan_deserialize(copy, &cached), -EBADMSG);
        free(copy);
        copy = xasprintf("%.*spatched yes\npackages 1\n", (int)(strstr(t, "packages 1") - t), t);
        assert_int_equal(plan_deserialize(copy, &cached), -EBADMSG);
        free(copy);
        copy = xstrdup("vmcompose-plan 0\npackages 0\n");
        assert_int_equal(plan_deserialize(copy, &cached), -EBADMSG);
        free(copy);

        /* A corrupt entry is a miss: solved again and rewritten. */
        _cleanup_free_ char *entry = xasprintf("%s/plans/%s", cache, key);
        assert_int_equal(write_file_atomic(entry, "vmcompose-plan 1\npackage x\n", 26, 0644), 0);
        assert_int_equal(resolve_plan_cached(cache, "code-a", "debian", repos, 2, &req, &cached,
                                             &problems, key2),
                         0);
        plan_done(&cached);

        /* Every input moves the key: the code, the request, an index's content. */
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req, "code-b", key2), 0);
        assert_string_not_equal(key, key2);
        const char *other[] = {"app", "nano", NULL};
        ResolveRequest req2 = req;
        req2.install = (char **)other;
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req2, "code-a", key2), 0);
        assert_string_not_equal(key, key2);
        req2 = req;
        req2.n_forbid = 1;
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req2, "code-a", key2), 0);
        assert_string_not_equal(key, key2);
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req, "code-a", key2), 0);
        assert_string_equal(key, key2);
        FILE *f = fopen(paths[1], "a");
        fputs("\n", f);
        fclose(f);
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req, "code-a", key2), 0);
        assert_string_not_equal(key, key2);
        repos[1].packages_path = "/nonexistent/Packages";
        assert_int_equal(resolve_plan_key("debian", repos, 2, &req, "code-a", key2), -ENOENT);

        plan_done(&solved);
        buffer_done(&problems);
        assert_int_equal(rm_rf(cache), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dependencies_and_fields),
                cmocka_unit_test(test_recommends),
                cmocka_unit_test(test_pre_depends),
                cmocka_unit_test(test_base_sets),
                cmocka_unit_test(test_remove),
                cmocka_unit_test(test_conflict_and_missing),
                cmocka_unit_test(test_forbidden),
                cmocka_unit_test(test_locked),
                cmocka_unit_test(test_plan_cache),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
