/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/util.h"

/* Output writers (composer/output/): each turns a finished raw disk image into one format.
 * Variants sit behind one table, like libfdisk's label operations: adding a format means one
 * file and one row. Writers are deterministic: the same input and options give the same bytes. */

/* How a format that compresses part by part (qcow2's clusters) compresses: not at all, raw
 * deflate (qcow2 compression type 0) or zstd (type 1). */
typedef enum OutputCompression {
        OUTPUT_COMPRESSION_NONE,
        OUTPUT_COMPRESSION_ZLIB,
        OUTPUT_COMPRESSION_ZSTD,
        _OUTPUT_COMPRESSION_MAX,
        _OUTPUT_COMPRESSION_INVALID = -EINVAL,
} OutputCompression;

/* "none", "zlib", "zstd"; NULL for a value out of range. */
const char *output_compression_to_string(OutputCompression c);
/* The compression called s, or _OUTPUT_COMPRESSION_INVALID. */
OutputCompression output_compression_from_string(const char *s);

typedef struct OutputOptions {
        uint64_t timestamp;    /* seconds since 1970 for formats that record one (VHD) */
        uint8_t disk_uuid[16]; /* from uuid_from_seed(seed, "disk"); writers derive others */
        unsigned threads;      /* for compressors; 0: one per CPU */
        OutputCompression compression; /* for formats with .compression set */
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
        /* The writer honours OutputOptions.compression (qcow2's compressed clusters). */
        bool compression;
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
        OutputCompression compression; /* for a format with .compression, else NONE */
        int result;                    /* set: 0 or a negative errno (-EINTR on a signal) */
        char sha256[65];               /* set on success: the SHA-256 (hex) of the file written */
} OutputJob;

/* Writes every job at once, one thread each, each atomically (output_write_file()); "raw" is
 * raw_path (the finished raw image, size bytes, open as raw_fd) linked into place where the
 * filesystem allows it. Each file is hashed after writing; the raw image's digest is computed
 * once and continued by the formats that are the raw image plus a trailer. Returns 0 when every
 * job succeeded, else the first job's error; every job's result is in its result field. */
int output_write_all(OutputJob *jobs, size_t n, const char *raw_path, int raw_fd, uint64_t size,
                     const OutputOptions *opts);

/* qcow2's compressed clusters (qemu docs/interop/qcow2.txt): the compression types of the
 * header's compression_type field. */
enum { QCOW2_COMPRESSION_ZLIB = 0, QCOW2_COMPRESSION_ZSTD = 1 };
/* Decompresses one compressed cluster: in_len bytes at in (the descriptor's sectors, which may
 * end with bytes of the next cluster) into exactly cluster_size bytes at out. type is a
 * QCOW2_COMPRESSION_* value. Returns 0, -EOPNOTSUPP for an unknown type, or -EBADMSG when the
 * data is corrupt or does not make exactly one cluster. */
int qcow2_cluster_decompress(unsigned type, const void *in, size_t in_len, void *out,
                             size_t cluster_size);

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
