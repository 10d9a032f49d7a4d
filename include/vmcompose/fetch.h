/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Parallel downloads into a content-addressed cache (composer/fetch/): libcurl's multi
 * interface, retries with back-off, resumed partial files, and the SHA-256 of every file
 * checked before it gets its name in the cache. Two builds may share a cache: partial files
 * are locked, complete ones appear by rename. */

typedef struct FetchItem {
        const char *name;   /* for messages and progress: "bash 5.2.15-2" */
        const char *uri;    /* http://, https:// or file:// */
        const char *sha256; /* expected digest, lower-case hex */
        uint64_t size;      /* expected size; 0: unknown */
        char *path;         /* out: the verified file in the cache (caller frees) */
        bool cached;        /* out: it was in the cache already */
} FetchItem;

typedef struct FetchOptions {
        const char *cache_dir; /* NULL: fetch_default_cache_dir() */
        unsigned parallel;     /* transfers at once; 0: 8 */
        unsigned retries;      /* attempts after the first; default 3 */
        bool progress;         /* a progress line on stderr (when it is a terminal) */
} FetchOptions;

typedef struct FetchStats {
        uint64_t bytes_downloaded; /* transferred (a resumed file counts only the rest) */
        uint64_t bytes_cached;
        unsigned n_downloaded, n_cached;
        double seconds;
} FetchStats;

/* $XDG_CACHE_HOME/vmcompose, ~/.cache/vmcompose, or /var/cache/vmcompose for root. Caller
 * frees. */
char *fetch_default_cache_dir(void);

/* The cache path a file with this digest has (whether or not it is there). Caller frees. */
char *fetch_cache_path(const char *cache_dir, const char *sha256);

/* Downloads every item that is not in the cache yet. Returns 0 when all are there and
 * verified; otherwise a negative errno (-EBADMSG: a digest or size mismatch, -ENOENT: not
 * found, -EIO/-ETIMEDOUT: transfer failures after retries) with each failure logged. A file
 * that fails verification never enters the cache. */
int fetch_all(FetchItem *items, size_t n, const FetchOptions *o, FetchStats *stats);

/* Downloads uri to path as it is, with retries: for files the caller verifies itself (signed
 * metadata). At most max_size bytes. 0, -ENOENT when the server has no such file, or another
 * negative errno. */
int fetch_url(const char *uri, const char *path, uint64_t max_size);
