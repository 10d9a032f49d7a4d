/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include <strings.h>

#include "vmcompose/resolve.h"

typedef struct DebEntry {
        char *name, *version, *architecture;
        char *section, *priority;
        bool essential;
        uint64_t size;
} DebEntry;

/* A hash table of DebEntry by (name, version, architecture). */
typedef struct DebIndex {
        DebEntry **slots;
        size_t cap, n;
} DebIndex;

/* Adds every stanza of a Packages index. */
int deb_index_load(DebIndex *x, const char *data, size_t size);
/* The same from a stream, a line at a time (an index is never held whole): 0 or a negative
 * errno on a read error. */
int deb_index_load_file(DebIndex *x, FILE *f);
const DebEntry *deb_index_find(const DebIndex *x, const char *name, const char *version,
                               const char *arch);
void deb_index_done(DebIndex *x);

extern const ResolverBackend resolver_deb;
extern const ResolverBackend resolver_rpm;
