/* SPDX-License-Identifier: MIT */
/* The Debian backend's package database: dpkg's status and its audit, the alternatives, and
 * the DEP-5 copyright files (moved from composer/pipeline/stage-install.c and
 * stage-reports.c). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debian.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/spawn.h"

/* dpkg --audit prints nothing, and dpkg knows exactly the planned packages. */
int debian_verify_installed(const char *root_dir, const Plan *plan, Diagnostics *diag) {
        char *const audit[] = {(char *)"chroot", (char *)root_dir, (char *)"dpkg",
                               (char *)"--audit", NULL};
        Buffer out = {};
        int r = spawn_run_in_root(audit, NULL, &out);
        if (r != 0 || out.len > 0) {
                diag_add(diag, NULL, "install: dpkg --audit in the root is not clean:\n%s",
                         out.data ? out.data : "");
                buffer_done(&out);
                return -EBADMSG;
        }
        buffer_done(&out);

        _cleanup_strv_free_ char **have = NULL;
        r = debian_list_installed(root_dir, &have);
        if (r < 0)
                return diag_add_errno(diag, r, "install: dpkg-query in the root failed: %m");
        return distro_compare_installed(DEBIAN_DB_NAME, have, plan, diag);
}

/* "want flag status": installed, or half-configured and the like, which still have their files
 * on disk (not config-files or not-installed). */
static bool status_on_disk(const char *status) {
        const char *st = status ? strrchr(status, ' ') : NULL;
        if (!st)
                return false;
        st++;
        return streq(st, "installed") || streq(st, "half-configured") || streq(st, "unpacked") ||
               streq(st, "triggers-awaited") || streq(st, "triggers-pending");
}

typedef struct StatusParse {
        AuditImage *img;
        unsigned bad_line; /* a stanza without Package: */
} StatusParse;

static int on_status(const Deb822Field *f, size_t n, unsigned line, void *userdata) {
        StatusParse *s = userdata;
        AuditImage *img = s->img;
        const char *status = deb822_get(f, n, "Status"), *name = deb822_get(f, n, "Package");
        if (!name) {
                s->bad_line = line;
                return -EBADMSG;
        }
        if (!status_on_disk(status))
                return 0;
        const char *section = deb822_get(f, n, "Section"),
                   *size = deb822_get(f, n, "Installed-Size");
        const char *slash = section ? strrchr(section, '/') : NULL;
        /* "Source: name (version)" when the versions differ; no Source: the package's own. */
        const char *source = deb822_get(f, n, "Source") ?: name;
        img->packages = xrealloc(img->packages, (img->n_packages + 1) * sizeof(AuditPackage));
        img->packages[img->n_packages++] = (AuditPackage){
                .name = xstrdup(name),
                .version = xstrdup(deb822_get(f, n, "Version") ?: ""),
                .architecture = xstrdup(deb822_get(f, n, "Architecture") ?: ""),
                .source = xstrndup(source, strcspn(source, " ")),
                .section = section ? xstrdup(slash ? slash + 1 : section) : NULL,
                .installed_size = size ? strtoull(size, NULL, 10) * 1024 : 0,
        };
        return 0;
}

static int cmp_package(const void *a, const void *b) {
        return strcmp(((const AuditPackage *)a)->name, ((const AuditPackage *)b)->name);
}

int debian_parse_installed(const char *text, size_t size, AuditImage *img, char **ret_error) {
        if (memchr(text, 0, size)) {
                *ret_error = xstrdup("dpkg status: a NUL byte in the text");
                return -EBADMSG;
        }
        _cleanup_free_ char *copy = xstrndup(text, size);
        StatusParse s = {.img = img};
        int r = deb822_parse(copy, on_status, &s);
        if (r < 0) {
                *ret_error = s.bad_line ? xasprintf("dpkg status: a stanza without Package: at "
                                                    "line %u",
                                                    s.bad_line)
                                        : xstrdup("dpkg status: not a deb822 text");
                return -EBADMSG;
        }
        if (img->n_packages > 0)
                qsort(img->packages, img->n_packages, sizeof(AuditPackage), cmp_package);
        return 0;
}

size_t debian_list_package(const char *name) {
        size_t len = strlen(name);
        if (len <= 5 || !streq(name + len - 5, ".list") || strchr(name, '/'))
                return 0;
        /* "name.list" or "name:arch.list" */
        return strcspn(name, ":") < len - 5 ? strcspn(name, ":") : len - 5;
}

int debian_read_installed(int root_fd, AuditImage *img) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t size;
        int r = root_read_file(root_fd, "var/lib/dpkg/status", 256u << 20, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return debian_parse_installed(text, size, img, &error);
}

/* The alternatives (/var/lib/dpkg/alternatives/NAME) that list path as one of their choices. */
static char **alternatives_using(int root_fd, const char *path) {
        char **names = NULL;
        int fd = root_open(root_fd, "var/lib/dpkg/alternatives", O_RDONLY | O_DIRECTORY, 0);
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
                _cleanup_free_ char *buf = NULL;
                if (root_read_file(dirfd(d), de->d_name, 1 << 20, &buf, NULL) < 0)
                        continue;
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

/* Every alternative that offers path drops it (no dangling alternative link is left behind),
 * then the entry itself goes: its parent resolved inside the root (merged /usr: /bin is
 * usr/bin), the entry removed, never followed. */
int debian_remove_path(const char *root_dir, int root_fd, const char *path, Diagnostics *diag) {
        _cleanup_strv_free_ char **alts = alternatives_using(root_fd, path);
        for (char **a = alts; a && *a; a++) {
                char *const argv[] = {(char *)"chroot",
                                      (char *)root_dir,
                                      (char *)"update-alternatives",
                                      (char *)"--quiet",
                                      (char *)"--remove",
                                      *a,
                                      (char *)path,
                                      NULL};
                Buffer out = {};
                int r = spawn_run_in_root(argv, NULL, &out);
                if (r != 0)
                        diag_add(diag, NULL,
                                 "policy: update-alternatives --remove %s %s failed:\n%s", *a, path,
                                 out.data ? out.data : "");
                buffer_done(&out);
                if (r != 0)
                        return -EIO;
                log_info("policy: alternative %s no longer offers %s", *a, path);
        }
        return root_unlink(root_fd, path, 0);
}

/* Reads the root's /usr/share/doc/NAME/copyright, confined to the root. 0 with *ret filled
 * (expression NULL when the file is missing or not machine-readable), or a negative errno. */
int debian_package_license(int root_fd, const char *name, LicenseInfo *ret) {
        _cleanup_free_ char *path = xasprintf("usr/share/doc/%s/copyright", name);
        _cleanup_free_ char *text = NULL;

        *ret = (LicenseInfo){};
        int r = root_read_file(root_fd, path, 16u << 20, &text, NULL); /* none is larger */
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        _cleanup_free_ char *file = xasprintf("/%s", path);
        r = license_from_copyright(text, file, ret);
        return r == -EBADMSG ? 0 : r; /* a malformed file declares nothing we can read */
}
