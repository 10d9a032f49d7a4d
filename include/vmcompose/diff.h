/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/distro.h"
#include "vmcompose/hash.h"
#include "vmcompose/size.h"
#include "vmcompose/util.h"

/* `vmcompose diff A B` (composer/diff/): what differs between two images or two manifests —
 * packages, partition table, filesystems and their files — read without root and without
 * mounting. The readers (ext4 through libext2fs, FAT through fat-read.c) turn a filesystem into
 * a DiffTree; diff.c compares two of everything and report.c prints the result. */

/* One file, directory, link or device of a filesystem. */
typedef struct DiffFile {
        char *path;    /* absolute inside the filesystem: "/etc/motd" ("/" is the root) */
        uint32_t mode; /* S_IFMT type bits and the permission bits (07777) */
        uint32_t uid, gid;
        uint64_t size; /* regular files: bytes; symlinks: length of the target */
        int64_t mtime; /* seconds */
        uint32_t mtime_nsec;
        int64_t ctime;
        uint32_t ctime_nsec;
        uint64_t rdev;                      /* devices: makedev(major, minor) */
        char *link;                         /* symlinks: the target */
        char *xattrs;                       /* "name=hexvalue\n" lines in name order; NULL: none */
        bool has_digest;                    /* regular files */
        uint8_t sha256[SHA256_DIGEST_SIZE]; /* of the content */
        char *data;                         /* the content, kept only for the package database */
        size_t data_size;
} DiffFile;

/* Every file of one filesystem, sorted by path once diff_tree_sort() ran. */
typedef struct DiffTree {
        DiffFile *files;
        size_t n_files, n_allocated;
        uint64_t fs_size; /* the filesystem's own idea of its size, in bytes */
} DiffTree;

/* Appends a zeroed entry whose path is a copy of path; returns it. */
DiffFile *diff_tree_add(DiffTree *t, const char *path);
void diff_tree_sort(DiffTree *t);
/* The entry for path (binary search: the tree must be sorted), or NULL. */
const DiffFile *diff_tree_find(const DiffTree *t, const char *path);
void diff_tree_done(DiffTree *t);

/* Whether a reader keeps the content of path in DiffFile.data: a package database's files that
 * name packages and owners (distro_is_database_file(): /var/lib/dpkg/status and
 * /var/lib/dpkg/info/NAME.list). */
bool diff_keep_content(const char *path);

/* Reads a filesystem out of an image. read() reads size bytes at offset (relative to the
 * filesystem's first byte), returns 0 or a negative errno (-EIO for a short read). */
typedef struct DiffReader {
        int (*read)(void *userdata, void *buf, size_t size, uint64_t offset);
        void *userdata;
        uint64_t size; /* bytes the filesystem may span */
} DiffReader;

/* The FAT12/16/32 reader (fat-read.c): every file and directory, long names, content hashes.
 * Returns 0, or -EBADMSG when the filesystem is not FAT or is corrupt (a cluster chain that
 * loops, leaves the volume or is shorter than the file), with a description in ret_error
 * (caller frees), or another negative errno from read(). Fills ret (sorted). */
int diff_fat_read(const DiffReader *r, DiffTree *ret, char **ret_error);

/* The ext2/3/4 reader (ext4-read.c), through libext2fs: the filesystem at byte offset in the
 * file at path (no mount, no root). Returns 0 or -EBADMSG with ret_error set (libext2fs's
 * message) when it is not ext4 or cannot be read; fills ret (sorted). */
int diff_ext4_read(const char *path, uint64_t offset, uint64_t size, DiffTree *ret,
                   char **ret_error);

/* The qcow2 reader (qcow2-read.c): copies the guest data of the qcow2 image in fd (file_size
 * bytes long) into out_fd, an empty file it sizes to the virtual size (holes where the image
 * stores nothing); compressed clusters (zlib, zstd) are unpacked. Returns 0 and the virtual
 * size; -EOPNOTSUPP for what it does not read (a backing file, encryption, an unknown
 * compression type, an external data file, extended L2 entries: qemu-img can); -EBADMSG with
 * ret_error (caller frees) for a corrupt or cut image; another negative errno when writing fails.
 */
int diff_qcow2_to_raw(int fd, uint64_t file_size, int out_fd, uint64_t *ret_size, char **ret_error);

/* The VHDX reader (vhdx-read.c), alike for fixed and dynamic VHDX: -EOPNOTSUPP for a
 * differencing image or one with a log to replay. */
int diff_vhdx_to_raw(int fd, uint64_t file_size, int out_fd, uint64_t *ret_size, char **ret_error);

/* An installed package. */
typedef struct DiffPackage {
        char *name, *version, *architecture;
} DiffPackage;

typedef struct DiffPackages {
        DiffPackage *packages; /* sorted by name, then architecture */
        size_t n_packages;
        const char *source; /* "manifest", or the database's name ("dpkg status") */
} DiffPackages;

/* Parses the text of ops's package database (DistroOps.db_status_path: dpkg's status file):
 * the packages whose files are on disk. Returns 0 or -EBADMSG with ret_error set. */
int diff_packages_parse(const DistroOps *ops, const char *text, size_t size, DiffPackages *ret,
                        char **ret_error);
void diff_packages_sort(DiffPackages *p);
void diff_packages_done(DiffPackages *p);

/* Who owns which path: from the package database's file lists (DistroOps.db_lists_dir:
 * /var/lib/dpkg/info/NAME[:ARCH].list). */
typedef struct DiffOwner {
        char *path;
        const char *package; /* points into DiffOwners.names */
} DiffOwner;

typedef struct DiffOwners {
        DiffOwner *owners; /* sorted by path */
        size_t n_owners, n_allocated;
        char **names;
} DiffOwners;

/* Adds the paths listed in a NAME.list file's text as owned by package. */
void diff_owners_add_list(DiffOwners *o, const char *package, const char *text, size_t size);
/* Also records every owned path under the directory from as under to: dpkg lists /bin/nano
 * where a merged-/usr image has /bin -> usr/bin and the file at /usr/bin/nano. */
void diff_owners_add_alias(DiffOwners *o, const char *from, const char *to);
void diff_owners_sort(DiffOwners *o);
/* The package owning path, or NULL. */
const char *diff_owners_find(const DiffOwners *o, const char *path);
void diff_owners_done(DiffOwners *o);
/* The backend whose package database t holds (its status file, kept by the reader), or NULL. */
const DistroOps *diff_tree_database(const DiffTree *t);
/* Adds the owners ops's database in t lists (its file lists: dpkg's NAME.list files, kept by
 * the reader), with merged-/usr aliases, and sorts them. */
void diff_owners_from_tree(const DistroOps *ops, const DiffTree *t, DiffOwners *o);

/* Reads the directory dir_fd (an image root, not followed through symlinks) as a DiffTree:
 * every entry's type, mode, owner and size, symlink targets, and the content of the dpkg
 * database; no digests. Returns 0 (ret sorted) or a negative errno. */
int diff_tree_read_dir(int dir_fd, DiffTree *ret);
/* Where the bytes of t's regular files go, by the package o says owns each. */
void diff_size_report(const DiffTree *t, const DiffOwners *o, SizeReport *ret);

/* One partition and the filesystem on it. Strings are NULL when unknown or absent. */
typedef struct DiffPartition {
        unsigned number;
        char *type;           /* GPT type GUID (upper case) or MBR type "0x83" */
        uint64_t start, size; /* bytes */
        char *uuid;           /* GPT partition GUID */
        char *name;           /* GPT partition name */
        char *fs_type, *fs_uuid, *fs_label;
        uint64_t fs_size; /* 0: unknown */
        DiffTree *tree;   /* the files, when the filesystem could be read; NULL otherwise */
} DiffPartition;

typedef struct DiffDisk {
        char *table; /* "gpt", "dos", or NULL for a bare filesystem / no table */
        char *id;    /* disk GUID or MBR id */
        uint64_t size;
        DiffPartition *partitions;
        size_t n_partitions;
} DiffDisk;

void diff_disk_done(DiffDisk *d);

/* One side of the comparison. */
typedef struct DiffSide {
        char *path;
        bool manifest;      /* a NAME.manifest.json rather than an image */
        const char *format; /* "raw", "vhd", "vhdx", "qcow2", "manifest" */
        DiffDisk disk;
        bool has_packages;
        DiffPackages packages;
        DiffOwners owners;
        bool has_size;
        SizeReport size; /* a manifest's "size" */
} DiffSide;

/* Opens path as an image (raw, vhd, vhdx or qcow2: headers validated with output_inspect(),
 * qcow2 and vhdx converted by qemu-img into an unnamed temporary file in $TMPDIR that
 * disappears with the process whatever happens) or as a manifest, reads its partition table,
 * filesystems, files and packages. Returns 0, or a negative errno with a message naming the
 * file in ret_error (caller frees): -ENOENT/-EACCES when it cannot be opened, -EBADMSG when it
 * is not an image or is corrupt. */
int diff_side_open(const char *path, DiffSide *ret, char **ret_error);
void diff_side_done(DiffSide *s);
/* Where the root's bytes go, for `vmcompose size`: from a manifest's "size", or from an image
 * (any format diff_side_open() reads) whose root filesystem (the one with /usr) is read and
 * its files counted by the package that owns them, as the build counts them. Returns 0 (ret
 * filled) or what diff_side_open() returns; -EBADMSG for a manifest without "size". */
int diff_size_open(const char *path, SizeReport *ret, char **ret_error);
/* Opens a and b at the same time (two threads: each side's reading and hashing is independent).
 * Fails as diff_side_open() does for the first that fails, and with -EBADMSG when one is a
 * manifest and the other an image. */
int diff_sides_open(const char *a, const char *b, DiffSide *ret_a, DiffSide *ret_b,
                    char **ret_error);

/* What changed about a file: bits of DiffFileChange.what. */
enum {
        DIFF_TYPE = 1 << 0,
        DIFF_CONTENT = 1 << 1,
        DIFF_SIZE = 1 << 2,
        DIFF_MODE = 1 << 3,
        DIFF_OWNER = 1 << 4,
        DIFF_XATTRS = 1 << 5,
        DIFF_MTIME = 1 << 6,
        DIFF_CTIME = 1 << 7,
        DIFF_LINK = 1 << 8,
        DIFF_RDEV = 1 << 9,
};

typedef struct DiffOptions {
        bool no_times; /* ignore mtime and ctime */
} DiffOptions;

typedef struct DiffFileChange {
        const DiffFile *a, *b; /* a == NULL: added; b == NULL: removed */
        unsigned what;         /* DIFF_* bits, for a changed file */
        const char *package;   /* the owning package, or NULL */
} DiffFileChange;

/* The comparison of one filesystem's files. */
typedef struct DiffFsResult {
        char *name; /* "root", "esp", or "partition N" */
        const char *fs;
        DiffFileChange *changes; /* grouped by package (no package last), then by path */
        size_t n_changes;
        size_t n_added, n_removed, n_changed;
        size_t n_entries;                                   /* in B's tree */
        uint64_t bytes_added, bytes_removed, bytes_changed; /* sizes (changed: B's) */
} DiffFsResult;

/* Compares two sorted trees. owners_a/owners_b may be NULL. Fills ret. */
void diff_trees(const DiffTree *a, const DiffTree *b, const DiffOwners *owners_a,
                const DiffOwners *owners_b, const DiffOptions *o, DiffFsResult *ret);
void diff_fs_result_done(DiffFsResult *r);

typedef struct DiffPackageChange {
        const DiffPackage *a, *b; /* a NULL: added; b NULL: removed; both: version changed */
} DiffPackageChange;

/* A difference in the partition table: field of partition number (0: the table itself). */
typedef struct DiffDiskChange {
        unsigned partition;
        const char *field; /* "table", "id", "size", "type", "start", "uuid", "name", "fs",
                            * "fs uuid", "fs label", "fs size", "partition" (added/removed) */
        char *a, *b;       /* the values as text; NULL: absent */
} DiffDiskChange;

typedef struct DiffResult {
        const DiffSide *a, *b;
        bool packages_compared;
        DiffPackageChange *packages;
        size_t n_packages, n_packages_added, n_packages_removed, n_packages_changed;
        DiffDiskChange *disk;
        size_t n_disk;
        DiffFsResult *fs;
        size_t n_fs;
        bool identical;
} DiffResult;

/* Compares two packages lists (sorted). Fills the package part of ret. */
void diff_packages(const DiffPackages *a, const DiffPackages *b, DiffResult *ret);
/* Compares two disks' tables and filesystem identities. Fills the disk part of ret. */
void diff_disks(const DiffDisk *a, const DiffDisk *b, DiffResult *ret);
/* All of it: packages, disks, the files of each filesystem both sides could read. */
void diff_sides(const DiffSide *a, const DiffSide *b, const DiffOptions *o, DiffResult *ret);
void diff_result_done(DiffResult *r);

/* The report as text for a person (quiet: the summary line only), or as one JSON object.
 * Caller frees. */
char *diff_format_text(const DiffResult *r, bool quiet);
char *diff_format_json(const DiffResult *r);
/* "280.2 KiB", "12 B". */
char *diff_format_bytes(uint64_t bytes, char buf[static 32]);
