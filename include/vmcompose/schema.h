/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/node.h"

/* The shape of a YAML document: what keys exist, what each holds, and how overlays merge it.
 * The profile schema and the policy schema are tables of these (composer/profile/schema.c). */

typedef enum FieldType {
        FIELD_STRING,
        FIELD_BOOL, /* YAML 1.1 booleans, normalised to "true"/"false" */
        FIELD_UINT, /* unsigned decimal, 64 bits */
        FIELD_SIZE, /* "512M", "2G"; see FIELD_ALLOW_AUTO / FIELD_ALLOW_PERCENT */
        FIELD_ENUM, /* one of values[] */
        FIELD_PATH, /* a file path, resolved against the directory of the declaring file */
        FIELD_MAP,  /* fields[] */
        FIELD_LIST, /* items described by item */
        _FIELD_TYPE_MAX,
        _FIELD_TYPE_INVALID = -EINVAL,
} FieldType;

typedef enum MergeMode {
        MERGE_OVERRIDE,   /* scalars: the overlay's value wins; maps: key by key */
        MERGE_REPLACE,    /* lists: the overlay's list replaces the inherited one */
        MERGE_ACCUMULATE, /* lists: items are added; an item with the same key merges into it */
} MergeMode;

enum {
        FIELD_REQUIRED = 1 << 0,         /* must be set after all overlays are applied */
        FIELD_ALLOW_AUTO = 1 << 1,       /* FIELD_SIZE: "auto" is accepted */
        FIELD_ALLOW_PERCENT = 1 << 2,    /* FIELD_SIZE: "10%" is accepted */
        FIELD_SCALAR_AS_LIST = 1 << 3,   /* FIELD_LIST: a single item may be written alone */
        FIELD_ALLOW_DUPLICATES = 1 << 4, /* FIELD_LIST: same key twice is fine (scripts) */
        FIELD_ITEM_REQUIRED = 1 << 5,    /* within a list item: must be given in that item */
        FIELD_NONZERO = 1 << 6,          /* FIELD_SIZE / FIELD_UINT: 0 is an error */
        FIELD_KEEP_SHORTHAND = 1 << 7,   /* FIELD_LIST with a key: a scalar item X is checked as
                                          * {key: X} but stays a scalar in the tree (outputs) */
};

typedef struct SchemaContext SchemaContext;
typedef struct Field Field;

/* A custom check: adds diagnostics and returns -EBADMSG on bad input, 0 otherwise. */
typedef int (*FieldCheck)(const Field *f, Node *n, SchemaContext *ctx);

struct Field {
        const char *name;
        FieldType type;
        unsigned flags;
        MergeMode merge;
        const Field *fields;       /* FIELD_MAP: children, ended by an entry with name NULL */
        const Field *item;         /* FIELD_LIST: the item's description */
        const char *const *values; /* FIELD_ENUM: allowed values, NULL-terminated */
        const char *key;           /* FIELD_LIST of maps: identity key; a scalar item X is
                                    * shorthand for {key: X} */
        const char *cancels;       /* FIELD_LIST: the sibling list this one removes from */
        const char *default_value; /* shown as the value when nothing sets it */
        FieldCheck check;
        const char *help; /* one line for `vmcompose profile --help` */
};

struct SchemaContext {
        Diagnostics *diag;
        const char *file;     /* the file being validated */
        const char *base_dir; /* its directory, for FIELD_PATH */
        const char *data_dir; /* vmcompose's data directory (policies, kernel-config) */
};

extern const Field profile_schema;
extern const Field policy_schema;
extern const Field kernel_target_schema;

/* Checks one file's tree against a schema: unknown keys (with a "did you mean"), types, enum
 * values, sizes, and the custom checks; normalises shorthand list items, booleans and paths in
 * place. Required fields are not checked here (an overlay may set only a few keys): see
 * schema_check_required(). Returns 0 or -EBADMSG with diagnostics added. */
int schema_validate(const Field *schema, Node *root, SchemaContext *ctx);

/* Checks FIELD_REQUIRED fields of a resolved tree. where names the place to blame. */
int schema_check_required(const Field *schema, const Node *root, const Mark *where,
                          Diagnostics *diag);

/* Merges overlay into base following the schema's merge rules. Takes ownership of nothing:
 * overlay's nodes are copied. */
void schema_merge(const Field *schema, Node *base, const Node *overlay);

/* Finds a child field by name. */
const Field *schema_field(const Field *map, const char *name);

/* Calls fn for every key of the schema with its dotted path ("disk.partitions[].size"). */
void schema_walk(const Field *schema, const char *prefix,
                 void (*fn)(const Field *field, const char *path, void *userdata), void *userdata);

/* Writes the schema as help text: one line per key with its type and description. */
void schema_describe(const Field *schema, Buffer *out);

/* The fixed vocabulary of `category:` (see docs/profile.md). */
extern const char *const deviation_categories[];
