/* SPDX-License-Identifier: MIT */
/* The plan cache: a resolution kept under CACHE/plans/KEY, KEY the SHA-256 of everything the
 * solver reads (the resolver's code, libsolv's version, the family, the request, and each
 * repository's name, URI and index files, which the cache names by their content's digest), so
 * that a build whose indexes and request did not change reads the plan instead of parsing the
 * indexes (~100 MB for Debian main) and solving again. A changed index is a new file, so a new
 * key; a plan that does not read back whole is a miss. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <solv/solvversion.h>

#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/resolve.h"

/* Bump when the text below or what a backend makes from the same inputs changes. */
#define PLAN_CACHE_FORMAT "vmcompose-plan 1"

static void key_str(Sha256 *h, const char *label, const char *s) {
        sha256_update_field(h, label, s);
}

static void key_strv(Sha256 *h, const char *label, char **l) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", strv_length(l));
        key_str(h, label, n);
        for (char **s = l; s && *s; s++)
                key_str(h, label, *s);
}

static void key_uint(Sha256 *h, const char *label, uint64_t v) {
        char n[32];
        snprintf(n, sizeof(n), "%" PRIu64, v);
        key_str(h, label, n);
}

/* An index file: its path (in the cache, named by its content's digest), size and mtime. */
static int key_file(Sha256 *h, const char *label, const char *path) {
        struct stat st;
        key_str(h, label, path);
        if (!path)
                return 0;
        if (stat(path, &st) < 0)
                return -errno;
        key_uint(h, "size", (uint64_t)st.st_size);
        key_uint(h, "mtime", (uint64_t)st.st_mtim.tv_sec);
        key_uint(h, "mtime-ns", (uint64_t)st.st_mtim.tv_nsec);
        return 0;
}

int resolve_plan_key(const char *family, const ResolveRepo *repos, size_t n_repos,
                     const ResolveRequest *req, const char *code_digest, char ret[65]) {
        Sha256 *h = sha256_new();
        uint8_t d[SHA256_DIGEST_SIZE];
        int r = 0;

        key_str(h, "format", PLAN_CACHE_FORMAT);
        key_str(h, "code", code_digest);
        key_str(h, "libsolv", LIBSOLV_VERSION_STRING);
        key_str(h, "family", family);
        key_str(h, "architecture", req->architecture);
        key_str(h, "base", req->base);
        key_strv(h, "install", req->install);
        key_strv(h, "groups", req->groups);
        key_strv(h, "remove", req->remove);
        key_uint(h, "forbid", req->n_forbid);
        for (size_t i = 0; i < req->n_forbid; i++) {
                key_str(h, "pattern", req->forbid[i].pattern);
                key_str(h, "section", req->forbid[i].section ? "yes" : "no");
                key_str(h, "origin", req->forbid[i].origin); /* named in messages */
        }
        key_strv(h, "allow", req->allow);
        key_str(h, "recommends", req->recommends ? "yes" : "no");
        key_uint(h, "repos", n_repos);
        for (size_t i = 0; i < n_repos && r == 0; i++) {
                key_str(h, "name", repos[i].name);
                key_str(h, "uri", repos[i].uri);
                key_uint(h, "priority", repos[i].priority);
                key_uint(h, "cost", repos[i].cost);
                r = key_file(h, "packages", repos[i].packages_path);
                if (r == 0)
                        r = key_file(h, "filelists", repos[i].filelists_path);
                if (r == 0)
                        r = key_file(h, "comps", repos[i].comps_path);
        }
        sha256_finish(h, d);
        if (r < 0)
                return r;
        sha256_hex(d, ret);
        return 0;
}

/* "key value\n", the value with backslash, newline and a NULL ("\0") escaped. */
static void put(Buffer *b, const char *key, const char *value) {
        buffer_printf(b, "%s ", key);
        if (!value)
                buffer_puts(b, "\\0");
        for (const char *c = value; c && *c; c++)
                if (*c == '\\')
                        buffer_puts(b, "\\\\");
                else if (*c == '\n')
                        buffer_puts(b, "\\n");
                else
                        buffer_putc(b, *c);
        buffer_putc(b, '\n');
}

static void put_uint(Buffer *b, const char *key, uint64_t v) {
        char n[32];
        snprintf(n, sizeof(n), "%" PRIu64, v);
        put(b, key, n);
}

char *plan_serialize(const Plan *p) {
        Buffer b = {};
        buffer_printf(&b, "%s\n", PLAN_CACHE_FORMAT);
        for (size_t i = 0; i < p->n_packages; i++) {
                const PlanPackage *x = &p->packages[i];
                put(&b, "package", x->name);
                put(&b, "version", x->version);
                put(&b, "architecture", x->architecture);
                put(&b, "repo", x->repo);
                put(&b, "uri", x->uri);
                put(&b, "filename", x->filename);
                put(&b, "sha256", x->sha256);
                put_uint(&b, "size", x->size);
                put_uint(&b, "installed-size", x->installed_size);
                put(&b, "source", x->source);
                put(&b, "section", x->section);
                put(&b, "priority", x->priority);
                put(&b, "essential", x->essential ? "yes" : "no");
                put(&b, "reason", x->reason);
                for (char **d = x->depends; d && *d; d++)
                        put(&b, "depends", *d);
                for (char **d = x->pre_depends; d && *d; d++)
                        put(&b, "pre-depends", *d);
        }
        put_uint(&b, "packages", p->n_packages); /* the end, and a check of the count */
        return buffer_steal(&b);
}

/* Unescapes put()'s value in place; *ret NULL for "\0". -EBADMSG for a bad escape. */
static int unescape(char *v, char **ret) {
        if (streq(v, "\\0")) {
                *ret = NULL;
                return 0;
        }
        char *o = v;
        for (const char *c = v; *c; c++) {
                if (*c != '\\') {
                        *o++ = *c;
                        continue;
                }
                c++;
                if (*c == '\\')
                        *o++ = '\\';
                else if (*c == 'n')
                        *o++ = '\n';
                else
                        return -EBADMSG;
        }
        *o = 0;
        *ret = xstrdup(v);
        return 0;
}

static int parse_uint(const char *v, uint64_t *ret) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = v ? strtoull(v, &end, 10) : 0;
        if (!v || errno != 0 || end == v || *end)
                return -EBADMSG;
        *ret = n;
        return 0;
}

/* One "key value" line into the package x (the last one begun). */
static int parse_field(PlanPackage *x, const char *key, char *value) {
        const struct {
                const char *key;
                char **field;
        } strings[] = {
                {"version", &x->version},   {"architecture", &x->architecture},
                {"repo", &x->repo},         {"uri", &x->uri},
                {"filename", &x->filename}, {"sha256", &x->sha256},
                {"source", &x->source},     {"section", &x->section},
                {"priority", &x->priority}, {"reason", &x->reason},
        };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (streq(key, strings[i].key)) {
                        free(*strings[i].field);
                        return unescape(value, strings[i].field);
                }
        if (streq(key, "size"))
                return parse_uint(value, &x->size);
        if (streq(key, "installed-size"))
                return parse_uint(value, &x->installed_size);
        if (streq(key, "essential")) {
                x->essential = streq(value, "yes");
                return x->essential || streq(value, "no") ? 0 : -EBADMSG;
        }
        if (streq(key, "depends") || streq(key, "pre-depends")) {
                char *s = NULL;
                int r = unescape(value, &s);
                if (r < 0 || !s)
                        return r < 0 ? r : -EBADMSG;
                strv_push(streq(key, "depends") ? &x->depends : &x->pre_depends, s);
                return 0;
        }
        return -EBADMSG;
}

int plan_deserialize(char *text, Plan *ret) {
        Plan p = {};
        uint64_t count = UINT64_MAX;
        int r = 0;
        char *save = NULL;
        char *line = strtok_r(text, "\n", &save);

        if (!line || !streq(line, PLAN_CACHE_FORMAT))
                return -EBADMSG;
        for (line = strtok_r(NULL, "\n", &save); line && r == 0;
             line = strtok_r(NULL, "\n", &save)) {
                char *value = strchr(line, ' ');
                if (!value || count != UINT64_MAX) {
                        r = -EBADMSG; /* a line after the count */
                        break;
                }
                *value++ = 0;
                if (streq(line, "packages"))
                        r = parse_uint(value, &count);
                else if (streq(line, "package")) {
                        p.packages = xrealloc(p.packages, (p.n_packages + 1) * sizeof(PlanPackage));
                        p.packages[p.n_packages] = (PlanPackage){};
                        r = unescape(value, &p.packages[p.n_packages++].name);
                        if (r == 0 && !p.packages[p.n_packages - 1].name)
                                r = -EBADMSG;
                } else
                        r = p.n_packages > 0
                                    ? parse_field(&p.packages[p.n_packages - 1], line, value)
                                    : -EBADMSG;
        }
        if (r == 0 && count != p.n_packages)
                r = -EBADMSG; /* cut short, or no count */
        if (r < 0) {
                plan_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int resolve_plan_cached(const char *cache_dir, const char *code_digest, const char *family,
                        const ResolveRepo *repos, size_t n_repos, const ResolveRequest *req,
                        Plan *ret, Buffer *problems, char ret_key[65]) {
        char key[65] = "";
        int r = cache_dir && code_digest
                        ? resolve_plan_key(family, repos, n_repos, req, code_digest, key)
                        : -ENOENT;
        if (r < 0) {
                ret_key[0] = 0;
                return resolve_plan(family, repos, n_repos, req, ret, problems);
        }
        memcpy(ret_key, key, sizeof(key));
        _cleanup_free_ char *dir = path_join(cache_dir, "plans");
        _cleanup_free_ char *path = path_join(dir, key);
        _cleanup_free_ char *text = NULL;
        if (read_full_file(path, 64 << 20, &text, NULL) == 0) {
                r = plan_deserialize(text, ret);
                if (r == 0) {
                        (void)utimensat(AT_FDCWD, path, NULL, 0); /* recently used */
                        return 1;
                }
                log_debug_sub("resolve", "plan cache: %s does not read back, solving", path);
        }
        r = resolve_plan(family, repos, n_repos, req, ret, problems);
        if (r < 0)
                return r;
        _cleanup_free_ char *out = plan_serialize(ret);
        if (mkdir_p(dir) >= 0)
                (void)write_file_atomic(path, out, strlen(out), 0644);
        return 0;
}
