/* SPDX-License-Identifier: MIT */
/* A kernel's module index, read from depmod's text files (moved from initramfs.c, which loads
 * the target's drivers in order from it), and the closure of a set of wanted modules, which
 * kernel.modules: target keeps in the root (composer/pipeline/stage-modules.c). Pure. */
#include <stdlib.h>
#include <string.h>

#include "vmcompose/kmod.h"

char *kmod_name(const char *path) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        char *name = xstrndup(base, strcspn(base, "."));
        for (char *c = name; *c; c++)
                if (*c == '-')
                        *c = '_';
        return name;
}

void kmod_parse_dep(const char *text, KernelModules *ret) {
        KernelModule *m = NULL;
        size_t n = 0;

        for (const char *line = text; line && *line;) {
                size_t len = strcspn(line, "\n");
                const char *colon = memchr(line, ':', len);
                if (colon) {
                        m = xrealloc(m, (n + 1) * sizeof(KernelModule));
                        m[n] = (KernelModule){.path = xstrndup(line, (size_t)(colon - line))};
                        m[n].name = kmod_name(m[n].path);
                        for (const char *p = colon + 1; p < line + len;) {
                                p += strspn(p, " \t");
                                size_t w = strcspn(p, " \t\n");
                                if (w > 0 && p + w <= line + len)
                                        strv_push(&m[n].deps, xstrndup(p, w));
                                p += w;
                        }
                        n++;
                }
                line += len + (line[len] == '\n');
        }
        *ret = (KernelModules){m, n};
}

void kmod_done(KernelModules *m) {
        for (size_t i = 0; i < m->n; i++) {
                free(m->m[i].name);
                free(m->m[i].path);
                strv_free(m->m[i].deps);
        }
        free(m->m);
        *m = (KernelModules){};
}

KernelModule *kmod_find(const KernelModules *m, const char *name) {
        _cleanup_free_ char *n = kmod_name(name);
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->m[i].name, n))
                        return &m->m[i];
        return NULL;
}

bool kmod_is_builtin(const char *builtin, const char *name) {
        _cleanup_free_ char *want = kmod_name(name);
        for (const char *line = builtin; line && *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *l = xstrndup(line, len);
                _cleanup_free_ char *n = kmod_name(l);
                if (len > 0 && streq(n, want))
                        return true;
                line += len + (line[len] == '\n');
        }
        return false;
}

char **kmod_softdeps(const char *softdep, const char *name, const char *kind) {
        _cleanup_free_ char *want = kmod_name(name);
        char **ret = NULL;
        for (const char *line = softdep; line && *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *l = xstrndup(line, len);
                char *save = NULL, *w0 = strtok_r(l, " \t", &save);
                char *w1 = strtok_r(NULL, " \t", &save);
                _cleanup_free_ char *n1 = w1 ? kmod_name(w1) : NULL;
                if (w0 && n1 && streq(w0, "softdep") && streq(n1, want)) {
                        bool on = false;
                        for (char *w; (w = strtok_r(NULL, " \t", &save));)
                                if (streq(w, "pre:") || streq(w, "post:"))
                                        on = streq(w, kind);
                                else if (on)
                                        strv_extend(&ret, w);
                }
                line += len + (line[len] == '\n');
        }
        return ret;
}

KernelModule *kmod_softdep_target(const KernelModules *m, const char *alias, const char *name) {
        KernelModule *k = kmod_find(m, name);
        if (k)
                return k;
        for (const char *line = alias; line && *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *l = xstrndup(line, len);
                char *save = NULL, *w0 = strtok_r(l, " \t", &save);
                char *w1 = strtok_r(NULL, " \t", &save), *w2 = strtok_r(NULL, " \t", &save);
                if (w0 && w1 && w2 && streq(w0, "alias") && streq(w1, name) &&
                    (k = kmod_find(m, w2)))
                        return k;
                line += len + (line[len] == '\n');
        }
        return NULL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int kmod_closure(const KernelModules *m, const char *softdep, const char *alias,
                 const char *builtin, char *const *wanted, char ***ret_keep, char ***ret_missing) {
        _cleanup_free_ bool *kept = xcalloc(m->n ? m->n : 1, sizeof(bool));
        _cleanup_free_ size_t *queue = xcalloc(m->n ? m->n : 1, sizeof(size_t));
        _cleanup_strv_free_ char **missing = NULL;
        size_t n_queue = 0;

        for (char *const *w = wanted; w && *w; w++) {
                KernelModule *k = kmod_find(m, *w);
                if (!k) {
                        if (!kmod_is_builtin(builtin, *w) && !strv_contains(missing, *w))
                                strv_extend(&missing, *w);
                        continue;
                }
                size_t i = (size_t)(k - m->m);
                if (!kept[i]) {
                        kept[i] = true;
                        queue[n_queue++] = i;
                }
        }
        /* Breadth first: each module enters the queue once. */
        for (size_t q = 0; q < n_queue; q++) {
                const KernelModule *k = &m->m[queue[q]];
                _cleanup_strv_free_ char **pre = kmod_softdeps(softdep, k->name, "pre:");
                _cleanup_strv_free_ char **post = kmod_softdeps(softdep, k->name, "post:");
                _cleanup_strv_free_ char **next = NULL;
                for (char **d = k->deps; d && *d; d++) {
                        KernelModule *dep = kmod_find(m, *d);
                        if (!dep)
                                return -EBADMSG;
                        strv_extend(&next, dep->name);
                }
                char **const soft[] = {pre, post};
                for (size_t s = 0; s < ELEMENTSOF(soft); s++)
                        for (char **d = soft[s]; d && *d; d++) {
                                KernelModule *dep = kmod_softdep_target(m, alias, *d);
                                if (dep)
                                        strv_extend(&next, dep->name);
                        }
                for (char **d = next; d && *d; d++) {
                        size_t i = (size_t)(kmod_find(m, *d) - m->m);
                        if (!kept[i]) {
                                kept[i] = true;
                                queue[n_queue++] = i;
                        }
                }
        }
        char **keep = NULL;
        for (size_t i = 0; i < m->n; i++)
                if (kept[i])
                        strv_extend(&keep, m->m[i].path);
        if (keep)
                qsort(keep, strv_length(keep), sizeof(char *), cmp_str);
        *ret_keep = keep;
        *ret_missing = TAKE_PTR(missing);
        return (int)n_queue;
}
