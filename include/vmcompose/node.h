/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vmcompose/macro.h"
#include "vmcompose/util.h"

/* Where a value came from. file points to a string owned by the SourceSet the node was loaded
 * into; line and column are 1-based (0 for built-in defaults). */
typedef struct Mark {
        const char *file;
        unsigned line, column;
} Mark;

/* Error messages collected while loading, each "file:line:col: message". */
typedef struct Diagnostics {
        char **messages;
        size_t n_errors;
} Diagnostics;

void diag_add(Diagnostics *d, const Mark *m, const char *fmt, ...) _printf_(3, 4);
/* Adds message (without a mark; %m is error's text) and returns error as a negative errno:
 * return diag_add_errno(diag, r, "install: cannot open %s: %m", path); */
int diag_add_errno(Diagnostics *d, int error, const char *fmt, ...) _printf_(3, 4);
void diag_print(const Diagnostics *d);
void diag_done(Diagnostics *d);

typedef enum NodeType {
        NODE_SCALAR,
        NODE_MAP,
        NODE_SEQ,
        _NODE_TYPE_MAX,
        _NODE_TYPE_INVALID = -EINVAL,
} NodeType;

typedef struct Node Node;

typedef struct NodePair {
        char *key;
        Mark key_mark;
        Node *value;
} NodePair;

struct Node {
        NodeType type;
        Mark mark;
        /* NODE_SCALAR */
        char *scalar;
        bool plain; /* unquoted: may be null or a boolean */
        /* NODE_MAP */
        NodePair *pairs;
        size_t n_pairs;
        /* NODE_SEQ */
        Node **items;
        size_t n_items;
};

/* Owns the file names that Marks point to. */
typedef struct SourceSet {
        char **files;
} SourceSet;

const char *source_set_add(SourceSet *s, const char *file);
void source_set_done(SourceSet *s);

/* Limits that keep a hostile profile from exhausting memory or stack. */
#define NODE_MAX_DEPTH 64
#define NODE_MAX_COUNT 100000
#define PROFILE_MAX_FILE_SIZE (4u << 20)

Node *node_new_scalar(const Mark *m, const char *value, bool plain);
Node *node_new(NodeType type, const Mark *m);
Node *node_free(Node *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Node *, node_free);
Node *node_copy(const Node *n);
void node_map_append(Node *map, const char *key, const Mark *key_mark, Node *value);
void node_seq_append(Node *seq, Node *item);
/* Returns the pair for key in a mapping, or NULL. */
NodePair *node_map_find(const Node *map, const char *key);
Node *node_map_get(const Node *map, const char *key);
/* Typed reads of a document (a manifest, a lock file): the value of key when map is a mapping
 * and the value has the type; NULL when it is absent, of another type, or a YAML null. */
const Node *node_map_typed(const Node *map, const char *key, NodeType type);
const char *node_map_scalar(const Node *map, const char *key);
/* Removes key from a mapping and frees its value; no-op when absent. */
void node_map_remove(Node *map, const char *key);
/* Removes the item at index i of a list and frees it; no-op past the end. */
void node_seq_remove(Node *seq, size_t i);
/* Walks a dotted path ("distro.release") through mappings; NULL when any step is missing. */
Node *node_lookup(const Node *root, const char *dotted);
bool node_is_null(const Node *n);
/* "a string", "a mapping", "a list", "null". */
const char *node_type_describe(const Node *n);

/* Parses YAML text into a tree. Accepts one document whose top level is a mapping (an empty
 * document yields an empty mapping). Rejects duplicate keys, non-scalar keys, nesting deeper
 * than NODE_MAX_DEPTH and alias expansion beyond NODE_MAX_COUNT nodes. On error adds
 * diagnostics and returns -EBADMSG. file must outlive the tree (see SourceSet). */
int node_parse_yaml(const char *file, const char *data, size_t size, Diagnostics *diag, Node **ret);
