/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

/* A cache directory that root's builds and a user's share: the user's (root's builds give it
 * what they add), never root's (a user cannot add to it).
 * fetch_cache_check_writable(): whether this process (its real ids) may add to cache_dir:
 * write in every directory of it and open its lock files and partial downloads for writing.
 * 0 (also when cache_dir does not exist yet), or a negative errno (-EACCES) with *ret_path the
 * first entry it may not change (caller frees).
 * fetch_cache_share(): before a root build in a user's cache (uid:gid its owner): makes every
 * directory a build adds to (tmp, sha256/00..ff, roots, members) and the root cache's lock,
 * all uid:gid's, so that the user's builds can go on beside root's; then fetch_cache_chown().
 * fetch_cache_chown(): gives uid:gid the directories and the (singly linked) files in
 * cache_dir that uid 0 owns; cache_dir itself and the running builds' trees under tmp/ are
 * left as they are. After a root build in a user's cache.
 * All three return 0, or a negative errno with *ret_path the entry that could not be checked
 * or changed (caller frees); they walk through directory fds and never follow a symlink. */
int fetch_cache_check_writable(const char *cache_dir, char **ret_path);
int fetch_cache_share(const char *cache_dir, uid_t uid, gid_t gid, char **ret_path);
int fetch_cache_chown(const char *cache_dir, uid_t uid, gid_t gid, char **ret_path);
/* Opens path in the cache for reading and writing, made (with mode) if missing: for root in a
 * user's cache (a directory that uid 0 does not own), made as that directory's owner's from
 * the start, so that the user's builds may open it too (a partial download they resume). An
 * fd, or a negative errno. */
int fetch_cache_open(const char *path, mode_t mode);

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
