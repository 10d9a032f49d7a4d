/* SPDX-License-Identifier: MIT */
#pragma once

/* The pure parts of vmcompose's initramfs init (composer/initrd/init.c), kept apart so that the
 * unit tests run them on the build host: the kernel command line, partition and filesystem
 * identifiers read from raw sectors, and whether the root filesystem wants a check. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct InitParams {
        const char *root;      /* root=: /dev/NAME, PARTUUID=, UUID=, LABEL=, PARTLABEL= */
        const char *fstype;    /* rootfstype= */
        const char *flags;     /* rootflags= (filesystem data, as the kernel passes them) */
        const char *init;      /* init= */
        const char *fsck_mode; /* fsck.mode=: auto, force or skip */
        unsigned delay;        /* rootdelay=: the longest wait for the root, in seconds */
        bool wait;             /* rootwait: wait for ever */
        bool rw;               /* rw (the last of ro/rw wins; neither means ro) */
        bool debug;            /* vmcompose.debug */
} InitParams;

/* Splits a kernel command line into words in place (double quotes group, as the kernel's
 * next_arg() does); returns the number of words stored in words (at most max). */
size_t initrd_split_cmdline(char *line, char **words, size_t max);

/* Reads the parameters init cares about from the words; unknown ones are left alone. */
void initrd_parse_params(char *const *words, size_t n, InitParams *ret);

/* The parameters for module name from the command line ("virtio_blk.queue_depth=8" gives
 * "queue_depth=8"; '-' and '_' are the same in module names), space separated, into buf.
 * Returns 0, or -1 when they do not fit. */
int initrd_module_params(char *const *words, size_t n, const char *module, char *buf, size_t size);

/* The PARTUUID of partition number partno (1-based) of a disk, the way the kernel and blkid
 * spell it: the GPT entry's unique GUID, or "SSSSSSSS-NN" on MBR. sector0 is the disk's first
 * 512 bytes; read(offset, buf, len, userdata) reads more of the disk for GPT. Returns 0, or -1
 * when the disk has no such partition. */
int initrd_partuuid(const uint8_t sector0[512], unsigned sector_size, unsigned partno,
                    int (*read)(uint64_t offset, void *buf, size_t len, void *userdata),
                    void *userdata, char out[37], char *name, size_t name_size);

/* What a filesystem's superblock says, read from the first 68 KiB of a partition (ext2/3/4 at
 * 1024, XFS at 0, Btrfs at 64 KiB). */
typedef struct FsInfo {
        char type[8];    /* "ext4", "xfs", "btrfs"; "" when not recognised */
        char uuid[37];   /* lower case */
        char label[257]; /* empty if none (Btrfs labels hold 256 bytes) */
        /* ext2/3/4 only: */
        uint16_t state; /* s_state: 1 clean, 2 errors */
        uint16_t mount_count;
        int16_t max_mount_count;
        uint32_t last_check, check_interval;
} FsInfo;

#define FS_PROBE_SIZE (68 * 1024)

void initrd_probe_fs(const uint8_t *buf, size_t len, FsInfo *ret);

/* Would e2fsck -p check this filesystem now (its check_if_skip() rules: not cleanly
 * unmounted, errors recorded, the mount count or check interval reached), given fsck.mode?
 * Non-ext filesystems never. Writes the reason into why. */
bool initrd_wants_check(const FsInfo *fs, const char *fsck_mode, uint64_t now, char *why,
                        size_t why_size);
