/* SPDX-License-Identifier: MIT */
/* vmcompose's own initramfs (kernel.initramfs: vmcompose): a newc cpio archive holding the
 * static init (composer/initrd/init.c), the modules of the kernel target's drivers with the
 * modules they depend on (modules.dep, modules.softdep), decompressed, in load order, and the
 * few nodes init needs. Written directly, uncompressed (the kernel copies it faster than it
 * would decompress it, and it is a few MiB), with fixed owners, inode numbers and times: the
 * same inputs give the same bytes. */
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "vmcompose/arch.h"
#include "vmcompose/bootloader.h"
#include "vmcompose/install.h"
#include "vmcompose/kmod.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/macro.h"

typedef struct Entry {
        char *path; /* in the archive, no leading '/' */
        mode_t mode;
        dev_t rdev;
        char *data;
        size_t size;
} Entry;

typedef struct Entries {
        Entry *e;
        size_t n;
} Entries;

static void entries_done(Entries *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->e[i].path);
                free(e->e[i].data);
        }
        free(e->e);
}

typedef struct Resolver {
        const KernelModules *mods;
        const char *softdep; /* modules.softdep, or NULL */
        const char *alias;   /* modules.alias, or NULL */
        KernelModule **order;
        size_t n_order;
} Resolver;

static int add_module(Resolver *res, KernelModule *m, bool soft);

/* modules.softdep's pre: or post: modules of m: loaded with it when this kernel has them. */
static int add_softdeps(Resolver *res, KernelModule *m, const char *kind) {
        _cleanup_strv_free_ char **names = kmod_softdeps(res->softdep, m->name, kind);
        for (char **s = names; s && *s; s++) {
                KernelModule *dep = kmod_softdep_target(res->mods, res->alias, *s);
                int r = dep ? add_module(res, dep, true) : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Appends m to the load order after what it depends on (modules.dep) and what it asks to
 * come first (softdep pre:), and before what it asks to come after (post:). A cycle through
 * hard dependencies is an error; one through a soft dependency is broken there. */
static int add_module(Resolver *res, KernelModule *m, bool soft) {
        if (m->state == 2 || (m->state == 1 && soft))
                return 0;
        if (m->state == 1)
                return log_error_errno(ELOOP, "initramfs: modules.dep has a cycle through %s",
                                       m->name);
        m->state = 1;
        int r = add_softdeps(res, m, "pre:");
        if (r < 0)
                return r;
        for (char **d = m->deps; d && *d; d++) {
                _cleanup_free_ char *name = kmod_name(*d);
                KernelModule *dep = kmod_find(res->mods, name);
                if (!dep)
                        return log_error_errno(ENOENT,
                                               "initramfs: %s needs %s, which modules.dep does "
                                               "not list",
                                               m->name, *d);
                r = add_module(res, dep, false);
                if (r < 0)
                        return r;
        }
        m->state = 2;
        res->order = xrealloc(res->order, (res->n_order + 1) * sizeof(KernelModule *));
        res->order[res->n_order++] = m;
        return add_softdeps(res, m, "post:");
}

static void entry_add(Entries *e, const char *path, mode_t mode, char *data, size_t size) {
        e->e = xrealloc(e->e, (e->n + 1) * sizeof(Entry));
        e->e[e->n++] = (Entry){.path = xstrdup(path), .mode = mode, .data = data, .size = size};
}

/* Every directory above path, once. */
static void entry_add_parents(Entries *e, const char *path) {
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                bool have = false;
                for (size_t i = 0; i < e->n && !have; i++)
                        have = streq(e->e[i].path, p);
                if (!have)
                        entry_add(e, p, S_IFDIR | 0755, NULL, 0);
                *s = '/';
        }
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const Entry *)a)->path, ((const Entry *)b)->path);
}

static void cpio_header(Buffer *b, unsigned ino, mode_t mode, uint64_t mtime, size_t size,
                        dev_t rdev, const char *name) {
        size_t namesize = strlen(name) + 1;
        buffer_printf(b, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino,
                      (unsigned)mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, (unsigned)mtime, size, 0u,
                      0u, major(rdev), minor(rdev), namesize, 0u);
        buffer_append(b, name, namesize);
        while (b->len % 4)
                buffer_putc(b, 0);
}

char *initramfs_cpio(const InitramfsFile *files, size_t n, uint64_t mtime, size_t *ret_size) {
        Buffer b = {};
        unsigned ino = 1;

        for (size_t i = 0; i < n; i++) {
                cpio_header(&b, ino++, files[i].mode, mtime, files[i].size, files[i].rdev,
                            files[i].path);
                buffer_append(&b, files[i].data, files[i].size);
                while (b.len % 4)
                        buffer_putc(&b, 0);
        }
        cpio_header(&b, 0, 0, 0, 0, 0, "TRAILER!!!");
        /* Padded to cpio's 512-byte blocks, as GNU cpio writes it (lsinitramfs expects it). */
        while (b.len % 512)
                buffer_putc(&b, 0);
        *ret_size = b.len;
        return buffer_steal(&b);
}

static int elf_machine(const char *data, size_t size) {
        if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0)
                return -1;
        uint16_t m;
        memcpy(&m, data + offsetof(Elf64_Ehdr, e_machine), sizeof(m));
        return m;
}

/* The drivers' modules, each after what it depends on; built-in drivers are skipped. Every
 * driver the kernel lacks is named before this fails. */
static int resolve_drivers(const InitramfsRequest *req, Resolver *res, const char *builtin) {
        int ret = 0;
        for (size_t i = 0; req->drivers && req->drivers[i]; i++) {
                char *const *d = &req->drivers[i];
                const char *where = req->driver_wheres ? req->driver_wheres[i] : NULL;
                _cleanup_free_ char *name = kmod_name(*d);
                KernelModule *m = kmod_find(res->mods, name);
                int r = 0;
                if (m)
                        r = add_module(res, m, false);
                else if (!kmod_is_builtin(builtin, name))
                        r = log_error_errno(ENXIO,
                                            "initramfs: kernel %s has no driver %s (neither a "
                                            "module in modules.dep nor built in)%s%s",
                                            req->version, *d, where ? ", asked for at " : "",
                                            where ? where : "");
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

/* A compressed module (.ko.xz, .ko.zst, .ko.gz) as the plain .ko the init loads: the kernel
 * decompresses only with CONFIG_MODULE_DECOMPRESS, so the archive never relies on it. */
static int decompress(char **data, size_t *size, const char *path) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        Buffer out = {};
        char buf[65536];
        ssize_t n;
        int r = 0;

        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        if (archive_read_open_memory(a, *data, *size) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK)
                r = -EBADMSG;
        while (r == 0 && (n = archive_read_data(a, buf, sizeof(buf))) != 0)
                if (n < 0)
                        r = -EBADMSG;
                else
                        buffer_append(&out, buf, (size_t)n);
        if (r < 0) {
                log_error("initramfs: cannot decompress %s: %s", path, archive_error_string(a));
                buffer_done(&out);
        } else {
                free(*data);
                *size = out.len;
                *data = buffer_steal(&out);
        }
        archive_read_free(a);
        return r;
}

int initramfs_write(const InitramfsRequest *req) {
        _cleanup_close_ int root_fd = open(req->root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *dep_path = xasprintf("lib/modules/%s/modules.dep", req->version);
        _cleanup_free_ char *builtin_path =
                xasprintf("lib/modules/%s/modules.builtin", req->version);
        _cleanup_free_ char *softdep_path =
                xasprintf("lib/modules/%s/modules.softdep", req->version);
        _cleanup_free_ char *alias_path = xasprintf("lib/modules/%s/modules.alias", req->version);
        _cleanup_free_ char *deps = NULL, *builtin = NULL, *init = NULL, *cpio = NULL;
        _cleanup_free_ char *softdep = NULL, *alias = NULL;
        _cleanup_free_ KernelModule **order = NULL;
        _cleanup_free_ InitramfsFile *files = NULL;
        _cleanup_(kmod_done) KernelModules all = {};
        _cleanup_(entries_done) Entries e = {};
        size_t init_size = 0, size = 0;
        Buffer list = {};
        int r;

        if (root_fd < 0)
                return log_error_errno(errno, "initramfs: %s: %m", req->root_dir);
        r = read_full_file(req->init_path, 64 << 20, &init, &init_size);
        if (r < 0)
                return log_error_errno(r,
                                       "initramfs: cannot read the init program %s (%m); build "
                                       "vmcompose-init (make build; another architecture's needs "
                                       "its cross compiler, crossbuild-essential-%s) or set "
                                       "VMCOMPOSE_INIT",
                                       req->init_path, req->architecture);
        const Arch *arch = arch_find(req->architecture);
        if (arch && arch->elf_machine != elf_machine(init, init_size))
                return log_error_errno(ENOEXEC,
                                       "initramfs: %s is not a program for %s (the image's "
                                       "architecture)",
                                       req->init_path, req->architecture);
        r = root_read_file(root_fd, dep_path, 64 << 20, &deps, NULL);
        if (r < 0)
                return log_error_errno(r, "initramfs: %s/%s: %m (kernel %s without depmod?)",
                                       req->root_dir, dep_path, req->version);
        (void)root_read_file(root_fd, builtin_path, 64 << 20, &builtin, NULL);
        (void)root_read_file(root_fd, softdep_path, 64 << 20, &softdep, NULL);
        (void)root_read_file(root_fd, alias_path, 64 << 20, &alias, NULL);
        kmod_parse_dep(deps, &all);
        Resolver res = {.mods = &all, .softdep = softdep, .alias = alias};
        r = resolve_drivers(req, &res, builtin);
        order = res.order;
        size_t n_order = res.n_order;
        if (r < 0)
                return r;

        entry_add(&e, "init", S_IFREG | 0755, TAKE_PTR(init), init_size);
        static const char *const dirs[] = {"dev", "proc", "sys", "sysroot", "vmcompose"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                entry_add(&e, dirs[i], S_IFDIR | 0755, NULL, 0);
        entry_add(&e, "dev/console", S_IFCHR | 0600, NULL, 0);
        e.e[e.n - 1].rdev = makedev(5, 1);
        for (size_t i = 0; i < n_order; i++) {
                _cleanup_free_ char *in_root =
                        xasprintf("lib/modules/%s/%s", req->version, order[i]->path);
                char *data = NULL;
                size_t data_size = 0;
                r = root_read_file(root_fd, in_root, 256 << 20, &data, &data_size);
                if (r < 0) {
                        buffer_done(&list);
                        return log_error_errno(r, "initramfs: %s/%s: %m", req->root_dir, in_root);
                }
                char *ko = strstr(in_root, ".ko.");
                if (ko) {
                        r = decompress(&data, &data_size, in_root);
                        if (r < 0) {
                                free(data);
                                buffer_done(&list);
                                return r;
                        }
                        ko[3] = 0;
                }
                entry_add_parents(&e, in_root);
                entry_add(&e, in_root, S_IFREG | 0644, data, data_size);
                buffer_printf(&list, "%s /%s\n", order[i]->name, in_root);
        }
        size_t list_size = list.len;
        entry_add(&e, "vmcompose/modules", S_IFREG | 0644, buffer_steal(&list), list_size);
        qsort(e.e, e.n, sizeof(Entry), entry_cmp);

        files = xcalloc(e.n, sizeof(InitramfsFile));
        for (size_t i = 0; i < e.n; i++)
                files[i] = (InitramfsFile){.path = e.e[i].path,
                                           .mode = e.e[i].mode,
                                           .rdev = e.e[i].rdev,
                                           .data = e.e[i].data ? e.e[i].data : "",
                                           .size = e.e[i].size};
        cpio = initramfs_cpio(files, e.n, req->mtime, &size);
        r = root_write_file(root_fd, req->out_path, cpio, size, 0644, 0);
        if (r < 0)
                return log_error_errno(r, "initramfs: cannot write %s/%s: %m", req->root_dir,
                                       req->out_path);
        log_info("initramfs: %s/%s, %zu modules, %zu KiB", req->root_dir, req->out_path, n_order,
                 size >> 10);
        return 0;
}

int initramfs_list(int root_fd, const char *path, Buffer *out) {
        _cleanup_close_ int fd = root_open_file(root_fd, path);
        if (fd < 0)
                return log_error_errno(fd, "initramfs: %s: %m", path);
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        int r;

        archive_read_support_format_cpio(a);
        archive_read_support_filter_all(a);
        if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
                r = log_error_errno(EIO, "initramfs: %s: %s", path, archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
                buffer_printf(out, "%s\n", archive_entry_pathname(e));
        if (r != ARCHIVE_EOF)
                r = log_error_errno(EBADMSG, "initramfs: %s: %s", path, archive_error_string(a));
        else
                r = 0;
        archive_read_free(a);
        return r;
}
