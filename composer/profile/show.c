/* SPDX-License-Identifier: MIT */
/* `vmcompose profile show`: the profile as YAML with provenance comments, or as JSON. Both walk
 * the schema, so keys come out in the schema's order whatever order the files used. */
#include <string.h>

#include "vmcompose/hash.h"
#include "vmcompose/json.h"
#include "vmcompose/profile.h"

#define COMMENT_COLUMN 56

static void format_mark(Buffer *b, const Mark *m) {
        if (m->line > 0)
                buffer_printf(b, "%s:%u:%u", m->file, m->line, m->column);
        else
                buffer_puts(b, m->file ? m->file : "?");
}

/* Schema order first, then why/category: the order fields are declared. A tree that does not
 * match the schema (only the fuzzer makes one) comes out in file order. Caller frees. */
static const NodePair **ordered_pairs(const Field *f, const Node *map, size_t *ret_n) {
        const NodePair **out = xcalloc(map->n_pairs + 1, sizeof(NodePair *));
        size_t n = 0;

        if (!f || f->type != FIELD_MAP) {
                for (size_t i = 0; i < map->n_pairs; i++)
                        out[n++] = &map->pairs[i];
                *ret_n = n;
                return out;
        }
        for (const Field *c = f->fields; c && c->name; c++) {
                NodePair *p = node_map_find(map, c->name);
                if (p)
                        out[n++] = p;
        }
        static const char *const extra[] = {"why", "category"};
        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                NodePair *p = node_map_find(map, extra[i]);
                if (p)
                        out[n++] = p;
        }
        *ret_n = n;
        return out;
}

static const Field *list_item(const Field *f) {
        return f && f->type == FIELD_LIST ? f->item : NULL;
}

static bool yaml_plain_safe(const char *s) {
        static const char *const special[] = {
                "y",  "Y",    "yes",  "Yes",  "YES",   "n",     "N",     "no", "No",
                "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
                "ON", "off",  "Off",  "OFF",  "null",  "Null",  "NULL",  "~"};
        if (!*s || strchr("-.?:,[]{}#&*!|>'\"%@`", s[0]))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(special); i++)
                if (streq(s, special[i]))
                        return false;
        for (const char *p = s; *p; p++) {
                char c = *p;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || strchr("_./+=@-", c);
                if (!ok)
                        return false;
        }
        return true;
}

static void text_scalar(Buffer *b, const Field *f, const Node *n) {
        bool typed = f && (f->type == FIELD_BOOL || f->type == FIELD_UINT);
        if (typed || yaml_plain_safe(n->scalar))
                buffer_puts(b, n->scalar);
        else
                json_escape(b, n->scalar); /* a JSON string is a YAML double-quoted scalar */
}

static void text_line_end(Buffer *b, size_t line_start, const Mark *m) {
        size_t col = b->len - line_start;
        buffer_putc(b, ' ');
        for (size_t i = col + 1; i < COMMENT_COLUMN; i++)
                buffer_putc(b, ' ');
        buffer_puts(b, "# ");
        format_mark(b, m);
        buffer_putc(b, '\n');
}

static void text_node(Buffer *b, const Field *f, const Node *n, unsigned indent, bool inline_first,
                      size_t line_start);

static void text_map(Buffer *b, const Field *f, const Node *n, unsigned indent, bool inline_first,
                     size_t line_start) {
        size_t np;
        _cleanup_free_ const NodePair **pairs = ordered_pairs(f, n, &np);

        if (np == 0) {
                buffer_puts(b, " {}");
                text_line_end(b, line_start, &n->mark);
                return;
        }
        if (!inline_first)
                buffer_putc(b, '\n');
        for (size_t i = 0; i < np; i++) {
                const NodePair *p = pairs[i];
                const Field *c = schema_field(f, p->key);
                if (!(inline_first && i == 0)) {
                        line_start = b->len;
                        for (unsigned j = 0; j < indent; j++)
                                buffer_putc(b, ' ');
                }
                buffer_printf(b, "%s:", p->key);
                text_node(b, c, p->value, indent + 2, false, line_start);
        }
}

static void text_node(Buffer *b, const Field *f, const Node *n, unsigned indent, bool inline_first,
                      size_t line_start) {
        switch (n->type) {
        case NODE_SCALAR:
                buffer_putc(b, ' ');
                text_scalar(b, f, n);
                text_line_end(b, line_start, &n->mark);
                return;
        case NODE_MAP:
                text_map(b, f, n, indent, inline_first, line_start);
                return;
        case NODE_SEQ:
                if (n->n_items == 0) {
                        buffer_puts(b, " []");
                        text_line_end(b, line_start, &n->mark);
                        return;
                }
                buffer_putc(b, '\n');
                for (size_t i = 0; i < n->n_items; i++) {
                        const Node *item = n->items[i];
                        size_t ls = b->len;
                        for (unsigned j = 0; j + 2 < indent; j++)
                                buffer_putc(b, ' ');
                        buffer_puts(b, "-");
                        if (item->type == NODE_MAP && item->n_pairs > 0) {
                                buffer_putc(b, ' ');
                                text_map(b, list_item(f), item, indent, true, ls);
                        } else
                                text_node(b, list_item(f), item, indent, false, ls);
                }
                return;
        default:
                return;
        }
}

char *profile_format_text(const Profile *p) {
        Buffer b = {};

        buffer_puts(&b, "# layers, base first:");
        for (char **l = p->layers; l && *l; l++)
                buffer_printf(&b, " %s", *l);
        buffer_putc(&b, '\n');
        text_map(&b, &profile_schema, p->tree, 0, true, b.len);
        return buffer_steal(&b);
}

/* For profile_format_canonical(): paths are replaced by the digest of what they name. */
typedef struct PathDigests {
        int r;        /* the first error */
        char *failed; /* the path it was on */
} PathDigests;

static void json_value(JsonWriter *w, const Field *f, const Node *n, PathDigests *pd) {
        uint64_t v;

        switch (n->type) {
        case NODE_MAP: {
                size_t np;
                _cleanup_free_ const NodePair **pairs = ordered_pairs(f, n, &np);
                json_begin_object(w);
                for (size_t i = 0; i < np; i++) {
                        json_key(w, pairs[i]->key);
                        json_value(w, schema_field(f, pairs[i]->key), pairs[i]->value, pd);
                }
                json_end_object(w);
                return;
        }
        case NODE_SEQ:
                json_begin_array(w);
                for (size_t i = 0; i < n->n_items; i++)
                        json_value(w, list_item(f), n->items[i], pd);
                json_end_array(w);
                return;
        case NODE_SCALAR:
                if (f && f->type == FIELD_PATH && pd) {
                        uint8_t d[SHA256_DIGEST_SIZE];
                        char hex[2 * SHA256_DIGEST_SIZE + 1] = "";
                        int r = sha256_tree(n->scalar, d);
                        if (r < 0 && pd->r == 0) {
                                pd->r = r;
                                pd->failed = xstrdup(n->scalar);
                        } else if (r >= 0)
                                sha256_hex(d, hex);
                        _cleanup_free_ char *digest = xasprintf("sha256:%s", hex);
                        json_string(w, digest);
                } else if (f && f->type == FIELD_BOOL)
                        json_bool(w, streq(n->scalar, "true"));
                else if (f && f->type == FIELD_UINT && parse_uint64(n->scalar, &v) == 0)
                        json_uint(w, v);
                else if (f && f->type == FIELD_SIZE && parse_size(n->scalar, &v) == 0)
                        json_uint(w, v);
                else if (f && f->type == FIELD_MAP)
                        json_string(w, n->scalar); /* a shorthand word such as "system" */
                else
                        json_string(w, n->scalar);
                return;
        default:
                json_null(w);
        }
}

static void json_provenance(JsonWriter *w, const Field *f, const Node *n, const char *path) {
        Buffer m = {};

        if (*path) {
                format_mark(&m, &n->mark);
                json_key(w, path);
                json_string(w, m.data);
                buffer_done(&m);
        }
        if (n->type == NODE_MAP) {
                size_t np;
                _cleanup_free_ const NodePair **pairs = ordered_pairs(f, n, &np);
                for (size_t i = 0; i < np; i++) {
                        _cleanup_free_ char *sub = *path ? xasprintf("%s.%s", path, pairs[i]->key)
                                                         : xstrdup(pairs[i]->key);
                        json_provenance(w, schema_field(f, pairs[i]->key), pairs[i]->value, sub);
                }
        } else if (n->type == NODE_SEQ)
                for (size_t i = 0; i < n->n_items; i++) {
                        _cleanup_free_ char *sub = xasprintf("%s[%zu]", path, i);
                        json_provenance(w, list_item(f), n->items[i], sub);
                }
}

char *profile_format_json(const Profile *p) {
        JsonWriter w = {.pretty = true};

        json_begin_object(&w);
        json_key(&w, "layers");
        json_begin_array(&w);
        for (char **l = p->layers; l && *l; l++)
                json_string(&w, *l);
        json_end_array(&w);
        json_key(&w, "profile");
        json_value(&w, &profile_schema, p->tree, NULL);
        json_key(&w, "provenance");
        json_begin_object(&w);
        json_provenance(&w, &profile_schema, p->tree, "");
        json_end_object(&w);
        json_end_object(&w);
        return json_finish(&w);
}

int profile_format_canonical(const Profile *p, char **ret, char **ret_failed) {
        JsonWriter w = {};
        PathDigests pd = {};

        json_value(&w, &profile_schema, p->tree, &pd);
        _cleanup_free_ char *text = json_finish(&w);
        if (pd.r < 0) {
                *ret_failed = pd.failed;
                return pd.r;
        }
        *ret = TAKE_PTR(text);
        return 0;
}
