/* SPDX-License-Identifier: MIT */
#pragma once

/* Native twins (native.c): the host's builds of the image's own package versions run instead
 * of the emulated programs while dpkg installs a root of another architecture. */
#include <stdbool.h>
#include <stddef.h>

#include "vmcompose/arch.h"
#include "vmcompose/install.h"

/* A package whose programs may run natively. */
typedef struct NativeRule {
        const char *package;
        const char *const *skip; /* program names that stay emulated */
        const char *bind;        /* a shebang interpreter: also bound over this root file */
        const char *data_dir;    /* what its programs read under the host's usr/lib/<triplet> */
        bool (*usable)(const InstallPackage *pkgs, size_t n, const char *arch);
} NativeRule;

/* Where the host's package database is: /var/lib/dpkg/status, /var/lib/dpkg/info. */
typedef struct NativeHost {
        const char *status, *info_dir;
        const Arch *arch; /* the host's */
} NativeHost;

typedef struct NativeSet {
        char **programs;      /* host paths of the programs that run natively ... */
        char **names;         /* ... their names, in step ... */
        char **root_paths;    /* ... where the root has them (relative) ... */
        char **links;         /* ... and, for a name that is a link, its target ("": none) */
        char **libs;          /* host paths of the libraries they load */
        char *interp;         /* their dynamic loader (PT_INTERP), NULL for an empty set */
        char **data_dirs;     /* copied from the host's usr/lib/<triplet> */
        char **binds;         /* root files the native interpreters are bound over ... */
        char **bind_packages; /* ... and their packages */
        char **packages;      /* the packages of programs, for the log */
        char *made_dir;       /* the root's usr/lib/<triplet>, made for the run */
        size_t mounts_keep;
        bool active, bound;
} NativeSet;

/* Chooses the programs of pkgs (an image of architecture arch) that may run natively on host.
 * 0 with *ret (native_set_done()), or a negative errno when the host's database cannot be
 * read. */
int native_select(const NativeHost *host, const InstallPackage *pkgs, size_t n, const char *arch,
                  NativeSet *ret);
void native_set_done(NativeSet *set);

/* Copies the set into the root's /dev (the tmpfs of dpkg's run), the programs' loader rewritten
 * to the copy there, and binds the libraries on the root's usr/lib/<triplet>. 0, or a negative
 * errno with *ret_error (caller frees). */
int native_setup(NativeSet *set, InstallMounts *m, const char *multiarch, char **ret_error);
/* Puts in PATH the programs the root has now (at the same path; a link with the same target):
 * before they are unpacked, or when the image strips them, a script must not find them. Call
 * before each dpkg run. 0 or a negative errno. */
int native_refresh(NativeSet *set, int root_fd);
/* The PATH for the root's programs while the set is set up. */
#define NATIVE_PATH "PATH=/dev/.vmc-native/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Binds the native shebang interpreters over the root's (once their packages are installed:
 * dpkg cannot replace a file under a mount). 0, or a negative errno with *ret_error. */
int native_bind(NativeSet *set, InstallMounts *m, char **ret_error);
/* Undoes native_bind() and native_setup(). 0, or a negative errno with *ret_error. */
int native_remove(NativeSet *set, int root_fd, InstallMounts *m, char **ret_error);
