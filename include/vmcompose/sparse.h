/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/* Sparse-file helpers: copy only data extents (SEEK_DATA/SEEK_HOLE), so a 2 GiB disk with
 * 400 MiB of data costs 400 MiB of I/O. */

/* Finds the next data extent of fd in [offset, end). Returns 1 and the extent, 0 when there is
 * no more data before end, or a negative errno. Filesystems without SEEK_DATA report the whole
 * range as data. */
int sparse_next_data(int fd, uint64_t offset, uint64_t end, uint64_t *ret_start, uint64_t *ret_end);

/* Copies len bytes from in_fd at in_off to out_fd at out_off, holes or not: copy_file_range()
 * where it works, read/write otherwise. 0 or a negative errno. */
int copy_data(int in_fd, uint64_t in_off, uint64_t len, int out_fd, uint64_t out_off);

/* Copies length bytes from in_fd at in_offset to out_fd at out_offset, skipping holes in the
 * source (the destination keeps holes there: it must read as zeros, e.g. a new sparse file).
 * Uses copy_file_range() where it works, read/write otherwise. 0 or a negative errno
 * (-ENOSPC when the disk is full). */
int sparse_copy(int in_fd, uint64_t in_offset, uint64_t length, int out_fd, uint64_t out_offset);

/* Writes all of buf at offset (pwrite until done). 0 or a negative errno. */
int pwrite_all(int fd, const void *buf, size_t size, uint64_t offset);
/* Reads exactly size bytes at offset; -EIO on a short read. */
int pread_all(int fd, void *buf, size_t size, uint64_t offset);
