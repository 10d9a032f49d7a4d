/* SPDX-License-Identifier: MIT */
/* NAME.deviations.json and NAME.deviations.md: every difference between the image and its
 * upstream base profile, grouped by category the way Azure Linux classifies its deviations
 * from Fedora. Each item names the profile line that caused it and its why:. */
#include <stdio.h>
#include <string.h>

#include "vmcompose/json.h"
#include "vmcompose/report.h"
#include "vmcompose/schema.h"

Deviation *deviations_add(DeviationReport *r, const char *kind, const char *subject,
                          const char *where, const char *why, const char *category,
                          const char *detail) {
        r->items = xrealloc(r->items, (r->n + 1) * sizeof(Deviation));
        Deviation *d = &r->items[r->n++];
        *d = (Deviation){
                .kind = xstrdup(kind),
                .subject = xstrdup(subject),
                .where = xstrdup(where ? where : "?"),
                .why = why ? xstrdup(why) : NULL,
                .category = category ? xstrdup(category) : NULL,
                .detail = detail ? xstrdup(detail) : NULL,
        };
        return d;
}

void deviation_report_done(DeviationReport *r) {
        for (size_t i = 0; i < r->n; i++) {
                Deviation *d = &r->items[i];
                free(d->kind);
                free(d->subject);
                free(d->where);
                free(d->why);
                free(d->category);
                free(d->detail);
        }
        free(r->items);
        free(r->image);
        free(r->base);
        *r = (DeviationReport){};
}

char **deviations_undocumented(const DeviationReport *r) {
        char **l = NULL;
        for (size_t i = 0; i < r->n; i++)
                if (!r->items[i].why)
                        strv_push(&l, xasprintf("%s: %s %s", r->items[i].where, r->items[i].kind,
                                                r->items[i].subject));
        return l;
}

/* The report's groups: each documented category, then items without one. */
static const char *group_of(const Deviation *d) {
        if (!d->why)
                return "undocumented";
        return d->category ? d->category : "uncategorized";
}

static const char *const groups[] = {
        "security",   "size",        "platform",      "feature-disable", "customization",
        "compliance", "performance", "uncategorized", "undocumented",    NULL,
};

static size_t count_in(const DeviationReport *r, const char *group) {
        size_t n = 0;
        for (size_t i = 0; i < r->n; i++)
                n += streq(group_of(&r->items[i]), group);
        return n;
}

char *deviations_json(const DeviationReport *r) {
        JsonWriter w = {.pretty = true};

        json_begin_object(&w);
        json_kv(&w, "image", r->image);
        json_kv(&w, "base", r->base);
        json_kv(&w, "root",
                r->root_given ? "given with --root: the packages and system: items are "
                                "declared by the profile, not applied by vmcompose"
                              : "built by vmcompose from the profile");
        json_key(&w, "summary");
        json_begin_object(&w);
        for (const char *const *g = groups; *g; g++) {
                size_t n = count_in(r, *g);
                if (n == 0)
                        continue;
                json_key(&w, *g);
                json_uint(&w, n);
        }
        json_end_object(&w);
        json_key(&w, "undocumented");
        json_uint(&w, count_in(r, "undocumented"));
        json_key(&w, "deviations");
        json_begin_array(&w);
        for (size_t i = 0; i < r->n; i++) {
                const Deviation *d = &r->items[i];
                json_begin_object(&w);
                json_kv(&w, "kind", d->kind);
                json_kv(&w, "subject", d->subject);
                json_kv(&w, "where", d->where);
                json_kv(&w, "why", d->why);
                json_kv(&w, "category", d->category);
                if (d->detail)
                        json_kv(&w, "detail", d->detail);
                if (streq(d->kind, "paths-stripped") || streq(d->kind, "modules-removed") ||
                    streq(d->kind, "kernel-root-copy-removed")) {
                        json_key(&w, "files");
                        json_uint(&w, d->count);
                        json_key(&w, "bytes");
                        json_uint(&w, d->bytes);
                }
                json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
        return json_finish(&w);
}

/* Markdown table cells: no newlines, no unescaped '|'. */
static void cell(Buffer *b, const char *s) {
        buffer_printf(b, " ");
        for (const char *c = s ? s : ""; *c; c++) {
                if (*c == '|')
                        buffer_printf(b, "\\|");
                else if (*c == '\n')
                        buffer_printf(b, " ");
                else
                        buffer_printf(b, "%c", *c);
        }
        buffer_printf(b, " |");
}

char *deviations_markdown(const DeviationReport *r) {
        Buffer b = {};

        buffer_printf(&b, "# Deviations of %s from %s\n\n", r->image, r->base);
        buffer_printf(&b, "Every way this image differs from its upstream base profile, with the "
                          "profile line that caused it and the reason given there.\n\n");
        if (r->root_given)
                buffer_printf(&b, "The root was given with `--root`: the packages and `system:` "
                                  "items below are declared by the profile, not applied by "
                                  "vmcompose.\n\n");
        buffer_printf(&b, "| category | deviations |\n|---|---|\n");
        for (const char *const *g = groups; *g; g++) {
                size_t n = count_in(r, *g);
                if (n > 0)
                        buffer_printf(&b, "| %s | %zu |\n", *g, n);
        }
        if (r->n == 0)
                buffer_printf(&b, "| (none) | 0 |\n");
        for (const char *const *g = groups; *g; g++) {
                if (count_in(r, *g) == 0)
                        continue;
                buffer_printf(&b, "\n## %s\n\n", *g);
                if (streq(*g, "undocumented"))
                        buffer_printf(&b, "These carry no `why:`; `vmcompose build "
                                          "--strict-audit` refuses them.\n\n");
                buffer_printf(&b, "| kind | subject | where | why | detail |\n"
                                  "|---|---|---|---|---|\n");
                for (size_t i = 0; i < r->n; i++) {
                        const Deviation *d = &r->items[i];
                        if (!streq(group_of(d), *g))
                                continue;
                        buffer_printf(&b, "|");
                        cell(&b, d->kind);
                        cell(&b, d->subject);
                        cell(&b, d->where);
                        cell(&b, d->why);
                        cell(&b, d->detail);
                        buffer_printf(&b, "\n");
                }
        }
        return b.data;
}
