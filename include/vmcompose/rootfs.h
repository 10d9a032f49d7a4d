/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The one way into an image root (composer/core/rootfs.c). The root is untrusted: a package
 * may ship /boot -> / or /etc/kernel -> /home/x. Every path below is resolved as if root_fd were
 * "/" (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS; a component-by-component O_NOFOLLOW
 * walk doing the same where the kernel has no openat2): an absolute symlink or ".." leads back
 * into the root, never out of it. Paths may start with '/' or not ("/etc/x" = "etc/x").
 * Functions return 0 (or an fd) or a negative errno, and do not log. */

/* openat() confined to the root. flags as for openat() (O_CLOEXEC is always added); mode for
 * O_CREAT. With O_NOFOLLOW the last component must not be a symlink (-ELOOP), the others are
 * still resolved inside the root. Returns the fd or a negative errno. */
int root_open(int root_fd, const char *path, int flags, mode_t mode);
/* The same, always by the O_NOFOLLOW walk (what root_open() falls back to): for tests. */
int root_open_walk(int root_fd, const char *path, int flags, mode_t mode);

/* The directory holding path, resolved inside the root (O_DIRECTORY fd), created with its
 * missing parents (0755) when mkdir_parents, and path's last component (caller frees).
 * -EINVAL for a path without a last component ("", "/", "a/.."). */
int root_open_parent(int root_fd, const char *path, bool mkdir_parents, char **ret_name);

/* Creates the directory path and its missing parents inside the root (mode for each new one).
 * An existing directory (or a symlink resolving, inside the root, to one) is fine. */
int root_mkdir_p(int root_fd, const char *path, mode_t mode);

typedef enum RootWriteFlags {
        ROOT_WRITE_MKDIR = 1 << 0, /* create the missing parent directories (0755) */
} RootWriteFlags;

/* Writes data to path atomically: a temporary file in the same (resolved) directory, fchmod to
 * mode, fsync, renameat over path. A symlink at path is replaced, not followed. */
int root_write_file(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                    RootWriteFlags flags);
/* Makes path a symlink to target (ln -sfn: what was at path is replaced atomically, unless it
 * is a directory: -EISDIR). target is stored as given; it is resolved later, in the image. */
int root_symlink(int root_fd, const char *target, const char *path, RootWriteFlags flags);
/* Opens the regular file path for reading (the fd): -EISDIR for a directory, -EBADFD for
 * anything else that is not a regular file (a FIFO would block, a device node made by a
 * maintainer script would read the host's device). */
int root_open_file(int root_fd, const char *path);
/* Reads the whole file at path (at most max bytes: -EFBIG), NUL-terminated. */
int root_read_file(int root_fd, const char *path, size_t max, char **ret_data, size_t *ret_size);
/* Removes path (never followed): a file or symlink, or with AT_REMOVEDIR an empty directory.
 * A missing path is not an error. */
int root_unlink(int root_fd, const char *path, int flags);
/* Removes path and everything below it, never following a symlink. A missing path is fine. */
int root_rm_rf(int root_fd, const char *path);
/* Copies the regular file from (inside from_root_fd) to the new or truncated file to (inside
 * to_root_fd, its last component never followed), data extents only, mode set. */
int root_copy_file(int from_root_fd, const char *from, int to_root_fd, const char *to, mode_t mode);
