/* SPDX-License-Identifier: MIT */
#pragma once

/* What the dynamic linker needs to start a program (composer/core/elf.c): its interpreter and
 * the libraries it names. Read from the file's program headers and dynamic section, never by
 * running anything (ldd runs the program's own loader). */

/* For the ELF file at path: 0 with *ret_interp (PT_INTERP, NULL for a static program) and
 * *ret_needed (the DT_NEEDED names in order, NULL for none), caller frees both; -ENOEXEC when
 * it is not a 64-bit little-endian ELF program or library for machine (e_machine), -EBADMSG for
 * a malformed one, or another negative errno. */
int elf_dynamic_info(const char *path, int machine, char **ret_interp, char ***ret_needed);

/* Rewrites the program fd's PT_INTERP to interp, in place (NUL-padded): 0, -ENOSPC when interp
 * is longer than the name there, -ENOENT for a static program, -ENOEXEC for no 64-bit ELF. */
int elf_set_interp(int fd, const char *interp);
