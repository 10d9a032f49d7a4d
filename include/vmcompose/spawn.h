/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/util.h"

/* Runs argv[0] (looked up in PATH) with argv, the environment plus env_extra ("K=V" strings,
 * may be NULL), stdin from /dev/null, stdout and stderr captured into output (may be NULL:
 * then discarded). Returns the exit status (0..255), or a negative errno when the program could
 * not be started (-ENOENT when it is not installed) or was killed by a signal (-EINTR). */
int spawn_run(char *const argv[], char *const env_extra[], Buffer *output);

/* The one way a value enters shell text: s as one word of POSIX sh, which the shell reads back
 * byte for byte (no expansion of $, `, \, globs or newlines). s itself when it holds only
 * letters, digits and @+=:,./_- (and is not empty; a word in argument position), otherwise
 * single-quoted with each ' written
 * '\''. Prefer passing values as arguments (spawn_run() runs no shell). Caller frees. */
char *shell_quote(const char *s);

/* As spawn_run(), for a program that runs inside an image root (chroot ROOT ...): it gets
 * none of the caller's environment (the build host's TZ, LANG, LD_PRELOAD or proxy settings
 * must not change what it writes into the image), only PATH=/usr/sbin:/usr/bin:/sbin:/bin,
 * LC_ALL=C.UTF-8, LANGUAGE= and HOME=/root, then env_extra (which may override them). */
int spawn_run_in_root(char *const argv[], char *const env_extra[], Buffer *output);
/* What spawn_run_in_root() sets up in its child before exec: a seccomp filter under which
 * fsync(), fdatasync(), sync(), syncfs() and sync_file_range() return 0 at once without
 * flushing anything (eatmydata's effect, for static programs and emulated ones too), for the
 * calling thread and everything it starts. The root is a build tree that vmcompose itself
 * reads back (the disk writers, the root cache): whether dpkg and the maintainer scripts wait
 * for the disk changes no byte of it, only the time; a crash mid-build loses the build either
 * way. Returns 0, or a negative errno when the filter cannot be installed (-EACCES without
 * CAP_SYS_ADMIN in the user namespace and without no_new_privs, -EOPNOTSUPP on an architecture
 * this file does not know). */
int spawn_filter_sync(void);

/* The seconds spent so far in spawn_run_in_root()'s programs (wall clock, all threads): for an
 * image of another architecture, the time run emulated. */
double spawn_in_root_seconds(void);
/* How many of the root's programs ran as the host's native builds instead (a root of another
 * architecture: composer/distro/debian/native.c), for the build's timing line. */
void spawn_note_native(unsigned n);
unsigned spawn_native_programs(void);
/* Adds usec to spawn_in_root_seconds(): time in the root's programs run another way (librpm's
 * scriptlets, which librpm starts itself). */
void spawn_count_in_root(uint64_t usec);
/* CLOCK_MONOTONIC in microseconds. */
uint64_t spawn_monotonic_usec(void);

/* Formats argv as a shell command line (shell_quote() on each) for messages. Caller frees. */
char *spawn_format(char *const argv[]);
