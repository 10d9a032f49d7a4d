/* SPDX-License-Identifier: MIT */
/* The data `vmcompose diff` compares: file lists, the packages dpkg says are installed, and
 * which package owns which path (dpkg's NAME.list files). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diff-internal.h"

int diff_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                oom_fatal();
        va_end(ap);
        return r;
}

DiffFile *diff_tree_add(DiffTree *t, const char *path) {
        if (t->n_files == t->n_allocated) {
                t->n_allocated = MAX(t->n_allocated * 2, (size_t)256);
                t->files = xrealloc(t->files, t->n_allocated * sizeof(DiffFile));
        }
        DiffFile *f = &t->files[t->n_files++];
        *f = (DiffFile){.path = xstrdup(path)};
        return f;
}

static int file_cmp(const void *a, const void *b) {
        return strcmp(((const DiffFile *)a)->path, ((const DiffFile *)b)->path);
}

void diff_tree_sort(DiffTree *t) {
        if (t->n_files > 0)
                qsort(t->files, t->n_files, sizeof(DiffFile), file_cmp);
}

const DiffFile *diff_tree_find(const DiffTree *t, const char *path) {
        DiffFile key = {.path = (char *)path};
        if (!t || t->n_files == 0)
                return NULL;
        return bsearch(&key, t->files, t->n_files, sizeof(DiffFile), file_cmp);
}

void diff_tree_done(DiffTree *t) {
        for (size_t i = 0; i < t->n_files; i++) {
                free(t->files[i].path);
                free(t->files[i].link);
                free(t->files[i].xattrs);
                free(t->files[i].data);
        }
        free(t->files);
        *t = (DiffTree){};
}

bool diff_keep_content(const char *path) {
        static const char info[] = "/var/lib/dpkg/info/";
        size_t n = strlen(path);

        if (streq(path, "/var/lib/dpkg/status"))
                return true;
        return strneq(path, info, sizeof(info) - 1) && !strchr(path + sizeof(info) - 1, '/') &&
               n > sizeof(info) - 1 + 5 && streq(path + n - 5, ".list");
}

static int package_cmp(const void *a, const void *b) {
        const DiffPackage *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        if (c != 0)
                return c;
        return strcmp(x->architecture ? x->architecture : "",
                      y->architecture ? y->architecture : "");
}

void diff_packages_sort(DiffPackages *p) {
        if (p->n_packages > 0)
                qsort(p->packages, p->n_packages, sizeof(DiffPackage), package_cmp);
}

/* The value of field in one stanza (lines [s, e)), or NULL. Continuation lines are not
 * needed for the fields read here. */
static char *stanza_field(const char *s, const char *e, const char *field) {
        size_t n = strlen(field);
        for (const char *l = s; l < e;) {
                const char *nl = memchr(l, '\n', (size_t)(e - l));
                const char *end = nl ? nl : e;
                if ((size_t)(end - l) > n && strncasecmp(l, field, n) == 0 && l[n] == ':') {
                        const char *v = l + n + 1;
                        while (v < end && (*v == ' ' || *v == '\t'))
                                v++;
                        const char *ve = end;
                        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                                ve--;
                        return xstrndup(v, (size_t)(ve - v));
                }
                l = nl ? nl + 1 : e;
        }
        return NULL;
}

static bool status_installed(const char *status) {
        /* "want flag status": installed, or half-configured and the like, which still have
         * their files on disk. */
        const char *st = status ? strrchr(status, ' ') : NULL;
        if (!st)
                return false;
        st++;
        return streq(st, "installed") || streq(st, "half-configured") || streq(st, "unpacked") ||
               streq(st, "triggers-awaited") || streq(st, "triggers-pending");
}

int diff_packages_parse_dpkg_status(const char *text, size_t size, DiffPackages *ret,
                                    char **ret_error) {
        DiffPackages p = {.source = "dpkg status"};
        const char *s = text, *end = text + size;
        size_t allocated = 0;

        if (memchr(text, 0, size))
                return *ret_error = xstrdup("dpkg status: a NUL byte in the text"), -EBADMSG;
        while (s < end) {
                /* A stanza ends at an empty line. */
                const char *e = s;
                while (e < end) {
                        const char *nl = memchr(e, '\n', (size_t)(end - e));
                        if (!nl) {
                                e = end;
                                break;
                        }
                        if (nl == e) /* an empty line */
                                break;
                        e = nl + 1;
                }
                char *name = stanza_field(s, e, "Package");
                char *status = stanza_field(s, e, "Status");
                if (name && status_installed(status)) {
                        if (p.n_packages == allocated) {
                                allocated = MAX(allocated * 2, (size_t)64);
                                p.packages = xrealloc(p.packages, allocated * sizeof(DiffPackage));
                        }
                        p.packages[p.n_packages++] = (DiffPackage){
                                .name = name,
                                .version = stanza_field(s, e, "Version"),
                                .architecture = stanza_field(s, e, "Architecture"),
                        };
                        name = NULL;
                } else if (!name && e > s) {
                        free(status);
                        diff_packages_done(&p);
                        *ret_error = xasprintf("dpkg status: a stanza without Package: at byte %zu",
                                               (size_t)(s - text));
                        return -EBADMSG;
                }
                free(name);
                free(status);
                s = e < end ? e + 1 : end;
        }
        diff_packages_sort(&p);
        *ret = p;
        return 0;
}

void diff_packages_done(DiffPackages *p) {
        for (size_t i = 0; i < p->n_packages; i++) {
                free(p->packages[i].name);
                free(p->packages[i].version);
                free(p->packages[i].architecture);
        }
        free(p->packages);
        *p = (DiffPackages){};
}

void diff_owners_add_list(DiffOwners *o, const char *package, const char *text, size_t size) {
        const char *s = text, *end = text + size;
        strv_extend(&o->names, package);
        const char *name = o->names[strv_length(o->names) - 1];
        while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                const char *e = nl ? nl : end;
                if (e > s && *s == '/' && !(e - s == 2 && s[1] == '.')) {
                        if (o->n_owners == o->n_allocated) {
                                o->n_allocated = MAX(o->n_allocated * 2, (size_t)1024);
                                o->owners = xrealloc(o->owners, o->n_allocated * sizeof(DiffOwner));
                        }
                        o->owners[o->n_owners++] = (DiffOwner){
                                .path = xstrndup(s, (size_t)(e - s)),
                                .package = name,
                        };
                }
                s = nl ? nl + 1 : end;
        }
}

void diff_owners_add_alias(DiffOwners *o, const char *from, const char *to) {
        size_t n = o->n_owners, len = strlen(from);

        for (size_t i = 0; i < n; i++) {
                const char *p = o->owners[i].path;
                if (!strneq(p, from, len) || p[len] != '/')
                        continue;
                if (o->n_owners == o->n_allocated) {
                        o->n_allocated = MAX(o->n_allocated * 2, (size_t)1024);
                        o->owners = xrealloc(o->owners, o->n_allocated * sizeof(DiffOwner));
                }
                o->owners[o->n_owners++] = (DiffOwner){
                        .path = xasprintf("%s%s", to, o->owners[i].path + len),
                        .package = o->owners[i].package,
                };
        }
}

static int owner_cmp(const void *a, const void *b) {
        const DiffOwner *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        return c != 0 ? c : strcmp(x->package, y->package);
}

void diff_owners_sort(DiffOwners *o) {
        if (o->n_owners > 0)
                qsort(o->owners, o->n_owners, sizeof(DiffOwner), owner_cmp);
}

const char *diff_owners_find(const DiffOwners *o, const char *path) {
        size_t lo = 0, hi = o ? o->n_owners : 0;

        /* Directories belong to many packages: the first in name order answers. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(o->owners[mid].path, path) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < (o ? o->n_owners : 0) && streq(o->owners[lo].path, path))
                return o->owners[lo].package;
        return NULL;
}

void diff_owners_done(DiffOwners *o) {
        for (size_t i = 0; i < o->n_owners; i++)
                free(o->owners[i].path);
        free(o->owners);
        strv_free(o->names);
        *o = (DiffOwners){};
}
