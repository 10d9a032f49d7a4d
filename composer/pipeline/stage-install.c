/* SPDX-License-Identifier: MIT */
/* The install stage: packages into a root, checked against the plan, then the profile's
 * system: section. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages.h"
#include "vmcompose/install.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/sparse.h"
#include "vmcompose/spawn.h"

/* initramfs-tools sleeps for the whole of rootdelay= before it even looks for the root disk
 * (its init script), then waits up to that long for it (scripts/local). Azure documents
 * rootdelay=300 as the longest wait for its disk: these two hooks keep that meaning, and drop
 * the unconditional five-minute sleep. /conf/param.conf is read back by initramfs-tools after
 * every hook. */
static const char rootdelay_top[] =
        "#!/bin/sh\n"
        "# Written by vmcompose: rootdelay= is the longest wait for the root disk, not a sleep.\n"
        "case \"$1\" in prereqs) exit 0 ;; esac\n"
        "[ -n \"$ROOTDELAY\" ] || exit 0\n"
        "echo \"export VMCOMPOSE_ROOTDELAY=$ROOTDELAY\" >>/conf/param.conf\n"
        "echo \"ROOTDELAY=\" >>/conf/param.conf\n";
static const char rootdelay_local[] =
        "#!/bin/sh\n"
        "# Written by vmcompose: rootdelay= back for the wait for the root disk (scripts/local).\n"
        "case \"$1\" in prereqs) exit 0 ;; esac\n"
        "[ -n \"$VMCOMPOSE_ROOTDELAY\" ] || exit 0\n"
        "echo \"ROOTDELAY=$VMCOMPOSE_ROOTDELAY\" >>/conf/param.conf\n";

static void collect_patterns(const Profile *p, const char *key, char ***ret) {
        for (size_t i = 0; i < p->n_policies; i++) {
                const Node *list = node_lookup(p->policies[i].tree, key);
                for (size_t j = 0; list && j < list->n_items; j++)
                        strv_extend(ret, node_map_get(list->items[j], "pattern")->scalar);
        }
}

/* dpkg --audit prints nothing, and dpkg knows exactly the planned packages. */
static int check_installed(const BuildContext *ctx) {
        char *const audit[] = {(char *)"chroot", ctx->root_path, (char *)"dpkg", (char *)"--audit",
                               NULL};
        Buffer out = {};
        int r = spawn_run_in_root(audit, NULL, &out);
        if (r != 0 || out.len > 0) {
                log_error("install: dpkg --audit in the root is not clean:\n%s",
                          out.data ? out.data : "");
                buffer_done(&out);
                return -EBADMSG;
        }
        buffer_done(&out);

        _cleanup_strv_free_ char **have = NULL;
        r = install_list_installed(ctx->root_path, &have);
        if (r < 0)
                return log_error_errno(r, "install: dpkg-query in the root failed: %m");
        int bad = 0;
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *p = &ctx->plan.packages[i];
                _cleanup_free_ char *want =
                        xasprintf("%s %s %s", p->name, p->version, p->architecture);
                if (!strv_contains(have, want)) {
                        log_error("install: %s is not installed as planned", want);
                        bad++;
                }
        }
        if (strv_length(have) != ctx->plan.n_packages) {
                log_error("install: dpkg knows %zu packages, the plan has %zu", strv_length(have),
                          ctx->plan.n_packages);
                bad++;
        }
        return bad ? -EBADMSG : 0;
}

static int run_in_root(const char *root, const char *script, const char *what) {
        char *const argv[] = {(char *)"chroot", (char *)root,   (char *)"/bin/sh",
                              (char *)"-ec",    (char *)script, NULL};
        char *env[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"LC_ALL=C.UTF-8",
                       (char *)"DEBIAN_FRONTEND=noninteractive", NULL};
        Buffer out = {};
        int r = spawn_run_in_root(argv, env, &out);
        if (r != 0) {
                log_error("system: %s failed (%s %d):\n%s", what, r < 0 ? "error" : "exit status",
                          r, out.data ? out.data : "");
                r = r < 0 ? r : -EIO;
        }
        buffer_done(&out);
        return r;
}

/* Shell-quotes s for run_in_root(). */
static char *quote(const char *s) {
        Buffer b = {};
        buffer_putc(&b, '\'');
        for (const char *p = s; *p; p++)
                if (*p == '\'')
                        buffer_puts(&b, "'\\''");
                else
                        buffer_putc(&b, *p);
        buffer_putc(&b, '\'');
        return buffer_steal(&b);
}

/* The alternatives (/var/lib/dpkg/alternatives/NAME) that list path as one of their choices. */
static char **alternatives_using(int root_fd, const char *path) {
        char **names = NULL;
        int fd = install_open_in_root(root_fd, "var/lib/dpkg/alternatives",
                                      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return NULL;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_close_ int f =
                        openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                char buf[16384];
                ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                /* The file's lines: mode, link, slaves, a blank line, then each choice's path,
                 * priority and slave paths. A line equal to path names it as a choice. */
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        if (streq(line, path)) {
                                strv_extend(&names, de->d_name);
                                break;
                        }
        }
        closedir(d);
        return names;
}

/* strip.remove: paths a package's own scripts needed at configure time, removed now, with
 * every alternative that offers them, so no dangling alternative link is left behind. */
static int remove_after_configure(const BuildContext *ctx) {
        const Profile *p = ctx->profile;
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (root_fd < 0)
                return -errno;
        for (size_t i = 0; i < p->n_policies && r == 0; i++) {
                const Node *list = node_lookup(p->policies[i].tree, "strip.remove");
                for (size_t j = 0; list && j < list->n_items && r == 0; j++) {
                        const char *path = node_map_get(list->items[j], "pattern")->scalar;
                        _cleanup_strv_free_ char **alts = alternatives_using(root_fd, path);
                        for (char **a = alts; a && *a && r == 0; a++) {
                                char *const argv[] = {(char *)"chroot",
                                                      ctx->root_path,
                                                      (char *)"update-alternatives",
                                                      (char *)"--quiet",
                                                      (char *)"--remove",
                                                      *a,
                                                      (char *)path,
                                                      NULL};
                                Buffer out = {};
                                r = spawn_run_in_root(argv, NULL, &out);
                                if (r != 0) {
                                        log_error("policy: update-alternatives --remove %s %s "
                                                  "failed:\n%s",
                                                  *a, path, out.data ? out.data : "");
                                        r = -EIO;
                                }
                                buffer_done(&out);
                                if (r == 0)
                                        log_info("policy: alternative %s no longer offers %s", *a,
                                                 path);
                        }
                        if (r < 0)
                                break;
                        /* The parent is resolved inside the root (merged /usr: /bin is
                         * usr/bin); the entry itself is removed, never followed. */
                        _cleanup_free_ char *dir = path_dirname(path);
                        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
                        _cleanup_close_ int dfd =
                                install_open_in_root(root_fd, dir[0] == '/' ? dir + 1 : dir,
                                                     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd < 0 && dfd != -ENOENT)
                                r = dfd;
                        else if (dfd >= 0 && unlinkat(dfd, base, 0) < 0 && errno != ENOENT)
                                r = -errno;
                        else
                                log_info("policy: removed %s (strip.remove of policy %s)", path,
                                         p->policies[i].name);
                        if (r < 0)
                                log_error_errno(r, "policy: cannot remove %s: %m", path);
                }
        }
        return r;
}

static int apply_system(const BuildContext *ctx) {
        const Node *sys = node_map_get(ctx->profile->tree, "system");
        const char *root = ctx->root_path;
        Buffer sh = {};
        int r = 0;

        if (!sys)
                return 0;
        /* Everything below runs inside the chroot, so that a symlink in the root can never
         * make it write on the host. */
        const Node *v;
        if ((v = node_map_get(sys, "hostname"))) {
                _cleanup_free_ char *q = quote(v->scalar);
                buffer_printf(&sh, "printf '%%s\\n' %s > /etc/hostname\n", q);
        }
        if ((v = node_map_get(sys, "timezone"))) {
                _cleanup_free_ char *q = quote(v->scalar);
                buffer_printf(&sh,
                              "tz=%s; if [ -e /usr/share/zoneinfo/$tz ]; then ln -sfn "
                              "/usr/share/zoneinfo/$tz /etc/localtime; fi; printf '%%s\\n' "
                              "\"$tz\" > /etc/timezone\n",
                              q);
        }
        if ((v = node_map_get(sys, "locale"))) {
                _cleanup_free_ char *q = quote(v->scalar);
                buffer_printf(&sh, "printf 'LANG=%%s\\n' %s > /etc/default/locale\n", q);
        }
        const Node *users = node_map_get(sys, "users");
        for (size_t i = 0; users && i < users->n_items; i++) {
                const Node *u = users->items[i];
                _cleanup_free_ char *name = quote(node_map_get(u, "name")->scalar);
                const Node *shell = node_map_get(u, "shell"), *uid = node_map_get(u, "uid");
                const Node *groups = node_map_get(u, "groups"),
                           *hash = node_map_get(u, "password-hash");
                const Node *keys = node_map_get(u, "ssh-keys");
                buffer_printf(&sh, "id -u %s >/dev/null 2>&1 || useradd -m %s%s%s%s%s %s\n", name,
                              shell ? "-s " : "", shell ? shell->scalar : "", uid ? " -u " : "",
                              uid ? uid->scalar : "", "", name);
                for (size_t g = 0; groups && g < groups->n_items; g++) {
                        _cleanup_free_ char *gq = quote(groups->items[g]->scalar);
                        buffer_printf(&sh,
                                      "getent group %s >/dev/null || groupadd %s; usermod "
                                      "-aG %s %s\n",
                                      gq, gq, gq, name);
                }
                if (hash) {
                        _cleanup_free_ char *hq = quote(hash->scalar);
                        buffer_printf(&sh, "usermod -p %s %s\n", hq, name);
                } else
                        buffer_printf(&sh, "usermod -L %s\n", name);
                if (keys && keys->n_items > 0) {
                        buffer_printf(&sh,
                                      "h=$(getent passwd %s | cut -d: -f6); mkdir -p "
                                      "\"$h/.ssh\"; : > \"$h/.ssh/authorized_keys\"\n",
                                      name);
                        for (size_t k = 0; k < keys->n_items; k++) {
                                _cleanup_free_ char *kq = quote(keys->items[k]->scalar);
                                buffer_printf(&sh,
                                              "printf '%%s\\n' %s >> \"$h/.ssh/"
                                              "authorized_keys\"\n",
                                              kq);
                        }
                        buffer_printf(&sh,
                                      "chmod 700 \"$h/.ssh\"; chmod 600 "
                                      "\"$h/.ssh/authorized_keys\"; chown -R %s: \"$h/.ssh\"\n",
                                      name);
                }
        }
        if (sh.len > 0)
                r = run_in_root(root, sh.data, "hostname, time zone, locale and users");
        buffer_done(&sh);
        if (r < 0)
                return r;

        /* Files: content through the chroot's own shell; sources copied in by cat. */
        const Node *files = node_map_get(sys, "files");
        for (size_t i = 0; files && i < files->n_items && r == 0; i++) {
                const Node *f = files->items[i];
                const Node *content = node_map_get(f, "content"), *src = node_map_get(f, "source");
                const Node *mode = node_map_get(f, "mode");
                _cleanup_free_ char *path = quote(node_map_get(f, "path")->scalar);
                _cleanup_free_ char *data = NULL;
                if (src) {
                        r = read_full_file(src->scalar, 64 << 20, &data, NULL);
                        if (r < 0)
                                return log_error_errno(r, "system: files: %s: %m", src->scalar);
                }
                _cleanup_free_ char *text = quote(content ? content->scalar : data);
                _cleanup_free_ char *script =
                        xasprintf("mkdir -p \"$(dirname %s)\"; printf '%%s' %s > %s; chmod %s %s",
                                  path, text, path, mode ? mode->scalar : "0644", path);
                r = run_in_root(root, script, "files");
        }
        /* Overlays: unpacked by tar inside the chroot. */
        const Node *overlays = node_map_get(sys, "overlay");
        for (size_t i = 0; overlays && i < overlays->n_items && r == 0; i++) {
                const char *dir = node_map_get(overlays->items[i], "path")->scalar;
                _cleanup_free_ char *qd = quote(dir), *qr = quote(root);
                _cleanup_free_ char *cmd = xasprintf(
                        "tar -C %s --numeric-owner -cf - . | chroot %s tar --numeric-owner -xf - "
                        "-C /",
                        qd, qr);
                char *const argv[] = {(char *)"sh", (char *)"-ec", cmd, NULL};
                Buffer out = {};
                r = spawn_run_in_root(argv, NULL, &out);
                if (r != 0) {
                        log_error("system: overlay %s failed:\n%s", dir, out.data ? out.data : "");
                        r = -EIO;
                }
                buffer_done(&out);
        }
        const Node *services = node_map_get(sys, "services");
        static const char *const verbs[] = {"enable", "disable", "mask"};
        for (size_t k = 0; services && k < ELEMENTSOF(verbs) && r == 0; k++) {
                const Node *list = node_map_get(services, verbs[k]);
                for (size_t i = 0; list && i < list->n_items && r == 0; i++) {
                        _cleanup_free_ char *q =
                                quote(node_map_get(list->items[i], "name")->scalar);
                        _cleanup_free_ char *cmd = xasprintf("systemctl %s %s", verbs[k], q);
                        r = run_in_root(root, cmd, cmd);
                }
        }
        /* A generator is masked by a link to /dev/null of its name in the directory that
         * overrides systemd's own; one that does not exist is a mistake in the profile. */
        const Node *gens = node_lookup(ctx->profile->tree, "system.generators.mask");
        for (size_t i = 0; gens && i < gens->n_items && r == 0; i++) {
                const Node *name = node_map_get(gens->items[i], "name");
                _cleanup_free_ char *q = quote(name->scalar);
                _cleanup_free_ char *cmd = xasprintf(
                        "for d in /usr/lib/systemd/system-generators "
                        "/lib/systemd/system-generators; "
                        "do [ -e \"$d\"/%s ] && break; d=; done; [ -n \"$d\" ] || exit 3; "
                        "mkdir -p /etc/systemd/system-generators && "
                        "ln -sfn /dev/null /etc/systemd/system-generators/%s",
                        q, q);
                _cleanup_free_ char *what = xasprintf("masking generator %s", name->scalar);
                r = run_in_root(root, cmd, what);
                if (r < 0)
                        log_error("%s:%u:%u: system.generators.mask: no generator %s in the image",
                                  name->mark.file, name->mark.line, name->mark.column,
                                  name->scalar);
        }
        const Node *scripts = node_map_get(sys, "scripts");
        for (size_t i = 0; scripts && i < scripts->n_items && r == 0; i++) {
                const char *cmd = node_map_get(scripts->items[i], "run")->scalar;
                _cleanup_free_ char *what = xasprintf("script '%s'", cmd);
                r = run_in_root(root, cmd, what);
        }
        return r;
}

/* The roots the cache keeps (about 350 MB each for the minimal profile). */
#define ROOT_CACHE_KEEP 3

/* install_root(), or the root the cache holds for the same inputs (the packages, their
 * digests and order, the dpkg path rules and the files written before configuration). */
static int install_from_cache(const BuildContext *ctx, const InstallPackage *pkgs,
                              const InstallOptions *o) {
        size_t n = ctx->plan.n_packages;
        _cleanup_free_ char *key = install_root_key(pkgs, n, o);
        int r;

        if (!ctx->no_root_cache) {
                r = install_root_cache_restore(ctx->cache, key, ctx->root_path);
                if (r > 0) {
                        log_notice("install: %zu packages: the root installed from them before "
                                   "(root cache %.12s), dpkg not run",
                                   n, key);
                        return 0;
                }
                if (r < 0)
                        log_warning_errno(r,
                                          "install: cannot copy the cached root %.12s (%m), "
                                          "installing, ignoring.",
                                          key);
        }
        r = install_root(ctx->root_path, pkgs, n, o);
        if (r < 0 || ctx->no_root_cache)
                return r;
        r = install_root_cache_store(ctx->cache, key, ctx->root_path, ROOT_CACHE_KEEP);
        if (r < 0)
                log_warning_errno(r,
                                  "install: cannot keep the root in the cache %s (%m), "
                                  "ignoring.",
                                  ctx->cache);
        else
                log_info("install: root kept in the root cache (%.12s)", key);
        return 0;
}

/* The logs, caches and seeds the build left behind go, and /etc/shadow's days are clamped
 * to source-date-epoch: the same inputs give the same root on any day (after the root cache
 * too, which keeps the root as dpkg left it). */
static int clean_build_records(BuildContext *ctx) {
        _cleanup_close_ int root_fd = open(ctx->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "install: cannot open %s: %m", ctx->root_path);
        int r = reproducible_clean_root(root_fd, ctx->timestamp, &ctx->build_records_removed);
        if (r < 0)
                return log_error_errno(r, "install: cannot remove the build's records from %s: %m",
                                       ctx->root_path);
        log_info("install: %zu build record(s) removed (logs, caches, seeds of this build)",
                 strv_length(ctx->build_records_removed));
        return 0;
}

int stage_install(BuildContext *ctx) {
        const char *tmp;
        int r = build_tmp_dir(ctx, &tmp);
        if (r < 0)
                return r;
        if (geteuid() != 0)
                return log_error_errno(EPERM, "install: installing packages needs root (chroot, "
                                              "mounts, file ownership)");
        ctx->root_path = path_join(tmp, "root");

        _cleanup_free_ InstallPackage *pkgs =
                xcalloc(ctx->plan.n_packages + 1, sizeof(InstallPackage));
        for (size_t i = 0; i < ctx->plan.n_packages; i++) {
                const PlanPackage *p = &ctx->plan.packages[i];
                pkgs[i] = (InstallPackage){
                        .name = p->name,
                        .version = p->version,
                        .architecture = p->architecture,
                        .deb_path = ctx->debs[i].path,
                        .sha256 = p->sha256,
                        .essential = p->essential,
                        .depends = p->depends,
                        .pre_depends = p->pre_depends,
                };
        }
        _cleanup_strv_free_ char **exclude = NULL, **include = NULL;
        collect_patterns(ctx->profile, "strip.paths", &exclude);
        collect_patterns(ctx->profile, "strip.keep", &include);
        /* initramfs-tools reads these when the kernel is configured: the root filesystem's
         * type (or the initramfs has no fsck for it) and the target's drivers. */
        _cleanup_free_ char *fstype = NULL;
        Buffer hook = {};
        const Node *parts = node_lookup(ctx->profile->tree, "disk.partitions");
        for (size_t i = 0; parts && i < parts->n_items; i++) {
                const Node *role = node_map_get(parts->items[i], "role");
                const Node *fs = node_map_get(parts->items[i], "fs");
                if (streq(role->scalar, "root"))
                        fstype = xasprintf("# Written by vmcompose\nFSTYPE=%s\n",
                                           fs ? fs->scalar : "ext4");
        }
        /* The target's drivers go into the initramfs through a hook, not through
         * /etc/initramfs-tools/modules: that file also loads each at boot, while udev in the
         * initramfs loads only what the machine has (a QEMU guest no Hyper-V drivers, and no
         * SCSI stack for a virtio-blk disk). */
        buffer_puts(&hook, "#!/bin/sh\n"
                           "# Written by vmcompose: the kernel target's initramfs drivers.\n"
                           "[ \"$1\" = prereqs ] && exit 0\n"
                           ". /usr/share/initramfs-tools/hook-functions\n"
                           "manual_add_modules");
        const Node *drivers =
                ctx->profile->kernel_target.tree
                        ? node_lookup(ctx->profile->kernel_target.tree, "initramfs-drivers")
                        : NULL;
        for (size_t i = 0; drivers && i < drivers->n_items; i++)
                buffer_printf(&hook, " %s", node_map_get(drivers->items[i], "name")->scalar);
        buffer_puts(&hook, "\n");
        /* kernel.initramfs-modules: target keeps only the target's drivers (and what they
         * need): a smaller initramfs that unpacks and probes faster, for this platform only. */
        const Node *im = node_lookup(ctx->profile->tree, "kernel.initramfs-modules");
        bool only_target = im && streq(im->scalar, "target");
        InstallFile files[] = {
                {"etc/initramfs-tools/conf.d/vmcompose-fstype", fstype ? fstype : "FSTYPE=ext4\n",
                 0644},
                {"etc/initramfs-tools/hooks/vmcompose-drivers", hook.data, 0755},
                {"etc/initramfs-tools/scripts/init-top/vmcompose-rootdelay", rootdelay_top, 0755},
                {"etc/initramfs-tools/scripts/local-top/vmcompose-rootdelay", rootdelay_local,
                 0755},
                {"etc/initramfs-tools/conf.d/vmcompose-modules",
                 "# Written by vmcompose: kernel.initramfs-modules: target\nMODULES=list\n", 0644},
        };
        InstallOptions o = {
                .files = files,
                .n_files = ELEMENTSOF(files) - (only_target ? 0 : 1),
                .path_exclude = exclude,
                .path_include = include,
                .merged_usr =
                        streq(node_lookup(ctx->profile->tree, "distro.family")->scalar, "debian"),
                .architecture = node_lookup(ctx->profile->tree, "distro.architecture")->scalar,
                .no_initramfs = streq(node_lookup(ctx->profile->tree, "kernel.initramfs")->scalar,
                                      "vmcompose"),
                .source_date_epoch = ctx->timestamp,
        };

        r = install_from_cache(ctx, pkgs, &o);
        buffer_done(&hook);
        if (r < 0)
                return r;
        r = check_installed(ctx);
        if (r < 0)
                return r;
        r = remove_after_configure(ctx);
        if (r < 0)
                return r;
        r = apply_system(ctx);
        if (r < 0)
                return r;
        r = clean_build_records(ctx);
        if (r < 0)
                return r;
        /* From here on the stages work on this root. */
        ctx->root_dir = ctx->root_path;
        return 0;
}
