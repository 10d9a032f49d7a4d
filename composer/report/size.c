/* SPDX-License-Identifier: MIT */
/* Where the root's bytes go: by package, then by directory; as JSON, a table and a squarified
 * treemap in SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/size.h"
#include "vmcompose/util.h"

/* The first SIZE_DIR_DEPTH components of path's directory ("/" for a file in the root). */
static char *dir_of(const char *path) {
        const char *slash = strrchr(path, '/'), *p = path;
        for (unsigned n = 0; p < slash && n < SIZE_DIR_DEPTH; n++) {
                const char *next = strchr(p + 1, '/');
                p = next && next <= slash ? next : slash;
        }
        return p == path ? xstrdup("/") : xstrndup(path, (size_t)(p - path));
}

void size_report_add(SizeReport *r, const char *package, const char *path, uint64_t bytes) {
        const char *name = package ? package : SIZE_NO_PACKAGE;
        SizePackage *p = NULL;

        for (size_t i = r->n_packages; i > 0 && !p; i--)
                if (streq(r->packages[i - 1].name, name))
                        p = &r->packages[i - 1];
        if (!p) {
                r->packages = xrealloc(r->packages, (r->n_packages + 1) * sizeof(SizePackage));
                p = &r->packages[r->n_packages++];
                *p = (SizePackage){.name = xstrdup(name)};
        }
        _cleanup_free_ char *dir = dir_of(path);
        SizeDir *d = NULL;
        for (size_t i = p->n_dirs; i > 0 && !d; i--)
                if (streq(p->dirs[i - 1].path, dir))
                        d = &p->dirs[i - 1];
        if (!d) {
                p->dirs = xrealloc(p->dirs, (p->n_dirs + 1) * sizeof(SizeDir));
                d = &p->dirs[p->n_dirs++];
                *d = (SizeDir){.path = TAKE_PTR(dir)};
        }
        d->bytes += bytes;
        p->bytes += bytes;
        r->bytes += bytes;
}

static int cmp_bytes(uint64_t a, uint64_t b, const char *x, const char *y) {
        if (a != b)
                return a > b ? -1 : 1;
        return strcmp(x, y);
}

static int package_cmp(const void *a, const void *b) {
        const SizePackage *x = a, *y = b;
        return cmp_bytes(x->bytes, y->bytes, x->name, y->name);
}

static int dir_cmp(const void *a, const void *b) {
        const SizeDir *x = a, *y = b;
        return cmp_bytes(x->bytes, y->bytes, x->path, y->path);
}

void size_report_finish(SizeReport *r) {
        for (size_t i = 0; i < r->n_packages; i++) {
                SizePackage *p = &r->packages[i];
                if (p->n_dirs > 1)
                        qsort(p->dirs, p->n_dirs, sizeof(SizeDir), dir_cmp);
                if (p->n_dirs <= SIZE_MAX_DIRS)
                        continue;
                uint64_t rest = 0;
                for (size_t j = SIZE_MAX_DIRS - 1; j < p->n_dirs; j++) {
                        rest += p->dirs[j].bytes;
                        free(p->dirs[j].path);
                }
                p->dirs[SIZE_MAX_DIRS - 1] =
                        (SizeDir){.path = xstrdup(SIZE_OTHER_DIRS), .bytes = rest};
                p->n_dirs = SIZE_MAX_DIRS;
        }
        if (r->n_packages > 1)
                qsort(r->packages, r->n_packages, sizeof(SizePackage), package_cmp);
}

void size_report_done(SizeReport *r) {
        for (size_t i = 0; i < r->n_packages; i++) {
                for (size_t j = 0; j < r->packages[i].n_dirs; j++)
                        free(r->packages[i].dirs[j].path);
                free(r->packages[i].dirs);
                free(r->packages[i].name);
        }
        free(r->packages);
        *r = (SizeReport){};
}

void size_report_json(JsonWriter *w, const SizeReport *r) {
        json_begin_object(w);
        json_kv_uint(w, "bytes", r->bytes);
        json_key(w, "packages");
        json_begin_array(w);
        for (size_t i = 0; i < r->n_packages; i++) {
                const SizePackage *p = &r->packages[i];
                json_begin_object(w);
                json_kv(w, "name", p->name);
                json_kv_uint(w, "bytes", p->bytes);
                json_key(w, "directories");
                json_begin_array(w);
                for (size_t j = 0; j < p->n_dirs; j++) {
                        json_begin_object(w);
                        json_kv(w, "path", p->dirs[j].path);
                        json_kv_uint(w, "bytes", p->dirs[j].bytes);
                        json_end_object(w);
                }
                json_end_array(w);
                json_end_object(w);
        }
        json_end_array(w);
        json_end_object(w);
}

static int node_uint(const Node *map, const char *key, uint64_t *ret) {
        const char *s = node_map_scalar(map, key);
        return s && parse_uint64(s, ret) >= 0 ? 0 : -EBADMSG;
}

static const char *node_string(const Node *map, const char *key) {
        return node_map_scalar(map, key);
}

int size_report_from_node(const Node *n, SizeReport *ret) {
        const Node *pkgs = node_map_typed(n, "packages", NODE_SEQ);
        SizeReport r = {};
        uint64_t total;

        if (!pkgs || pkgs->type != NODE_SEQ || node_uint(n, "bytes", &total) < 0)
                return -EBADMSG;
        r.packages = xcalloc(pkgs->n_items + 1, sizeof(SizePackage));
        for (size_t i = 0; i < pkgs->n_items; i++) {
                const Node *p = pkgs->items[i], *dirs = NULL;
                SizePackage *sp = &r.packages[r.n_packages];
                const char *name = p->type == NODE_MAP ? node_string(p, "name") : NULL;
                if (name)
                        dirs = node_map_typed(p, "directories", NODE_SEQ);
                if (!name || node_uint(p, "bytes", &sp->bytes) < 0 || !dirs ||
                    dirs->type != NODE_SEQ) {
                        size_report_done(&r);
                        return -EBADMSG;
                }
                sp->name = xstrdup(name);
                r.n_packages++;
                sp->dirs = xcalloc(dirs->n_items + 1, sizeof(SizeDir));
                for (size_t j = 0; j < dirs->n_items; j++) {
                        const Node *d = dirs->items[j];
                        const char *path = d->type == NODE_MAP ? node_string(d, "path") : NULL;
                        if (!path || node_uint(d, "bytes", &sp->dirs[j].bytes) < 0) {
                                size_report_done(&r);
                                return -EBADMSG;
                        }
                        sp->dirs[j].path = xstrdup(path);
                        sp->n_dirs++;
                }
        }
        r.bytes = total;
        *ret = r;
        return 0;
}

/* The packages counted, without SIZE_NO_PACKAGE. */
static size_t packages_named(const SizeReport *r) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_packages; i++)
                n += !streq(r->packages[i].name, SIZE_NO_PACKAGE);
        return n;
}

static void human(uint64_t bytes, char buf[32]) {
        if (bytes >= (UINT64_C(1) << 20))
                snprintf(buf, 32, "%.1f MiB", (double)bytes / (1 << 20));
        else if (bytes >= 1024)
                snprintf(buf, 32, "%.1f KiB", (double)bytes / 1024);
        else
                snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
}

static double share(uint64_t part, uint64_t whole) {
        return whole ? 100.0 * (double)part / (double)whole : 0;
}

char *size_report_table(const SizeReport *r) {
        Buffer b = {};
        char h[32];

        human(r->bytes, h);
        buffer_printf(&b, "%12s  %6s  root: %zu packages, %llu bytes\n", h, "100%",
                      packages_named(r), (unsigned long long)r->bytes);
        for (size_t i = 0; i < r->n_packages; i++) {
                const SizePackage *p = &r->packages[i];
                human(p->bytes, h);
                buffer_printf(&b, "%12s  %5.1f%%  %s\n", h, share(p->bytes, r->bytes), p->name);
                for (size_t j = 0; j < p->n_dirs && p->n_dirs > 1; j++) {
                        human(p->dirs[j].bytes, h);
                        buffer_printf(&b, "%12s  %5.1f%%    %s\n", h,
                                      share(p->dirs[j].bytes, r->bytes), p->dirs[j].path);
                }
        }
        return buffer_steal(&b);
}

/* The worst aspect ratio of a row of values (sum: their total) laid along a side of length
 * side, in an area where one unit of value covers scale square units. */
static double worst(const uint64_t *v, size_t n, double sum, double side, double scale) {
        double row = sum * scale / side, w = 1;
        for (size_t i = 0; i < n; i++) {
                double len = (double)v[i] * scale / row;
                double ratio = len > row ? len / row : row / len;
                w = MAX(w, ratio);
        }
        return w;
}

void size_squarify(const uint64_t *values, size_t n, SizeRect area, SizeRect *out) {
        double total = 0;
        for (size_t i = 0; i < n; i++)
                total += (double)values[i];
        if (n == 0 || total <= 0)
                return;
        double scale = area.w * area.h / total;
        size_t i = 0;
        while (i < n) {
                /* Grow the row along the shorter side while its worst ratio improves. */
                double side = MIN(area.w, area.h), sum = (double)values[i];
                size_t k = 1;
                while (i + k < n && worst(values + i, k + 1, sum + (double)values[i + k], side,
                                          scale) <= worst(values + i, k, sum, side, scale)) {
                        sum += (double)values[i + k];
                        k++;
                }
                if (i + k == n) /* the last row fills what is left, without rounding gaps */
                        sum = 0;
                double thick = sum > 0 ? sum * scale / side : (area.w < area.h ? area.h : area.w);
                double rowsum = 0;
                for (size_t j = i; j < i + k; j++)
                        rowsum += (double)values[j];
                double pos = 0;
                for (size_t j = i; j < i + k; j++) {
                        double len = side * (double)values[j] / rowsum;
                        out[j] = area.w < area.h ? (SizeRect){area.x + pos, area.y, len, thick}
                                                 : (SizeRect){area.x, area.y + pos, thick, len};
                        pos += len;
                }
                if (area.w < area.h) {
                        area.y += thick;
                        area.h -= thick;
                } else {
                        area.x += thick;
                        area.w -= thick;
                }
                i += k;
        }
}

static void xml_text(Buffer *b, const char *s) {
        for (; *s; s++) {
                if (*s == '<')
                        buffer_puts(b, "&lt;");
                else if (*s == '>')
                        buffer_puts(b, "&gt;");
                else if (*s == '&')
                        buffer_puts(b, "&amp;");
                else if (*s == '"')
                        buffer_puts(b, "&quot;");
                else if ((unsigned char)*s >= 0x20 || *s == '\t')
                        buffer_putc(b, *s);
        }
}

/* A colour per package, from its name: the same package has the same colour in every picture. */
static unsigned hue(const char *name) {
        unsigned h = 2166136261u;
        for (; *name; name++)
                h = (h ^ (unsigned char)*name) * 16777619u;
        return h % 360;
}

#define SVG_W 1200.0
#define SVG_H 800.0
#define SVG_TOP 28.0

static void svg_rect(Buffer *b, const SizeRect *q, const char *cls, unsigned h, int light,
                     uint64_t bytes, uint64_t total, const char *label, const char *tip) {
        char hb[32];
        human(bytes, hb);
        buffer_printf(b,
                      "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                      "fill=\"hsl(%u,55%%,%d%%)\" data-bytes=\"%llu\"><title>",
                      cls, q->x, q->y, q->w, q->h, h, light, (unsigned long long)bytes);
        xml_text(b, tip);
        buffer_printf(b, ": %s (%.1f%%)</title></rect>\n", hb, share(bytes, total));
        /* A label where it fits: about 7 px per character at 11 px. */
        if (label && q->h >= 14 && q->w >= 7.0 * (double)MIN(strlen(label), (size_t)40) + 6) {
                buffer_printf(b, "<text x=\"%.2f\" y=\"%.2f\">", q->x + 3, q->y + 12);
                xml_text(b, label);
                buffer_puts(b, "</text>\n");
        }
}

char *size_report_svg(const SizeReport *r, const char *title) {
        Buffer b = {};
        char hb[32];
        size_t n = 0;

        for (size_t i = 0; i < r->n_packages; i++)
                n += r->packages[i].bytes > 0;
        _cleanup_free_ uint64_t *v = xcalloc(n + 1, sizeof(uint64_t));
        _cleanup_free_ SizeRect *rects = xcalloc(n + 1, sizeof(SizeRect));
        for (size_t i = 0, k = 0; i < r->n_packages; i++)
                if (r->packages[i].bytes > 0)
                        v[k++] = r->packages[i].bytes;
        size_squarify(v, n, (SizeRect){0, SVG_TOP, SVG_W, SVG_H - SVG_TOP}, rects);

        human(r->bytes, hb);
        buffer_printf(&b,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                      "viewBox=\"0 0 %.0f %.0f\" data-bytes=\"%llu\">\n"
                      "<style>text{font:11px sans-serif;pointer-events:none}"
                      ".package{stroke:#fff;stroke-width:2}.dir{stroke:#fff;stroke-width:0.5}"
                      "</style>\n<text x=\"4\" y=\"18\" style=\"font-size:15px\">",
                      SVG_W, SVG_H, SVG_W, SVG_H, (unsigned long long)r->bytes);
        xml_text(&b, title);
        buffer_printf(&b, ": %s in %zu packages (area = bytes)</text>\n", hb, packages_named(r));
        for (size_t i = 0, k = 0; i < r->n_packages; i++) {
                const SizePackage *p = &r->packages[i];
                if (p->bytes == 0)
                        continue;
                const SizeRect *q = &rects[k++];
                unsigned h = hue(p->name);
                buffer_puts(&b, "<g>\n");
                svg_rect(&b, q, "package", h, 45, p->bytes, r->bytes, NULL, p->name);
                /* The directories inside, with the package's name on the largest. */
                size_t nd = 0;
                _cleanup_free_ uint64_t *dv = xcalloc(p->n_dirs + 1, sizeof(uint64_t));
                _cleanup_free_ SizeRect *dr = xcalloc(p->n_dirs + 1, sizeof(SizeRect));
                for (size_t j = 0; j < p->n_dirs; j++)
                        if (p->dirs[j].bytes > 0)
                                dv[nd++] = p->dirs[j].bytes;
                size_squarify(dv, nd, *q, dr);
                for (size_t j = 0, m = 0; j < p->n_dirs; j++) {
                        if (p->dirs[j].bytes == 0)
                                continue;
                        _cleanup_free_ char *tip = xasprintf("%s %s", p->name, p->dirs[j].path);
                        _cleanup_free_ char *label =
                                m == 0 ? xasprintf("%s %s", p->name, p->dirs[j].path) : NULL;
                        svg_rect(&b, &dr[m], "dir", h, 60 + (int)(m % 4) * 6, p->dirs[j].bytes,
                                 r->bytes, label ? label : p->dirs[j].path, tip);
                        m++;
                }
                buffer_puts(&b, "</g>\n");
        }
        buffer_puts(&b, "</svg>\n");
        return buffer_steal(&b);
}
