/* SPDX-License-Identifier: MIT */
/* The report of `vmcompose diff`: text for a person (packages, partitions, files grouped by
 * package, a summary line) and the same as one JSON object. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "vmcompose/diff.h"
#include "vmcompose/json.h"

char *diff_format_bytes(uint64_t bytes, char buf[static 32]) {
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = (double)bytes;
        size_t u = 0;

        if (bytes < 1024) {
                snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
                return buf;
        }
        v /= 1024;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

static const char *file_type(uint32_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG:
                return "file";
        case S_IFDIR:
                return "directory";
        case S_IFLNK:
                return "symlink";
        case S_IFCHR:
                return "char device";
        case S_IFBLK:
                return "block device";
        case S_IFIFO:
                return "fifo";
        case S_IFSOCK:
                return "socket";
        default:
                return "unknown";
        }
}

static char *format_time(int64_t sec, uint32_t nsec) {
        struct tm tm;
        time_t t = (time_t)sec;
        char buf[64];

        if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
                return xasprintf("@%lld", (long long)sec);
        return nsec ? xasprintf("%s.%09uZ", buf, nsec) : xasprintf("%sZ", buf);
}

static char *hex(const uint8_t d[SHA256_DIGEST_SIZE]) {
        char h[2 * SHA256_DIGEST_SIZE + 1];
        sha256_hex(d, h);
        return xstrdup(h);
}

/* The names of the extended attributes that differ: "+name" (only in b), "-name" (only in a),
 * "~name" (value changed), space separated. */
static char *xattr_names(const char *a, const char *b) {
        Buffer out = {};
        const char *lists[2] = {a ? a : "", b ? b : ""};

        for (int side = 0; side < 2; side++)
                for (const char *l = lists[side]; *l;) {
                        const char *nl = strchr(l, '\n');
                        if (!nl)
                                break;
                        const char *eq = memchr(l, '=', (size_t)(nl - l));
                        size_t n = eq ? (size_t)(eq - l) : (size_t)(nl - l);
                        const char *other = lists[!side];
                        const char *found = NULL;
                        for (const char *m = other; *m;) {
                                const char *mnl = strchr(m, '\n');
                                if (!mnl)
                                        break;
                                if (strneq(m, l, n) && m[n] == '=') {
                                        found = m;
                                        break;
                                }
                                m = mnl + 1;
                        }
                        if (!found)
                                buffer_printf(&out, "%s%c%.*s", out.len ? " " : "",
                                              side ? '+' : '-', (int)n, l);
                        else if (side == 0 && (strchr(found, '\n') - found != nl - l ||
                                               !strneq(found, l, (size_t)(nl - l))))
                                buffer_printf(&out, "%s~%.*s", out.len ? " " : "", (int)n, l);
                        l = nl + 1;
                }
        return buffer_steal(&out);
}

/* One aspect of a changed file: its name and both values as text (caller frees). */
static const char *describe(const DiffFileChange *c, unsigned bit, char **ret_a, char **ret_b) {
        const DiffFile *a = c->a, *b = c->b;
        switch (bit) {
        case DIFF_TYPE:
                *ret_a = xstrdup(file_type(a->mode));
                *ret_b = xstrdup(file_type(b->mode));
                return "type";
        case DIFF_CONTENT:
                *ret_a = hex(a->sha256);
                *ret_b = hex(b->sha256);
                return "content";
        case DIFF_SIZE:
                *ret_a = xasprintf("%llu", (unsigned long long)a->size);
                *ret_b = xasprintf("%llu", (unsigned long long)b->size);
                return "size";
        case DIFF_MODE:
                *ret_a = xasprintf("%04o", a->mode & 07777);
                *ret_b = xasprintf("%04o", b->mode & 07777);
                return "mode";
        case DIFF_OWNER:
                *ret_a = xasprintf("%u:%u", a->uid, a->gid);
                *ret_b = xasprintf("%u:%u", b->uid, b->gid);
                return "owner";
        case DIFF_XATTRS:
                *ret_a = xstrdup(a->xattrs ? a->xattrs : "");
                *ret_b = xstrdup(b->xattrs ? b->xattrs : "");
                return "xattrs";
        case DIFF_MTIME:
                *ret_a = format_time(a->mtime, a->mtime_nsec);
                *ret_b = format_time(b->mtime, b->mtime_nsec);
                return "mtime";
        case DIFF_CTIME:
                *ret_a = format_time(a->ctime, a->ctime_nsec);
                *ret_b = format_time(b->ctime, b->ctime_nsec);
                return "ctime";
        case DIFF_LINK:
                *ret_a = xstrdup(a->link ? a->link : "");
                *ret_b = xstrdup(b->link ? b->link : "");
                return "link";
        case DIFF_RDEV:
                *ret_a = xasprintf("%u:%u", major(a->rdev), minor(a->rdev));
                *ret_b = xasprintf("%u:%u", major(b->rdev), minor(b->rdev));
                return "device";
        default:
                *ret_a = *ret_b = NULL;
                return NULL;
        }
}

static void text_change(Buffer *o, const DiffFileChange *c) {
        char size[32];
        if (!c->a || !c->b) {
                const DiffFile *f = c->a ? c->a : c->b;
                buffer_printf(o, "    %c %s", c->a ? '-' : '+', f->path);
                if (S_ISREG(f->mode))
                        buffer_printf(o, " (%s)", diff_format_bytes(f->size, size));
                else if (S_ISLNK(f->mode))
                        buffer_printf(o, " -> %s", f->link ? f->link : "");
                else if (!S_ISDIR(f->mode))
                        buffer_printf(o, " (%s)", file_type(f->mode));
                else
                        buffer_putc(o, '/');
                buffer_putc(o, '\n');
                return;
        }
        buffer_printf(o, "    ~ %s:", c->a->path);
        bool first = true;
        for (unsigned bit = 1; bit <= DIFF_RDEV; bit <<= 1) {
                if (!(c->what & bit))
                        continue;
                _cleanup_free_ char *a = NULL, *b = NULL;
                const char *field = describe(c, bit, &a, &b);
                buffer_puts(o, first ? " " : ", ");
                first = false;
                if (bit == DIFF_CONTENT)
                        buffer_printf(o, "content (sha256 %.12s.. -> %.12s..)", a, b);
                else if (bit == DIFF_XATTRS) {
                        _cleanup_free_ char *names = xattr_names(c->a->xattrs, c->b->xattrs);
                        buffer_printf(o, "xattrs %s", names);
                } else
                        buffer_printf(o, "%s %s -> %s", field, a, b);
        }
        buffer_putc(o, '\n');
}

static void text_packages(Buffer *o, const DiffResult *r) {
        if (!r->packages_compared) {
                const DiffSide *missing = r->a->has_packages ? r->b : r->a;
                buffer_printf(o, "packages: not compared (%s: no package database or manifest)\n",
                              missing->path);
                return;
        }
        if (r->n_packages == 0) {
                buffer_printf(o, "packages: identical (%zu)\n", r->a->packages.n_packages);
                return;
        }
        buffer_printf(o, "packages: %zu added, %zu removed, %zu changed\n", r->n_packages_added,
                      r->n_packages_removed, r->n_packages_changed);
        for (size_t i = 0; i < r->n_packages; i++) {
                const DiffPackageChange *c = &r->packages[i];
                if (c->a && c->b)
                        buffer_printf(o, "  ~ %s %s -> %s\n", c->b->name,
                                      c->a->version ? c->a->version : "?",
                                      c->b->version ? c->b->version : "?");
                else {
                        const DiffPackage *p = c->a ? c->a : c->b;
                        buffer_printf(o, "  %c %s %s\n", c->a ? '-' : '+', p->name,
                                      p->version ? p->version : "?");
                }
        }
}

static void text_disk(Buffer *o, const DiffResult *r) {
        if (r->n_disk == 0) {
                buffer_puts(o, "partitions: identical\n");
                return;
        }
        buffer_printf(o, "partitions: %zu difference%s\n", r->n_disk, r->n_disk == 1 ? "" : "s");
        for (size_t i = 0; i < r->n_disk; i++) {
                const DiffDiskChange *c = &r->disk[i];
                if (c->partition == 0)
                        buffer_puts(o, "  table: ");
                else
                        buffer_printf(o, "  partition %u: ", c->partition);
                if (streq(c->field, "partition"))
                        buffer_printf(o, "%s (%s)\n", c->a ? "removed" : "added",
                                      c->a ? c->a : c->b);
                else
                        buffer_printf(o, "%s %s -> %s\n", c->field, c->a ? c->a : "(none)",
                                      c->b ? c->b : "(none)");
        }
}

static bool same_package(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

static void text_fs(Buffer *o, const DiffFsResult *f) {
        if (f->n_changes == 0) {
                buffer_printf(o, "files (%s, %s): identical (%zu entries)\n", f->name, f->fs,
                              f->n_entries);
                return;
        }
        buffer_printf(o, "files (%s, %s): %zu added, %zu removed, %zu changed\n", f->name, f->fs,
                      f->n_added, f->n_removed, f->n_changed);
        for (size_t i = 0; i < f->n_changes; i++) {
                const DiffFileChange *c = &f->changes[i];
                if (i == 0 || !same_package(c->package, f->changes[i - 1].package))
                        buffer_printf(o, "  %s:\n", c->package ? c->package : "(no package)");
                text_change(o, c);
        }
}

static void summary(Buffer *o, const DiffResult *r) {
        size_t added = 0, removed = 0, changed = 0;
        uint64_t b_added = 0, b_removed = 0, b_changed = 0;
        char s1[32], s2[32], s3[32];

        if (r->identical) {
                buffer_puts(o, "summary: identical\n");
                return;
        }
        for (size_t i = 0; i < r->n_fs; i++) {
                added += r->fs[i].n_added;
                removed += r->fs[i].n_removed;
                changed += r->fs[i].n_changed;
                b_added += r->fs[i].bytes_added;
                b_removed += r->fs[i].bytes_removed;
                b_changed += r->fs[i].bytes_changed;
        }
        buffer_puts(o, "summary: differ —");
        if (r->packages_compared)
                buffer_printf(o, " %zu package%s added, %zu removed, %zu changed;",
                              r->n_packages_added, r->n_packages_added == 1 ? "" : "s",
                              r->n_packages_removed, r->n_packages_changed);
        buffer_printf(o, " %zu partition difference%s", r->n_disk, r->n_disk == 1 ? "" : "s");
        if (r->n_fs > 0)
                buffer_printf(o, "; %zu file%s added (%s), %zu removed (%s), %zu changed (%s)",
                              added, added == 1 ? "" : "s", diff_format_bytes(b_added, s1), removed,
                              diff_format_bytes(b_removed, s2), changed,
                              diff_format_bytes(b_changed, s3));
        buffer_putc(o, '\n');
}

char *diff_format_text(const DiffResult *r, bool quiet) {
        Buffer o = {};

        if (!quiet) {
                text_packages(&o, r);
                text_disk(&o, r);
                for (size_t i = 0; i < r->n_fs; i++)
                        text_fs(&o, &r->fs[i]);
        }
        summary(&o, r);
        return buffer_steal(&o);
}

static void json_side(JsonWriter *w, const char *key, const DiffSide *s) {
        json_key(w, key);
        json_begin_object(w);
        json_kv(w, "path", s->path);
        json_kv(w, "format", s->format);
        json_kv(w, "packages-from", s->has_packages ? s->packages.source : NULL);
        json_end_object(w);
}

static void json_package(JsonWriter *w, const DiffPackage *p) {
        json_begin_object(w);
        json_kv(w, "name", p->name);
        json_kv(w, "version", p->version);
        json_kv(w, "architecture", p->architecture);
        json_end_object(w);
}

static void json_packages(JsonWriter *w, const DiffResult *r) {
        json_key(w, "packages");
        if (!r->packages_compared) {
                json_null(w);
                return;
        }
        json_begin_object(w);
        const char *keys[3] = {"added", "removed", "changed"};
        for (int k = 0; k < 3; k++) {
                json_key(w, keys[k]);
                json_begin_array(w);
                for (size_t i = 0; i < r->n_packages; i++) {
                        const DiffPackageChange *c = &r->packages[i];
                        int kind = !c->a ? 0 : !c->b ? 1 : 2;
                        if (kind != k)
                                continue;
                        if (kind < 2) {
                                json_package(w, c->a ? c->a : c->b);
                                continue;
                        }
                        json_begin_object(w);
                        json_kv(w, "name", c->b->name);
                        json_kv(w, "architecture", c->b->architecture);
                        json_kv(w, "from", c->a->version);
                        json_kv(w, "to", c->b->version);
                        json_end_object(w);
                }
                json_end_array(w);
        }
        json_end_object(w);
}

static void json_file(JsonWriter *w, const DiffFile *f, const char *package) {
        json_begin_object(w);
        json_kv(w, "path", f->path);
        json_kv(w, "package", package);
        json_kv(w, "type", file_type(f->mode));
        if (S_ISREG(f->mode))
                json_kv_uint(w, "size", f->size);
        if (S_ISLNK(f->mode))
                json_kv(w, "link", f->link);
        json_end_object(w);
}

static void json_fs(JsonWriter *w, const DiffFsResult *f) {
        json_begin_object(w);
        json_kv(w, "name", f->name);
        json_kv(w, "fs", f->fs);
        const char *keys[3] = {"added", "removed", "changed"};
        for (int k = 0; k < 3; k++) {
                json_key(w, keys[k]);
                json_begin_array(w);
                for (size_t i = 0; i < f->n_changes; i++) {
                        const DiffFileChange *c = &f->changes[i];
                        int kind = !c->a ? 0 : !c->b ? 1 : 2;
                        if (kind != k)
                                continue;
                        if (kind < 2) {
                                json_file(w, c->a ? c->a : c->b, c->package);
                                continue;
                        }
                        json_begin_object(w);
                        json_kv(w, "path", c->b->path);
                        json_kv(w, "package", c->package);
                        json_key(w, "changes");
                        json_begin_array(w);
                        for (unsigned bit = 1; bit <= DIFF_RDEV; bit <<= 1) {
                                if (!(c->what & bit))
                                        continue;
                                _cleanup_free_ char *a = NULL, *b = NULL;
                                json_begin_object(w);
                                json_kv(w, "field", describe(c, bit, &a, &b));
                                json_kv(w, "a", a);
                                json_kv(w, "b", b);
                                json_end_object(w);
                        }
                        json_end_array(w);
                        json_end_object(w);
                }
                json_end_array(w);
        }
        json_kv_uint(w, "bytes-added", f->bytes_added);
        json_kv_uint(w, "bytes-removed", f->bytes_removed);
        json_kv_uint(w, "bytes-changed", f->bytes_changed);
        json_end_object(w);
}

char *diff_format_json(const DiffResult *r) {
        JsonWriter w = {.pretty = true};
        size_t added = 0, removed = 0, changed = 0;

        json_begin_object(&w);
        json_side(&w, "a", r->a);
        json_side(&w, "b", r->b);
        json_key(&w, "identical");
        json_bool(&w, r->identical);
        json_packages(&w, r);
        json_key(&w, "partitions");
        json_begin_array(&w);
        for (size_t i = 0; i < r->n_disk; i++) {
                json_begin_object(&w);
                if (r->disk[i].partition)
                        json_kv_uint(&w, "partition", r->disk[i].partition);
                else
                        json_kv(&w, "partition", NULL);
                json_kv(&w, "field", r->disk[i].field);
                json_kv(&w, "a", r->disk[i].a);
                json_kv(&w, "b", r->disk[i].b);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_key(&w, "filesystems");
        json_begin_array(&w);
        for (size_t i = 0; i < r->n_fs; i++) {
                json_fs(&w, &r->fs[i]);
                added += r->fs[i].n_added;
                removed += r->fs[i].n_removed;
                changed += r->fs[i].n_changed;
        }
        json_end_array(&w);
        json_key(&w, "summary");
        json_begin_object(&w);
        json_kv_uint(&w, "packages-added", r->n_packages_added);
        json_kv_uint(&w, "packages-removed", r->n_packages_removed);
        json_kv_uint(&w, "packages-changed", r->n_packages_changed);
        json_kv_uint(&w, "partition-differences", r->n_disk);
        json_kv_uint(&w, "files-added", added);
        json_kv_uint(&w, "files-removed", removed);
        json_kv_uint(&w, "files-changed", changed);
        json_end_object(&w);
        json_end_object(&w);
        return json_finish(&w);
}
