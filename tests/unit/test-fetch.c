/* SPDX-License-Identifier: MIT */
/* Fetching into the content-addressed cache over file:// URIs: verification, cache hits,
 * resumed partial files, failures that leave nothing behind, two fetchers at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vmcompose/fetch.h"
#include "vmcompose/hash.h"
#include "vmcompose/signals.h"
#include "vmcompose/util.h"
#include <fcntl.h>
#include <stdlib.h>

static char dir[64], cache[128];

static int setup(void **state) {
        (void)state;
        strcpy(dir, "/tmp/vmcompose-fetch-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(cache, sizeof(cache), "%s/cache", dir);
        return 0;
}

static int teardown(void **state) {
        (void)state;
        return rm_rf(dir);
}

/* Writes a file of n pseudo-random bytes; returns its digest. */
static void make_file(const char *name, size_t n, unsigned seed, char hex[65]) {
        char *path = path_join(dir, name);
        uint8_t *data = xmalloc(n);
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245 + 12345;
                data[i] = (uint8_t)(seed >> 16);
        }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
        uint8_t d[32];
        sha256(data, n, d);
        sha256_hex(d, hex);
        free(data);
        free(path);
}

static char *uri(const char *name) {
        return xasprintf("file://%s/%s", dir, name);
}

static int count_files(const char *suffix) {
        char *cmd = xasprintf("find %s -type f -name '*%s' 2>/dev/null | wc -l", cache, suffix);
        FILE *p = popen(cmd, "r");
        int n = -1;
        assert_int_equal(fscanf(p, "%d", &n), 1);
        pclose(p);
        free(cmd);
        return n;
}

static void test_fetch_and_cache(void **state) {
        (void)state;
        char hex[20][65];
        char *uris[20], *names[20];
        FetchItem items[20];
        for (int i = 0; i < 20; i++) {
                names[i] = xasprintf("pkg%d.deb", i);
                make_file(names[i], 1000 + (size_t)i * 7919, (unsigned)i, hex[i]);
                uris[i] = uri(names[i]);
                items[i] = (FetchItem){.name = names[i],
                                       .uri = uris[i],
                                       .sha256 = hex[i],
                                       .size = 1000 + (uint64_t)i * 7919};
        }
        FetchOptions o = {.cache_dir = cache, .parallel = 4};
        FetchStats st;
        assert_int_equal(fetch_all(items, 20, &o, &st), 0);
        assert_int_equal(st.n_downloaded, 20);
        assert_int_equal(st.n_cached, 0);
        for (int i = 0; i < 20; i++) {
                char *expect = fetch_cache_path(cache, hex[i]);
                assert_string_equal(items[i].path, expect);
                int fd = open(items[i].path, O_RDONLY);
                uint8_t d[32];
                char got[65];
                assert_int_equal(sha256_file(fd, d), 0);
                close(fd);
                sha256_hex(d, got);
                assert_string_equal(got, hex[i]);
                free(expect);
                free(items[i].path);
                items[i].path = NULL;
        }
        /* A second run finds everything in the cache. */
        assert_int_equal(fetch_all(items, 20, &o, &st), 0);
        assert_int_equal(st.n_cached, 20);
        assert_int_equal(st.n_downloaded, 0);
        for (int i = 0; i < 20; i++) {
                assert_true(items[i].cached);
                free(items[i].path);
                free(uris[i]);
                free(names[i]);
        }
        assert_int_equal(count_files(".part"), 0);
}

static void test_bad_digest_size_missing(void **state) {
        (void)state;
        char hex[65], other[65];
        make_file("a.deb", 5000, 1, hex);
        make_file("b.deb", 5000, 2, other);
        char *u = uri("a.deb");
        FetchOptions o = {.cache_dir = cache};

        /* The digest of another file: refused, and nothing enters the cache. */
        FetchItem wrong = {.name = "a", .uri = u, .sha256 = other, .size = 5000};
        assert_int_equal(fetch_all(&wrong, 1, &o, NULL), -EBADMSG);
        assert_null(wrong.path);
        assert_int_equal(count_files(""), 0);

        FetchItem size = {.name = "a", .uri = u, .sha256 = hex, .size = 4999};
        assert_int_equal(fetch_all(&size, 1, &o, NULL), -EBADMSG);
        assert_int_equal(count_files(""), 0);

        char *m = uri("missing.deb");
        FetchItem missing = {.name = "m", .uri = m, .sha256 = hex};
        assert_int_equal(fetch_all(&missing, 1, &o, NULL), -ENOENT);
        assert_int_equal(count_files(""), 0);

        FetchItem unsigned_ = {.name = "u", .uri = u, .sha256 = ""};
        assert_int_equal(fetch_all(&unsigned_, 1, &o, NULL), -EBADMSG);
        free(u);
        free(m);
}

static void test_resume(void **state) {
        (void)state;
        char hex[65];
        make_file("big.deb", 300000, 7, hex);
        /* A partial file from an interrupted run: the first 100000 bytes. */
        char *final = fetch_cache_path(cache, hex);
        char *part = xasprintf("%s.part", final);
        char *cmd = xasprintf("mkdir -p $(dirname %s) && head -c 100000 %s/big.deb > %s", part, dir,
                              part);
        assert_int_equal(system(cmd), 0);
        char *u = uri("big.deb");
        FetchItem it = {.name = "big", .uri = u, .sha256 = hex, .size = 300000};
        FetchOptions o = {.cache_dir = cache};
        FetchStats st;
        assert_int_equal(fetch_all(&it, 1, &o, &st), 0);
        /* Only the rest was transferred. */
        assert_int_equal(st.bytes_downloaded, 200000);
        struct stat s;
        assert_int_equal(stat(final, &s), 0);
        assert_int_equal(s.st_size, 300000);
        assert_int_not_equal(access(part, F_OK), 0);
        free(it.path);
        free(cmd);

        /* A corrupt partial file is caught by the digest, and removed. */
        unlink(final);
        cmd = xasprintf("head -c 1000 /dev/zero > %s", part);
        assert_int_equal(system(cmd), 0);
        it.path = NULL;
        assert_int_equal(fetch_all(&it, 1, &o, NULL), -EBADMSG);
        assert_int_not_equal(access(part, F_OK), 0);
        assert_int_not_equal(access(final, F_OK), 0);
        free(cmd);
        free(u);
        free(part);
        free(final);
}

static void test_two_fetchers(void **state) {
        (void)state;
        char hex[65];
        make_file("shared.deb", 2000000, 9, hex);
        char *u = uri("shared.deb");
        pid_t pids[2];
        for (int k = 0; k < 2; k++) {
                pids[k] = fork();
                if (pids[k] == 0) {
                        FetchItem it = {.name = "s", .uri = u, .sha256 = hex, .size = 2000000};
                        FetchOptions o = {.cache_dir = cache};
                        _exit(fetch_all(&it, 1, &o, NULL) == 0 && it.path ? 0 : 1);
                }
        }
        for (int k = 0; k < 2; k++) {
                int status;
                assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }
        assert_int_equal(count_files(".part"), 0);
        free(u);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fetch_and_cache, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_digest_size_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_fetchers, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
