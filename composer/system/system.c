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
static int write_ssh_keys(const char *root, int root_fd, const char *user, const Node *keys) {
        _cleanup_free_ char *home = NULL;
        uid_t uid;
        gid_t gid;
        int r = user_home(root, user, &home, &uid, &gid);
        if (r < 0)
                return r;
        _cleanup_free_ char *ssh = path_join(home, ".ssh");
        _cleanup_free_ char *file = path_join(ssh, "authorized_keys");
        Buffer text = {};
        for (size_t k = 0; k < keys->n_items; k++)
                buffer_printf(&text, "%s\n", keys->items[k]->scalar);
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

static int add_user(const char *root, int root_fd, const Node *u) {
        const char *name = node_map_get(u, "name")->scalar;
        const Node *shell = node_map_get(u, "shell"), *uid = node_map_get(u, "uid");
        const Node *groups = node_map_get(u, "groups"), *hash = node_map_get(u, "password-hash");
        const Node *keys = node_map_get(u, "ssh-keys");
        int r;

        if (run_args(root, (const char *const[]){"id", "-u", name, NULL}, false, NULL) != 0) {
                const char *args[9] = {"useradd", "-m"};
                size_t n = 2;
                if (shell) {
                        args[n++] = "-s";
                        args[n++] = shell->scalar;
                }
                if (uid) {
                        args[n++] = "-u";
                        args[n++] = uid->scalar;
                }
                args[n++] = name;
                if ((r = run_ok(root, args)) < 0)
                        return r;
        }
        for (size_t g = 0; groups && g < groups->n_items; g++) {
                const char *group = groups->items[g]->scalar;
                if (run_args(root, (const char *const[]){"getent", "group", group, NULL}, false,
                             NULL) != 0 &&
                    (r = run_ok(root, (const char *const[]){"groupadd", group, NULL})) < 0)
                        return r;
                if ((r = run_ok(root, (const char *const[]){"usermod", "-aG", group, name, NULL})) <
                    0)
                        return r;
        }
        r = hash ? run_ok(root, (const char *const[]){"usermod", "-p", hash->scalar, name, NULL})
                 : run_ok(root, (const char *const[]){"usermod", "-L", name, NULL});
        if (r < 0)
                return r;
        if (keys && keys->n_items > 0 && (r = write_ssh_keys(root, root_fd, name, keys)) < 0)
                return log_error_errno(r, "system: cannot write the SSH keys of %s: %m", name);
        return 0;
}

/* A generator is masked by a link to /dev/null of its name in the directory that overrides
 * systemd's own; one that does not exist is a mistake in the profile. */
static int mask_generator(int root_fd, const Node *name) {
        static const char *const dirs[] = {"usr/lib/systemd/system-generators",
                                           "lib/systemd/system-generators"};
        bool found = false;
        for (size_t i = 0; i < ELEMENTSOF(dirs) && !found; i++) {
                _cleanup_free_ char *p = path_join(dirs[i], name->scalar);
                _cleanup_close_ int fd = root_open(root_fd, p, O_PATH, 0);
                found = fd >= 0;
        }
        if (!found) {
                log_error("%s:%u:%u: system.generators.mask: no generator %s in the image",
                          name->mark.file, name->mark.line, name->mark.column, name->scalar);
                return -ENOENT;
        }
        _cleanup_free_ char *link = path_join("etc/systemd/system-generators", name->scalar);
        int r = root_symlink(root_fd, "/dev/null", link, ROOT_WRITE_MKDIR);
        if (r < 0)
                return log_error_errno(r, "system: cannot mask generator %s: %m", name->scalar);
        return 0;
}

/* hostname, timezone and locale. */
static int write_settings(int root_fd, const Node *sys) {
        const Node *v;
        int r;
        if ((v = node_map_get(sys, "hostname"))) {
                _cleanup_free_ char *text = xasprintf("%s\n", v->scalar);
                r = root_write_file(root_fd, "etc/hostname", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/hostname: %m");
        }
        if ((v = node_map_get(sys, "timezone"))) {
                _cleanup_free_ char *zone = path_join("/usr/share/zoneinfo", v->scalar);
                _cleanup_free_ char *text = xasprintf("%s\n", v->scalar);
                _cleanup_close_ int fd = root_open(root_fd, zone, O_PATH, 0);
                if (fd >= 0 && (r = root_symlink(root_fd, zone, "etc/localtime", 0)) < 0)
                        return log_error_errno(r, "system: cannot link /etc/localtime: %m");
                r = root_write_file(root_fd, "etc/timezone", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/timezone: %m");
        }
        if ((v = node_map_get(sys, "locale"))) {
                _cleanup_free_ char *text = xasprintf("LANG=%s\n", v->scalar);
                r = root_write_file(root_fd, "etc/default/locale", text, strlen(text), 0644, 0);
                if (r < 0)
                        return log_error_errno(r, "system: cannot write /etc/default/locale: %m");
        }
        return 0;
}

/* system.users: each created (or amended), its groups, password and SSH keys. */
static int add_users(const char *root, int root_fd, const Node *sys) {
        const Node *users = node_map_get(sys, "users");
        for (size_t i = 0; users && i < users->n_items; i++) {
                int r = add_user(root, root_fd, users->items[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* system.files: each written with its mode, from the profile's text or a host file. */
static int write_files(int root_fd, const Node *sys) {
        int r;
        const Node *files = node_map_get(sys, "files");
        for (size_t i = 0; files && i < files->n_items; i++) {
                const Node *f = files->items[i];
                const Node *content = node_map_get(f, "content"), *src = node_map_get(f, "source");
                const Node *mode = node_map_get(f, "mode");
                const char *path = node_map_get(f, "path")->scalar;
                _cleanup_free_ char *data = NULL;
                size_t size = 0;
                if (src) {
                        r = read_full_file(src->scalar, 64 << 20, &data, &size);
                        if (r < 0)
                                return log_error_errno(r, "system: files: %s: %m", src->scalar);
                } else {
                        data = xstrdup(content->scalar);
                        size = strlen(data);
                }
                mode_t m = (mode_t)strtoul(mode ? mode->scalar : "0644", NULL, 8);
                r = root_write_file(root_fd, path, data, size, m, ROOT_WRITE_MKDIR);
                if (r < 0)
                        return log_error_errno(r, "system: files: cannot write %s: %m", path);
        }
        return 0;
}

/* system.sysctl: one file that systemd-sysctl reads at boot, in the profile's order. */
static int write_sysctl(int root_fd, const Node *sys) {
        const Node *list = node_map_get(sys, "sysctl");
        if (!list || list->n_items == 0)
                return 0;
        Buffer text = {};
        buffer_printf(&text, "# Written by vmcompose from the profile's system.sysctl.\n");
        for (size_t i = 0; i < list->n_items; i++) {
                const Node *it = list->items[i], *why = node_map_get(it, "why");
                if (why)
                        buffer_printf(&text, "# %.*s\n", (int)strcspn(why->scalar, "\r\n"),
                                      why->scalar);
                buffer_printf(&text, "%s = %s\n", node_map_get(it, "name")->scalar,
                              node_map_get(it, "value")->scalar);
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
static int apply_overlays(const char *root, const Node *sys) {
        int r = 0;
        /* Overlays: unpacked by tar inside the chroot; the paths are arguments of the
         * script, not part of it. */
        const Node *overlays = node_map_get(sys, "overlay");
        for (size_t i = 0; overlays && i < overlays->n_items && r == 0; i++) {
                const char *dir = node_map_get(overlays->items[i], "path")->scalar;
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
static int apply_services(const char *root, int root_fd, const Node *sys) {
        int r = 0;
        const Node *services = node_map_get(sys, "services");
        static const char *const verbs[] = {"enable", "disable", "mask"};
        for (size_t k = 0; services && k < ELEMENTSOF(verbs) && r == 0; k++) {
                const Node *list = node_map_get(services, verbs[k]);
                for (size_t i = 0; list && i < list->n_items && r == 0; i++) {
                        const char *unit = node_map_get(list->items[i], "name")->scalar;
                        r = run_ok(root, (const char *const[]){"systemctl", verbs[k], unit, NULL});
                }
        }
        const Node *gens = node_lookup(sys, "generators.mask");
        for (size_t i = 0; gens && i < gens->n_items && r == 0; i++)
                r = mask_generator(root_fd, node_map_get(gens->items[i], "name"));
        return r;
}

/* system.scripts: the profile's own commands. */
static int run_scripts(const char *root, const Node *sys) {
        int r = 0;
        /* The profile's own commands: shell text by design, the profile author's. */
        const Node *scripts = node_map_get(sys, "scripts");
        for (size_t i = 0; scripts && i < scripts->n_items && r == 0; i++) {
                const char *cmd = node_map_get(scripts->items[i], "run")->scalar;
                _cleanup_free_ char *what = xasprintf("script '%s'", cmd);
                r = run_in_root(root, cmd, what);
        }
        return r;
}

int system_apply(const char *root_dir, const Node *system) {
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
