/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Installing packages into a root directory (composer/install/): .deb data unpacked with
 * libarchive, confined to the root, and the root cache. The family's installer (Debian: dpkg
 * inside a plain chroot) is a distribution backend's install_root (vmcompose/distro.h). */

typedef struct InstallPackage {
        const char *name, *version, *architecture;
        const char *deb_path; /* the verified package file (a .deb, an .rpm) */
        const char *sha256;   /* its SHA-256, lower-case hex (the root cache's key) */
        /* RPM: the repository's signing key file the package must be signed with, or
         * unsigned_ok (the repository says gpgcheck: false); neither: refused. */
        const char *signing_key;
        bool unsigned_ok;
        bool essential;     /* Essential: yes */
        char **depends;     /* the packages (in this set) its Depends name */
        char **pre_depends; /* the packages (in this set) its Pre-Depends name */
} InstallPackage;

/* A file written into the root before dpkg configures anything (initramfs-tools settings). */
typedef struct InstallFile {
        const char *path; /* relative to the root, e.g. "etc/initramfs-tools/conf.d/x" */
        const char *content;
        mode_t mode; /* 0: 0644 */
} InstallFile;

typedef struct InstallOptions {
        const InstallFile *files;
        size_t n_files;
        bool merged_usr; /* /bin, /sbin, /lib (and /lib64) as links into /usr, made
                          * before anything is unpacked (Debian 12's usr-is-merged
                          * refuses a root without them) */
        const char *architecture;
        bool no_initramfs;          /* the build makes the initramfs itself (kernel.initramfs:
                                     * vmcompose): no update-initramfs after configuration */
        char **path_exclude;        /* dpkg path-exclude globs (policy strip rules) */
        char **path_include;        /* dpkg path-include globs: exceptions */
        uint64_t source_date_epoch; /* SOURCE_DATE_EPOCH for the programs run in the root;
                                     * 0: none */
} InstallOptions;

/* Counts of what deb_extract() did. */
typedef struct ExtractStats {
        unsigned files, dirs, links, excluded, skipped;
} ExtractStats;

/* Whether an archive member name may be written: relative, no "..", no empty or "."
 * components after normalisation. Writes the normalised path (without "./"). */
bool install_member_path_ok(const char *member, char **ret_normalised);

/* Whether path ("/usr/share/doc/x") is excluded by the globs, dpkg style: the last matching
 * rule wins, path-include over path-exclude. */
bool install_path_excluded(const char *path, char *const *exclude, char *const *include);

/* Calls fn for every member of the .deb's data.tar, as an absolute path ("/usr/bin/x") with
 * its size (0 for what has no data of its own) and whether it is a directory, in archive order,
 * without extracting. fn returns < 0 to stop. Returns 0 or a negative errno (logged for a
 * malformed archive). */
int deb_list_members(const char *deb_path,
                     int (*fn)(const char *path, uint64_t size, bool directory, void *userdata),
                     void *userdata);

/* Writes the .deb at deb_path to the empty file out_fd with its control.tar and data.tar
 * decompressed (dpkg-deb reads them either way): for a root of another architecture, whose
 * dpkg-deb runs emulated, where decompressing is much of its work. 0, -EBADMSG (not a .deb, or a
 * member that does not decompress) or another negative errno. */
int deb_repack_plain(const char *deb_path, int out_fd);

/* Unpacks the data.tar.* of the .deb at deb_path into the root directory root_fd. Paths are
 * resolved inside the root (openat2 RESOLVE_IN_ROOT): absolute or ".." members are refused,
 * symlinks in the root are followed only within it (so merged /usr works), device nodes and
 * FIFOs are skipped. Returns 0, or -EBADMSG for a malicious or corrupt archive (logged). */
int deb_extract(int root_fd, const char *deb_path, const InstallOptions *o, ExtractStats *stats);

/* The root cache (composer/install/rootcache.c): installed roots kept under CACHE/roots/KEY.
 * KEY is the SHA-256 (hex, caller frees) of everything DistroOps.install_root reads: the packages
 * (names, versions, architectures, digests, essential flags, dependency order) and the
 * options (layout, dpkg path rules, files written before configuration). */
char *install_root_key(const InstallPackage *pkgs, size_t n, const InstallOptions *o);

/* Extracts the cached root KEY to root_dir (which must not exist). Returns 1 when it did, 0
 * when there is no such root (or no usable cache), a negative errno when the copy failed
 * (root_dir is removed again). */
int install_root_cache_restore(const char *cache_dir, const char *key, const char *root_dir);

/* Archives root_dir into the cache as KEY (a pax archive with owners, xattrs and hard links;
 * temporary file + rename: a concurrent build sees the whole archive or none), then keeps only the
 * keep most recently used roots. Returns 0 or a negative errno. */
int install_root_cache_store(const char *cache_dir, const char *key, const char *root_dir,
                             unsigned keep);

/* A file a build leaves in the root that would make two builds of the same inputs differ,
 * and why it is removed (the deviation report says it). */
typedef struct ReproducibleRemoval {
        const char *path; /* relative to the root */
        const char *why;
} ReproducibleRemoval;

/* The table reproducible_clean_root() works from. */
const ReproducibleRemoval *reproducible_removals(size_t *ret_n);

/* /etc/shadow's text with every password-change day (the third field) after epoch's day set to
 * that day; every other byte as it was. Returns the number of lines changed, with the new text
 * in *ret (NULL when 0), or a negative errno. */
int reproducible_shadow_clamp(const char *text, uint64_t epoch, char **ret);

/* Removes the build records of reproducible_removals() from the root (entries only, resolved
 * inside the root, never followed) and, when epoch is not 0, clamps /etc/shadow's and
 * /etc/shadow-'s days to it, keeping owner, mode and time. *ret_removed (may be NULL): the
 * paths removed, NULL for none. Returns 0 or a negative errno. */
int reproducible_clean_root(int root_fd, uint64_t epoch, char ***ret_removed);

/* The API file systems mounted in a root while its packages' scripts run (install/mounts.c):
 * the root and the host's /proc, /sys and device nodes held open, so that mounting and
 * unmounting work the same in a chroot into the root (librpm's scriptlets). */
typedef struct InstallMounts {
        bool open;
        char *root; /* the root's path, for messages */
        int root_fd, proc_fd, sys_fd;
        int dev_fds[6]; /* the host's null, zero, full, random, urandom, tty */
        char *dirs[16]; /* what is mounted, relative to the root, in mount order ... */
        int fds[16];    /* ... and, below the top level, the mount's O_PATH descriptor */
        size_t n;
} InstallMounts;

/* Opens what install_mount_api() needs (before any chroot): root (open as root_fd, which is
 * duplicated) and the host's /proc, /sys and device nodes. Returns 0, or a negative errno with
 * *ret_error (caller frees) saying what failed; install_mounts_close() either way. */
int install_mounts_open(InstallMounts *m, const char *root, int root_fd, char **ret_error);

/* Mounts /proc, /sys (bound from the host in a user namespace) and a minimal /dev (a tmpfs with
 * the host's null, zero, full, random, urandom and tty bound, a devpts of its own, the usual
 * links) in the root, each on a real directory of the root, never through a symlink. Returns 0,
 * or a negative errno with *ret_error (caller frees) saying what failed; what was mounted before
 * the failure stays in m: install_unmount_all() or install_mounts_close() either way. */
int install_mount_api(InstallMounts *m, char **ret_error);

/* Unmounts everything install_mount_api() mounted (lazily where a plain unmount fails). Returns
 * 0, or the first failure's negative errno with its mount point in *ret_failed (caller frees)
 * when ret_failed is not NULL. */
int install_unmount_all(InstallMounts *m, char **ret_failed);

/* The same, down to the first keep mounts (m->n before the ones to undo were made). */
int install_unmount_above(InstallMounts *m, size_t keep, char **ret_failed);

/* Binds the directory src_fd on the directory path of the root (made when missing: the caller
 * removes it after unmounting), undone with the other mounts. 0, or a negative errno with
 * *ret_error. */
int install_bind_dir(InstallMounts *m, int src_fd, const char *path, char **ret_error);

/* Binds the file src_fd (O_PATH is enough) on the regular file path of the root (resolved
 * inside it, its last component not followed), undone with the other mounts. Returns 0, or a
 * negative errno with *ret_error (caller frees) saying what failed. */
int install_bind_file(InstallMounts *m, int src_fd, const char *path, char **ret_error);

/* Unmounts what is left and closes what install_mounts_open() opened; a no-op on a zeroed m. */
void install_mounts_close(InstallMounts *m);
