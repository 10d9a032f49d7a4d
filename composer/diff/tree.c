/* SPDX-License-Identifier: MIT */
/* The data `vmcompose diff` compares: file lists, the packages the package database says are
 * installed, and which package owns which path (its file lists: dpkg's NAME.list files). */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The file list of ops's database at path, or 0: the length of its package name. */
static size_t list_package(const DistroOps *ops, const char *path) {
        size_t l = strlen(ops->db_lists_dir);
        if (!strneq(path, ops->db_lists_dir, l) || path[l] != '/')
                return 0;
        return ops->list_package(path + l + 1);
}

const DistroOps *diff_tree_database(const DiffTree *t) {
        size_t n_ops;
        const DistroOps *const *all = distro_list(&n_ops);
        for (size_t k = 0; k < n_ops; k++) {
                const DiffFile *st = diff_tree_find(t, all[k]->db_status_path);
                if (st && st->data)
                        return all[k];
        }
        return NULL;
}

void diff_owners_from_tree(const DistroOps *ops, const DiffTree *t, DiffOwners *o) {
        for (size_t j = 0; j < t->n_files; j++) {
                const DiffFile *f = &t->files[j];
                size_t len = f->data ? list_package(ops, f->path) : 0;
                if (len == 0)
                        continue;
                _cleanup_free_ char *name = xstrndup(strrchr(f->path, '/') + 1, len);
                diff_owners_add_list(o, name, f->data, f->data_size);
        }
        /* Top-level symbolic links to directories (merged /usr: /bin -> usr/bin). */
        for (size_t j = 0; j < t->n_files; j++) {
                const DiffFile *f = &t->files[j];
                if (!S_ISLNK(f->mode) || !f->link || strchr(f->path + 1, '/') ||
                    strstr(f->link, ".."))
                        continue;
                _cleanup_free_ char *to =
                        f->link[0] == '/' ? xstrdup(f->link) : xasprintf("/%s", f->link);
                const DiffFile *dir = diff_tree_find(t, to);
                if (dir && S_ISDIR(dir->mode))
                        diff_owners_add_alias(o, f->path, to);
        }
        diff_owners_sort(o);
}

/* Adds dir_fd's entries below path ("" for the root) to t, depth first. */
static int read_dir(int dir_fd, const char *path, DiffTree *t, unsigned depth) {
        _cleanup_close_ int fd = -1;
        DIR *d = NULL;
        int r = 0;

        if (depth > 256)
                return -ELOOP;
        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || !(d = fdopendir(fd)))
                return -errno;
        fd = -1; /* the DIR owns it */
        struct dirent *e;
        while (r == 0 && (errno = 0, e = readdir(d))) {
                struct stat st;
                if (streq(e->d_name, ".") || streq(e->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                _cleanup_free_ char *p = xasprintf("%s/%s", path, e->d_name);
                DiffFile *f = diff_tree_add(t, p);
                f->mode = st.st_mode;
                f->uid = st.st_uid;
                f->gid = st.st_gid;
                f->size = (uint64_t)st.st_size;
                if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
                        if (n >= 0)
                                f->link = xstrndup(target, (size_t)n);
                } else if (S_ISREG(st.st_mode) && diff_keep_content(p)) {
                        _cleanup_close_ int ffd =
                                openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        r = ffd < 0 ? -errno : read_full_fd(ffd, 64 << 20, &f->data, &f->data_size);
                } else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub =
                                openat(dirfd(d), e->d_name,
                                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -errno : read_dir(sub, p, t, depth + 1);
                }
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

int diff_tree_read_dir(int dir_fd, DiffTree *ret) {
        DiffTree t = {};
        int r = read_dir(dir_fd, "", &t, 0);
        if (r < 0) {
                diff_tree_done(&t);
                return r;
        }
        diff_tree_sort(&t);
        *ret = t;
        return 0;
}

void diff_size_report(const DiffTree *t, const DiffOwners *o, SizeReport *ret) {
        SizeReport r = {};
        for (size_t i = 0; i < t->n_files; i++)
                if (S_ISREG(t->files[i].mode))
                        size_report_add(&r, diff_owners_find(o, t->files[i].path), t->files[i].path,
                                        t->files[i].size);
        size_report_finish(&r);
        *ret = r;
}
