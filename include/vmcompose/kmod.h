/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/util.h"

/* A kernel's module index (composer/bootloader/kmod.c): modules.dep, modules.softdep,
 * modules.alias and modules.builtin as depmod writes them under /lib/modules/VERSION, read
 * by pure functions (no file access) for the initramfs and for kernel.modules: target. */

typedef struct KernelModule {
        char *name;  /* "virtio_blk" ('-' made '_') */
        char *path;  /* "kernel/drivers/block/virtio_blk.ko", relative to /lib/modules/VERSION */
        char **deps; /* the paths modules.dep lists after the colon */
        int state;   /* free for the caller (the initramfs' load order); 0 after parsing */
} KernelModule;

typedef struct KernelModules {
        KernelModule *m;
        size_t n;
} KernelModules;

/* The module name of a path or name: the base name up to its first '.', '-' made '_'
 * ("kernel/fs/nls/nls_cp437.ko.xz" → "nls_cp437"). Caller frees. */
char *kmod_name(const char *path);
/* Parses modules.dep ("kernel/a/b.ko: kernel/c/d.ko kernel/e/f.ko" a line) into ret. */
void kmod_parse_dep(const char *text, KernelModules *ret);
void kmod_done(KernelModules *m);
/* The module called name ('-' or '_'), or NULL. */
KernelModule *kmod_find(const KernelModules *m, const char *name);
/* Whether modules.builtin (may be NULL) lists name. */
bool kmod_is_builtin(const char *builtin, const char *name);
/* The names after kind ("pre:" or "post:") on modules.softdep's lines for name. Caller frees. */
char **kmod_softdeps(const char *softdep, const char *name, const char *kind);
/* The module a soft dependency names: a module of that name, or the first module an exact alias
 * in modules.alias (may be NULL) gives ("alias crc32c crc32c_generic"). NULL: none (built in,
 * or not in this kernel). */
KernelModule *kmod_softdep_target(const KernelModules *m, const char *alias, const char *name);

/* The modules to keep for the wanted names: each wanted module and, transitively, what
 * modules.dep and modules.softdep (pre: and post:) pull in. *ret_keep gets the kept modules'
 * paths, sorted; *ret_missing (NULL: none) the wanted names that are neither a module nor in
 * modules.builtin, in the order given. Built-in names need nothing. Returns the number of
 * modules kept, or -EBADMSG when modules.dep names a dependency it does not list itself.
 * Leaves every module's state as it found it. */
int kmod_closure(const KernelModules *m, const char *softdep, const char *alias,
                 const char *builtin, char *const *wanted, char ***ret_keep, char ***ret_missing);
