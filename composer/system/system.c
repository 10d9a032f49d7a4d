/* SPDX-License-Identifier: MIT */
/* The profile's system: section applied to a configured root (moved from
 * composer/pipeline/stage-install.c). Values reach the root as file contents written through
 * core/rootfs.c or as arguments of programs run in it, never as shell text; each was checked at
 * load (profile/schema-checks.c). Only system.scripts is shell text, by design: the profile
 * author's. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/spawn.h"
#include "vmcompose/system.h"

static char *const system_env[] = {(char *)"DEBIAN_FRONTEND=noninteractive", NULL};

static int run_in_root(const char *root, const char *script, const char *what) {
        char *const argv[] = {(char *)"chroot", (char *)root,   (char *)"/bin/sh",
                              (char *)"-ec",    (char *)script, NULL};
        Buffer out = {};
        int r = spawn_run_in_root(argv, system_env, &out);
        if (r != 0) {
                log_error("system: %s failed (%s %d):\n%s", what, r < 0 ? "error" : "exit status",
                          r, out.data ? out.data : "");
                r = r < 0 ? r : -EIO;
        }
        buffer_done(&out);
        return r;
}

/* Runs the program args[0] in the root with args: values are arguments, never shell text.
 * Returns its exit status (logged, with the output, when not 0 and log_failure) or a negative
 * errno; out (may be NULL) gets the output. */
static int run_args(const char *root, const char *const *args, bool log_failure, Buffer *out) {
        _cleanup_strv_free_ char **argv = NULL;
        Buffer b = {};
        strv_extend(&argv, "chroot");
        strv_extend(&argv, root);
        for (const char *const *a = args; *a; a++)
                strv_extend(&argv, *a);
        int r = spawn_run_in_root(argv, system_env, &b);
        if (r != 0 && log_failure) {
                _cleanup_free_ char *cmd = spawn_format(argv + 2);
                log_error("system: %s failed (%s %d):\n%s", cmd, r < 0 ? "error" : "exit status", r,
                          b.data ? b.data : "");
        }
        if (out)
                *out = b;
        else
                buffer_done(&b);
        return r;
}

static int run_ok(const char *root, const char *const *args) {
        int r = run_args(root, args, true, NULL);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}

/* The passwd entry of user: home directory, uid and login group. */
static int user_home(const char *root, const char *user, char **ret_home, uid_t *ret_uid,
                     gid_t *ret_gid) {
        Buffer out = {};
        int r = run_args(root, (const char *const[]){"getent", "passwd", user, NULL}, true, &out);
        if (r != 0) {
                buffer_done(&out);
                return r < 0 ? r : -ENOENT;
        }
        /* name:password:uid:gid:gecos:home:shell */
        char *field[7] = {};
        char *p = out.data;
        for (size_t i = 0; i < 7 && p; i++) {
                field[i] = p;
                p = strchr(p, i == 6 ? '\n' : ':');
                if (p)
                        *p++ = 0;
        }
        if (!field[6] || field[5][0] != '/') {
                buffer_done(&out);
                return -EBADMSG;
        }
        *ret_home = xstrdup(field[5]);
        *ret_uid = (uid_t)strtoul(field[2], NULL, 10);
        *ret_gid = (gid_t)strtoul(field[3], NULL, 10);
        buffer_done(&out);
        return 0;
}

/* ~/.ssh/authorized_keys of user, one key a line, owned by the user (chown -R user: ~/.ssh). */
static int write_ssh_keys(const char *root, int root_fd, const char *user, char **keys) {
        _cleanup_free_ char *home = NULL;
        uid_t uid;
        gid_t gid;
        int r = user_home(root, user, &home, &uid, &gid);
        if (r < 0)
                return r;
        _cleanup_free_ char *ssh = path_join(home, ".ssh");
        _cleanup_free_ char *file = path_join(ssh, "authorized_keys");
        Buffer text = {};
        for (char **k = keys; *k; k++)
                buffer_printf(&text, "%s\n", *k);
        r = root_mkdir_p(root_fd, ssh, 0755); /* then 0700, as mkdir -p and chmod did */
        if (r == 0)
                r = root_write_file(root_fd, file, text.data ? text.data : "", text.len, 0600, 0);
        buffer_done(&text);
        if (r < 0)
                return r;
        _cleanup_close_ int dir = root_open(root_fd, ssh, O_RDONLY | O_DIRECTORY, 0);
        if (dir < 0)
                return dir;
        if (fchmod(dir, 0700) < 0 || fchown(dir, uid, gid) < 0)
                return -errno;
        int fd = dup(dir);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                return r;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    fchownat(dir, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && r == 0)
                        r = -errno;
        closedir(d);
        return r;
}

static int add_user(const char *root, int root_fd, const SystemUser *u) {
        const char *name = u->name.value;
        int r;

        if (run_args(root, (const char *const[]){"id", "-u", name, NULL}, false, NULL) != 0) {
                const char *args[9] = {"useradd", "-m"};
                size_t n = 2;
                if (u->shell) {
                        args[n++] = "-s";
                        args[n++] = u->shell;
                }
                if (u->uid) {
                        args[n++] = "-u";
                        args[n++] = u->uid;
                }
                args[n++] = name;
                if ((r = run_ok(root, args)) < 0)
                        return r;
        }
        for (char **g = u->groups; g && *g; g++) {
                const char *group = *g;
                if (run_args(root, (const char *const[]){"getent", "group", group, NULL}, false,
                             NULL) != 0 &&
                    (r = run_ok(root, (const char *const[]){"groupadd", group, NULL})) < 0)
                        return r;
                if ((r = run_ok(root, (const char *const[]){"usermod", "-aG", group, name, NULL})) <
                    0)
                        return r;
        }
        r = u->password_hash ? run_ok(root, (const char *const[]){"usermod", "-p", u->password_hash,
                                                                  name, NULL})
                             : run_ok(root, (const char *const[]){"usermod", "-L", name, NULL});
        if (r < 0)
                return r;
        if (u->ssh_keys && (r = write_ssh_keys(root, root_fd, name, u->ssh_keys)) < 0)
                return log_error_errno(r, "system: cannot write the SSH keys of %s: %m", name);
        return 0;
}

/* A generator is masked by a link to /dev/null of its name in the directory that overrides
 * systemd's own; one that does not exist is a mistake in the profile. */
static int mask_generator(int root_fd, const ProfileValue *name) {
        static const char *const dirs[] = {"usr/lib/systemd/system-generators",
                                           "lib/systemd/system-generators"};
        bool found = false;
        for (size_t i = 0; i < ELEMENTSOF(dirs) && !found; i++) {
                _cleanup_free_ char *p = path_join(dirs[i], name->value);
                _cleanup_close_ int fd = root_open(root_fd, p, O_PATH, 0);
                found = fd >= 0;
        }
        if (!found) {
                log_error("%s:%u:%u: system.generators.mask: no generator %s in the image",
                          name->mark.file, name->mark.line, name->mark.column, name->value);
                return -ENOENT;
        }
        _cleanup_free_ char *link = path_join("etc/systemd/system-generators", name->value);
        int r = root_symlink(root_fd, "/dev/null", link, ROOT_WRITE_MKDIR);
        if (r < 0)
                return log_error_errno(r, "system: cannot mask generator %s: %m", name->value);
        return 0;
}

/* hostname, timezone and locale. */
static int write_settings(int root_fd, const SystemConfig *sys) {
        const char *v;
        int r;
        if ((v = sys->hostname.value)) {
                _cleanup_free_ char *text = xasprintf("%s\n", v);
                r = root_write_file(root_fd, "etc/hostname", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/hostname: %m");
        }
        if ((v = sys->timezone.value)) {
                _cleanup_free_ char *zone = path_join("/usr/share/zoneinfo", v);
                _cleanup_free_ char *text = xasprintf("%s\n", v);
                _cleanup_close_ int fd = root_open(root_fd, zone, O_PATH, 0);
                if (fd >= 0 && (r = root_symlink(root_fd, zone, "etc/localtime", 0)) < 0)
                        return log_error_errno(r, "system: cannot link /etc/localtime: %m");
                r = root_write_file(root_fd, "etc/timezone", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/timezone: %m");
        }
        if ((v = sys->locale.value)) {
                _cleanup_free_ char *text = xasprintf("LANG=%s\n", v);
                r = root_write_file(root_fd, "etc/default/locale", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/default/locale: %m");
        }
        return 0;
}

/* system.users: each created (or amended), its groups, password and SSH keys. */
static int add_users(const char *root, int root_fd, const SystemConfig *sys) {
        for (size_t i = 0; i < sys->n_users; i++) {
                int r = add_user(root, root_fd, &sys->users[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* system.files: each written with its mode, from the profile's text or a host file. */
static int write_files(int root_fd, const SystemConfig *sys) {
        int r;
        for (size_t i = 0; i < sys->n_files; i++) {
                const SystemFile *f = &sys->files[i];
                const char *path = f->path.value;
                _cleanup_free_ char *data = NULL;
                size_t size = 0;
                if (f->source) {
                        r = read_full_file(f->source, 64 << 20, &data, &size);
                        if (r < 0)
                                return log_error_errno(r, "system: files: %s: %m", f->source);
                } else {
                        data = xstrdup(f->content);
                        size = strlen(data);
                }
                r = root_write_file(root_fd, path, data, size, f->mode, ROOT_WRITE_MKDIR);
                if (r < 0)
                        return log_error_errno(r, "system: files: cannot write %s: %m", path);
        }
        return 0;
}

/* system.sysctl: one file that systemd-sysctl reads at boot, in the profile's order. */
static int write_sysctl(int root_fd, const SystemConfig *sys) {
        if (sys->n_sysctl == 0)
                return 0;
        Buffer text = {};
        buffer_printf(&text, "# Written by vmcompose from the profile's system.sysctl.\n");
        for (size_t i = 0; i < sys->n_sysctl; i++) {
                const SystemSysctl *it = &sys->sysctl[i];
                if (it->name.why)
                        buffer_printf(&text, "# %.*s\n", (int)strcspn(it->name.why, "\r\n"),
                                      it->name.why);
                buffer_printf(&text, "%s = %s\n", it->name.value, it->value);
        }
        int r = root_write_file(root_fd, "etc/sysctl.d/90-vmcompose.conf", text.data, text.len,
                                0644, ROOT_WRITE_MKDIR);
        buffer_done(&text);
        if (r < 0)
                return log_error_errno(r,
                                       "system: cannot write /etc/sysctl.d/90-vmcompose.conf: %m");
        return 0;
}

/* system.overlay: host directories unpacked over the root. */
static int apply_overlays(const char *root, const SystemConfig *sys) {
        int r = 0;
        /* Overlays: unpacked by tar inside the chroot; the paths are arguments of the
         * script, not part of it. */
        for (size_t i = 0; i < sys->overlays.n && r == 0; i++) {
                const char *dir = sys->overlays.items[i].value;
                char *const argv[] = {(char *)"sh",
                                      (char *)"-ec",
                                      (char *)"tar -C \"$1\" --numeric-owner -cf - . | chroot "
                                              "\"$2\" tar --numeric-owner -xf - -C /",
                                      (char *)"sh",
                                      (char *)dir,
                                      (char *)root,
                                      NULL};
                Buffer out = {};
                r = spawn_run_in_root(argv, NULL, &out);
                if (r != 0) {
                        log_error("system: overlay %s failed:\n%s", dir, out.data ? out.data : "");
                        r = -EIO;
                }
                buffer_done(&out);
        }
        return r;
}

/* system.services (enable, disable, mask) and system.generators.mask. */
static int apply_services(const char *root, int root_fd, const SystemConfig *sys) {
        int r = 0;
        static const char *const verbs[] = {"enable", "disable", "mask"};
        const ProfileList *lists[] = {&sys->enable, &sys->disable, &sys->mask};
        for (size_t k = 0; k < ELEMENTSOF(verbs) && r == 0; k++)
                for (size_t i = 0; i < lists[k]->n && r == 0; i++) {
                        const char *unit = lists[k]->items[i].value;
                        r = run_ok(root, (const char *const[]){"systemctl", verbs[k], unit, NULL});
                }
        for (size_t i = 0; i < sys->generators_mask.n && r == 0; i++)
                r = mask_generator(root_fd, &sys->generators_mask.items[i]);
        return r;
}

/* system.scripts: the profile's own commands. */
static int run_scripts(const char *root, const SystemConfig *sys) {
        int r = 0;
        /* The profile's own commands: shell text by design, the profile author's. */
        for (size_t i = 0; i < sys->scripts.n && r == 0; i++) {
                const char *cmd = sys->scripts.items[i].value;
                _cleanup_free_ char *what = xasprintf("script '%s'", cmd);
                r = run_in_root(root, cmd, what);
        }
        return r;
}

int system_apply(const char *root_dir, const SystemConfig *system) {
        _cleanup_close_ int root_fd = -1;
        int r;

        if (!system)
                return 0;
        root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "system: %s: %m", root_dir);
        if ((r = write_settings(root_fd, system)) < 0 ||
            (r = add_users(root_dir, root_fd, system)) < 0 ||
            (r = write_files(root_fd, system)) < 0 || (r = write_sysctl(root_fd, system)) < 0 ||
            (r = apply_overlays(root_dir, system)) < 0 ||
            (r = apply_services(root_dir, root_fd, system)) < 0)
                return r;
        return run_scripts(root_dir, system);
}
