/* SPDX-License-Identifier: MIT */
/* Who may add to a cache directory that root builds and a user's builds share (fetch.h). The
 * cache is walked entry by entry, each opened through its directory's fd without following
 * symlinks and checked or changed through its own fd: nothing a user puts in the directory
 * (a symlink, a directory swapped for one) leads the walk out of it. The build's temporary
 * trees under tmp/ are not entered: they are the running builds' own. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/fetch.h"
#include "vmcompose/util.h"

/* The cache's depth: DIR/sha256/XX/SHA256, DIR/roots/KEY.tar, DIR/members/... */
#define CACHE_DEPTH 4

typedef struct CacheWalk {
        bool chown; /* give root's entries to uid:gid; else find one this process cannot add to */
        uid_t uid;
        gid_t gid;
        char *failed; /* the first entry the walk could not use or change, relative */
} CacheWalk;

/* Files a build opens for writing in place (the others it only reads, or replaces by a
 * rename in their directory): the root cache's lock. */
static bool opened_for_writing(const char *name) {
        return streq(name, ".lock");
}

static int walk_fail(CacheWalk *w, const char *path, int r) {
        if (!w->failed)
                w->failed = xstrdup(path);
        return r;
}

/* One entry, name in dir_fd (path: its name from the cache's top, for the message). */
static int walk_entry(CacheWalk *w, int dir_fd, const char *name, const char *path,
                      unsigned depth) {
        /* Another build's entry on its way in (fetch_cache_share()'s temporary names). */
        if (!w->chown && name[0] == '.' && !opened_for_writing(name))
                return 0;
        _cleanup_close_ int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return errno == ENOENT ? 0 : walk_fail(w, path, -errno); /* removed meanwhile */
        bool dir = S_ISDIR(st.st_mode);
        if (!dir && !S_ISREG(st.st_mode))
                return 0;
        if (w->chown) {
                /* Only what root made, and no file with other names elsewhere (a hard link a
                 * user made to a file of root's is not the cache's to give away). */
                if (st.st_uid == 0 && (dir || st.st_nlink == 1) &&
                    fchownat(fd, "", w->uid, w->gid, AT_EMPTY_PATH) < 0)
                        return walk_fail(w, path, -errno);
        } else {
                int mode = dir ? W_OK | X_OK : opened_for_writing(name) ? R_OK | W_OK : 0;
                if (mode && faccessat(fd, "", mode, AT_EMPTY_PATH) < 0)
                        return walk_fail(w, path, -errno);
        }
        /* The check looks at the directories a build adds to (DIR/sha256/XX at most), the
         * partial downloads in them being the fetch's to report. */
        unsigned max_depth = w->chown ? CACHE_DEPTH : 2;
        if (!dir || depth + 1 >= max_depth || (depth == 0 && streq(name, "tmp")))
                return 0;
        _cleanup_close_ int sub =
                openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return walk_fail(w, path, -errno);
        DIR *d = fdopendir(sub);
        if (!d)
                return walk_fail(w, path, -errno);
        TAKE_FD(sub);
        int r = 0;
        for (struct dirent *de; r == 0 && (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = path_join(path, de->d_name);
                r = walk_entry(w, dirfd(d), de->d_name, p, depth + 1);
        }
        closedir(d);
        return r;
}

static int walk_cache(CacheWalk *w, const char *cache_dir, char **ret_path) {
        _cleanup_close_ int top = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0 && errno == ENOENT)
                return 0;
        if (top < 0) {
                int r = -errno;
                if (ret_path)
                        *ret_path = xstrdup(cache_dir);
                return r;
        }
        int r = 0;
        /* The top itself: checked, never given away (root chose whose it is). */
        if (!w->chown && faccessat(top, "", W_OK | X_OK, AT_EMPTY_PATH) < 0)
                r = walk_fail(w, ".", -errno);
        DIR *d = r < 0 ? NULL : fdopendir(top);
        if (r == 0 && !d)
                r = walk_fail(w, ".", -errno);
        if (d) {
                TAKE_FD(top);
                for (struct dirent *de; r == 0 && (de = readdir(d));)
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                r = walk_entry(w, dirfd(d), de->d_name, de->d_name, 0);
                closedir(d);
        }
        if (r < 0 && ret_path)
                *ret_path = streq(w->failed, ".") ? xstrdup(cache_dir)
                                                  : path_join(cache_dir, w->failed);
        free(w->failed);
        return r;
}

int fetch_cache_check_writable(const char *cache_dir, char **ret_path) {
        CacheWalk w = {};
        return walk_cache(&w, cache_dir, ret_path);
}

int fetch_cache_chown(const char *cache_dir, uid_t uid, gid_t gid, char **ret_path) {
        CacheWalk w = {.chown = true, .uid = uid, .gid = gid};
        return walk_cache(&w, cache_dir, ret_path);
}

/* Makes name in dir_fd, a directory (or with file an empty file), if missing: made under a
 * temporary name, given to uid:gid, then renamed into place, so that no other build ever sees
 * it root's. One that exists is left to fetch_cache_chown(). */
static int share_entry(int dir_fd, const char *name, bool file, uid_t uid, gid_t gid) {
        struct stat st;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (errno != ENOENT)
                return -errno;
        char tmp[64];
        snprintf(tmp, sizeof(tmp), ".%s.vmcompose-%ld", name, (long)getpid());
        if (file) {
                int fd = openat(dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                0600);
                if (fd < 0)
                        return -errno;
                close(fd);
        } else if (mkdirat(dir_fd, tmp, 0755) < 0)
                return -errno;
        int r = 0;
        if (fchownat(dir_fd, tmp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        else if (renameat2(dir_fd, tmp, dir_fd, name, RENAME_NOREPLACE) < 0)
                r = errno == EEXIST ? 1 : -errno; /* 1: another build made it meanwhile */
        if (r != 0)
                (void)unlinkat(dir_fd, tmp, file ? 0 : AT_REMOVEDIR);
        return MIN(r, 0);
}

int fetch_cache_share(const char *cache_dir, uid_t uid, gid_t gid, char **ret_path) {
        /* Every directory a build adds to, and the root cache's lock (install/rootcache.c). */
        static const char *const dirs[] = {"tmp", "sha256", "roots", "members"};
        _cleanup_close_ int top = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0) {
                *ret_path = xstrdup(cache_dir);
                return -errno;
        }
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = share_entry(top, dirs[i], false, uid, gid);
                if (r < 0) {
                        *ret_path = path_join(cache_dir, dirs[i]);
                        return r;
                }
        }
        _cleanup_close_ int sha =
                openat(top, "sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int roots =
                openat(top, "roots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sha < 0 || roots < 0) {
                *ret_path = path_join(cache_dir, sha < 0 ? "sha256" : "roots");
                return -errno;
        }
        for (unsigned b = 0; b < 256; b++) {
                char name[3];
                snprintf(name, sizeof(name), "%02x", b);
                int r = share_entry(sha, name, false, uid, gid);
                if (r < 0) {
                        *ret_path = xasprintf("%s/sha256/%s", cache_dir, name);
                        return r;
                }
        }
        int r = share_entry(roots, ".lock", true, uid, gid);
        if (r < 0) {
                *ret_path = path_join(cache_dir, "roots/.lock");
                return r;
        }
        return fetch_cache_chown(cache_dir, uid, gid, ret_path);
}

int fetch_cache_open(const char *path, mode_t mode) {
        _cleanup_free_ char *copy = xstrdup(path);
        const char *dir = dirname(copy);
        struct stat st;
        if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0) {
                int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
                return fd < 0 ? -errno : fd;
        }
        /* Root in a user's cache: a new file appears already the user's (made unnamed,
         * given away, then linked in), so the user's builds can open it at once. */
        for (;;) {
                int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 || errno != ENOENT)
                        return fd < 0 ? -errno : fd;
                fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
                if (fd < 0)
                        return -errno;
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                if (fchown(fd, st.st_uid, st.st_gid) == 0 &&
                    linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
                        return fd;
                int r = -errno;
                close(fd);
                if (r != -EEXIST) /* EEXIST: another build made it meanwhile; open that */
                        return r;
        }
}
