/* SPDX-License-Identifier: MIT */
/* The fields of a Debian Packages index that libsolv does not keep (Size, Section, Priority,
 * Essential), looked up by (name, version, architecture). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resolve-internal.h"

static uint64_t hash_key(const char *name, const char *version, const char *arch) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        const char *parts[] = {name, version, arch};
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                for (const char *p = parts[i]; *p; p++)
                        h = (h ^ (unsigned char)*p) * 1099511628211ull;
                h = (h ^ 0xff) * 1099511628211ull;
        }
        return h;
}

static void insert(DebIndex *x, DebEntry *e) {
        uint64_t h = hash_key(e->name, e->version, e->architecture);
        for (size_t i = h & (x->cap - 1);; i = (i + 1) & (x->cap - 1))
                if (!x->slots[i]) {
                        x->slots[i] = e;
                        return;
                }
}

static void grow(DebIndex *x) {
        DebEntry **old = x->slots;
        size_t old_cap = x->cap;

        x->cap = old_cap ? old_cap * 2 : 1024;
        x->slots = xcalloc(x->cap, sizeof(DebEntry *));
        for (size_t i = 0; i < old_cap; i++)
                if (old[i])
                        insert(x, old[i]);
        free(old);
}

const DebEntry *deb_index_find(const DebIndex *x, const char *name, const char *version,
                               const char *arch) {
        if (x->cap == 0)
                return NULL;
        uint64_t h = hash_key(name, version, arch);
        for (size_t i = h & (x->cap - 1); x->slots[i]; i = (i + 1) & (x->cap - 1)) {
                const DebEntry *e = x->slots[i];
                if (streq(e->name, name) && streq(e->version, version) &&
                    streq(e->architecture, arch))
                        return e;
        }
        return NULL;
}

static char *field_value(const char *line, size_t len, size_t name_len) {
        const char *v = line + name_len + 1;
        const char *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
        return xstrndup(v, (size_t)(end - v));
}

static void add_entry(DebIndex *x, DebEntry *e) {
        if (!e->name || !e->version) {
                free(e->name);
                free(e->version);
                free(e->architecture);
                free(e->section);
                free(e->priority);
                *e = (DebEntry){};
                return;
        }
        if (!e->architecture)
                e->architecture = xstrdup("all");
        if ((x->n + 1) * 2 > x->cap)
                grow(x);
        DebEntry *copy = xmalloc(sizeof(DebEntry));
        *copy = *e;
        *e = (DebEntry){};
        insert(x, copy);
        x->n++;
}

/* One line of a stanza (without its newline); an empty line ends the stanza in cur. */
static void index_line(DebIndex *x, DebEntry *cur, const char *p, size_t len) {
        if (len == 0 || (len == 1 && p[0] == '\r')) {
                add_entry(x, cur);
                return;
        }
        if (p[0] == ' ' || p[0] == '\t')
                return;
#define FIELD(n)                                                                                   \
        (len > sizeof(n) - 1 && p[sizeof(n) - 1] == ':' && strncasecmp(p, n, sizeof(n) - 1) == 0)
        if (FIELD("Package")) {
                free(cur->name);
                cur->name = field_value(p, len, 7);
        } else if (FIELD("Version")) {
                free(cur->version);
                cur->version = field_value(p, len, 7);
        } else if (FIELD("Architecture")) {
                free(cur->architecture);
                cur->architecture = field_value(p, len, 12);
        } else if (FIELD("Section")) {
                free(cur->section);
                cur->section = field_value(p, len, 7);
        } else if (FIELD("Priority")) {
                free(cur->priority);
                cur->priority = field_value(p, len, 8);
        } else if (FIELD("Essential")) {
                _cleanup_free_ char *v = field_value(p, len, 9);
                cur->essential = strcasecmp(v, "yes") == 0;
        } else if (FIELD("Size")) {
                _cleanup_free_ char *v = field_value(p, len, 4);
                (void)parse_uint64(v, &cur->size);
        }
#undef FIELD
}

int deb_index_load(DebIndex *x, const char *data, size_t size) {
        DebEntry cur = {};
        const char *p = data, *end = data + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                index_line(x, &cur, p, len);
                p += len + (nl ? 1 : 0);
        }
        add_entry(x, &cur);
        return 0;
}

int deb_index_load_file(DebIndex *x, FILE *f) {
        DebEntry cur = {};
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        errno = 0;
        while ((n = getline(&line, &cap, f)) >= 0) {
                size_t len = (size_t)n;
                if (len > 0 && line[len - 1] == '\n')
                        len--;
                index_line(x, &cur, line, len);
        }
        add_entry(x, &cur);
        return ferror(f) ? (errno > 0 ? -errno : -EIO) : 0;
}

void deb_index_done(DebIndex *x) {
        for (size_t i = 0; i < x->cap; i++) {
                DebEntry *e = x->slots[i];
                if (!e)
                        continue;
                free(e->name);
                free(e->version);
                free(e->architecture);
                free(e->section);
                free(e->priority);
                free(e);
        }
        free(x->slots);
        *x = (DebIndex){};
}
