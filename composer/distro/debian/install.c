/* SPDX-License-Identifier: MIT */
/* The Debian backend's install (moved from composer/install/root.c): a configured Debian root from
 * .debs, the way debootstrap and mmdebstrap do it, with plain chroot: the essential set is unpacked
 * directly, dpkg then installs it properly, then the rest in Pre-Depends order. /proc, /sys and
 * a minimal /dev are mounted only while dpkg runs and are unmounted on every path (as root, or
 * as uid 0 of the user namespace of a rootless build, core/userns.c); a policy-rc.d keeps
 * services from starting. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debian.h"
#include "native.h"
#include "vmcompose/arch.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"

#define DEB_DIR "var/cache/vmcompose-debs"

/* The API file systems for dpkg's run, or a diagnostic (composer/install/mounts.c). */
static int mount_api(InstallMounts *m, const char *root, int root_fd, Diagnostics *diag) {
        _cleanup_free_ char *error = NULL;
        int r = install_mounts_open(m, root, root_fd, &error);
        if (r == 0)
                r = install_mount_api(m, &error);
        if (r < 0)
                diag_add(diag, NULL, "install: %s", error);
        return r;
}

static void unmount_all(InstallMounts *m) {
        _cleanup_free_ char *failed = NULL;
        int r = install_unmount_all(m, &failed);
        if (r < 0)
                log_warning("install: cannot unmount %s: %s", failed, strerror(-r));
        install_mounts_close(m);
}

static int write_at(int root_fd, const char *path, const char *text, mode_t mode) {
        return root_write_file(root_fd, path, text, strlen(text), mode, 0);
}

/* Copies (or hard-links) the .deb into dir (the root's DEB_DIR), where dpkg in the chroot can
 * read it; *ret: its path in the root. For a root of another architecture, whose dpkg-deb would
 * run emulated, decompressed (plain). */
static int stage_deb(int dir, const InstallPackage *p, bool plain, char **ret, Diagnostics *diag) {
        _cleanup_free_ char *name = xasprintf("%s_%s_%s.deb", p->name, p->version, p->architecture);
        for (char *c = name; *c; c++)
                if (*c == ':' || *c == '/')
                        *c = '%';
        int r = 0;
        if (plain) {
                _cleanup_close_ int out = openat(
                        dir, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
                r = out < 0 ? -errno : deb_repack_plain(p->deb_path, out);
        } else if (linkat(AT_FDCWD, p->deb_path, dir, name, 0) < 0) {
                _cleanup_close_ int in = open(p->deb_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int out = openat(
                        dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
                struct stat st;
                r = in < 0 || out < 0 || fstat(in, &st) < 0
                            ? -errno
                            : sparse_copy(in, 0, (uint64_t)st.st_size, out, 0);
        }
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot stage %s: %m", p->deb_path);
        *ret = xasprintf("/" DEB_DIR "/%s", name);
        return 0;
}

/* SOURCE_DATE_EPOCH=N for the programs run in the root (shadow's useradd and chage,
 * mkinitramfs, systemd-sysusers use it instead of the clock), or NULL without one. */
static char *sde_env(const InstallOptions *o) {
        if (!o || o->source_date_epoch == 0)
                return NULL;
        return xasprintf("SOURCE_DATE_EPOCH=%llu", (unsigned long long)o->source_date_epoch);
}

typedef struct StageJobs {
        int dir;
        const InstallPackage *pkgs;
        size_t n, next;
        bool plain;
        char **staged;
        Diagnostics *diags; /* one per package: threads do not share one */
} StageJobs;

static void *stage_worker(void *userdata) {
        StageJobs *j = userdata;
        for (size_t i; (i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->n;)
                (void)stage_deb(j->dir, &j->pkgs[i], j->plain, &j->staged[i], &j->diags[i]);
        return NULL;
}

/* Every package staged, a worker per CPU when they are decompressed (a root of another
 * architecture): in staged[], or the first failure in diag. */
static int stage_all(int root_fd, const InstallPackage *pkgs, size_t n, bool plain, char **staged,
                     Diagnostics *diag) {
        int r = root_mkdir_p(root_fd, DEB_DIR, 0755); /* before the workers race to make it */
        _cleanup_close_ int dir =
                r < 0 ? r : root_open(root_fd, DEB_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (dir < 0)
                return diag_add_errno(diag, dir, "install: cannot make /%s: %m", DEB_DIR);
        StageJobs j = {dir, pkgs, n, 0, plain, staged, xcalloc(n + 1, sizeof(Diagnostics))};
        long cpus = plain ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
        size_t n_threads = cpus > 1 ? (size_t)MIN(cpus, 8) - 1 : 0, started = 0;
        pthread_t threads[8];
        for (; started < n_threads; started++)
                if (pthread_create(&threads[started], NULL, stage_worker, &j) != 0)
                        break;
        stage_worker(&j);
        for (size_t t = 0; t < started; t++)
                pthread_join(threads[t], NULL);
        for (size_t i = 0; r == 0 && i < n; i++)
                if (!staged[i]) {
                        for (char **m = j.diags[i].messages; m && *m; m++)
                                diag_add(diag, NULL, "%s", *m);
                        r = -EIO;
                }
        for (size_t i = 0; i < n; i++) {
                diag_done(&j.diags[i]);
                if (r < 0) { /* no gaps left in staged[] for the caller's strv_free() */
                        free(staged[i]);
                        staged[i] = NULL;
                }
        }
        free(j.diags);
        return r;
}

/* What every dpkg run of one install shares. */
typedef struct DpkgRun {
        const char *root;
        int root_fd;
        const char *sde; /* SOURCE_DATE_EPOCH=..., or NULL */
        NativeSet *native;
        InstallMounts *mounts;
        Diagnostics *diag;
} DpkgRun;

/* Runs dpkg in the chroot; its output's end in diag when it fails. */
static int chroot_dpkg(const DpkgRun *run, char **args, const char *what) {
        const char *root = run->root, *sde = run->sde;
        const NativeSet *native = run->native;
        Diagnostics *diag = run->diag;
        _cleanup_strv_free_ char **argv = NULL;
        /* INITRD=No: the kernel's postinst hook makes no initramfs, and initramfs-tools'
         * trigger finds none to update; install_phases() makes it once, at the end, with
         * every package's hooks in place (instead of once per kernel configuration and per
         * dpkg run that activates the trigger: three times for the minimal profile). */
        char *env[6] = {(char *)"DEBIAN_FRONTEND=noninteractive",
                        (char *)"DEBCONF_NONINTERACTIVE_SEEN=true", (char *)"INITRD=No"};
        size_t n_env = 3;
        if (native && native->active)
                env[n_env++] = (char *)NATIVE_PATH;
        if (sde)
                env[n_env++] = (char *)sde;
        Buffer out = {};

        int r = native_refresh(run->native, run->root_fd);
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot put native programs in PATH: %m");
        strv_extend(&argv, "chroot");
        strv_extend(&argv, root);
        strv_extend(&argv, "dpkg");
        strv_extend(&argv, "--force-confnew");
        strv_extend(&argv, "--force-unsafe-io");
        for (char **a = args; a && *a; a++)
                strv_extend(&argv, *a);
        double start = spawn_in_root_seconds();
        r = spawn_run_in_root(argv, env, &out);
        log_info("install: dpkg (%s): %.1f s", what, spawn_in_root_seconds() - start);
        if (r != 0) {
                log_debug_sub("install", "dpkg %s, the whole output:\n%s", what,
                              out.data ? out.data : "");
                /* The end of dpkg's output says which maintainer script failed. */
                const char *tail = out.data ? out.data : "";
                size_t len = strlen(tail);
                if (len > 4000)
                        tail += len - 4000;
                diag_add(diag, NULL, "install: dpkg (%s) failed (%s %d):\n%s", what,
                         r < 0 ? "error" : "exit status", r, tail);
                r = r < 0 ? r : -EIO;
        } else
                log_debug_sub("install", "dpkg %s:\n%s", what, out.data ? out.data : "");
        buffer_done(&out);
        return r;
}

static size_t index_of(const InstallPackage *pkgs, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(pkgs[i].name, name))
                        return i;
        return SIZE_MAX;
}

/* The essential packages and everything they depend on: what dpkg needs to run at all. */
static void bootstrap_set(const InstallPackage *pkgs, size_t n, bool *in) {
        for (size_t i = 0; i < n; i++)
                in[i] = pkgs[i].essential;
        for (bool grew = true; grew;) {
                grew = false;
                for (size_t i = 0; i < n; i++) {
                        if (!in[i])
                                continue;
                        char **lists[] = {pkgs[i].depends, pkgs[i].pre_depends};
                        for (size_t l = 0; l < 2; l++)
                                for (char **d = lists[l]; d && *d; d++) {
                                        size_t j = index_of(pkgs, n, *d);
                                        if (j != SIZE_MAX && !in[j])
                                                in[j] = grew = true;
                                }
                }
        }
}

static int finish_root(int root_fd) {
        /* First boot generates these: the image must not carry them. */
        _cleanup_close_ int etc = root_open(root_fd, "etc", O_PATH | O_DIRECTORY, 0);
        if (etc < 0)
                return etc;
        (void)write_at(root_fd, "etc/machine-id", "", 0444);
        (void)root_unlink(root_fd, "var/lib/dbus/machine-id", 0);
        return 0;
}

/* The merged-/usr layout, as debootstrap makes it for Debian 12. */
static int make_merged_usr(int root_fd, const char *architecture) {
        static const char *const dirs[] = {"bin", "sbin", "lib", "lib64"};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                if (streq(dirs[i], "lib64") && (!architecture || !streq(architecture, "amd64")))
                        continue;
                _cleanup_free_ char *target = xasprintf("usr/%s", dirs[i]);
                int r = root_mkdir_p(root_fd, target, 0755);
                if (r < 0)
                        return r;
                if (symlinkat(target, root_fd, dirs[i]) < 0 && errno != EEXIST)
                        return -errno;
        }
        return 0;
}

/* The initramfs of every installed kernel, made once now that every package is configured
 * (see chroot_dpkg()'s INITRD=No). Nothing to do without initramfs-tools. */
static int make_initramfs(const char *root, const char *sde, Diagnostics *diag) {
        static const char script[] = "command -v update-initramfs >/dev/null || exit 0\n"
                                     "for k in /boot/vmlinuz-*; do\n"
                                     "        [ -e \"$k\" ] || continue\n"
                                     "        update-initramfs -c -k \"${k#/boot/vmlinuz-}\"\n"
                                     "done\n";
        char *const argv[] = {(char *)"chroot", (char *)root,   (char *)"/bin/sh",
                              (char *)"-ec",    (char *)script, NULL};
        char *env[] = {(char *)sde, NULL}; /* PATH and the locale: spawn_run_in_root()'s */
        Buffer out = {};
        int r = spawn_run_in_root(argv, env, &out);
        if (r != 0)
                diag_add(diag, NULL, "install: update-initramfs failed (%s %d):\n%s",
                         r < 0 ? "error" : "exit status", r, out.data ? out.data : "");
        else
                log_debug_sub("install", "initramfs:\n%s", out.data ? out.data : "");
        buffer_done(&out);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}

/* 1. The bootstrap set unpacked, so that dpkg can run inside the root. */
static int unpack_bootstrap(const char *root, int root_fd, const InstallPackage *pkgs, size_t n,
                            const InstallOptions *o, const bool *boot, char **plain) {
        unsigned n_boot = 0;
        double start = spawn_monotonic_usec() / 1e6;
        for (size_t i = 0; i < n; i++) {
                if (!boot[i])
                        continue;
                /* The decompressed copy when there is one: the same members, read faster,
                 * opened inside the root (a package unpacked before may have put a link
                 * there) and read through its descriptor. */
                _cleanup_close_ int fd =
                        plain ? root_open(root_fd, plain[i] + 1, O_RDONLY | O_NOFOLLOW, 0) : -1;
                if (plain && fd < 0)
                        return log_error_errno(fd, "install: cannot open %s%s: %m", root, plain[i]);
                _cleanup_free_ char *path = plain ? xasprintf("/proc/self/fd/%d", fd) : NULL;
                int r = deb_extract(root_fd, path ? path : pkgs[i].deb_path, o, NULL);
                if (r < 0)
                        return r; /* deb_extract() logs what it refuses */
                if (signals_interrupted())
                        return -EINTR;
                n_boot++;
        }
        log_info("install: unpacked %u bootstrap packages: %.1f s", n_boot,
                 spawn_monotonic_usec() / 1e6 - start);
        return 0;
}

/* What must be in place before anything is configured: the settings the packages read, dpkg's
 * own records of what the policy strips, a policy-rc.d that keeps services from starting. */
static int write_before_configure(int root_fd, const InstallOptions *o, Diagnostics *diag) {
        int r;
        for (size_t i = 0; o && i < o->n_files; i++) {
                const InstallFile *f = &o->files[i];
                r = root_write_file(root_fd, f->path, f->content, strlen(f->content),
                                    f->mode ? f->mode : 0644, ROOT_WRITE_MKDIR);
                if (r < 0)
                        return diag_add_errno(diag, r, "install: cannot write %s: %m", f->path);
        }
        if (o && o->path_exclude) {
                Buffer cfg = {};
                buffer_puts(&cfg, "# Written by vmcompose from the image's policies.\n");
                for (char **e = o->path_exclude; *e; e++)
                        buffer_printf(&cfg, "path-exclude=%s\n", *e);
                for (char **i = o->path_include; i && *i; i++)
                        buffer_printf(&cfg, "path-include=%s\n", *i);
                r = write_at(root_fd, "etc/dpkg/dpkg.cfg.d/vmcompose-policy", cfg.data, 0644);
                buffer_done(&cfg);
                if (r < 0)
                        return diag_add_errno(diag, r,
                                              "install: cannot write dpkg's path-exclude "
                                              "rules: %m");
        }
        r = write_at(
                root_fd, "usr/sbin/policy-rc.d",
                "#!/bin/sh\n# vmcompose: no services start while the image is built\nexit 101\n",
                0755);
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot write usr/sbin/policy-rc.d: %m");
        return 0;
}

int debian_install_levels(const InstallPackage *pkgs, size_t n, const bool *done, unsigned *level,
                          unsigned *ret_max) {
        unsigned max_level = 0;
        for (bool changed = true; changed;) {
                changed = false;
                for (size_t i = 0; i < n; i++) {
                        if (done[i])
                                continue;
                        unsigned l = level[i];
                        for (char **d = pkgs[i].pre_depends; d && *d; d++) {
                                size_t j = index_of(pkgs, n, *d);
                                if (j != SIZE_MAX && !done[j])
                                        l = MAX(l, level[j] + 1);
                        }
                        for (char **d = pkgs[i].depends; d && *d; d++) {
                                size_t j = index_of(pkgs, n, *d);
                                if (j != SIZE_MAX && !done[j])
                                        l = MAX(l, level[j]);
                        }
                        if (l != level[i]) {
                                level[i] = l;
                                changed = true;
                        }
                        max_level = MAX(max_level, l);
                }
                if (max_level > n)
                        return -ELOOP;
        }
        *ret_max = max_level;
        return 0;
}

/* dpkg installs the packages in[], dependencies forced or not. With native programs: unpacked
 * first, then configured once what they brought is in PATH and the native shell and perl are
 * bound over the root's (which dpkg replaces while it unpacks), in the same order as --install
 * would (the order of its queue: the arguments'). */
static int dpkg_install(const DpkgRun *run, const InstallPackage *pkgs, char **staged, size_t n,
                        const bool *in, bool force_depends, bool may_split, const char *what) {
        const bool split = may_split && run->native->active;
        _cleanup_strv_free_ char **first = NULL, **args = NULL, **configure = NULL;
        _cleanup_free_ char *error = NULL, *first_what = xasprintf("%s, unpack shells", what),
                            *unpack_what = xasprintf("%s, unpack", what),
                            *configure_what = xasprintf("%s, configure", what);
        strv_extend(&first, "--unpack");
        strv_extend(&args, split ? "--unpack" : "--install");
        strv_extend(&configure, "--configure");
        if (force_depends) {
                strv_extend(&first, "--force-depends");
                strv_extend(&args, "--force-depends");
                strv_extend(&configure, "--force-depends");
        }
        /* Split, the packages of the native shell and perl go first, on their own: then
         * every other package's preinst runs with them. */
        for (size_t i = 0; i < n; i++)
                if (in[i]) {
                        bool interp =
                                split && strv_contains(run->native->bind_packages, pkgs[i].name);
                        strv_extend(interp ? &first : &args, staged[i]);
                        strv_extend(&configure, pkgs[i].name);
                }
        /* dpkg keeps the status file as it was before its run in status-old: several runs
         * must leave the one --install leaves. */
        _cleanup_free_ char *status = NULL;
        size_t status_size = 0;
        if (split && root_read_file(run->root_fd, "var/lib/dpkg/status", 256 << 20, &status,
                                    &status_size) < 0)
                status = NULL;
        int r = 0;
        if (split && strv_length(first) > (force_depends ? 2 : 1)) {
                if ((r = chroot_dpkg(run, first, first_what)) < 0)
                        return r;
                if ((r = native_bind(run->native, run->mounts, &error)) < 0)
                        return diag_add_errno(run->diag, r, "install: %s", error);
        }
        r = chroot_dpkg(run, args, split ? unpack_what : what);
        if (r < 0 || !split)
                return r;
        if ((r = native_bind(run->native, run->mounts, &error)) < 0)
                return diag_add_errno(run->diag, r, "install: %s", error);
        r = chroot_dpkg(run, configure, configure_what);
        if (r == 0 && status &&
            (r = root_write_file(run->root_fd, "var/lib/dpkg/status-old", status, status_size, 0644,
                                 0)) < 0)
                diag_add_errno(run->diag, r, "install: cannot write dpkg's status-old: %m");
        return r;
}

/* 3. dpkg installs, a round per level, the packages not done yet. */
static int install_rounds(const DpkgRun *run, const InstallPackage *pkgs, char **staged, size_t n,
                          const bool *done, const unsigned *level, unsigned max_level) {
        _cleanup_free_ bool *in = xcalloc(n + 1, sizeof(bool));
        for (unsigned round = 0; round <= max_level; round++) {
                if (signals_interrupted())
                        return -EINTR;
                size_t count = 0;
                for (size_t i = 0; i < n; i++)
                        count += (in[i] = !done[i] && level[i] == round);
                if (count == 0)
                        continue;
                _cleanup_free_ char *what = xasprintf("round %u, %zu packages", round + 1, count);
                /* One run a round: split, its own programs would come to PATH a few seconds
                 * earlier, for another emulated start of dpkg (measured: no faster). */
                int r = dpkg_install(run, pkgs, staged, n, in, false, false, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The host's builds of the same package versions, for a root of another architecture
 * (native.c); a failure only leaves the programs emulated. VMCOMPOSE_NATIVE=0: none. */
static void native_start(int root_fd, const InstallPackage *pkgs, size_t n, const InstallOptions *o,
                         InstallMounts *mounts, NativeSet *native) {
        const Arch *arch = o ? arch_find(o->architecture) : NULL;
        const char *env = getenv("VMCOMPOSE_NATIVE");
        NativeHost host = {"/var/lib/dpkg/status", "/var/lib/dpkg/info", arch_host()};
        _cleanup_free_ char *error = NULL;
        if (!arch || !arch_is_foreign(arch) || !host.arch || (env && streq(env, "0")))
                return;
        int r = native_select(&host, pkgs, n, arch->name, native);
        if (r < 0) {
                log_info("install: cannot read the host's dpkg database (%s): every program in "
                         "the root runs emulated",
                         strerror(-r));
                return;
        }
        r = native_setup(native, mounts, host.arch->multiarch, &error);
        if (r < 0) {
                log_warning("install: %s; the root's programs run emulated", error);
                (void)native_remove(native, root_fd, mounts, NULL);
                return;
        }
        if (native->active) {
                Buffer list = {};
                for (char **p = native->packages; p && *p; p++)
                        buffer_printf(&list, "%s%s", p == native->packages ? "" : ", ", *p);
                log_info("install: %zu programs run natively, the host's builds of the same "
                         "versions (%s)",
                         strv_length(native->programs), list.data);
                buffer_done(&list);
                spawn_note_native((unsigned)strv_length(native->programs));
        }
}

static int install_phases(const char *root, int root_fd, const InstallPackage *pkgs, size_t n,
                          const InstallOptions *o, InstallMounts *mounts, NativeSet *native,
                          Diagnostics *diag) {
        _cleanup_free_ bool *boot = xcalloc(n + 1, sizeof(bool));
        _cleanup_free_ bool *done = xcalloc(n + 1, sizeof(bool));
        _cleanup_strv_free_ char **staged = xcalloc(n + 1, sizeof(char *));
        _cleanup_free_ unsigned *level = xcalloc(n + 1, sizeof(unsigned));
        _cleanup_free_ char *sde = sde_env(o);
        unsigned max_level = 0;
        int r;

        if (o && o->merged_usr && (r = make_merged_usr(root_fd, o->architecture)) < 0)
                return diag_add_errno(diag, r, "install: cannot make the merged-/usr links: %m");
        bootstrap_set(pkgs, n, boot);
        /* The .debs, where dpkg in the chroot sees them: for a root of another architecture
         * decompressed, first (the bootstrap set is unpacked from those copies). */
        const bool plain = o && arch_is_foreign(arch_find(o->architecture));
        if (plain && (r = stage_all(root_fd, pkgs, n, plain, staged, diag)) < 0)
                return r;
        if ((r = unpack_bootstrap(root, root_fd, pkgs, n, o, boot, plain ? staged : NULL)) < 0 ||
            (r = write_before_configure(root_fd, o, diag)) < 0)
                return r;
        if (!plain && (r = stage_all(root_fd, pkgs, n, plain, staged, diag)) < 0)
                return r;
        r = mount_api(mounts, root, root_fd, diag);
        if (r < 0)
                return r;
        native_start(root_fd, pkgs, n, o, mounts, native);

        /* 2. dpkg installs the bootstrap set properly, dependencies forced: they are all
         * there, only not configured yet. */
        const DpkgRun run = {root, root_fd, sde, native, mounts, diag};
        for (size_t i = 0; i < n; i++)
                done[i] = boot[i];
        r = dpkg_install(&run, pkgs, staged, n, boot, true, true, "bootstrap");
        if (r < 0)
                return r;

        /* 3. The rest, a round per Pre-Depends level: a package goes after everything it
         * pre-depends on (which must be configured before it is even unpacked) and not
         * before anything it depends on (which dpkg configures first within one round). */
        if (debian_install_levels(pkgs, n, done, level, &max_level) < 0)
                return diag_add_errno(diag, ELOOP,
                                      "install: a Pre-Depends cycle among the packages");
        r = install_rounds(&run, pkgs, staged, n, done, level, max_level);
        _cleanup_free_ char *error = NULL;
        if (r >= 0 && (r = native_remove(native, root_fd, mounts, &error)) < 0)
                diag_add_errno(diag, r, "install: %s", error);
        if (r < 0)
                return r;
        return o && o->no_initramfs ? 0 : make_initramfs(root, sde, diag);
}

int debian_install_root(const char *root_dir, const InstallPackage *pkgs, size_t n,
                        const InstallOptions *o, Diagnostics *diag) {
        InstallMounts mounts = {};
        NativeSet native = {};
        int r;

        if (mkdir(root_dir, 0755) < 0 && errno != EEXIST)
                return diag_add_errno(diag, errno, "install: cannot create %s: %m", root_dir);
        _cleanup_close_ int root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return diag_add_errno(diag, errno, "install: cannot open %s: %m", root_dir);

        r = install_phases(root_dir, root_fd, pkgs, n, o, &mounts, &native, diag);
        _cleanup_free_ char *error = NULL;
        if (native_remove(&native, root_fd, &mounts, &error) < 0)
                log_warning("install: %s", error);
        native_set_done(&native);
        unmount_all(&mounts);

        /* Whatever happened: no policy-rc.d and no staged .debs stay in the root. */
        (void)root_rm_rf(root_fd, DEB_DIR);
        (void)root_unlink(root_fd, "usr/sbin/policy-rc.d", 0);
        if (r == 0)
                r = finish_root(root_fd);
        return r;
}

int debian_list_installed(const char *root_dir, char ***ret) {
        char *const argv[] = {(char *)"chroot",
                              (char *)root_dir,
                              (char *)"dpkg-query",
                              (char *)"-W",
                              (char *)"-f",
                              (char *)"${Package} ${Version} ${Architecture}\\n",
                              NULL};
        Buffer out = {};
        int r = spawn_run_in_root(argv, NULL, &out);
        if (r != 0) {
                buffer_done(&out);
                return r < 0 ? r : -EIO;
        }
        char **l = NULL;
        for (char *p = out.data, *save = NULL, *line = strtok_r(p, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
                strv_extend(&l, line);
        buffer_done(&out);
        *ret = l;
        return 0;
}
