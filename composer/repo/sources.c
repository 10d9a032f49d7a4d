/* SPDX-License-Identifier: MIT */
/* Where packages come from: the profile's list, or the host's apt sources. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmcompose/log.h"
#include "vmcompose/repo.h"

void repo_sources_done(RepoSources *s) {
        for (size_t i = 0; i < s->n; i++) {
                RepoSource *r = &s->items[i];
                free(r->uri);
                free(r->suite);
                strv_free(r->components);
                strv_free(r->keyrings);
                free(r->inline_key);
                free(r->origin);
        }
        free(s->items);
        *s = (RepoSources){};
}

static RepoSource *add(RepoSources *s, const char *uri, const char *suite, char **components,
                       char **keyrings, const AptSettings *apt, const char *origin) {
        s->items = xrealloc(s->items, (s->n + 1) * sizeof(RepoSource));
        RepoSource *r = &s->items[s->n++];
        size_t l = strlen(uri);
        while (l > 1 && uri[l - 1] == '/')
                l--;
        *r = (RepoSource){
                .uri = xstrndup(uri, l),
                .suite = xstrdup(suite),
                .check_valid_until = apt ? apt->check_valid_until : true,
                .check_date = apt ? apt->check_date : true,
                .origin = xstrdup(origin),
        };
        for (char **c = components; c && *c; c++)
                strv_extend(&r->components, *c);
        for (char **k = keyrings; k && *k; k++)
                strv_extend(&r->keyrings, *k);
        return r;
}

static char **split_words(const char *s) {
        char **l = NULL;
        for (const char *p = s; *p;) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n > 0)
                        strv_push(&l, xstrndup(p, n));
                p += n;
        }
        return l;
}

static bool is_false(const char *v) {
        return v && (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
                     strcasecmp(v, "without-network") == 0 || streq(v, "0"));
}

static bool is_true(const char *v) {
        return v && (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || streq(v, "1"));
}

typedef struct Deb822Ctx {
        const char *file;
        const AptSettings *apt;
        RepoSources *s;
} Deb822Ctx;

static int sources_stanza(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        Deb822Ctx *c = userdata;
        _cleanup_strv_free_ char **types = split_words(deb822_get(f, n, "Types") ?: "");
        _cleanup_strv_free_ char **uris = split_words(deb822_get(f, n, "URIs") ?: "");
        _cleanup_strv_free_ char **suites = split_words(deb822_get(f, n, "Suites") ?: "");
        _cleanup_strv_free_ char **comps = split_words(deb822_get(f, n, "Components") ?: "");
        _cleanup_strv_free_ char **keys = NULL;
        const char *signed_by = deb822_get(f, n, "Signed-By");
        _cleanup_free_ char *origin = xasprintf("%s:%u", c->file, line);

        if (is_false(deb822_get(f, n, "Enabled")) || !strv_contains(types, "deb"))
                return 0;
        /* Signed-By is either keyring files or the key itself, an armored block (deb822 keeps
         * its blank line as " ."). */
        bool inline_key = signed_by && strstr(signed_by, "-----BEGIN PGP PUBLIC KEY BLOCK-----");
        if (signed_by && !inline_key)
                keys = split_words(signed_by);
        for (char **u = uris; u && *u; u++)
                for (char **su = suites; su && *su; su++) {
                        RepoSource *r = add(c->s, *u, *su, comps, keys, c->apt, origin);
                        r->allow_unsigned = is_true(deb822_get(f, n, "Trusted"));
                        if (inline_key)
                                r->inline_key = xstrdup(signed_by + strspn(signed_by, "\n"));
                }
        return 0;
}

int repo_sources_parse_deb822(const char *text, const char *file, const AptSettings *apt,
                              RepoSources *s) {
        Deb822Ctx c = {.file = file, .apt = apt, .s = s};
        return deb822_parse(text, sources_stanza, &c);
}

int repo_sources_parse_list(const char *text, const char *file, const AptSettings *apt,
                            RepoSources *s) {
        unsigned line = 0;
        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n");
                _cleanup_free_ char *l = xstrndup(p, len);
                p += len + (p[len] == '\n');
                line++;
                char *hash = strchr(l, '#');
                if (hash)
                        *hash = 0;
                _cleanup_strv_free_ char **w = NULL;
                _cleanup_strv_free_ char **keys = NULL;
                bool trusted = false;
                /* deb [opt=value ...] URI SUITE COMPONENT... */
                char *open = strchr(l, '['), *close = open ? strchr(open, ']') : NULL;
                if (open && close) {
                        *close = 0;
                        _cleanup_strv_free_ char **opts = split_words(open + 1);
                        for (char **o = opts; o && *o; o++) {
                                if (strneq(*o, "signed-by=", 10)) {
                                        char *v = *o + 10;
                                        for (char *k = strtok(v, ","); k; k = strtok(NULL, ","))
                                                strv_extend(&keys, k);
                                } else if (strneq(*o, "trusted=", 8))
                                        trusted = is_true(*o + 8);
                        }
                        memmove(open, close + 1, strlen(close + 1) + 1);
                }
                w = split_words(l);
                if (strv_length(w) < 3 || !streq(w[0], "deb"))
                        continue;
                _cleanup_free_ char *origin = xasprintf("%s:%u", file, line);
                if (w[2][strlen(w[2]) - 1] == '/') {
                        log_warning("%s: flat repositories (%s %s) are not supported, ignoring",
                                    origin, w[1], w[2]);
                        continue;
                }
                RepoSource *r = add(s, w[1], w[2], w + 3, keys, apt, origin);
                r->allow_unsigned = trusted;
        }
        return 0;
}

void apt_settings_parse(const char *text, AptSettings *s) {
        /* Both "Acquire::Check-Valid-Until "false";" and "Acquire { Check-Valid-Until ...; };".
         * A small tokenizer: scopes from "{", names joined with "::". */
        char scope[8][128] = {};
        unsigned depth = 0;
        const char *p = text;

        while (*p) {
                if (p[0] == '/' && p[1] == '/') {
                        p += strcspn(p, "\n");
                        continue;
                }
                if (*p == '#') {
                        p += strcspn(p, "\n");
                        continue;
                }
                if (p[0] == '/' && p[1] == '*') {
                        const char *e = strstr(p + 2, "*/");
                        p = e ? e + 2 : p + strlen(p);
                        continue;
                }
                if (*p == '}') {
                        if (depth > 0)
                                depth--;
                        p++;
                        continue;
                }
                if (strchr(" \t\r\n;", *p)) {
                        p++;
                        continue;
                }
                size_t n = strcspn(p, " \t\r\n{;\"");
                _cleanup_free_ char *name = xstrndup(p, n);
                p += n;
                p += strspn(p, " \t\r\n");
                if (*p == '{') {
                        if (depth < ELEMENTSOF(scope))
                                snprintf(scope[depth], sizeof(scope[0]), "%s", name);
                        depth++;
                        p++;
                        continue;
                }
                _cleanup_free_ char *value = NULL;
                if (*p == '"') {
                        size_t m = strcspn(p + 1, "\"");
                        value = xstrndup(p + 1, m);
                        p += m + 1 + (p[m + 1] == '"');
                }
                Buffer full = {};
                for (unsigned i = 0; i < depth && i < ELEMENTSOF(scope); i++)
                        buffer_printf(&full, "%s::", scope[i]);
                buffer_puts(&full, name);
                if (value && strcasecmp(full.data, "Acquire::Check-Valid-Until") == 0)
                        s->check_valid_until = !is_false(value);
                else if (value && strcasecmp(full.data, "Acquire::Check-Date") == 0)
                        s->check_date = !is_false(value);
                buffer_done(&full);
        }
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files in dir ending in suffix, sorted (apt reads them in this order). */
static char **list_dir(const char *dir, const char *suffix) {
        char **l = NULL;
        DIR *d = opendir(dir);
        if (!d)
                return NULL;
        size_t ls = strlen(suffix);
        for (struct dirent *de; (de = readdir(d));) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] != '.' && n >= ls && streq(de->d_name + n - ls, suffix))
                        strv_push(&l, path_join(dir, de->d_name));
        }
        closedir(d);
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_str);
        return l;
}

int apt_settings_load(const char *apt_root, AptSettings *ret) {
        AptSettings s = {.check_valid_until = true, .check_date = true};
        _cleanup_free_ char *main_conf = path_join(apt_root, "apt.conf");
        _cleanup_free_ char *d = path_join(apt_root, "apt.conf.d");
        _cleanup_strv_free_ char **files = list_dir(d, "");

        strv_push(&files, xstrdup(main_conf)); /* apt.conf last: read after the directory */
        for (char **f = files; f && *f; f++) {
                _cleanup_free_ char *text = NULL;
                if (read_full_file(*f, 1 << 20, &text, NULL) == 0)
                        apt_settings_parse(text, &s);
        }
        *ret = s;
        return 0;
}

int repo_sources_from_apt(const char *apt_root, RepoSources *s) {
        AptSettings apt;
        _cleanup_free_ char *dir = path_join(apt_root, "sources.list.d");
        _cleanup_free_ char *list = path_join(apt_root, "sources.list");
        _cleanup_strv_free_ char **deb822 = list_dir(dir, ".sources");
        _cleanup_strv_free_ char **lists = list_dir(dir, ".list");
        size_t before = s->n;
        int r;

        apt_settings_load(apt_root, &apt);
        strv_push(&lists, xstrdup(list));
        for (char **f = deb822; f && *f; f++) {
                _cleanup_free_ char *text = NULL;
                if (read_full_file(*f, 1 << 20, &text, NULL) < 0)
                        continue;
                r = repo_sources_parse_deb822(text, *f, &apt, s);
                if (r < 0)
                        return log_error_errno(r, "%s: malformed deb822 sources file", *f);
        }
        for (char **f = lists; f && *f; f++) {
                _cleanup_free_ char *text = NULL;
                if (read_full_file(*f, 1 << 20, &text, NULL) == 0)
                        (void)repo_sources_parse_list(text, *f, &apt, s);
        }
        if (s->n == before)
                return log_error_errno(ENOENT, "no deb sources in %s", apt_root);
        return 0;
}

int repo_sources_from_profile(const ProfileRepository *repos, size_t n, const char *apt_root,
                              RepoSources *s, Diagnostics *diag) {
        for (size_t i = 0; i < n; i++) {
                const ProfileRepository *it = &repos[i];
                if (it->system) {
                        int r = repo_sources_from_apt(apt_root, s);
                        if (r < 0) {
                                diag_add(diag, &it->mark,
                                         "repositories: system: no usable apt sources in %s",
                                         apt_root);
                                return -EBADMSG;
                        }
                        continue;
                }
                _cleanup_strv_free_ char **c = NULL, **k = NULL;
                for (char **x = it->components; x && *x; x++)
                        strv_extend(&c, *x);
                if (!c)
                        strv_extend(&c, "main");
                if (it->signed_by)
                        strv_extend(&k, it->signed_by);
                _cleanup_free_ char *origin = xasprintf("%s:%u", it->mark.file, it->mark.line);
                RepoSource *r = add(s, it->uri, it->suite, c, k, NULL, origin);
                r->allow_unsigned = it->allow_unsigned;
        }
        return 0;
}
