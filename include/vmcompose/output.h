/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/util.h"

/* Output writers (composer/output/): each turns a finished raw disk image into one format.
 * Variants sit behind one table, like libfdisk's label operations: adding a format means one
 * file and one row. Writers are deterministic: the same input and options give the same bytes. */

typedef struct OutputOptions {
        uint64_t timestamp;    /* seconds since 1970 for formats that record one (VHD) */
        uint8_t disk_uuid[16]; /* from uuid_from_seed(seed, "disk"); writers derive others */
        unsigned threads;      /* for compressors; 0: one per CPU */
} OutputOptions;

typedef struct OutputFormat {
        const char *name;   /* as in the profile's outputs: "raw", "vhd", "vhdx", "qcow2", ... */
        const char *suffix; /* file name suffix: "raw", "vhd", "raw.zst", ... */
        /* Writes the image read from raw_fd (a regular, possibly sparse file of exactly size
         * bytes) to out_fd, an empty regular file opened read-write. Returns 0 or a negative
         * errno. Does not fsync or rename: output_write_file() does. */
        int (*write_image)(int raw_fd, uint64_t size, int out_fd, const OutputOptions *o);
        /* For formats made from the root directory instead (tar): root_fd is the root. */
        int (*write_tree)(int root_fd, int out_fd, const OutputOptions *o);
        /* The file is the raw image byte for byte, then a trailer (raw: none, fixed VHD: the
         * footer): its digest continues the raw image's. */
        bool raw_prefix;
} OutputFormat;

/* The format called name, or NULL. */
const OutputFormat *output_format_find(const char *name);
const OutputFormat *const *output_formats(void);

/* Writes one output at path atomically: a temporary file in path's directory, fsync, rename.
 * On any failure (including ENOSPC) nothing at path changes and no temporary file remains.
 * source_fd is the raw image (write_image) or the root directory (write_tree). */
int output_write_file(const OutputFormat *f, int source_fd, uint64_t size, const char *path,
                      const OutputOptions *o);

/* One output of output_write_all(). */
typedef struct OutputJob {
        const OutputFormat *format;
        const char *path; /* where it goes */
        int source_fd;    /* the raw image, or the root directory for a write_tree format */
        int result;       /* set: 0 or a negative errno (-EINTR on a signal) */
        char sha256[65];  /* set on success: the SHA-256 (hex) of the file written */
} OutputJob;

/* Writes every job at once, one thread each, each atomically (output_write_file()); "raw" is
 * raw_path (the finished raw image, size bytes, open as raw_fd) linked into place where the
 * filesystem allows it. Each file is hashed after writing; the raw image's digest is computed
 * once and continued by the formats that are the raw image plus a trailer. Returns 0 when every
 * job succeeded, else the first job's error; every job's result is in its result field. */
int output_write_all(OutputJob *jobs, size_t n, const char *raw_path, int raw_fd, uint64_t size,
                     const OutputOptions *opts);

/* Checks an image file and describes it: format, virtual size, and format-specific fields
 * (VHD footer, VHDX headers, region tables, metadata and BAT, qcow2 header, extensions, L1,
 * L2 and refcount tables, snapshots): every structure the format describes must lie inside
 * the file. A name ending in .vhd, .vhdx, .qcow2 or .raw.zst must hold that format. Appends
 * "key: value" lines to out. Returns 0 when the image is valid, -EBADMSG with the reason in
 * out ("  error: ..." line) when it is corrupt, truncated or misaligned, -EMEDIUMTYPE (with
 * the reason too) when it is sound but not what Azure takes: a dynamic VHD, or a fixed one
 * whose size is not a whole number of MiB. */
int output_inspect(const char *path, Buffer *out);
/* output_inspect() for callers that want its verdict, not the description: the format found
 * ("raw", "raw.zst", "vhd", "vhdx", "qcow2"; static) in *ret_format and, when the image is
 * invalid or unreadable, the reason (one line, caller frees) in *ret_error. Both optional.
 * Returns what output_inspect() returns. */
int output_inspect_verdict(const char *path, const char **ret_format, char **ret_error);
