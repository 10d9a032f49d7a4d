/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/macro.h"

/* Parses a byte size: decimal digits with an optional binary suffix K, M, G, T, P or E (also
 * written KiB, MiB, ...; B alone means bytes). "512M" is 512 MiB. Returns 0 and writes
 * *ret_bytes; -EINVAL for malformed text (sign, space, fraction, unknown suffix, empty),
 * -ERANGE when the value does not fit in 64 bits. */
int parse_size(const char *s, uint64_t *ret_bytes);

/* Formats bytes as the shortest exact suffix form ("512M", "2G", "1000"). Returns buf. */
char *format_size(uint64_t bytes, char buf[static 32]);

/* Parses "10%" (an integer percentage 0..100). */
int parse_percent(const char *s, unsigned *ret_percent);

/* Parses an unsigned decimal integer without sign or spaces. -EINVAL / -ERANGE. */
int parse_uint64(const char *s, uint64_t *ret);

/* The Levenshtein distance between two strings (for "did you mean"). */
size_t string_distance(const char *a, const char *b);

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
/* Appends a copy of s. */
void strv_extend(char ***l, const char *s);
/* Appends s, taking ownership. */
void strv_push(char ***l, char *s);
bool strv_contains(char *const *l, const char *s);

/* A growable string buffer. */
typedef struct Buffer {
        char *data;
        size_t len, cap;
} Buffer;

void buffer_append(Buffer *b, const char *s, size_t n);
void buffer_puts(Buffer *b, const char *s);
void buffer_putc(Buffer *b, char c);
void buffer_printf(Buffer *b, const char *fmt, ...) _printf_(2, 3);
/* Returns the buffer's string (never NULL) and leaves the buffer empty; caller frees. */
char *buffer_steal(Buffer *b);
void buffer_done(Buffer *b);

/* Path helpers. Both return newly allocated strings. */
char *path_join(const char *a, const char *b);
/* The directory part of path ("." when there is none). */
char *path_dirname(const char *path);
/* Lexically removes ".", ".." and repeated slashes ("a/./b/../c" -> "a/c"). */
char *path_normalize(const char *path);

/* Creates path and its missing parents (mode 0755). 0 or a negative errno. */
int mkdir_p(const char *path);
/* Creates the missing parents of path, not path itself. */
int mkdir_parents(const char *path);
/* Copies a regular file (its data extents only) to a new file at to. */
int copy_file(const char *from, const char *to, mode_t mode);

/* Reads a whole file, at most max_size bytes (-EFBIG beyond). Returns 0 and the contents,
 * NUL-terminated, with their length. */
int read_full_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size);
/* The same from an open file descriptor (read from its current position). */
int read_full_fd(int fd, size_t max_size, char **ret_data, size_t *ret_size);
/* Writes all of data to fd (short writes and EINTR retried). Returns 0 or a negative errno. */
int write_all(int fd, const void *data, size_t size);

/* Writes data to path atomically: a temporary file in the same directory, fsync, rename. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);
