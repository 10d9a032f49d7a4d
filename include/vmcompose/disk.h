/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/node.h"
#include "vmcompose/profile.h"

/* The disk stage (composer/disk/): a partition table written with libfdisk on a plain file,
 * filesystems built from directories without mounting, spliced in at their offsets, then read
 * back and verified with libblkid. No root privileges, loop devices or mounts. */

#define DISK_SECTOR_SIZE 512u
#define DISK_ALIGN (UINT64_C(1) << 20)
/* GPT keeps a backup header and 128 entries in the last 33 sectors. */
#define GPT_BACKUP_BYTES (UINT64_C(33) * DISK_SECTOR_SIZE)

typedef enum PartitionRole {
        ROLE_ESP,
        ROLE_BIOS_BOOT,
        ROLE_BOOT,
        ROLE_ROOT,
        ROLE_SWAP,
        ROLE_DATA,
        _ROLE_MAX,
        _ROLE_INVALID = -EINVAL,
} PartitionRole;

typedef enum FsType {
        FS_NONE,
        FS_VFAT,
        FS_EXT4,
        FS_XFS,
        FS_EROFS,
        FS_SWAP,
        _FS_TYPE_MAX,
        _FS_TYPE_INVALID = -EINVAL,
} FsType;

const char *partition_role_to_string(PartitionRole r);
PartitionRole partition_role_from_string(const char *s);
const char *fs_type_to_string(FsType t);
FsType fs_type_from_string(const char *s);

typedef struct Partition {
        PartitionRole role;
        FsType fs;
        char *label;           /* NULL: none */
        char *where;           /* "file:line:col" of the profile entry, for messages */
        bool auto_size;        /* size: auto */
        uint64_t size;         /* bytes: requested, or computed by disk_layout_compute() */
        uint64_t free;         /* auto: headroom in bytes ... */
        unsigned free_percent; /* ... or as a percentage of the content (when free == 0) */
        uint64_t content;      /* auto: bytes the filesystem needs for its content */
        uint64_t offset;       /* computed: first byte */
        uint8_t uuid[16];      /* GPT partition GUID */
        uint8_t fs_uuid[16];   /* filesystem UUID (vfat: first 4 bytes are the serial) */
} Partition;

typedef struct DiskLayout {
        bool gpt;
        bool auto_size;
        uint64_t size;    /* requested, or computed */
        char *size_where; /* "file:line:col" of disk.size */
        const char *architecture;
        uint8_t disk_uuid[16];
        Partition *partitions;
        size_t n_partitions;
} DiskLayout;

/* The layout's root partition (the profile allows one), NULL without one: where the root
 * filesystem's type and identifiers are read from. */
const Partition *disk_layout_root(const DiskLayout *l);

/* Makes the layout of the profile's disk: section (typed at load, p->config). Identifiers derive
 * from seed. Returns 0 or -EBADMSG with diagnostics. */
int disk_layout_from_profile(const Profile *p, const char *seed, DiskLayout *ret,
                             Diagnostics *diag);
void disk_layout_done(DiskLayout *l);

/* Computes sizes and offsets: 1 MiB alignment, auto partitions sized to content plus headroom
 * (or, on a fixed-size disk, to all the space left), an auto disk rounded up to a whole MiB.
 * Pure arithmetic: fails with -ENOSPC (and a message naming the partition and the shortfall)
 * when the layout does not fit, -EOVERFLOW on 64-bit overflow; nothing is written. */
int disk_layout_compute(DiskLayout *l, Diagnostics *diag);

/* The GPT type GUID or MBR type code for a role. */
const char *partition_gpt_type(PartitionRole role, const char *architecture);
unsigned partition_mbr_type(PartitionRole role);

/* The filesystem UUID as blkid shows it ("ABCD-1234" for vfat). */
void disk_fs_uuid(const Partition *p, char out[37]);

/* The /etc/fstab text for a layout (root first, then the others that mount). Caller frees. */
char *disk_fstab(const DiskLayout *l);
/* "root=UUID=... rootfstype=ext4" style kernel arguments for the root partition. */
char *disk_root_cmdline(const DiskLayout *l);

/* Where partition contents come from. */
typedef struct DiskSources {
        const char *root_dir; /* the root filesystem's tree */
        const char *esp_dir;  /* ESP contents; NULL: empty */
        const char *boot_dir; /* XBOOTLDR contents; NULL: empty */
        uint64_t timestamp;   /* source-date-epoch */
        const char *seed;
} DiskSources;

/* Estimates the bytes a filesystem of type fs needs to hold the tree at dir (data blocks,
 * inodes, directories, journal and metadata). Returns 0 or a negative errno. */
int disk_measure_tree(const char *dir, FsType fs, uint64_t *ret_bytes, uint64_t *ret_inodes);

/* Builds a filesystem of the partition's type and size from dir into the disk image at
 * disk_path (open as disk_fd, already sized), at the partition's offset; tmp_dir holds
 * intermediate files, removed before returning. Returns 0, -E2BIG when the content does not fit in
 * the partition, -ENOSPC when the host's disk is full, or another negative errno with the tool's
 * output logged. */
int disk_mkfs(const Partition *p, const char *dir, uint64_t inodes, uint64_t timestamp,
              const char *disk_path, int disk_fd, const char *tmp_dir);

/* Writes the partition table of l onto the file at path (already l->size bytes long). */
int disk_write_table(const DiskLayout *l, const char *path);

/* Reads path back with libfdisk and libblkid and checks every partition's position, type,
 * UUID and label, and every filesystem's type, UUID and label. 0 or -EBADMSG (logged). */
int disk_verify(const DiskLayout *l, const char *path);

/* The whole stage: measures, computes the layout, writes fstab into the root, builds and
 * splices every filesystem, verifies. The raw image is written to raw_path (a temporary file
 * the caller renames or removes); tmp_dir holds intermediate files. */
int disk_build(DiskLayout *l, const DiskSources *src, const char *raw_path, const char *tmp_dir);
