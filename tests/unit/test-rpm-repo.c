/* SPDX-License-Identifier: MIT */
/* The RPM backend's repositories and resolver on the fixture distribution that
 * tests/rpm/make-fixture.sh builds (VMCOMPOSE_RPM_FIXTURE: its OUTDIR, made with --variants):
 * the signed repository over file:// and http://, zstd and xz metadata, the package set a
 * profile gets, and each refusal with the repository and the file it names: a tampered
 * primary.xml, an unsigned repomd.xml, one signed by another key, a missing dependency, a
 * forbidden package pulled in by a dependency, a conflict. Skipped (77) without the fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../composer/distro/rpm/rpm.h"
#include "vmcompose/resolve.h"

static const char *fixture;
static char cache[64];
static char *key;
static char stderr_path[96];
static int saved_stderr = -1;

/* What the code under test logs, captured from stderr. */
static void capture_begin(void) {
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        dup2(fd, STDERR_FILENO);
        close(fd);
}

static char *capture_end(void) {
        static char text[16384];
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        FILE *f = fopen(stderr_path, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
                fclose(f);
        text[n] = '\0';
        fputs(text, stderr); /* still shown in the test's output */
        return text;
}

/* Loads and fetches one repository: uri (a directory URI), signed by key unless unsigned. */
static int fetch_in(const char *cache_dir, const char *uri, const char *keyfile,
                    bool allow_unsigned, RepoIndexes *ret) {
        ProfileRepository pr = {.mark = {.file = "test.yaml", .line = 7},
                                .uri = uri,
                                .suite = "fixture",
                                .signed_by = keyfile,
                                .allow_unsigned = allow_unsigned,
                                .gpgcheck = true,
                                .priority = 99,
                                .cost = 1000};
        RepoSources src = {};
        Diagnostics diag = {};
        int r = rpm_repos_load(&pr, 1, NULL, &src, &diag);
        diag_print(&diag);
        diag_done(&diag);
        if (r == 0)
                r = rpm_repo_fetch(&src.items[0], "amd64", cache_dir, ret);
        repo_sources_done(&src);
        return r;
}

static int fetch(const char *uri, const char *keyfile, bool allow_unsigned, RepoIndexes *ret) {
        return fetch_in(cache, uri, keyfile, allow_unsigned, ret);
}

static char *variant_uri(const char *name) {
        char *u;
        if (name)
                assert_true(asprintf(&u, "file://%s/variants/%s", fixture, name) > 0);
        else
                assert_true(asprintf(&u, "file://%s/repo", fixture) > 0);
        return u;
}

static char **groups_asked;

static int solve(const RepoIndexes *x, char **install, const ResolveForbid *forbid, size_t n_forbid,
                 Plan *plan, Buffer *problems) {
        ResolveRepo repos[4] = {};
        assert_true(x->n <= 4);
        for (size_t i = 0; i < x->n; i++)
                repos[i] = (ResolveRepo){.name = x->items[i].name,
                                         .uri = x->items[i].uri,
                                         .packages_path = x->items[i].packages_path,
                                         .filelists_path = x->items[i].filelists_path,
                                         .comps_path = x->items[i].comps_path,
                                         .priority = x->items[i].priority,
                                         .cost = x->items[i].cost};
        ResolveRequest req = {.architecture = "amd64",
                              .base = "none",
                              .install = install,
                              .groups = groups_asked,
                              .forbid = forbid,
                              .n_forbid = n_forbid};
        return resolve_plan("rpm", repos, x->n, &req, plan, problems);
}

static char *bootable[] = {"filesystem",
                           "busybox",
                           "fixture-init",
                           "kernel-core",
                           "systemd-boot-unsigned",
                           "fixture-rich",
                           "fixture-tools",
                           "fixture-old",
                           "fixture-scriptlet",
                           NULL};

static void check_bootable_plan(const RepoIndexes *x) {
        Plan plan = {};
        Buffer problems = {};
        int r = solve(x, bootable, NULL, 0, &plan, &problems);
        if (r < 0)
                print_message("%s", problems.data);
        assert_int_equal(r, 0);
        /* The nine asked for (fixture-old as fixture-new, which obsoletes it), one of the rich
         * dependency's alternatives, the file dependency's fixture-helper; no Recommends. */
        assert_int_equal(plan.n_packages, 11);
        assert_non_null(plan_find(&plan, "fixture-new"));
        assert_null(plan_find(&plan, "fixture-old"));
        assert_true(plan_find(&plan, "fixture-alt-a") || plan_find(&plan, "fixture-alt-b"));
        assert_string_equal(plan_find(&plan, "fixture-helper")->reason,
                            "dependency of fixture-tools");
        assert_null(plan_find(&plan, "fixture-recommended"));
        const PlanPackage *k = plan_find(&plan, "kernel-core");
        assert_string_equal(k->architecture, "x86_64");
        assert_int_equal(strlen(k->sha256), 64);
        assert_true(k->size > 1000000);
        assert_non_null(strstr(k->uri, "/kernel-core-"));
        /* fixture-init's Requires: /usr/bin/sh is busybox's file. */
        const PlanPackage *init = plan_find(&plan, "fixture-init");
        assert_true(strv_contains(init->depends, "busybox"));
        plan_done(&plan);
        buffer_done(&problems);
}

static void test_signed_repository(void **state) {
        (void)state;
        _cleanup_free_ char *uri = variant_uri(NULL);
        RepoIndexes x = {};
        assert_int_equal(fetch(uri, key, false, &x), 0);
        assert_int_equal(x.n, 1);
        assert_string_equal(x.items[0].name, "fixture");
        assert_non_null(x.items[0].filelists_path);
        assert_int_equal(strlen(x.items[0].release_sha256), 64);
        check_bootable_plan(&x);
        /* A second fetch finds both files in the cache. */
        RepoIndexes again = {};
        assert_int_equal(fetch(uri, key, false, &again), 0);
        assert_string_equal(again.items[0].packages_path, x.items[0].packages_path);
        repo_indexes_done(&again);
        repo_indexes_done(&x);
}

static void test_compressions(void **state) {
        (void)state;
        const char *names[] = {"zstd", "xz"};
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *uri = variant_uri(names[i]);
                RepoIndexes x = {};
                assert_int_equal(fetch(uri, key, false, &x), 0);
                check_bootable_plan(&x);
                repo_indexes_done(&x);
        }
}

static void test_http(void **state) {
        (void)state;
        int port = 20000 + getpid() % 20000;
        char portstr[16], dir[512];
        snprintf(portstr, sizeof(portstr), "%d", port);
        snprintf(dir, sizeof(dir), "%s", fixture);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, STDERR_FILENO);
                dup2(null, STDOUT_FILENO);
                execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1",
                       "--directory", dir, portstr, NULL);
                _exit(127);
        }
        /* Wait for the server. */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        bool up = false;
        for (int i = 0; i < 100 && !up; i++) {
                int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                up = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
                close(s);
                if (!up)
                        usleep(50000);
        }
        _cleanup_free_ char *uri = NULL;
        assert_true(asprintf(&uri, "http://127.0.0.1:%d/variants/zstd/", port) > 0);
        RepoIndexes x = {};
        int r = up ? fetch(uri, key, false, &x) : -EHOSTDOWN;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        assert_int_equal(r, 0);
        uri[strlen(uri) - 1] = '\0'; /* kept without its trailing slash */
        assert_string_equal(x.items[0].uri, uri);
        check_bootable_plan(&x);
        repo_indexes_done(&x);
}

/* A metalink: the mirror whose repomd.xml has the listed SHA-256 is taken, the others skipped;
 * none matching is an error. The metalink is written here with file:// mirrors. */
static int fetch_metalink(const char *mirror1, const char *mirror2, const char *hash,
                          RepoIndexes *ret) {
        char path[128], fresh[128], cmd[160];
        snprintf(path, sizeof(path), "%s/metalink.xml", cache);
        snprintf(fresh, sizeof(fresh), "%s/fresh", cache);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", fresh);
        assert_int_equal(system(cmd), 0);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f,
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" "
                "xmlns=\"http://www.metalinker.org/\"><files><file name=\"repomd.xml\">"
                "<verification><hash type=\"md5\">00</hash><hash type=\"sha256\">%s</hash>"
                "</verification><resources>"
                "<url protocol=\"file\" preference=\"100\">file://%s/repodata/repomd.xml</url>"
                "<url protocol=\"file\" preference=\"90\">file://%s/repodata/repomd.xml</url>"
                "</resources></file></files></metalink>\n",
                hash, mirror1, mirror2);
        fclose(f);
        _cleanup_free_ char *metalink = NULL, *uri = variant_uri("unsigned-repomd");
        assert_true(asprintf(&metalink, "file://%s", path) > 0);
        ProfileRepository pr = {.mark = {.file = "m.yaml", .line = 2},
                                .uri = uri, /* the fallback: not used when a mirror matches */
                                .suite = "fixture",
                                .metalink = metalink,
                                .signed_by = key};
        RepoSources src = {};
        Diagnostics diag = {};
        assert_int_equal(rpm_repos_load(&pr, 1, NULL, &src, &diag), 0);
        int r = rpm_repo_fetch(&src.items[0], "amd64", fresh, ret);
        repo_sources_done(&src);
        return r;
}

static void test_metalink(void **state) {
        (void)state;
        char good[256], other[256], repomd[300], cmd[400], hash[65] = "";
        snprintf(good, sizeof(good), "%s/repo", fixture);
        snprintf(other, sizeof(other), "%s/variants/xz", fixture);
        snprintf(repomd, sizeof(repomd), "%s/repodata/repomd.xml", good);
        snprintf(cmd, sizeof(cmd), "sha256sum %s", repomd);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%64s", hash), 1);
        pclose(p);

        RepoIndexes x = {};
        capture_begin();
        int r = fetch_metalink(other, good, hash, &x);
        char *log = capture_end();
        assert_int_equal(r, 0);
        assert_non_null(strstr(log, "is not the repomd.xml the metalink lists"));
        _cleanup_free_ char *good_uri = variant_uri(NULL);
        assert_string_equal(x.items[0].uri, good_uri);
        check_bootable_plan(&x);
        repo_indexes_done(&x);

        capture_begin();
        r = fetch_metalink(other, other, hash, &x);
        log = capture_end();
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(log, "m.yaml:2: repository fixture: no mirror of the metalink"));
        assert_int_equal(x.n, 0);
}

/* Each bad repository is refused, naming the repository and the file. An empty cache each
 * time: the content-addressed cache would serve the good repository's primary.xml, whose
 * digest the tampered repository's repomd.xml still gives. */
static void refused(const char *variant, bool allow_unsigned, int expect, const char *message) {
        _cleanup_free_ char *uri = variant_uri(variant);
        char fresh[128], cmd[160];
        RepoIndexes x = {};
        snprintf(fresh, sizeof(fresh), "%s/fresh", cache);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", fresh);
        assert_int_equal(system(cmd), 0);
        capture_begin();
        int r = fetch_in(fresh, uri, key, allow_unsigned, &x);
        char *log = capture_end();
        assert_int_equal(r, expect);
        assert_int_equal(x.n, r == 0 ? 1 : 0);
        repo_indexes_done(&x);
        if (!strstr(log, message))
                fail_msg("%s: expected '%s' in: %s", variant, message, log);
}

static void test_refusals(void **state) {
        (void)state;
        char tampered[256];
        snprintf(tampered, sizeof(tampered), "%s/variants/tampered-primary/repodata/", fixture);
        refused("tampered-primary", false, -EBADMSG, "repository fixture: file://");
        refused("tampered-primary", false, -EBADMSG, tampered);
        refused("unsigned-repomd", false, -EBADMSG, "test.yaml:7: repository fixture: file://");
        refused("unsigned-repomd", false, -EBADMSG,
                "/variants/unsigned-repomd/repodata/repomd.xml is not signed (no repomd.xml.asc)");
        refused("wrong-key-repomd", false, -EBADMSG,
                "/variants/wrong-key-repomd/repodata/repomd.xml: signed by an unknown key");
        /* allow-unsigned takes the unsigned one, with a warning; a tampered file stays refused. */
        refused("unsigned-repomd", true, 0, "allow-unsigned: NOT verifying");
        refused("tampered-primary", true, -EBADMSG, "primary.xml.gz");

        /* A repository without a key is a profile error. */
        ProfileRepository pr = {
                .mark = {.file = "p.yaml", .line = 3}, .uri = "file:///x", .suite = "s"};
        RepoSources src = {};
        Diagnostics diag = {};
        assert_int_equal(rpm_repos_load(&pr, 1, NULL, &src, &diag), -EBADMSG);
        diag_done(&diag);
        pr.system = true;
        assert_int_equal(rpm_repos_load(&pr, 1, NULL, &src, &diag), -EBADMSG);
        diag_done(&diag);
        assert_int_equal(src.n, 0);
}

static void test_solver_errors(void **state) {
        (void)state;
        _cleanup_free_ char *uri = variant_uri(NULL);
        RepoIndexes x = {};
        Plan plan = {};
        Buffer problems = {};
        assert_int_equal(fetch(uri, key, false, &x), 0);

        char *broken[] = {"filesystem", "fixture-broken", NULL};
        assert_int_equal(solve(&x, broken, NULL, 0, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data, "nothing provides fixture-does-not-exist needed "
                                              "by fixture-broken-1.0-1.fx.noarch"));
        buffer_done(&problems);

        const ResolveForbid forbid[] = {{.pattern = "less", .origin = "policy headless (h:1:3)"}};
        char *pager[] = {"fixture-pager-user", NULL};
        assert_int_equal(solve(&x, pager, forbid, 1, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data,
                               "forbidden package needed: less-608-1.fx.noarch <- "
                               "fixture-pager-helper-1.0-1.fx.noarch (Requires: less) <- "
                               "fixture-pager-user-1.0-1.fx.noarch (Requires: "
                               "fixture-pager-helper) <- requested by the profile\n"
                               "  forbidden by policy headless (h:1:3)\n"));
        buffer_done(&problems);

        char *both[] = {"fixture-conflict-a", "fixture-conflict-b", NULL};
        assert_int_equal(solve(&x, both, NULL, 0, &plan, &problems), -ENOPKG);
        assert_non_null(strstr(problems.data, "conflicts with"));
        buffer_done(&problems);
        repo_indexes_done(&x);
}

/* dnf's @core: the group's mandatory and default packages, not its optional ones; a member
 * the policy forbids left out, one no repository has skipped. */
static void test_groups(void **state) {
        (void)state;
        _cleanup_free_ char *uri = variant_uri(NULL);
        RepoIndexes x = {};
        Plan plan = {};
        Buffer problems = {};
        char *core[] = {"core", NULL}, *none[] = {NULL}, *nosuch[] = {"nosuch", NULL};
        assert_int_equal(fetch(uri, key, false, &x), 0);
        assert_non_null(x.items[0].comps_path);

        groups_asked = core;
        capture_begin();
        int r = solve(&x, none, NULL, 0, &plan, &problems);
        char *log = capture_end();
        if (r < 0)
                print_message("%s", problems.data);
        assert_int_equal(r, 0);
        assert_non_null(strstr(log, "group core lists fixture-not-built, which no repository "
                                    "has; skipping it"));
        assert_int_equal(plan.n_packages, 4);
        assert_string_equal(plan_find(&plan, "busybox")->reason, "group core");
        assert_string_equal(plan_find(&plan, "fixture-init")->reason, "group core");
        assert_non_null(plan_find(&plan, "less"));
        assert_non_null(plan_find(&plan, "filesystem"));
        plan_done(&plan);

        const ResolveForbid forbid[] = {{.pattern = "less", .origin = "policy headless (h:1:3)"}};
        assert_int_equal(solve(&x, none, forbid, 1, &plan, &problems), 0);
        assert_int_equal(plan.n_packages, 3);
        assert_null(plan_find(&plan, "less"));
        plan_done(&plan);

        groups_asked = nosuch;
        assert_int_equal(solve(&x, none, NULL, 0, &plan, &problems), -ENOPKG);
        assert_string_equal(problems.data, "group nosuch is not in any repository's comps data\n");
        buffer_done(&problems);
        groups_asked = NULL;
        repo_indexes_done(&x);
}

static int setup(void **state) {
        (void)state;
        snprintf(cache, sizeof(cache), "/tmp/vmc-rpmrepo-XXXXXX");
        if (!mkdtemp(cache))
                return -1;
        snprintf(stderr_path, sizeof(stderr_path), "%s/stderr", cache);
        return asprintf(&key, "%s/RPM-GPG-KEY-fixture", fixture) > 0 ? 0 : -1;
}

static int teardown(void **state) {
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", cache);
        free(key);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        fixture = getenv("VMCOMPOSE_RPM_FIXTURE");
        if (!fixture || access(fixture, R_OK) < 0) {
                printf("SKIP: VMCOMPOSE_RPM_FIXTURE (tests/rpm/make-fixture.sh --variants) is "
                       "not set\n");
                return 77;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signed_repository),
                cmocka_unit_test(test_compressions),
                cmocka_unit_test(test_http),
                cmocka_unit_test(test_metalink),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_solver_errors),
                cmocka_unit_test(test_groups),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
