/* SPDX-License-Identifier: MIT */
/* What the packages install below the ESP's mount point (Fedora's shim-x64 and grub2-efi-x64:
 * /boot/efi/EFI/fedora/shimx64.efi) goes onto the ESP at the same relative path, and out of
 * the root filesystem, where the mounted ESP would hide it: as on the distribution's own
 * installs, whose package manager writes through the mounted ESP. */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/macro.h"
#include "vmcompose/rootfs.h"

#define VFAT_NAME_MAX 255

bool esp_name_ok(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > VFAT_NAME_MAX || name[n - 1] == '.' || name[n - 1] == ' ')
                return false;
        for (const char *c = name; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f ||
                    strchr("\"*/:<>?\\|", *c))
                        return false;
        return true;
}

void esp_problem_done(EspProblem *p) {
        free(p->path);
        free(p->why);
        *p = (EspProblem){};
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory dir_fd (without "." and ".."), sorted: a strv, caller frees. */
static int list_names(int dir_fd, char ***ret) {
        int fd = dup(dir_fd);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        rewinddir(d);
        char **names = xcalloc(1, sizeof(char *));
        size_t n = 0;
        errno = 0;
        for (struct dirent *de; (de = readdir(d)); errno = 0)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        strv_extend(&names, de->d_name);
                        n++;
                }
        int r = errno ? -errno : 0;
        closedir(d);
        if (r < 0) {
                strv_free(names);
                return r;
        }
        qsort(names, n, sizeof(char *), cmp_str);
        *ret = names;
        return 0;
}

/* Whether the regular files a (in a_fd) and b (in b_fd) hold the same bytes: 1, 0, or a
 * negative errno. */
static int same_content(int a_fd, const char *a, int b_fd, const char *b) {
        _cleanup_close_ int fa = openat(a_fd, a, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fb = openat(b_fd, b, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat sa, sb;
        if (fa < 0 || fb < 0 || fstat(fa, &sa) < 0 || fstat(fb, &sb) < 0)
                return -errno;
        if (!S_ISREG(sb.st_mode) || sa.st_size != sb.st_size)
                return 0;
        static char x[1 << 16], y[1 << 16];
        for (;;) {
                ssize_t n = read(fa, x, sizeof(x));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 1;
                ssize_t m = read(fb, y, (size_t)n);
                if (m < 0)
                        return -errno;
                if (m != n || memcmp(x, y, (size_t)n) != 0)
                        return 0;
        }
}

typedef struct Walk {
        const char *mount_point; /* "boot/efi" */
        bool apply;              /* false: only check; true: copy onto the ESP */
        unsigned files;          /* the files on the ESP (copied or already there) */
        EspProblem *problem;
} Walk;

/* Records why path (relative to the mount point) cannot go onto the ESP: -EBADMSG. */
_printf_(3, 4) static int refuse(Walk *w, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        esp_problem_done(w->problem);
        w->problem->path = xasprintf("/%s/%s", w->mount_point, path);
        if (vasprintf(&w->problem->why, fmt, ap) < 0)
                abort();
        va_end(ap);
        return -EBADMSG;
}

/* The ESP's entry that vfat takes name for (the same but for case), or NULL. */
static const char *esp_entry(char *const *esp_names, const char *name) {
        for (char *const *e = esp_names; e && *e; e++)
                if (strcasecmp(*e, name) == 0)
                        return *e;
        return NULL;
}

/* Checks (and with w->apply copies) what the directory from_fd holds onto the ESP's directory
 * to_fd (-1: the ESP has none yet, only when checking); rel: from_fd's path below the mount
 * point ("" for the mount point). */
static int take_dir(Walk *w, int from_fd, int to_fd, const char *rel) {
        _cleanup_strv_free_ char **names = NULL, **esp_names = NULL;
        int r = list_names(from_fd, &names);
        if (r < 0)
                return r;
        if (to_fd >= 0 && (r = list_names(to_fd, &esp_names)) < 0)
                return r;
        for (size_t i = 0; names[i]; i++) {
                const char *name = names[i];
                _cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
                struct stat st;
                if (!esp_name_ok(name))
                        return refuse(w, path,
                                      "a name vfat cannot hold (printable ASCII without "
                                      "\"*:<>?\\|, at most %d bytes, not ending in '.' or ' ')",
                                      VFAT_NAME_MAX);
                for (size_t j = 0; j < i; j++)
                        if (strcasecmp(names[j], name) == 0)
                                return refuse(w, path,
                                              "the same name as %s but for case, which vfat "
                                              "does not tell apart",
                                              names[j]);
                if (fstatat(from_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode))
                        return refuse(w, path, "a symbolic link, which vfat cannot hold");
                if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                        return refuse(w, path,
                                      "neither a file nor a directory, which is all "
                                      "vfat holds");
                if (st.st_uid != 0 || st.st_gid != 0)
                        return refuse(w, path,
                                      "owned by %u:%u, and vfat has no owners (what it holds is "
                                      "root's)",
                                      (unsigned)st.st_uid, (unsigned)st.st_gid);
                const char *on_esp = esp_entry(esp_names, name);
                struct stat est;
                if (on_esp && fstatat(to_fd, on_esp, &est, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (on_esp && S_ISDIR(st.st_mode) != S_ISDIR(est.st_mode))
                        return refuse(w, path, "a %s where the ESP has a %s (%s)",
                                      S_ISDIR(st.st_mode) ? "directory" : "file",
                                      S_ISDIR(est.st_mode) ? "directory" : "file", on_esp);
                if (S_ISREG(st.st_mode)) {
                        if (on_esp) {
                                r = same_content(from_fd, name, to_fd, on_esp);
                                if (r < 0)
                                        return r;
                                if (r == 0)
                                        return refuse(w, path,
                                                      "the ESP holds %s already (vmcompose's "
                                                      "boot loader), with other content",
                                                      on_esp);
                        } else if (w->apply &&
                                   (r = root_copy_file(from_fd, name, to_fd, name, 0644)) < 0)
                                return r;
                        if (w->apply)
                                w->files++;
                        continue;
                }
                if (w->apply && !on_esp && mkdirat(to_fd, name, 0755) < 0)
                        return -errno;
                const char *esp_name = on_esp ?: name;
                _cleanup_close_ int sub =
                        openat(from_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return -errno;
                _cleanup_close_ int esp_sub = -1;
                if (to_fd >= 0 && (w->apply || on_esp)) {
                        esp_sub = openat(to_fd, esp_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (esp_sub < 0)
                                return -errno;
                }
                if ((r = take_dir(w, sub, esp_sub, path)) < 0)
                        return r;
        }
        return 0;
}

int esp_take_root_files(int root_fd, const char *mount_point, int esp_fd, EspProblem *problem) {
        _cleanup_close_ int fd =
                root_open(root_fd, mount_point, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        Walk w = {.mount_point = mount_point, .problem = problem};
        int r;

        if (fd == -ENOENT)
                return 0;
        if (fd == -ELOOP || fd == -ENOTDIR) {
                esp_problem_done(problem);
                problem->path = xasprintf("/%s", mount_point);
                problem->why = xstrdup("not a directory (a symbolic link, a file) where the ESP "
                                       "is mounted");
                return -EBADMSG;
        }
        if (fd < 0)
                return fd;
        /* Everything is checked before anything is copied. */
        if ((r = take_dir(&w, fd, esp_fd, "")) < 0)
                return r;
        w.apply = true;
        if ((r = take_dir(&w, fd, esp_fd, "")) < 0)
                return r;
        _cleanup_strv_free_ char **names = NULL;
        if ((r = list_names(fd, &names)) < 0)
                return r;
        for (char **n = names; *n; n++)
                if ((r = root_rm_rf(fd, *n)) < 0)
                        return r;
        return (int)w.files;
}
