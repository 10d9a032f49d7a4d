/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The build's root in memory: a tmpfs mounted in a mount namespace of the build's own, so that
 * the files the root cache restores (or dpkg unpacks) never go to the disk, removing them is one
 * umount, and they disappear with the process however that ends. What the build keeps (the
 * disk image it makes from the root, the outputs, the caches) is written elsewhere. */

/* Below this much available memory the root stays on the disk. */
#define WORKDIR_TMPFS_MIN_MEMORY (UINT64_C(4) << 30)

/* VMCOMPOSE_TMPFS: "0" keeps the root on the disk; unset or "auto", in memory
 * when there is enough (WORKDIR_TMPFS_MIN_MEMORY). Returns whether a tmpfs may be used and, in
 * *ret_size, its size limit: half of mem_available. -EINVAL for another value of env. Pure. */
int workdir_tmpfs_decide(const char *env, uint64_t mem_available, bool *ret_use,
                         uint64_t *ret_size);

/* MemAvailable of /proc/meminfo's text, in bytes. -ENOENT without the line. Pure. */
int workdir_parse_meminfo(const char *text, uint64_t *ret_bytes);

/* Mounts a tmpfs of at most size bytes on dir (an empty directory), after moving the process
 * into a mount namespace of its own (MS_SLAVE: the host's later mounts still show), which needs
 * a single-threaded process and CAP_SYS_ADMIN (root, or uid 0 of a rootless build's user
 * namespace). Returns 1 when mounted, 0 when it was not possible (dir is left as it is, on its
 * filesystem) or a negative errno. */
int workdir_mount_tmpfs(const char *dir, uint64_t size);

/* Detaches the tmpfs from dir (its memory is freed once nothing uses it) and removes dir. 0 or a
 * negative errno. */
int workdir_unmount(const char *dir);
