/* SPDX-License-Identifier: MIT */
/* Reading a disk image for the audit with libguestfs: its own appliance VM opens the image
 * read-only, so nothing of the image runs on the host and nothing is mounted here. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/audit.h"
#include "vmcompose/containers.h"
#include "vmcompose/boottest.h"
#include "vmcompose/distro.h"
#include "vmcompose/log.h"

static void guestfs_closep(guestfs_h **g) {
        if (*g) {
                (void)guestfs_umount_all(*g);
                (void)guestfs_shutdown(*g);
                guestfs_close(*g);
        }
}

/* Logs libguestfs's last message once, here: its own handler is switched off. */
static int gerror(guestfs_h *g, const char *what) {
        const char *m = guestfs_last_error(g);
        log_error("audit: %s: %s", what, m ? m : "libguestfs failed");
        return -EIO;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **l) {
        strv_free(l); /* libguestfs lists are NULL-terminated malloc'd strings too */
}

/* Network daemons that listen once started: an enabled service running one of these is
 * counted as listening (a socket unit's Listen*= lines are read directly). */
static const char *const listeners[] = {
        "sshd",      "nginx",      "apache2", "httpd",    "lighttpd",     "named",
        "dnsmasq",   "unbound",    "cupsd",   "smbd",     "nmbd",         "rpcbind",
        "rpc.statd", "master",     "exim4",   "sendmail", "xinetd",       "inetd",
        "vsftpd",    "proftpd",    "mysqld",  "mariadbd", "postgres",     "redis-server",
        "memcached", "snmpd",      "ntpd",    "dhcpd",    "slapd",        "dovecot",
        "squid",     "haproxy",    "xrdp",    "telnetd",  "avahi-daemon", "rsync",
        "chronyd",   "containerd", "dockerd", NULL,
};

static char *unit_text(guestfs_h *g, const char *unit) {
        static const char *const dirs[] = {"/etc/systemd/system", "/usr/lib/systemd/system",
                                           "/lib/systemd/system", NULL};
        for (const char *const *d = dirs; *d; d++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", *d, unit);
                if (guestfs_is_file_opts(g, p, GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 1, -1) != 1)
                        continue;
                size_t size;
                char *text = guestfs_read_file(g, p, &size);
                if (text)
                        return text;
        }
        return NULL;
}

static void read_units(guestfs_h *g, AuditImage *img) {
        char **entries = guestfs_ls(g, "/etc/systemd/system");
        for (char **e = entries; e && *e; e++) {
                size_t len = strlen(*e);
                if (!(len > 6 && streq(*e + len - 6, ".wants")) &&
                    !(len > 9 && streq(*e + len - 9, ".requires")))
                        continue;
                _cleanup_free_ char *dir = xasprintf("/etc/systemd/system/%s", *e);
                char **units = guestfs_ls(g, dir);
                for (char **u = units; u && *u; u++)
                        if (!strv_contains(img->enabled, *u))
                                strv_extend(&img->enabled, *u);
                free_strings(units);
        }
        free_strings(entries);
        if (img->enabled)
                qsort(img->enabled, strv_length(img->enabled), sizeof(char *), cmp_str);

        for (char **u = img->enabled; u && *u; u++) {
                _cleanup_free_ char *text = unit_text(g, *u);
                bool socket = strlen(*u) > 7 && streq(*u + strlen(*u) - 7, ".socket");
                for (char *line = text; line && *line;) {
                        char *nl = strchr(line, '\n');
                        if (nl)
                                *nl = 0;
                        line += strspn(line, " \t");
                        const char *v = NULL;
                        if (socket && (strneq(line, "ListenStream=", 13) ||
                                       strneq(line, "ListenDatagram=", 15) ||
                                       strneq(line, "ListenSequentialPacket=", 23)))
                                v = strchr(line, '=') + 1;
                        /* Unix sockets (paths, abstract names) do not face the network. */
                        if (v && *v && *v != '/' && *v != '@')
                                strv_push(&img->listening, xasprintf("%s: %s", *u, v));
                        if (!socket && strneq(line, "ExecStart=", 10)) {
                                const char *cmd = line + 10 + strspn(line + 10, "-@:+!");
                                _cleanup_free_ char *bin = xstrndup(cmd, strcspn(cmd, " \t"));
                                const char *base = strrchr(bin, '/') ? strrchr(bin, '/') + 1 : bin;
                                for (const char *const *l = listeners; *l; l++)
                                        if (streq(base, *l)) {
                                                strv_push(&img->listening,
                                                          xasprintf("%s (%s)", base, *u));
                                                break;
                                        }
                        }
                        line = nl ? nl + 1 : line + strlen(line);
                }
        }
}

/* The container runtimes this audit knows: the binary that says one is installed, its unit,
 * and its API socket when the configuration does not move it. */
static const struct {
        const char *name, *binary, *unit, *socket, *config;
} runtimes[] = {
        {"containerd", "/usr/bin/containerd", "containerd.service",
         "/run/containerd/containerd.sock", "/etc/containerd/config.toml"},
        {"dockerd", "/usr/bin/dockerd", "docker.service", "/run/docker.sock", NULL},
        {"cri-o", "/usr/bin/crio", "crio.service", "/var/run/crio/crio.sock", NULL},
        {"podman", "/usr/bin/podman", "podman.socket", "/run/podman/podman.sock", NULL},
};

/* The largest meta.db the audit reads: the image is untrusted, and the tree read from a file
 * takes a few times the file's size in memory. */
#define CONTAINERD_META_DB_MAX ((int64_t)256 << 20)

static void read_container_runtimes(guestfs_h *g, AuditImage *img) {
        for (size_t i = 0; i < ELEMENTSOF(runtimes); i++) {
                if (guestfs_is_file(g, runtimes[i].binary) <= 0)
                        continue;
                _cleanup_free_ char *address = NULL;
                if (runtimes[i].config && guestfs_is_file(g, runtimes[i].config) > 0) {
                        size_t size;
                        _cleanup_free_ char *text = guestfs_read_file(g, runtimes[i].config, &size);
                        address = text ? audit_containerd_address(text) : NULL;
                }
                bool enabled = strv_contains(img->enabled, runtimes[i].unit);
                strv_push(&img->runtime_sockets,
                          xasprintf("%s (%s, %s %s)", address ?: runtimes[i].socket,
                                    runtimes[i].name, runtimes[i].unit,
                                    enabled ? "enabled at boot" : "not enabled"));
        }
        /* The images containerd has: the ones its metadata database records (vmcompose writes
         * it at build time, composer/containers/containerd.c). */
        if (guestfs_is_file(g, CONTAINERD_META_DB) <= 0)
                return;
        int64_t file_size = guestfs_filesize(g, CONTAINERD_META_DB);
        size_t size = 0;
        _cleanup_free_ char *db = NULL;
        char **images = NULL;
        int r = -EIO;
        if (file_size > CONTAINERD_META_DB_MAX)
                r = -EFBIG;
        else if (file_size >= 0 && (db = guestfs_read_file(g, CONTAINERD_META_DB, &size)))
                r = containerd_meta_images(db, size, &images);
        if (r < 0) {
                strv_push(&img->container_images, xasprintf("%s: not a containerd database (%s)",
                                                            CONTAINERD_META_DB, strerror(-r)));
                return;
        }
        for (char **i = images; i && *i; i++)
                strv_push(&img->container_images,
                          xasprintf("%s, in containerd's %s", *i, CONTAINERD_META_DB));
        strv_free(images);
}

static int cmp_package(const void *a, const void *b) {
        return strcmp(((const AuditPackage *)a)->name, ((const AuditPackage *)b)->name);
}

static int cmp_file(const void *a, const void *b) {
        return strcmp(((const AuditFile *)a)->path, ((const AuditFile *)b)->path);
}

/* The package database of the backend of the image's package format (dpkg's status), or
 * libguestfs's own inspection for the formats vmcompose has no backend for. */
static int read_packages(guestfs_h *g, const char *root, const char *tmp, AuditImage *img) {
        const DistroOps *ops = distro_find_format(img->package_format);
        int r;

        if (ops) {
                _cleanup_free_ char *local = path_join(tmp, "status");
                _cleanup_free_ char *text = NULL, *error = NULL;
                size_t size;
                if (guestfs_download(g, ops->db_status_path, local) < 0) {
                        _cleanup_free_ char *what =
                                xasprintf("cannot read %s", ops->db_status_path);
                        return gerror(g, what);
                }
                r = read_full_file(local, 256u << 20, &text, &size);
                if (r < 0)
                        return log_error_errno(r, "audit: cannot read %s: %m", local);
                r = ops->parse_installed(text, size, img, &error);
                if (r < 0)
                        return log_error_errno(r, "audit: the image's %s is malformed: %s",
                                               ops->db_status_path, error);
                return 0;
        } else {
                struct guestfs_application2_list *apps =
                        guestfs_inspect_list_applications2(g, root);
                if (!apps)
                        return gerror(g, "cannot list the installed applications");
                for (uint32_t i = 0; i < apps->len; i++) {
                        const struct guestfs_application2 *a = &apps->val[i];
                        img->packages = xrealloc(img->packages,
                                                 (img->n_packages + 1) * sizeof(AuditPackage));
                        img->packages[img->n_packages++] = (AuditPackage){
                                .name = xstrdup(a->app2_name),
                                .version = *a->app2_release ? xasprintf("%s-%s", a->app2_version,
                                                                        a->app2_release)
                                                            : xstrdup(a->app2_version),
                                .architecture = xstrdup(a->app2_arch),
                        };
                }
                guestfs_free_application2_list(apps);
        }
        if (img->n_packages > 0)
                qsort(img->packages, img->n_packages, sizeof(AuditPackage), cmp_package);
        return 0;
}

/* Orders paths by directory, then name: each directory's entries become one batch. */
static int cmp_by_dir(const void *a, const void *b) {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        const char *sx = strrchr(x, '/'), *sy = strrchr(y, '/');
        size_t dx = sx ? (size_t)(sx - x) : 0, dy = sy ? (size_t)(sy - y) : 0;
        int c = strncmp(x, y, MIN(dx, dy));
        if (c != 0)
                return c;
        if (dx != dy)
                return dx < dy ? -1 : 1;
        return strcmp(x, y);
}

/* Every path, with its mode and owner: find0 lists them, lstatnslist stats each directory's
 * entries in one call. */
static int read_files(guestfs_h *g, const char *tmp, AuditImage *img) {
        _cleanup_free_ char *local = path_join(tmp, "files");
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        if (guestfs_find0(g, "/", local) < 0)
                return gerror(g, "cannot list the files");
        r = read_full_file(local, 1u << 30, &text, &size);
        if (r < 0)
                return log_error_errno(r, "audit: cannot read %s: %m", local);
        char **names = NULL;
        for (size_t off = 0; off < size;) {
                size_t len = strnlen(text + off, size - off);
                if (len > 0)
                        strv_push(&names, xasprintf("/%.*s", (int)len, text + off));
                off += len + 1;
        }
        size_t n = strv_length(names);
        if (n > 0)
                qsort(names, n, sizeof(char *), cmp_by_dir);
        img->files = xcalloc(n + 1, sizeof(AuditFile));
        for (size_t first = 0; first < n && r == 0;) {
                size_t dir_len = (size_t)(strrchr(names[first], '/') - names[first]);
                size_t count = 0;
                while (first + count < n && count < 1000 &&
                       (size_t)(strrchr(names[first + count], '/') - names[first + count]) ==
                               dir_len &&
                       strneq(names[first + count], names[first], dir_len))
                        count++;
                _cleanup_free_ char *dir = dir_len ? xstrndup(names[first], dir_len) : xstrdup("/");
                char **batch = xcalloc(count + 1, sizeof(char *));
                for (size_t i = 0; i < count; i++)
                        batch[i] = names[first + i] + dir_len + 1;
                struct guestfs_statns_list *st = guestfs_lstatnslist(g, dir, batch);
                free(batch);
                if (!st || st->len != count) {
                        if (st)
                                guestfs_free_statns_list(st);
                        r = gerror(g, "cannot read the files' modes");
                        break;
                }
                for (size_t i = 0; i < count; i++)
                        img->files[img->n_files++] = (AuditFile){
                                .path = xstrdup(names[first + i]),
                                .mode = (uint32_t)st->val[i].st_mode,
                                .uid = (uint32_t)st->val[i].st_uid,
                        };
                guestfs_free_statns_list(st);
                first += count;
        }
        strv_free(names);
        if (r == 0 && img->n_files > 0)
                qsort(img->files, img->n_files, sizeof(AuditFile), cmp_file);
        return r;
}

/* "path\tpackage" pairs from the backend's file lists (dpkg's info/NAME.list), fetched as one
 * tar stream. */
static int read_owners(guestfs_h *g, const DistroOps *ops, const char *tmp, AuditImage *img) {
        _cleanup_free_ char *local = path_join(tmp, "info.tar");
        if (guestfs_is_dir(g, ops->db_lists_dir) != 1)
                return 0;
        if (guestfs_tar_out(g, ops->db_lists_dir, local) < 0) {
                _cleanup_free_ char *what = xasprintf("cannot read %s", ops->db_lists_dir);
                return gerror(g, what);
        }
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, local, 1 << 16) != ARCHIVE_OK) {
                archive_read_free(a);
                return log_error_errno(EBADMSG, "audit: %s: %s", local, "not a tar archive");
        }
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                const char *name = archive_entry_pathname(e);
                const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
                size_t len = ops->list_package(base);
                la_int64_t size = archive_entry_size(e);
                if (len == 0 || size <= 0 || size > (64 << 20))
                        continue;
                _cleanup_free_ char *pkgname = xstrndup(base, len);
                _cleanup_free_ char *text = xmalloc((size_t)size + 1);
                if (archive_read_data(a, text, (size_t)size) != size)
                        break;
                text[size] = 0;
                for (char *line = text; *line;) {
                        char *nl = strchr(line, '\n');
                        if (nl)
                                *nl = 0;
                        if (*line == '/')
                                strv_push(&img->owners, xasprintf("%s\t%s", line, pkgname));
                        line = nl ? nl + 1 : line + strlen(line);
                }
        }
        archive_read_free(a);
        if (img->owners)
                qsort(img->owners, strv_length(img->owners), sizeof(char *), cmp_str);
        return 0;
}

const char *audit_owner(const AuditImage *img, const char *path) {
        size_t lo = 0, hi = strv_length(img->owners), len = strlen(path);
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strncmp(img->owners[mid], path, len);
                if (c == 0 && img->owners[mid][len] == '\t')
                        return img->owners[mid] + len + 1;
                if (c < 0 || (c == 0 && (unsigned char)img->owners[mid][len] < '\t'))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int cmp_mountpoint(const void *a, const void *b) {
        return (int)strlen(((char *const *)a)[0]) - (int)strlen(((char *const *)b)[0]);
}

int audit_read_image(const char *path, AuditImage *ret) {
        _cleanup_(guestfs_closep) guestfs_h *g = NULL;
        AuditImage img = {};
        const char *format;
        char tmp[] = "/tmp/vmcompose-audit-XXXXXX";
        int r;

        r = boot_detect_format(path, &format);
        if (r < 0)
                return log_error_errno(r, "audit: cannot read %s: %m", path);
        g = guestfs_create();
        if (!g)
                return log_error_errno(ENOMEM, "audit: libguestfs cannot start: %m");
        guestfs_set_error_handler(g, NULL, NULL);
        if (!boot_kvm_runs_guests()) {
                char *settings[] = {(char *)"force_tcg", NULL};
                log_info("audit: KVM cannot run guests here: libguestfs uses TCG");
                if (guestfs_set_backend_settings(g, settings) < 0)
                        return gerror(g, "cannot select TCG");
        }
        if (guestfs_add_drive_opts(g, path, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                   GUESTFS_ADD_DRIVE_OPTS_FORMAT, format, -1) < 0)
                return gerror(g, path);
        log_info("audit: starting libguestfs's appliance on %s (%s)", path, format);
        if (guestfs_launch(g) < 0)
                return gerror(g, "cannot start libguestfs's appliance");
        char **roots = guestfs_inspect_os(g);
        if (!roots)
                return gerror(g, "inspection failed");
        if (!roots[0]) {
                free_strings(roots);
                return log_error_errno(ENOENT, "audit: %s: no operating system found", path);
        }
        _cleanup_free_ char *root = xstrdup(roots[0]);
        free_strings(roots);

        char *distro = guestfs_inspect_get_distro(g, root);
        int major = guestfs_inspect_get_major_version(g, root);
        int minor = guestfs_inspect_get_minor_version(g, root);
        img.os = xasprintf("%s %d.%d", distro ? distro : "unknown", major, minor);
        free(distro);
        char *fmt = guestfs_inspect_get_package_format(g, root);
        img.package_format = xstrdup(fmt ? fmt : "unknown");
        free(fmt);

        /* Mount points come as (mountpoint, device) pairs: the shortest first, "/" first. */
        char **mps = guestfs_inspect_get_mountpoints(g, root);
        size_t n_mps = strv_length(mps) / 2;
        if (n_mps > 0)
                qsort(mps, n_mps, 2 * sizeof(char *), cmp_mountpoint);
        for (size_t i = 0; i < n_mps && r == 0; i++)
                if (guestfs_mount_ro(g, mps[2 * i + 1], mps[2 * i]) < 0) {
                        if (streq(mps[2 * i], "/"))
                                r = gerror(g, "cannot mount the root filesystem");
                        else
                                log_warning("audit: cannot mount %s on %s: %s, ignoring",
                                            mps[2 * i + 1], mps[2 * i], guestfs_last_error(g));
                }
        free_strings(mps);
        if (r < 0) {
                audit_image_done(&img);
                return r;
        }

        if (!mkdtemp(tmp)) {
                audit_image_done(&img);
                return log_error_errno(errno, "audit: cannot create a temporary directory: %m");
        }
        r = read_packages(g, root, tmp, &img);
        if (r == 0)
                r = read_files(g, tmp, &img);
        const DistroOps *ops = distro_find_format(img.package_format);
        if (r == 0 && ops)
                r = read_owners(g, ops, tmp, &img);
        if (r == 0) {
                read_units(g, &img);
                read_container_runtimes(g, &img);
        }
        static const char *const names[] = {"status", "files", "info.tar"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = path_join(tmp, names[i]);
                (void)unlink(p);
        }
        (void)rmdir(tmp);
        if (r < 0) {
                audit_image_done(&img);
                return r;
        }
        *ret = img;
        return 0;
}

void audit_image_done(AuditImage *img) {
        free(img->os);
        free(img->package_format);
        for (size_t i = 0; i < img->n_packages; i++) {
                free(img->packages[i].name);
                free(img->packages[i].version);
                free(img->packages[i].architecture);
                free(img->packages[i].source);
                free(img->packages[i].section);
        }
        free(img->packages);
        for (size_t i = 0; i < img->n_files; i++)
                free(img->files[i].path);
        free(img->files);
        strv_free(img->owners);
        strv_free(img->enabled);
        strv_free(img->listening);
        strv_free(img->runtime_sockets);
        strv_free(img->container_images);
        *img = (AuditImage){};
}
