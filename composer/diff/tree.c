/* SPDX-License-Identifier: MIT */
/* The data `vmcompose diff` compares: file lists, the packages the package database says are
 * installed, and which package owns which path (its file lists: dpkg's NAME.list files). */
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
        return distro_is_database_file(path);
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

int diff_packages_parse(const DistroOps *ops, const char *text, size_t size, DiffPackages *ret,
                        char **ret_error) {
        AuditImage img = {};
        int r = ops->parse_installed(text, size, &img, ret_error);
        if (r < 0) {
                audit_image_done(&img);
                return r;
        }
        DiffPackages p = {.source = ops->db_name};
        p.packages = xcalloc(img.n_packages + 1, sizeof(DiffPackage));
        for (size_t i = 0; i < img.n_packages; i++) {
                AuditPackage *a = &img.packages[i];
                p.packages[p.n_packages++] = (DiffPackage){
                        .name = TAKE_PTR(a->name),
                        .version = TAKE_PTR(a->version),
                        .architecture = TAKE_PTR(a->architecture),
                };
        }
        audit_image_done(&img);
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
