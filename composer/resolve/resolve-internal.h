/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include <strings.h>

#include <solv/bitmap.h>
#include <solv/pool.h>

#include "vmcompose/resolve.h"

/* Orders plan packages by name (qsort). */
int resolve_plan_cmp(const void *a, const void *b);
/* Fills pp's depends with, for each Requires of p, its first provider in in_plan; those after
 * the prerequisite marker (SOLVABLE_PREREQMARKER) go to pre_depends. */
void resolve_plan_depends(Pool *pool, Id p, const Map *in_plan, PlanPackage *pp);

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
