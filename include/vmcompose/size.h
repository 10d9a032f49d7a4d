/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmcompose/json.h"
#include "vmcompose/node.h"

/* Where the root's bytes go (composer/report/size.c): every regular file's size, by the package
 * that owns it and then by directory. The build writes it into the manifest ("size") and draws
 * it as NAME.size.svg; `vmcompose size` prints it as a table. */

#define SIZE_NO_PACKAGE "(no package)" /* files no package lists: generated or copied in */
#define SIZE_OTHER_DIRS "(other directories)"
#define SIZE_DIR_DEPTH 4 /* directories are named by their first components: /usr/lib/modules/X */
#define SIZE_MAX_DIRS 8  /* per package; the rest are summed as SIZE_OTHER_DIRS */

typedef struct SizeDir {
        char *path;
        uint64_t bytes;
} SizeDir;

typedef struct SizePackage {
        char *name;
        uint64_t bytes;
        SizeDir *dirs; /* largest first, after size_report_finish() */
        size_t n_dirs;
} SizePackage;

typedef struct SizeReport {
        uint64_t bytes;        /* the sum of every package's bytes */
        SizePackage *packages; /* largest first, then by name, after size_report_finish() */
        size_t n_packages;
} SizeReport;

/* Counts bytes of the file at path (absolute in the root) for package (NULL: SIZE_NO_PACKAGE). */
void size_report_add(SizeReport *r, const char *package, const char *path, uint64_t bytes);
/* Sorts packages and directories (bytes descending, then name) and keeps SIZE_MAX_DIRS
 * directories per package, the others summed in one. */
void size_report_finish(SizeReport *r);
void size_report_done(SizeReport *r);

/* The report as a JSON object value: {"bytes": N, "packages": [{"name", "bytes",
 * "directories": [{"path", "bytes"}]}]}. */
void size_report_json(JsonWriter *w, const SizeReport *r);
/* Reads what size_report_json() wrote (parsed). Returns 0 or -EBADMSG. */
int size_report_from_node(const Node *n, SizeReport *ret);
/* The table `vmcompose size` prints: one line per package (bytes, share, name), its directories
 * indented below it, largest first. Caller frees. */
char *size_report_table(const SizeReport *r);

/* One rectangle of a treemap. */
typedef struct SizeRect {
        double x, y, w, h;
} SizeRect;
/* Squarified treemap (Bruls, Huizing, van Wijk 2000): lays out n values (sorted descending,
 * all > 0) in area, each rectangle's area proportional to its value, rows chosen so that the
 * rectangles are as close to squares as they can be. Fills out[n]. */
void size_squarify(const uint64_t *values, size_t n, SizeRect area, SizeRect *out);
/* NAME.size.svg: the packages as a treemap, each split into its directories; every rectangle
 * carries its bytes (data-bytes) and a <title>. title heads the picture. Caller frees. */
char *size_report_svg(const SizeReport *r, const char *title);
