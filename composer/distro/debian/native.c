/* SPDX-License-Identifier: MIT */
/* Native twins. In a root of another architecture every program dpkg and the maintainer scripts
 * start runs emulated (qemu-user), ~16 ms of CPU just to start one, and most of that time goes
 * to a shell, perl and coreutils. When the host has the very same version of such a package
 * installed (the same source built for the host's architecture, from the same archive), its
 * programs do the same thing, natively: they run instead of the root's, for dpkg's runs only.
 *
 * A program qualifies when its package and the package of every library it loads, its dynamic
 * loader included, are twins (same name and version in the image and on the host). What would
 * tell the architecture (uname, arch) or load a library into another program (stdbuf) stays
 * emulated, and so does dpkg itself (vmcompose-deb answers some of its calls: deb-native.c).
 * The copies live in the root's /dev, the tmpfs of dpkg's runs (never in the image): the
 * programs, their loader rewritten to the copy there (NATIVE_LOADER), in dev/.vmc-native/all,
 * linked into dev/.vmc-native/bin, first in PATH, once the root has the program at the same
 * path (native_refresh(): a script must not find what the image does not have yet, or strips);
 * the libraries in dev/.vmc-native/lib, bound on usr/lib/<triplet> (which a root of another
 * architecture does not have) for the loader's search. The shebang interpreters (/bin/sh is
 * dash, /usr/bin/perl) are bound over the root's own once their packages are unpacked, the
 * times of the root's files kept (a script reads them). Builds with and without
 * (VMCOMPOSE_NATIVE=0) are byte-identical: tests/arm64/test-arm64.sh. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"
#include "vmcompose/elf.h"
#include "vmcompose/log.h"
#include "vmcompose/profile.h"
#include "vmcompose/repo.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/sparse.h"

#define NATIVE_DIR "dev/.vmc-native"
/* What the programs' PT_INTERP is rewritten to: no longer than x86-64's /lib64/ld-... */
#define NATIVE_LOADER "/" NATIVE_DIR "/ld.so"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Perl finds its architecture's modules under usr/lib/<triplet>: the host's perl would not see
 * the image's (XS modules, libperl's), so it runs natively only when the image has none besides
 * perl-base's own (which come with the host's perl-base, the same version). */
static bool perl_alone(const InstallPackage *pkgs, size_t n, const char *arch) {
        for (size_t i = 0; i < n; i++) {
                const char *name = pkgs[i].name;
                size_t len = strlen(name);
                if (!streq(pkgs[i].architecture, arch) || streq(name, "perl-base"))
                        continue;
                if (streq(name, "perl") || strncmp(name, "libperl", 7) == 0 ||
                    (len > 5 && streq(name + len - 5, "-perl")))
                        return false;
        }
        return true;
}

/* What tells the machine (uname, arch), loads a library into another program (stdbuf), reads
 * utmp, whose layout is the architecture's (who, users, pinky, uptime), or prints with long
 * double, whose precision is the architecture's (printf, seq, od, numfmt, sort -g). */
static const char *const coreutils_skip[] = {"uname",  "arch",   "stdbuf", "who", "users",
                                             "pinky",  "uptime", "printf", "seq", "od",
                                             "numfmt", "sort",   NULL};

static const NativeRule rules[] = {
        {.package = "dash", .bind = "usr/bin/dash"},
        {.package = "perl-base",
         .bind = "usr/bin/perl",
         .data_dir = "perl-base",
         .usable = perl_alone},
        {.package = "coreutils", .skip = coreutils_skip},
        {.package = "sed"},
        {.package = "grep"},
        {.package = "tar"},
        {.package = "findutils"},
        {.package = "gzip"},
        {.package = "diffutils"},
        {.package = "debianutils"},
        {.package = "mawk"},
};

typedef struct HostPackage {
        char *name, *version;
} HostPackage;

typedef struct Selector {
        const NativeHost *host;
        const InstallPackage *pkgs;
        size_t n;
        const char *arch;      /* the image's */
        HostPackage *hostpkgs; /* installed on the host, for its architecture */
        size_t n_hostpkgs;
        char **lib_paths;    /* canonical library paths on the host ... */
        char **lib_owners;   /* ... and their packages, in step */
        char **checked_libs; /* twins' libraries already found good */
        NativeSet *set;
} Selector;

static int collect_host(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        Selector *s = userdata;
        (void)line;
        const char *name = deb822_get(f, n, "Package"), *version = deb822_get(f, n, "Version"),
                   *arch = deb822_get(f, n, "Architecture"), *status = deb822_get(f, n, "Status");
        if (!name || !version || !arch || !status || !streq(status, "install ok installed") ||
            !streq(arch, s->host->arch->name))
                return 0;
        s->hostpkgs = xrealloc(s->hostpkgs, (s->n_hostpkgs + 1) * sizeof(HostPackage));
        s->hostpkgs[s->n_hostpkgs++] = (HostPackage){xstrdup(name), xstrdup(version)};
        return 0;
}

/* Whether the image's package name is the host's at the same version. */
static bool twin(const Selector *s, const char *name) {
        const char *version = NULL;
        for (size_t i = 0; i < s->n && !version; i++)
                if (streq(s->pkgs[i].name, name) && streq(s->pkgs[i].architecture, s->arch))
                        version = s->pkgs[i].version;
        for (size_t i = 0; version && i < s->n_hostpkgs; i++)
                if (streq(s->hostpkgs[i].name, name))
                        return streq(s->hostpkgs[i].version, version);
        return false;
}

/* A library path as both merged-/usr spellings compare: without a leading /usr. */
static const char *canonical(const char *path) {
        return strncmp(path, "/usr/lib", 8) == 0 ? path + 4 : path;
}

static char *list_path(const NativeHost *h, const char *package, bool qualified) {
        return qualified ? xasprintf("%s/%s:%s.list", h->info_dir, package, h->arch->name)
                         : xasprintf("%s/%s.list", h->info_dir, package);
}

/* Every library directory's file of every host package, with its owner. */
static int read_lib_owners(Selector *s) {
        _cleanup_closedir_ DIR *d = opendir(s->host->info_dir);
        if (!d)
                return -errno;
        _cleanup_free_ char *in_triplet = xasprintf("/%s/", s->host->arch->multiarch);
        for (struct dirent *e; (e = readdir(d));) {
                size_t len = strlen(e->d_name);
                if (len < 6 || !streq(e->d_name + len - 5, ".list"))
                        continue;
                _cleanup_free_ char *owner = xstrndup(e->d_name, len - 5);
                owner[strcspn(owner, ":")] = 0;
                _cleanup_free_ char *path = path_join(s->host->info_dir, e->d_name), *text = NULL;
                if (read_full_file(path, 64 << 20, &text, NULL) < 0)
                        continue;
                for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save))
                        if (strstr(l, in_triplet) || strncmp(canonical(l), "/lib64/", 7) == 0) {
                                strv_extend(&s->lib_paths, canonical(l));
                                strv_extend(&s->lib_owners, owner);
                        }
        }
        return 0;
}

static const char *lib_owner(const Selector *s, const char *path) {
        for (size_t i = 0; s->lib_paths && s->lib_paths[i]; i++)
                if (streq(s->lib_paths[i], canonical(path)))
                        return s->lib_owners[i];
        return NULL;
}

/* The host path of the library name (DT_NEEDED), where the loader looks, or NULL. */
static char *find_lib(const Selector *s, const char *name) {
        const char *dirs[] = {"/lib", "/usr/lib"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p =
                        xasprintf("%s/%s/%s", dirs[i], s->host->arch->multiarch, name);
                if (access(p, R_OK) == 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

/* Whether the host file path (a program, a library) and everything it loads are twins'; the
 * libraries go into the set. why: what is not, for the debug log. */
static bool closure_ok(Selector *s, const char *path, unsigned depth, char **why) {
        _cleanup_free_ char *interp = NULL;
        _cleanup_strv_free_ char **needed = NULL;
        if (depth > 16 || elf_dynamic_info(path, s->host->arch->elf_machine, &interp, &needed) < 0)
                return false;
        if (interp) {
                const char *owner = lib_owner(s, interp);
                if (!owner || !twin(s, owner) ||
                    (s->set->interp && !streq(s->set->interp, interp))) {
                        *why = xasprintf("its loader %s (%s)", interp, owner ? owner : "?");
                        return false;
                }
                if (!s->set->interp)
                        s->set->interp = xstrdup(interp);
        }
        for (char **n = needed; n && *n; n++) {
                if (strv_contains(s->checked_libs, *n))
                        continue;
                _cleanup_free_ char *lib = find_lib(s, *n);
                const char *owner = lib ? lib_owner(s, lib) : NULL;
                if (!owner || !twin(s, owner)) {
                        *why = xasprintf("%s (%s)", *n, owner ? owner : "not found");
                        return false;
                }
                if (!closure_ok(s, lib, depth + 1, why))
                        return false;
                strv_extend(&s->checked_libs, *n);
                strv_extend(&s->set->libs, lib);
        }
        return true;
}

/* Whether the absolute path and the root-relative rel name the same file in a merged-/usr
 * root ("/bin/dash", "usr/bin/dash"). */
static bool same_path(const char *path, const char *rel) {
        const char *a = strncmp(path, "/usr/", 5) == 0 ? path + 5 : path + 1;
        const char *b = strncmp(rel, "usr/", 4) == 0 ? rel + 4 : rel;
        return streq(a, b);
}

static bool in_bin_dir(const char *path) {
        static const char *const dirs[] = {"/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                size_t len = strlen(dirs[i]);
                if (strncmp(path, dirs[i], len) == 0 && !strchr(path + len, '/') && path[len])
                        return true;
        }
        return false;
}

static void add_program(NativeSet *set, const char *host, const char *name, const char *root_path,
                        const char *link) {
        strv_extend(&set->programs, host);
        strv_extend(&set->names, name);
        strv_extend(&set->root_paths, root_path);
        strv_extend(&set->links, link ? link : "");
}

/* The package's links to its programs run natively (coreutils' md5sum.textutils): the program
 * called by that name, once the root has the same link (native_refresh()). */
static void add_links(Selector *s, const NativeRule *rule, char **list) {
        for (char **p = list; p && *p; p++) {
                const char *l = *p, *base = strrchr(l, '/') + 1;
                char host[PATH_MAX];
                struct stat st;
                if (!in_bin_dir(l) || strv_contains((char **)rule->skip, base) ||
                    strv_contains(s->set->names, base) || lstat(l, &st) < 0 || !S_ISLNK(st.st_mode))
                        continue;
                ssize_t hl = readlink(l, host, sizeof(host) - 1);
                _cleanup_free_ char *target = realpath(l, NULL);
                if (hl < 0 || !target)
                        continue;
                host[hl] = 0;
                for (size_t i = 0; s->set->programs && s->set->programs[i]; i++) {
                        _cleanup_free_ char *prog = realpath(s->set->programs[i], NULL);
                        if (prog && streq(prog, target)) {
                                add_program(s->set, s->set->programs[i], base, l + 1, host);
                                break;
                        }
                }
        }
}

/* The programs of rule's package the root has too, checked. */
static void add_rule(Selector *s, const NativeRule *rule) {
        _cleanup_free_ char *text = NULL, *plain = list_path(s->host, rule->package, false),
                            *qual = list_path(s->host, rule->package, true);
        if (read_full_file(plain, 16 << 20, &text, NULL) < 0 &&
            read_full_file(qual, 16 << 20, &text, NULL) < 0)
                return;
        unsigned added = 0;
        _cleanup_strv_free_ char **list = NULL;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save))
                strv_extend(&list, l);
        for (char **p = list; p && *p; p++) {
                const char *l = *p, *base = strrchr(l, '/') + 1;
                _cleanup_free_ char *why = NULL;
                struct stat st;
                if (!in_bin_dir(l) || strv_contains((char **)rule->skip, base) ||
                    strv_contains(s->set->names, base) || lstat(l, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (!closure_ok(s, l, 0, &why)) {
                        if (why)
                                log_debug_sub("install", "native: %s stays emulated: %s", l, why);
                        continue;
                }
                add_program(s->set, l, base, l + 1, NULL);
                if (rule->bind && same_path(l, rule->bind)) {
                        strv_extend(&s->set->binds, rule->bind);
                        strv_extend(&s->set->bind_packages, rule->package);
                }
                added++;
        }
        if (added > 0)
                add_links(s, rule, list);
        if (added > 0) {
                strv_extend(&s->set->packages, rule->package);
                if (rule->data_dir)
                        strv_extend(&s->set->data_dirs, rule->data_dir);
        }
}

/* vmcompose-deb (composer/install/deb-native.c) as dpkg-deb and dpkg-split, what dpkg starts
 * twice per package it unpacks (for the plain archives vmcompose stages), and as dpkg, for the
 * version checks of dpkg-maintscript-helper; the rest goes to the root's programs. */
static void add_deb_helper(Selector *s) {
        static const char *const names[] = {"dpkg-deb", "dpkg-split", "dpkg"};
        _cleanup_free_ char *helper = vmcompose_libexec_path("vmcompose-deb"), *why = NULL;
        if (access(helper, X_OK) < 0 || !closure_ok(s, helper, 0, &why))
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *path = xasprintf("usr/bin/%s", names[i]);
                if (!strv_contains(s->set->names, names[i]))
                        add_program(s->set, helper, names[i], path, NULL);
        }
        strv_extend(&s->set->packages, "vmcompose-deb");
}

/* The C library's own NSS modules (libnss_compat, ...), which programs load at run time, not
 * through DT_NEEDED: with the loader and libc (a twin, or nothing runs natively). */
static void add_nss(Selector *s) {
        _cleanup_free_ char *text = NULL, *plain = list_path(s->host, "libc6", false),
                            *qual = list_path(s->host, "libc6", true);
        if (read_full_file(qual, 16 << 20, &text, NULL) < 0 &&
            read_full_file(plain, 16 << 20, &text, NULL) < 0)
                return;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                const char *base = strrchr(l, '/') + 1;
                if (strncmp(base, "libnss_", 7) == 0 && !strv_contains(s->checked_libs, base) &&
                    access(l, R_OK) == 0) {
                        strv_extend(&s->checked_libs, base);
                        strv_extend(&s->set->libs, l);
                }
        }
}

static void selector_done(Selector *s) {
        for (size_t i = 0; i < s->n_hostpkgs; i++) {
                free(s->hostpkgs[i].name);
                free(s->hostpkgs[i].version);
        }
        free(s->hostpkgs);
        strv_free(s->lib_paths);
        strv_free(s->lib_owners);
        strv_free(s->checked_libs);
}

int native_select(const NativeHost *host, const InstallPackage *pkgs, size_t n, const char *arch,
                  NativeSet *ret) {
        NativeSet set = {};
        Selector s = {.host = host, .pkgs = pkgs, .n = n, .arch = arch, .set = &set};
        _cleanup_free_ char *status = NULL;
        int r = read_full_file(host->status, 256 << 20, &status, NULL);
        if (r >= 0)
                r = deb822_parse(status, collect_host, &s);
        if (r >= 0)
                r = read_lib_owners(&s);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(rules); i++)
                if (twin(&s, rules[i].package) &&
                    (!rules[i].usable || rules[i].usable(pkgs, n, arch)))
                        add_rule(&s, &rules[i]);
        if (r >= 0 && set.programs) { /* the native set's loader and libc are there */
                add_nss(&s);
                add_deb_helper(&s);
        }
        selector_done(&s);
        if (r < 0) {
                native_set_done(&set);
                return r;
        }
        *ret = set;
        return 0;
}

void native_set_done(NativeSet *set) {
        strv_free(set->programs);
        strv_free(set->names);
        strv_free(set->root_paths);
        strv_free(set->links);
        strv_free(set->libs);
        strv_free(set->data_dirs);
        strv_free(set->binds);
        strv_free(set->bind_packages);
        strv_free(set->packages);
        free(set->made_dir);
        free(set->interp);
        *set = (NativeSet){};
}

/* Copies the host file path to name in dir_fd (following links: a library's soname is one). */
static int copy_in(const char *path, int dir_fd, const char *name, mode_t mode) {
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (in < 0 || fstat(in, &st) < 0)
                return -errno;
        _cleanup_close_ int out =
                openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (out < 0)
                return -errno;
        return sparse_copy(in, 0, (uint64_t)st.st_size, out, 0);
}

/* Copies the host directory tree src_fd into dst_fd (files, directories, links). */
static int copy_tree(int src_fd, int dst_fd, unsigned depth) {
        int fd = openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d)
                return fd < 0 ? -errno : (close(fd), -ENOMEM);
        if (depth > 32)
                return -ELOOP;
        for (struct dirent *e; (e = readdir(d));) {
                struct stat st;
                if (streq(e->d_name, ".") || streq(e->d_name, "..") ||
                    fstatat(src_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                int r = 0;
                if (S_ISDIR(st.st_mode)) {
                        if (mkdirat(dst_fd, e->d_name, 0755) < 0)
                                return -errno;
                        _cleanup_close_ int s =
                                openat(src_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                        _cleanup_close_ int t =
                                openat(dst_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                        r = s < 0 || t < 0 ? -errno : copy_tree(s, t, depth + 1);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t len = readlinkat(src_fd, e->d_name, target, sizeof(target) - 1);
                        if (len < 0)
                                return -errno;
                        target[len] = 0;
                        r = symlinkat(target, dst_fd, e->d_name) < 0 ? -errno : 0;
                } else if (S_ISREG(st.st_mode)) {
                        _cleanup_close_ int in = openat(src_fd, e->d_name, O_RDONLY | O_NOFOLLOW);
                        _cleanup_close_ int out =
                                openat(dst_fd, e->d_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                                       st.st_mode & 0755);
                        r = in < 0 || out < 0 ? -errno
                                              : sparse_copy(in, 0, (uint64_t)st.st_size, out, 0);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The host's library directory, for the loader's search, on usr/lib/<triplet> of the root,
 * which a root of another architecture does not have (refused when it does). */
static int bind_libs(NativeSet *set, InstallMounts *m, int lib, const char *multiarch,
                     char **ret_error) {
        _cleanup_free_ char *libdir = xasprintf("usr/lib/%s", multiarch);
        _cleanup_close_ int there = root_open(m->root_fd, libdir, O_PATH | O_NOFOLLOW, 0);
        if (there >= 0) {
                *ret_error = xasprintf("the root has its own /%s", libdir);
                return -EEXIST;
        }
        set->made_dir = TAKE_PTR(libdir);
        return install_bind_dir(m, lib, set->made_dir, ret_error);
}

/* Copies the program path to name in bin, its loader the native one. */
static int copy_program(const char *path, int bin, const char *name) {
        int r = copy_in(path, bin, name, 0755);
        _cleanup_close_ int fd = r < 0 ? -1 : openat(bin, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (r < 0 || fd < 0)
                return r < 0 ? r : -errno;
        r = elf_set_interp(fd, NATIVE_LOADER);
        return r == -ENOENT ? 0 : r; /* a static program has no loader */
}

static int copy_set(const NativeSet *set, int top, int bin, int lib, const char *multiarch) {
        int r = 0;
        for (size_t i = 0; r >= 0 && set->programs && set->programs[i]; i++)
                r = copy_program(set->programs[i], bin, set->names[i]);
        for (size_t i = 0; r >= 0 && set->libs && set->libs[i]; i++)
                r = copy_in(set->libs[i], lib, strrchr(set->libs[i], '/') + 1, 0755);
        if (r >= 0)
                r = copy_in(set->interp, top, "ld.so", 0755);
        for (size_t i = 0; r >= 0 && set->data_dirs && set->data_dirs[i]; i++) {
                _cleanup_free_ char *src =
                        xasprintf("/usr/lib/%s/%s", multiarch, set->data_dirs[i]);
                _cleanup_close_ int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int t = -1;
                if (s < 0 || mkdirat(lib, set->data_dirs[i], 0755) < 0 ||
                    (t = openat(lib, set->data_dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) < 0)
                        return -errno;
                r = copy_tree(s, t, 0);
        }
        return r;
}

int native_setup(NativeSet *set, InstallMounts *m, const char *multiarch, char **ret_error) {
        if (!set->programs || !set->interp)
                return 0;
        set->mounts_keep = m->n;
        set->active = true; /* from here, native_remove() has something to undo */
        _cleanup_close_ int dev =
                root_open(m->root_fd, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        int r = dev < 0 ? dev : 0;
        _cleanup_close_ int top = -1, bin = -1, lib = -1;
        if (r == 0 && (mkdirat(dev, ".vmc-native", 0755) < 0 ||
                       (top = openat(dev, ".vmc-native", O_RDONLY | O_DIRECTORY)) < 0 ||
                       mkdirat(top, "bin", 0755) < 0 || mkdirat(top, "lib", 0755) < 0 ||
                       mkdirat(top, "all", 0755) < 0 ||
                       (bin = openat(top, "all", O_RDONLY | O_DIRECTORY)) < 0 ||
                       (lib = openat(top, "lib", O_RDONLY | O_DIRECTORY)) < 0))
                r = -errno;
        if (r == 0)
                r = copy_set(set, top, bin, lib, multiarch);
        if (r < 0) {
                *ret_error = xasprintf("cannot copy the native programs into /%s: %s", NATIVE_DIR,
                                       strerror(-r));
                return r;
        }
        return bind_libs(set, m, lib, multiarch, ret_error);
}

/* Gives the copy fd the times of the root's file path, which it is bound over: what a script
 * reads from it (dash's postinst: touch --reference=/usr/bin/dash) stays the package's. */
static int same_times(int root_fd, const char *path, int fd) {
        _cleanup_close_ int orig = root_open(root_fd, path, O_PATH | O_NOFOLLOW, 0);
        struct stat st;
        if (orig < 0)
                return orig;
        if (fstat(orig, &st) < 0)
                return -errno;
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        return futimens(fd, times) < 0 ? -errno : 0;
}

int native_bind(NativeSet *set, InstallMounts *m, char **ret_error) {
        if (!set->active || set->bound)
                return 0;
        for (size_t i = 0; set->binds && set->binds[i]; i++) {
                _cleanup_free_ char *copy =
                        xasprintf(NATIVE_DIR "/all/%s", strrchr(set->binds[i], '/') + 1);
                _cleanup_close_ int fd = root_open(m->root_fd, copy, O_RDONLY | O_NOFOLLOW, 0);
                int r = fd < 0 ? fd : same_times(m->root_fd, set->binds[i], fd);
                if (r < 0) {
                        *ret_error = xasprintf("cannot open /%s: %s", copy, strerror(-r));
                        return r;
                }
                r = install_bind_file(m, fd, set->binds[i], ret_error);
                if (r < 0)
                        return r;
                set->bound = true;
        }
        return 0;
}

/* Whether the root has the program i where the set expects it: the file (or the same link) at
 * its path, not diverted, and what the root's own PATH finds first by that name. */
static bool root_has(const NativeSet *set, size_t i, int root_fd, const char *diversions) {
        static const char *const path[] = {"usr/sbin", "usr/bin", "sbin", "bin"};
        char target[PATH_MAX];
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = root_open_parent(root_fd, set->root_paths[i], false, &name);
        struct stat st, at, found;
        if (dir < 0 || fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return false; /* not unpacked yet, or stripped from the image */
        if (*set->links[i]) {
                ssize_t len = S_ISLNK(st.st_mode)
                                      ? readlinkat(dir, name, target, sizeof(target) - 1)
                                      : -1;
                if (len < 0 || (size_t)len != strlen(set->links[i]) ||
                    memcmp(target, set->links[i], (size_t)len) != 0)
                        return false;
        } else if (!S_ISREG(st.st_mode))
                return false;
        /* A diversion of it (by either spelling of a merged-/usr path): someone else's file. */
        const char *p = set->root_paths[i];
        _cleanup_free_ char *a = xasprintf("\n/%s\n", p),
                            *b = strncmp(p, "usr/", 4) == 0 ? xasprintf("\n/%s\n", p + 4)
                                                            : xasprintf("\n/usr/%s\n", p);
        if (diversions && (strstr(diversions, a) || strstr(diversions, b)))
                return false;
        _cleanup_close_ int fd = root_open(root_fd, p, O_PATH, 0);
        if (fd < 0 || fstat(fd, &at) < 0)
                return false;
        for (size_t d = 0; d < ELEMENTSOF(path); d++) {
                _cleanup_free_ char *cand = xasprintf("%s/%s", path[d], set->names[i]);
                _cleanup_close_ int c = root_open(root_fd, cand, O_PATH, 0);
                if (c >= 0 && fstat(c, &found) == 0)
                        return found.st_dev == at.st_dev && found.st_ino == at.st_ino;
        }
        return false;
}

int native_refresh(NativeSet *set, int root_fd) {
        if (!set->active)
                return 0;
        _cleanup_close_ int top = root_open(root_fd, NATIVE_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (top < 0)
                return top;
        /* dpkg's diversions, one "from" line each three, read with a newline before. */
        _cleanup_free_ char *div = NULL, *diversions = NULL;
        if (root_read_file(root_fd, "var/lib/dpkg/diversions", 64 << 20, &div, NULL) >= 0)
                diversions = xasprintf("\n%s", div);
        for (size_t i = 0; set->names && set->names[i]; i++) {
                _cleanup_free_ char *there = xasprintf("bin/%s", set->names[i]),
                                    *from = xasprintf("all/%s", set->names[i]);
                bool linked = faccessat(top, there, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                bool want = root_has(set, i, root_fd, diversions);
                if (want && !linked && linkat(top, from, top, there, 0) < 0)
                        return -errno;
                if (!want && linked && unlinkat(top, there, 0) < 0) /* since diverted */
                        return -errno;
        }
        return 0;
}

int native_remove(NativeSet *set, int root_fd, InstallMounts *m, char **ret_error) {
        int r = 0;
        if (!set->active)
                return 0;
        if (m)
                r = install_unmount_above(m, set->mounts_keep, ret_error);
        set->bound = set->active = false;
        if (r == 0 && set->made_dir) {
                _cleanup_free_ char *name = NULL;
                _cleanup_close_ int parent = root_open_parent(root_fd, set->made_dir, false, &name);
                if (parent < 0 || unlinkat(parent, name, AT_REMOVEDIR) < 0) {
                        r = parent < 0 ? parent : -errno;
                        if (ret_error)
                                *ret_error = xasprintf("cannot remove /%s: %s", set->made_dir,
                                                       strerror(-r));
                }
        }
        free(set->made_dir);
        set->made_dir = NULL;
        (void)root_rm_rf(root_fd, NATIVE_DIR);
        return r;
}
