/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "vmcompose/log.h"
#include "vmcompose/node.h"

void diag_add(Diagnostics *d, const Mark *m, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                msg = xstrdup("(out of memory)");

        char *line;
        if (m && m->file && m->line > 0)
                line = xasprintf("%s:%u:%u: %s", m->file, m->line, m->column, msg);
        else if (m && m->file)
                line = xasprintf("%s: %s", m->file, msg);
        else
                line = xstrdup(msg);
        strv_push(&d->messages, line);
        d->n_errors++;
}

int diag_add_errno(Diagnostics *d, int error, const char *fmt, ...) {
        char *msg = NULL;
        va_list ap;

        error = error < 0 ? -error : error;
        errno = error;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        strv_push(&d->messages, msg ? msg : xstrdup("(out of memory)"));
        d->n_errors++;
        return -error;
}

void diag_print(const Diagnostics *d) {
        for (size_t i = 0; i < d->n_errors; i++)
                log_error("%s", d->messages[i]);
}

void diag_done(Diagnostics *d) {
        strv_free(d->messages);
        *d = (Diagnostics){};
}

const char *source_set_add(SourceSet *s, const char *file) {
        for (char **p = s->files; p && *p; p++)
                if (streq(*p, file))
                        return *p;
        strv_extend(&s->files, file);
        return s->files[strv_length(s->files) - 1];
}

void source_set_done(SourceSet *s) {
        s->files = strv_free(s->files);
}

Node *node_new(NodeType type, const Mark *m) {
        Node *n = xcalloc(1, sizeof(Node));
        n->type = type;
        if (m)
                n->mark = *m;
        return n;
}

Node *node_new_scalar(const Mark *m, const char *value, bool plain) {
        Node *n = node_new(NODE_SCALAR, m);
        n->scalar = xstrdup(value);
        n->plain = plain;
        return n;
}

Node *node_free(Node *n) {
        if (!n)
                return NULL;
        free(n->scalar);
        for (size_t i = 0; i < n->n_pairs; i++) {
                free(n->pairs[i].key);
                node_free(n->pairs[i].value);
        }
        free(n->pairs);
        for (size_t i = 0; i < n->n_items; i++)
                node_free(n->items[i]);
        free(n->items);
        free(n);
        return NULL;
}

Node *node_copy(const Node *n) {
        Node *c = node_new(n->type, &n->mark);
        c->plain = n->plain;
        if (n->scalar)
                c->scalar = xstrdup(n->scalar);
        for (size_t i = 0; i < n->n_pairs; i++)
                node_map_append(c, n->pairs[i].key, &n->pairs[i].key_mark,
                                node_copy(n->pairs[i].value));
        for (size_t i = 0; i < n->n_items; i++)
                node_seq_append(c, node_copy(n->items[i]));
        return c;
}

void node_map_append(Node *map, const char *key, const Mark *key_mark, Node *value) {
        map->pairs = xrealloc(map->pairs, (map->n_pairs + 1) * sizeof(NodePair));
        map->pairs[map->n_pairs++] = (NodePair){
                .key = xstrdup(key),
                .key_mark = key_mark ? *key_mark : value->mark,
                .value = value,
        };
}

void node_seq_append(Node *seq, Node *item) {
        seq->items = xrealloc(seq->items, (seq->n_items + 1) * sizeof(Node *));
        seq->items[seq->n_items++] = item;
}

NodePair *node_map_find(const Node *map, const char *key) {
        if (!map || map->type != NODE_MAP)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (streq(map->pairs[i].key, key))
                        return &map->pairs[i];
        return NULL;
}

Node *node_map_get(const Node *map, const char *key) {
        NodePair *p = node_map_find(map, key);
        return p ? p->value : NULL;
}

const Node *node_map_typed(const Node *map, const char *key, NodeType type) {
        const Node *v = map && map->type == NODE_MAP ? node_map_get(map, key) : NULL;
        return v && v->type == type && !node_is_null(v) ? v : NULL;
}

const char *node_map_scalar(const Node *map, const char *key) {
        const Node *v = node_map_typed(map, key, NODE_SCALAR);
        return v ? v->scalar : NULL;
}

void node_map_remove(Node *map, const char *key) {
        NodePair *p = node_map_find(map, key);
        if (!p)
                return;
        size_t i = (size_t)(p - map->pairs);
        free(p->key);
        node_free(p->value);
        memmove(map->pairs + i, map->pairs + i + 1, (map->n_pairs - i - 1) * sizeof(NodePair));
        map->n_pairs--;
}

void node_seq_remove(Node *seq, size_t i) {
        if (i >= seq->n_items)
                return;
        node_free(seq->items[i]);
        memmove(seq->items + i, seq->items + i + 1, (seq->n_items - i - 1) * sizeof(Node *));
        seq->n_items--;
}

Node *node_lookup(const Node *root, const char *dotted) {
        const Node *n = root;
        const char *p = dotted;

        while (n && *p) {
                size_t l = strcspn(p, ".");
                _cleanup_free_ char *k = xstrndup(p, l);
                n = node_map_get(n, k);
                p += l;
                if (*p == '.')
                        p++;
        }
        return (Node *)n;
}

bool node_is_null(const Node *n) {
        if (!n)
                return true;
        if (n->type != NODE_SCALAR || !n->plain)
                return false;
        return streq(n->scalar, "") || streq(n->scalar, "~") || streq(n->scalar, "null") ||
               streq(n->scalar, "Null") || streq(n->scalar, "NULL");
}

const char *node_type_describe(const Node *n) {
        if (node_is_null(n))
                return "null";
        switch (n->type) {
        case NODE_SCALAR:
                return "a scalar";
        case NODE_MAP:
                return "a mapping";
        case NODE_SEQ:
                return "a list";
        default:
                return "unknown";
        }
}

/* The parser state: libyaml's event stream turned into a tree. */
typedef struct Parser {
        yaml_parser_t yaml;
        const char *file;
        const char *data;
        size_t size;
        Diagnostics *diag;
        size_t n_nodes;
        struct Anchor {
                char *name;
                Node *node; /* borrowed from the tree */
        } * anchors;
        size_t n_anchors;
} Parser;

static Mark mark_from_yaml(const Parser *p, yaml_mark_t ym) {
        return (Mark){
                .file = p->file, .line = (unsigned)ym.line + 1, .column = (unsigned)ym.column + 1};
}

/* libyaml reports reader errors (bad UTF-8, control characters) as a byte offset only. */
static Mark mark_from_offset(const Parser *p, size_t offset) {
        Mark m = {.file = p->file, .line = 1, .column = 1};
        for (size_t i = 0; i < offset && i < p->size; i++) {
                if (p->data[i] == '\n') {
                        m.line++;
                        m.column = 1;
                } else if (((unsigned char)p->data[i] & 0xc0) != 0x80)
                        m.column++;
        }
        return m;
}

static int parser_next(Parser *p, yaml_event_t *ev) {
        if (!yaml_parser_parse(&p->yaml, ev)) {
                Mark m = mark_from_yaml(p, p->yaml.problem_mark);
                if (p->yaml.error == YAML_READER_ERROR) {
                        /* A bad trailing octet is reported where it is: point at the
                         * sequence's leading octet instead, where the character starts. */
                        size_t off = p->yaml.problem_offset;
                        if (p->yaml.problem && strstr(p->yaml.problem, "UTF-8") &&
                            !strstr(p->yaml.problem, "leading"))
                                while (off > 0 && off <= p->size &&
                                       ((unsigned char)p->data[off - 1] & 0x80)) {
                                        off--;
                                        if (((unsigned char)p->data[off] & 0xc0) == 0xc0)
                                                break;
                                }
                        m = mark_from_offset(p, off);
                        diag_add(p->diag, &m, "invalid input: %s",
                                 p->yaml.problem ? p->yaml.problem : "unreadable text");
                        return -EBADMSG;
                }
                if (p->yaml.context &&
                    (p->yaml.context_mark.line != p->yaml.problem_mark.line ||
                     p->yaml.context_mark.column != p->yaml.problem_mark.column)) {
                        /* "while parsing a flow sequence": name where that sequence began. */
                        Mark c = mark_from_yaml(p, p->yaml.context_mark);
                        const char *what = p->yaml.context;
                        static const char *const skip[] = {"while parsing ", "while scanning ",
                                                           "a ", "an "};
                        for (size_t i = 0; i < ELEMENTSOF(skip); i++)
                                if (strneq(what, skip[i], strlen(skip[i])))
                                        what += strlen(skip[i]);
                        diag_add(p->diag, &m,
                                 "YAML syntax error: %s %s; the %s started at %s:%u:%u",
                                 p->yaml.problem ? p->yaml.problem : "unknown problem",
                                 p->yaml.context, what, c.file, c.line, c.column);
                } else if (p->yaml.context)
                        diag_add(p->diag, &m, "YAML syntax error: %s %s",
                                 p->yaml.problem ? p->yaml.problem : "unknown problem",
                                 p->yaml.context);
                else
                        diag_add(p->diag, &m, "YAML syntax error: %s",
                                 p->yaml.problem ? p->yaml.problem : "unknown problem");
                return -EBADMSG;
        }
        return 0;
}

static size_t node_count(const Node *n) {
        size_t c = 1;
        for (size_t i = 0; i < n->n_pairs; i++)
                c += node_count(n->pairs[i].value);
        for (size_t i = 0; i < n->n_items; i++)
                c += node_count(n->items[i]);
        return c;
}

static int count_node(Parser *p, const Mark *m, size_t n) {
        p->n_nodes += n;
        if (p->n_nodes > NODE_MAX_COUNT) {
                diag_add(p->diag, m,
                         "document expands to more than %u nodes (alias expansion bomb?)",
                         NODE_MAX_COUNT);
                return -EBADMSG;
        }
        return 0;
}

static void remember_anchor(Parser *p, const yaml_char_t *anchor, Node *n) {
        if (!anchor)
                return;
        /* A later anchor with the same name shadows the earlier one, as YAML says. */
        p->anchors = xrealloc(p->anchors, (p->n_anchors + 1) * sizeof(struct Anchor));
        p->anchors[p->n_anchors++] = (struct Anchor){xstrdup((const char *)anchor), n};
}

static int parse_node(Parser *p, yaml_event_t *ev, unsigned depth, Node **ret);

static int parse_children(Parser *p, Node *n, yaml_event_type_t end, unsigned depth) {
        for (;;) {
                yaml_event_t ev;
                int r = parser_next(p, &ev);
                if (r < 0)
                        return r;
                if (ev.type == end) {
                        yaml_event_delete(&ev);
                        return 0;
                }

                if (n->type == NODE_SEQ) {
                        Node *item = NULL;
                        r = parse_node(p, &ev, depth + 1, &item);
                        yaml_event_delete(&ev);
                        if (r < 0)
                                return r;
                        node_seq_append(n, item);
                        continue;
                }

                /* A mapping: key, then value. */
                Mark km = mark_from_yaml(p, ev.start_mark);
                if (ev.type != YAML_SCALAR_EVENT) {
                        diag_add(p->diag, &km, "mapping keys must be plain strings");
                        yaml_event_delete(&ev);
                        return -EBADMSG;
                }
                size_t klen = ev.data.scalar.length;
                _cleanup_free_ char *key = xstrndup((const char *)ev.data.scalar.value, klen);
                yaml_event_delete(&ev);
                if (strlen(key) != klen) {
                        diag_add(p->diag, &km, "mapping key contains a NUL character");
                        return -EBADMSG;
                }

                r = parser_next(p, &ev);
                if (r < 0)
                        return r;
                Node *value = NULL;
                r = parse_node(p, &ev, depth + 1, &value);
                yaml_event_delete(&ev);
                if (r < 0)
                        return r;

                NodePair *dup = node_map_find(n, key);
                if (dup) {
                        diag_add(p->diag, &km, "duplicate key '%s' (first given at line %u)", key,
                                 dup->key_mark.line);
                        node_free(value);
                        return -EBADMSG;
                }
                node_map_append(n, key, &km, value);
        }
}

static int parse_node(Parser *p, yaml_event_t *ev, unsigned depth, Node **ret) {
        Mark m = mark_from_yaml(p, ev->start_mark);
        _cleanup_(node_freep) Node *n = NULL;
        int r;

        if (depth > NODE_MAX_DEPTH) {
                diag_add(p->diag, &m, "nesting deeper than %u levels", NODE_MAX_DEPTH);
                return -EBADMSG;
        }

        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                r = count_node(p, &m, 1);
                if (r < 0)
                        return r;
                const char *v = (const char *)ev->data.scalar.value;
                if (strlen(v) != ev->data.scalar.length) {
                        diag_add(p->diag, &m, "value contains a NUL character");
                        return -EBADMSG;
                }
                n = node_new_scalar(&m, v, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
                remember_anchor(p, ev->data.scalar.anchor, n);
                break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
                r = count_node(p, &m, 1);
                if (r < 0)
                        return r;
                n = node_new(seq ? NODE_SEQ : NODE_MAP, &m);
                remember_anchor(
                        p, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor, n);
                r = parse_children(p, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT,
                                   depth);
                if (r < 0)
                        return r;
                break;
        }
        case YAML_ALIAS_EVENT: {
                const char *name = (const char *)ev->data.alias.anchor;
                const Node *target = NULL;
                for (size_t i = p->n_anchors; i > 0; i--)
                        if (streq(p->anchors[i - 1].name, name)) {
                                target = p->anchors[i - 1].node;
                                break;
                        }
                if (!target) {
                        diag_add(p->diag, &m, "unknown alias '*%s'", name);
                        return -EBADMSG;
                }
                /* Expanding an alias copies the tree: charge every copied node to the budget
                 * before copying, so that a billion-laughs document fails fast. */
                r = count_node(p, &m, node_count(target));
                if (r < 0)
                        return r;
                n = node_copy(target);
                break;
        }
        default:
                diag_add(p->diag, &m, "unexpected YAML event");
                return -EBADMSG;
        }

        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_stream(Parser *p, Node **ret) {
        _cleanup_(node_freep) Node *root = NULL;
        yaml_event_t ev;
        int r;

        for (;;) {
                r = parser_next(p, &ev);
                if (r < 0)
                        return r;
                yaml_event_type_t type = ev.type;
                Mark m = mark_from_yaml(p, ev.start_mark);

                if (type == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_END_EVENT) {
                        yaml_event_delete(&ev);
                        continue;
                }
                if (type == YAML_DOCUMENT_START_EVENT) {
                        yaml_event_delete(&ev);
                        if (root) {
                                diag_add(p->diag, &m,
                                         "a profile holds one YAML document, found a second");
                                return -EBADMSG;
                        }
                        r = parser_next(p, &ev);
                        if (r < 0)
                                return r;
                        m = mark_from_yaml(p, ev.start_mark);
                        r = parse_node(p, &ev, 1, &root);
                        yaml_event_delete(&ev);
                        if (r < 0)
                                return r;
                        if (node_is_null(root)) {
                                node_free(root);
                                root = node_new(NODE_MAP, &m);
                        } else if (root->type != NODE_MAP) {
                                diag_add(p->diag, &m, "the top level must be a mapping, not %s",
                                         node_type_describe(root));
                                return -EBADMSG;
                        }
                        continue;
                }
                yaml_event_delete(&ev);
                diag_add(p->diag, &m, "unexpected YAML event");
                return -EBADMSG;
        }

        if (!root) {
                Mark m = {.file = p->file, .line = 1, .column = 1};
                root = node_new(NODE_MAP, &m);
        }
        *ret = TAKE_PTR(root);
        return 0;
}

int node_parse_yaml(const char *file, const char *data, size_t size, Diagnostics *diag,
                    Node **ret) {
        Parser p = {.file = file, .data = data, .size = size, .diag = diag};
        int r;

        if (!yaml_parser_initialize(&p.yaml))
                return -ENOMEM;
        yaml_parser_set_input_string(&p.yaml, (const unsigned char *)data, size);
        r = parse_stream(&p, ret);
        yaml_parser_delete(&p.yaml);
        for (size_t i = 0; i < p.n_anchors; i++)
                free(p.anchors[i].name);
        free(p.anchors);
        return r;
}
