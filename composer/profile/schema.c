/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "vmcompose/schema.h"

/* Every mapping may carry a reason and a category for the audit trail. */
static const Field why_field = {.name = "why",
                                .type = FIELD_STRING,
                                .help = "the reason for this setting (feeds the audit trail)"};
static const Field category_field = {.name = "category",
                                     .type = FIELD_ENUM,
                                     .values = deviation_categories,
                                     .help = "deviation category"};

const Field *schema_field(const Field *map, const char *name) {
        if (!map || map->type != FIELD_MAP)
                return NULL;
        for (const Field *f = map->fields; f && f->name; f++)
                if (streq(f->name, name))
                        return f;
        if (streq(name, "why"))
                return &why_field;
        if (streq(name, "category"))
                return &category_field;
        return NULL;
}

static const char *type_describe(const Field *f) {
        switch (f->type) {
        case FIELD_STRING:
        case FIELD_PATH:
                return "a string";
        case FIELD_BOOL:
                return "a boolean (true or false)";
        case FIELD_UINT:
                return "an unsigned integer";
        case FIELD_SIZE:
                return "a size";
        case FIELD_ENUM:
                return "one of the listed values";
        case FIELD_MAP:
                return "a mapping";
        case FIELD_LIST:
                return "a list";
        default:
                return "?";
        }
}

/* Appends " (did you mean 'x'?)" when one candidate is close enough to be a likely typo. */
static void suggest(Buffer *b, const char *got, const char *const *candidates, size_t n) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; i < n; i++) {
                size_t d = string_distance(got, candidates[i]);
                if (d < best_d) {
                        best_d = d;
                        best = candidates[i];
                }
        }
        size_t limit = MAX((size_t)2, strlen(got) / 3);
        if (best && best_d <= limit)
                buffer_printf(b, " (did you mean '%s'?)", best);
}

static void append_list(Buffer *b, const char *const *values, size_t n) {
        for (size_t i = 0; i < n; i++)
                buffer_printf(b, "%s%s", i ? ", " : "", values[i]);
}

static size_t count_values(const char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static int unknown_key(SchemaContext *ctx, const Field *map, const NodePair *p, const char *where) {
        const char *names[64];
        size_t n = 0;
        Buffer b = {};

        for (const Field *f = map->fields; f && f->name && n < ELEMENTSOF(names) - 2; f++)
                names[n++] = f->name;
        names[n++] = "why";
        names[n++] = "category";

        buffer_printf(&b, "unknown key '%s'%s%s", p->key, *where ? " in " : "", where);
        suggest(&b, p->key, names, n);
        buffer_puts(&b, "; expected one of: ");
        append_list(&b, names, n);
        diag_add(ctx->diag, &p->key_mark, "%s", b.data);
        buffer_done(&b);
        return -EBADMSG;
}

static int type_error(SchemaContext *ctx, const Field *f, const Node *n, const char *where) {
        diag_add(ctx->diag, &n->mark, "%s: expected %s, got %s", where, type_describe(f),
                 node_type_describe(n));
        return -EBADMSG;
}

static void set_scalar(Node *n, const char *v) {
        free(n->scalar);
        n->scalar = xstrdup(v);
        n->plain = true;
}

static int validate_bool(SchemaContext *ctx, Node *n, const char *where) {
        static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                          "True", "TRUE", "on",  "On",  "ON"};
        static const char *const no[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                         "False", "FALSE", "off", "Off", "OFF"};
        if (n->plain) {
                for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                        if (streq(n->scalar, yes[i])) {
                                set_scalar(n, "true");
                                return 0;
                        }
                for (size_t i = 0; i < ELEMENTSOF(no); i++)
                        if (streq(n->scalar, no[i])) {
                                set_scalar(n, "false");
                                return 0;
                        }
        }
        diag_add(ctx->diag, &n->mark, "%s: expected true or false, got '%s'", where, n->scalar);
        return -EBADMSG;
}

static int validate_size(SchemaContext *ctx, const Field *f, Node *n, const char *where) {
        const char *s = n->scalar;
        uint64_t v;
        unsigned pct;
        int r;

        if ((f->flags & FIELD_ALLOW_AUTO) && streq(s, "auto"))
                return 0;
        if ((f->flags & FIELD_ALLOW_PERCENT) && strchr(s, '%')) {
                r = parse_percent(s, &pct);
                if (r < 0) {
                        diag_add(ctx->diag, &n->mark,
                                 "%s: invalid percentage '%s': expected 0%% to 100%%", where, s);
                        return -EBADMSG;
                }
                return 0;
        }
        r = parse_size(s, &v);
        if (r == -ERANGE) {
                diag_add(ctx->diag, &n->mark, "%s: size '%s' does not fit in 64 bits", where, s);
                return -EBADMSG;
        }
        if (r < 0) {
                diag_add(ctx->diag, &n->mark,
                         "%s: invalid size '%s': expected digits with an optional K, M, G, T, P "
                         "or E suffix (binary: 512M is 512 MiB)%s%s",
                         where, s, (f->flags & FIELD_ALLOW_AUTO) ? ", or auto" : "",
                         (f->flags & FIELD_ALLOW_PERCENT) ? ", or a percentage" : "");
                return -EBADMSG;
        }
        if ((f->flags & FIELD_NONZERO) && v == 0) {
                diag_add(ctx->diag, &n->mark, "%s: size must not be zero", where);
                return -EBADMSG;
        }
        return 0;
}

static int validate_scalar(SchemaContext *ctx, const Field *f, Node *n, const char *where) {
        uint64_t v;
        int r;

        if (n->type != NODE_SCALAR || node_is_null(n))
                return type_error(ctx, f, n, where);

        switch (f->type) {
        case FIELD_STRING:
                return 0;
        case FIELD_BOOL:
                return validate_bool(ctx, n, where);
        case FIELD_UINT:
                r = parse_uint64(n->scalar, &v);
                if (r < 0) {
                        diag_add(ctx->diag, &n->mark, "%s: %s '%s'", where,
                                 r == -ERANGE ? "number too large:"
                                              : "expected an unsigned integer, got",
                                 n->scalar);
                        return -EBADMSG;
                }
                if ((f->flags & FIELD_NONZERO) && v == 0) {
                        diag_add(ctx->diag, &n->mark, "%s: must not be zero", where);
                        return -EBADMSG;
                }
                return 0;
        case FIELD_SIZE:
                return validate_size(ctx, f, n, where);
        case FIELD_ENUM:
                for (const char *const *p = f->values; *p; p++)
                        if (streq(*p, n->scalar))
                                return 0;
                Buffer b = {};
                buffer_printf(&b, "%s: invalid value '%s'", where, n->scalar);
                suggest(&b, n->scalar, f->values, count_values(f->values));
                buffer_puts(&b, "; expected one of: ");
                append_list(&b, f->values, count_values(f->values));
                diag_add(ctx->diag, &n->mark, "%s", b.data);
                buffer_done(&b);
                return -EBADMSG;
        case FIELD_PATH:
                if (!*n->scalar) {
                        diag_add(ctx->diag, &n->mark, "%s: empty path", where);
                        return -EBADMSG;
                }
                if (n->scalar[0] != '/' && ctx->base_dir) {
                        _cleanup_free_ char *j = path_join(ctx->base_dir, n->scalar);
                        free(n->scalar);
                        n->scalar = path_normalize(j);
                }
                return 0;
        default:
                return type_error(ctx, f, n, where);
        }
}

static int validate_node(const Field *f, Node *n, const char *where, SchemaContext *ctx);

/* The identity of a list item: its key field's value, or the scalar itself. */
static const char *item_identity(const Field *list, const Node *item) {
        if (item->type == NODE_SCALAR)
                return item->scalar;
        if (!list->key)
                return NULL;
        Node *k = node_map_get(item, list->key);
        return k && k->type == NODE_SCALAR ? k->scalar : NULL;
}

static int validate_list(const Field *f, Node *n, const char *where, SchemaContext *ctx) {
        int r = 0;

        if (node_is_null(n)) {
                /* "install:" with nothing after it: an empty list. */
                Node empty = {.type = NODE_SEQ, .mark = n->mark};
                free(n->scalar);
                *n = empty;
                return 0;
        }
        if (n->type != NODE_SEQ) {
                if (!(f->flags & FIELD_SCALAR_AS_LIST) || n->type != NODE_SCALAR)
                        return type_error(ctx, f, n, where);
                /* A single item written alone: wrap it into a one-item list, in place. */
                Node *item = node_new_scalar(&n->mark, n->scalar, n->plain);
                free(n->scalar);
                *n = (Node){.type = NODE_SEQ, .mark = n->mark};
                node_seq_append(n, item);
        }

        for (size_t i = 0; i < n->n_items; i++) {
                Node *item = n->items[i];
                _cleanup_free_ char *w = xasprintf("%s[%zu]", where, i);

                /* Shorthand: NAME stands for {key: NAME}. */
                if (f->key && f->item->type == FIELD_MAP && item->type == NODE_SCALAR &&
                    !node_is_null(item) && (f->flags & FIELD_KEEP_SHORTHAND)) {
                        if (validate_node(schema_field(f->item, f->key), item, w, ctx) < 0)
                                r = -EBADMSG;
                        continue;
                }
                if (f->key && f->item->type == FIELD_MAP && item->type == NODE_SCALAR &&
                    !node_is_null(item)) {
                        Node *map = node_new(NODE_MAP, &item->mark);
                        node_map_append(map, f->key, &item->mark, item);
                        n->items[i] = item = map;
                }
                if (validate_node(f->item, item, w, ctx) < 0)
                        r = -EBADMSG;
        }
        if (r < 0 || (f->flags & FIELD_ALLOW_DUPLICATES))
                return r;

        for (size_t i = 0; i < n->n_items; i++) {
                const char *id = item_identity(f, n->items[i]);
                for (size_t j = 0; id && j < i; j++) {
                        const char *other = item_identity(f, n->items[j]);
                        if (other && streq(id, other)) {
                                diag_add(ctx->diag, &n->items[i]->mark,
                                         "%s: '%s' is listed twice (first at line %u)", where, id,
                                         n->items[j]->mark.line);
                                r = -EBADMSG;
                                break;
                        }
                }
        }
        return r;
}

/* Within one file, an item may not be both added and cancelled (install and remove). */
static int check_cancels(const Field *f, const Node *n, const char *where, SchemaContext *ctx) {
        int r = 0;

        for (const Field *c = f->fields; c && c->name; c++) {
                if (!c->cancels || strcmp(c->name, c->cancels) > 0)
                        continue; /* check each pair once */
                Node *a = node_map_get(n, c->name), *b = node_map_get(n, c->cancels);
                const Field *cf = schema_field(f, c->cancels);
                if (!a || !b || a->type != NODE_SEQ || b->type != NODE_SEQ || !cf)
                        continue;
                for (size_t i = 0; i < a->n_items; i++)
                        for (size_t j = 0; j < b->n_items; j++) {
                                const char *x = item_identity(c, a->items[i]);
                                const char *y = item_identity(cf, b->items[j]);
                                if (x && y && streq(x, y)) {
                                        diag_add(ctx->diag, &b->items[j]->mark,
                                                 "%s%s%s: '%s' is in both %s and %s", where,
                                                 *where ? "." : "", c->cancels, x, c->name,
                                                 c->cancels);
                                        r = -EBADMSG;
                                }
                        }
        }
        return r;
}

static int validate_map(const Field *f, Node *n, const char *where, SchemaContext *ctx) {
        int r = 0;

        if (f->values && n->type == NODE_SCALAR && !node_is_null(n)) {
                /* A mapping that may also be written as one of a few words ("system"). */
                for (const char *const *v = f->values; *v; v++)
                        if (streq(*v, n->scalar))
                                return 0;
                diag_add(ctx->diag, &n->mark, "%s: expected a mapping or '%s', got '%s'", where,
                         f->values[0], n->scalar);
                return -EBADMSG;
        }
        if (node_is_null(n)) {
                free(n->scalar);
                *n = (Node){.type = NODE_MAP, .mark = n->mark};
        }
        if (n->type != NODE_MAP)
                return type_error(ctx, f, n, where);

        for (size_t i = 0; i < n->n_pairs; i++) {
                NodePair *p = &n->pairs[i];
                const Field *c = schema_field(f, p->key);
                if (!c) {
                        r = unknown_key(ctx, f, p, where);
                        continue;
                }
                _cleanup_free_ char *w =
                        *where ? xasprintf("%s.%s", where, p->key) : xstrdup(p->key);
                if (validate_node(c, p->value, w, ctx) < 0)
                        r = -EBADMSG;
        }
        for (const Field *c = f->fields; c && c->name; c++)
                if ((c->flags & FIELD_ITEM_REQUIRED) && !node_map_find(n, c->name)) {
                        diag_add(ctx->diag, &n->mark, "%s: missing required key '%s'", where,
                                 c->name);
                        r = -EBADMSG;
                }
        if (r == 0)
                r = check_cancels(f, n, where, ctx);
        return r;
}

static int validate_node(const Field *f, Node *n, const char *where, SchemaContext *ctx) {
        int r;

        switch (f->type) {
        case FIELD_MAP:
                r = validate_map(f, n, where, ctx);
                break;
        case FIELD_LIST:
                r = validate_list(f, n, where, ctx);
                break;
        default:
                r = validate_scalar(ctx, f, n, where);
        }
        if (r == 0 && f->check)
                r = f->check(f, n, ctx);
        return r;
}

int schema_validate(const Field *schema, Node *root, SchemaContext *ctx) {
        return validate_node(schema, root, "", ctx);
}

static int check_required(const Field *f, const Node *n, const char *where, const Mark *blame,
                          Diagnostics *diag) {
        int r = 0;

        for (const Field *c = f->fields; c && c->name; c++) {
                if (!(c->flags & FIELD_REQUIRED))
                        continue;
                _cleanup_free_ char *w =
                        *where ? xasprintf("%s.%s", where, c->name) : xstrdup(c->name);
                Node *v = node_map_get(n, c->name);
                if (!v) {
                        diag_add(diag, blame,
                                 "missing required key '%s' (set neither here nor in any profile "
                                 "this one extends)",
                                 w);
                        r = -EBADMSG;
                } else if (c->type == FIELD_MAP && check_required(c, v, w, blame, diag) < 0)
                        r = -EBADMSG;
        }
        return r;
}

int schema_check_required(const Field *schema, const Node *root, const Mark *where,
                          Diagnostics *diag) {
        return check_required(schema, root, "", where, diag);
}

static void remove_items(const Field *list, Node *seq, const char *id) {
        for (size_t i = 0; seq && i < seq->n_items;) {
                const char *x = item_identity(list, seq->items[i]);
                if (x && streq(x, id)) {
                        node_free(seq->items[i]);
                        memmove(seq->items + i, seq->items + i + 1,
                                (seq->n_items - i - 1) * sizeof(Node *));
                        seq->n_items--;
                } else
                        i++;
        }
}

static void merge_node(const Field *f, Node *base, const Node *overlay, const char *keep);

static void merge_list(const Field *f, Node *base, const Node *overlay) {
        for (size_t i = 0; i < overlay->n_items; i++) {
                const Node *item = overlay->items[i];
                const char *id = item_identity(f, item);
                Node *existing = NULL;

                for (size_t j = 0; id && !(f->flags & FIELD_ALLOW_DUPLICATES) && j < base->n_items;
                     j++) {
                        const char *x = item_identity(f, base->items[j]);
                        if (x && streq(x, id)) {
                                existing = base->items[j];
                                break;
                        }
                }
                /* The item keeps the provenance of its key: who first added the package. */
                if (existing && existing->type == NODE_MAP && item->type == NODE_MAP)
                        merge_node(f->item, existing, item, f->key);
                else if (!existing)
                        node_seq_append(base, node_copy(item));
        }
}

static void replace_value(NodePair *p, const Node *value, const Mark *key_mark) {
        node_free(p->value);
        p->value = node_copy(value);
        p->key_mark = *key_mark;
}

static void merge_node(const Field *f, Node *base, const Node *overlay, const char *keep) {
        if (f->type != FIELD_MAP || base->type != NODE_MAP || overlay->type != NODE_MAP)
                return;

        for (size_t i = 0; i < overlay->n_pairs; i++) {
                const NodePair *op = &overlay->pairs[i];
                const Field *c = schema_field(f, op->key);
                NodePair *bp = node_map_find(base, op->key);

                if (!c || (keep && streq(op->key, keep)))
                        continue; /* c: validated already, unreachable for validated trees */
                if (c->type == FIELD_LIST && c->cancels && op->value->type == NODE_SEQ) {
                        Node *other = node_map_get(base, c->cancels);
                        const Field *of = schema_field(f, c->cancels);
                        for (size_t j = 0; other && of && j < op->value->n_items; j++) {
                                const char *id = item_identity(c, op->value->items[j]);
                                if (id)
                                        remove_items(of, other, id);
                        }
                }
                if (!bp)
                        node_map_append(base, op->key, &op->key_mark, node_copy(op->value));
                else if (c->type == FIELD_MAP && bp->value->type == NODE_MAP &&
                         op->value->type == NODE_MAP)
                        merge_node(c, bp->value, op->value, NULL);
                else if (c->type == FIELD_LIST && c->merge == MERGE_ACCUMULATE &&
                         bp->value->type == NODE_SEQ && op->value->type == NODE_SEQ)
                        merge_list(c, bp->value, op->value);
                else
                        replace_value(bp, op->value, &op->key_mark);
        }
}

void schema_merge(const Field *schema, Node *base, const Node *overlay) {
        merge_node(schema, base, overlay, NULL);
}

static const char *merge_describe(const Field *f) {
        if (f->type != FIELD_LIST)
                return "";
        return f->merge == MERGE_ACCUMULATE ? ", accumulates" : ", replaces";
}

static const char *type_name(const Field *c) {
        switch (c->type) {
        case FIELD_STRING:
                return "string";
        case FIELD_PATH:
                return "path";
        case FIELD_BOOL:
                return "bool";
        case FIELD_UINT:
                return "integer";
        case FIELD_SIZE:
                return "size";
        case FIELD_ENUM:
                return "enum";
        case FIELD_MAP:
                return "mapping";
        default:
                return "list";
        }
}

/* Calls fn for every key of the schema, with its dotted path ("disk.partitions[].size"). */
void schema_walk(const Field *f, const char *prefix,
                 void (*fn)(const Field *field, const char *path, void *userdata), void *userdata) {
        for (const Field *c = f->fields; c && c->name; c++) {
                _cleanup_free_ char *path =
                        *prefix ? xasprintf("%s.%s", prefix, c->name) : xstrdup(c->name);
                fn(c, path, userdata);
                if (c->type == FIELD_MAP)
                        schema_walk(c, path, fn, userdata);
                else if (c->type == FIELD_LIST && c->item->type == FIELD_MAP && c->item->fields &&
                         (!c->key || c->item->fields[1].name)) {
                        /* A list of NAME-or-{name, why} items needs no sub-keys listed. */
                        _cleanup_free_ char *ip = xasprintf("%s[]", path);
                        schema_walk(c->item, ip, fn, userdata);
                }
        }
}

static void describe_one(const Field *c, const char *path, void *userdata) {
        Buffer *out = userdata;
        buffer_printf(out, "  %-34s %s%s%s", path, type_name(c),
                      (c->flags & FIELD_REQUIRED) ? ", required" : "", merge_describe(c));
        if (c->default_value)
                buffer_printf(out, ", default %s", c->default_value);
        buffer_putc(out, '\n');
        if (c->help)
                buffer_printf(out, "      %s\n", c->help);
        if (c->type == FIELD_ENUM) {
                buffer_puts(out, "      one of:");
                for (const char *const *v = c->values; *v; v++)
                        buffer_printf(out, " %s", *v);
                buffer_putc(out, '\n');
        }
}

void schema_describe(const Field *schema, Buffer *out) {
        schema_walk(schema, "", describe_one, out);
        buffer_puts(out, "  (any mapping).why                  string\n"
                         "      the reason for a setting, for the audit trail\n"
                         "  (any mapping).category             enum\n"
                         "      one of:");
        for (const char *const *v = deviation_categories; *v; v++)
                buffer_printf(out, " %s", *v);
        buffer_putc(out, '\n');
}
