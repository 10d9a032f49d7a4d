/* SPDX-License-Identifier: MIT */
/* vmcompose-deb: what dpkg asks of dpkg-deb and dpkg-split for every package it unpacks, and what
 * maintainer scripts ask of dpkg most, done natively for a root of another architecture
 * (composer/distro/debian/native.c puts it first in PATH as dpkg-deb, dpkg-split and dpkg while
 * dpkg runs). dpkg starts the first two per package:
 *   dpkg-split -Qao REASSEMBLY FILE   exit 1: FILE is no part of a split package;
 *   dpkg-deb --control FILE DIR       control.tar unpacked into DIR by `tar -x` (mkdir DIR);
 *   dpkg-deb --fsys-tarfile FILE      data.tar on standard output;
 * dpkg-maintscript-helper, once per call of it in a script:
 *   dpkg --validate-version -- V      exit 0 for a valid version;
 *   dpkg --compare-versions A OP B    exit 0 when the relation holds (dpkg 1.21's table).
 * Versions are answered here only when they are plainly valid (an epoch of digits, an upstream
 * version starting with a digit, the characters Debian policy allows); the rest, with dpkg's
 * own message, by dpkg.
 * Only the plain archives vmcompose stages (deb_repack_plain(): debian-binary 2.0, control.tar,
 * data.tar, nothing compressed) are done here, the way dpkg-deb 1.21 does them (src/deb/
 * extract.c: the same tar command for --control); anything else, another option or another
 * layout, goes to the root's own program, emulated. Static, like vmcompose-init: it runs in the
 * root, where the host's libraries are not. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Member {
        char name[17];
        off_t offset, size;
} Member;

/* The first n members of the ar archive fd; the number read, or -1 when it is no ar archive. */
static int read_members(int fd, Member *m, int n) {
        char magic[8], h[60];
        off_t at = 8;
        if (pread(fd, magic, 8, 0) != 8 || memcmp(magic, "!<arch>\n", 8) != 0)
                return -1;
        int i = 0;
        for (; i < n; i++) {
                ssize_t got = pread(fd, h, sizeof(h), at);
                if (got == 0)
                        break;
                if (got != (ssize_t)sizeof(h) || memcmp(h + 58, "`\n", 2) != 0)
                        return -1;
                memcpy(m[i].name, h, 16);
                m[i].name[16] = 0;
                int j = 15;
                while (j >= 0 && m[i].name[j] == ' ')
                        m[i].name[j--] = 0;
                if (j >= 0 && m[i].name[j] == '/') /* GNU ar's end of name */
                        m[i].name[j] = 0;
                /* The size: digits, then spaces only (as dpkg's ar reader wants it). */
                long long s = 0;
                int k = 48;
                for (; k < 58 && h[k] >= '0' && h[k] <= '9'; k++)
                        s = s * 10 + (h[k] - '0');
                if (k == 48)
                        return -1;
                for (; k < 58; k++)
                        if (h[k] != ' ')
                                return -1;
                m[i].offset = at + 60;
                m[i].size = s;
                at = m[i].offset + s + (s & 1);
        }
        return i;
}

/* The member name of a plain binary package (debian-binary "2.0", control.tar, data.tar and
 * nothing else), or NULL with *fd closed when the file is not one. */
static const Member *plain_member(const char *path, const char *name, int *ret_fd, Member m[4]) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char version[4];
        if (fd < 0)
                return NULL;
        if (read_members(fd, m, 4) == 3 && strcmp(m[0].name, "debian-binary") == 0 &&
            m[0].size == 4 && pread(fd, version, 4, m[0].offset) == 4 &&
            memcmp(version, "2.0\n", 4) == 0 && strcmp(m[1].name, "control.tar") == 0 &&
            strcmp(m[2].name, "data.tar") == 0) {
                *ret_fd = fd;
                return strcmp(name, "control.tar") == 0 ? &m[1] : &m[2];
        }
        close(fd);
        return NULL;
}

/* Copies the member's bytes to out. */
static int copy_member(int fd, const Member *m, int out) {
        char buf[1 << 16];
        for (off_t done = 0; done < m->size;) {
                size_t want = (size_t)(m->size - done) < sizeof(buf) ? (size_t)(m->size - done)
                                                                     : sizeof(buf);
                ssize_t got = pread(fd, buf, want, m->offset + done);
                if (got <= 0)
                        return -1;
                for (ssize_t w = 0; w < got;) {
                        ssize_t k = write(out, buf + w, (size_t)(got - w));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return -1;
                        w += k;
                }
                done += got;
        }
        return 0;
}

/* dpkg-deb --control FILE DIR: 0, 2 on failure (dpkg-deb's status), -1: not for us. */
static int control(const char *path, const char *dir) {
        Member m[4];
        int fd = -1;
        const Member *c = plain_member(path, "control.tar", &fd, m);
        if (!c)
                return -1;
        int p[2];
        if ((mkdir(dir, 0777) < 0 && errno != EEXIST) || pipe(p) < 0)
                return 2;
        pid_t pid = fork();
        if (pid < 0)
                return 2;
        if (pid == 0) {
                dup2(p[0], 0);
                close(p[0]);
                close(p[1]);
                unsetenv("TAR_OPTIONS");
                if (chdir(dir) < 0)
                        _exit(2);
                execlp("tar", "tar", "-x", "-f", "-", "--warning=no-timestamp", (char *)NULL);
                _exit(2);
        }
        close(p[0]);
        signal(SIGPIPE, SIG_IGN); /* a tar that ends early: exit 2, as dpkg-deb, not a signal */
        int r = copy_member(fd, c, p[1]);
        close(p[1]);
        close(fd);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 2;
        return r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
}

/* dpkg-deb --fsys-tarfile FILE: 0, 2 on failure, -1: not for us. */
static int fsys_tarfile(const char *path) {
        Member m[4];
        int fd = -1;
        const Member *d = plain_member(path, "data.tar", &fd, m);
        if (!d)
                return -1;
        int r = copy_member(fd, d, 1);
        close(fd);
        return r == 0 ? 0 : 2;
}

/* dpkg-split -Qao OUT FILE: 1 (no part) for a plain binary package, -1: not for us. */
static int split_query(const char *path) {
        Member m[4];
        int fd = -1;
        if (!plain_member(path, "data.tar", &fd, m))
                return -1;
        close(fd);
        return 1;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef struct Version {
        unsigned long epoch;
        char upstream[256], revision[256];
} Version;

/* A version dpkg's parseversion() accepts without a word (a strict subset: what is not in it
 * goes to dpkg). */
static bool parse_version(const char *s, Version *v) {
        const char *colon = strchr(s, ':'), *up = s;
        *v = (Version){};
        if (colon) {
                if (colon == s || colon - s > 9)
                        return false;
                for (const char *c = s; c < colon; c++)
                        if (!is_digit(*c))
                                return false;
                v->epoch = strtoul(s, NULL, 10);
                up = colon + 1;
        }
        const char *hyphen = strrchr(up, '-');
        size_t up_len = hyphen ? (size_t)(hyphen - up) : strlen(up);
        const char *rev = hyphen ? hyphen + 1 : "";
        if (up_len == 0 || up_len >= sizeof(v->upstream) || strlen(rev) >= sizeof(v->revision) ||
            (hyphen && !*rev) || !is_digit(*up))
                return false;
        for (size_t i = 0; i < up_len; i++)
                if (!is_digit(up[i]) && !is_alpha(up[i]) && !strchr(".+~-", up[i]))
                        return false;
        for (const char *c = rev; *c; c++)
                if (!is_digit(*c) && !is_alpha(*c) && !strchr(".+~", *c))
                        return false;
        memcpy(v->upstream, up, up_len);
        strcpy(v->revision, rev);
        return true;
}

/* dpkg's character order: ~ before everything, letters before the rest. */
static int order(char c) {
        if (is_digit(c))
                return 0;
        if (is_alpha(c))
                return c;
        if (c == '~')
                return -1;
        return c ? c + 256 : 0;
}

static int verrevcmp(const char *a, const char *b) {
        while (*a || *b) {
                int first_diff = 0;
                while ((*a && !is_digit(*a)) || (*b && !is_digit(*b))) {
                        int ac = order(*a), bc = order(*b);
                        if (ac != bc)
                                return ac - bc;
                        a++;
                        b++;
                }
                while (*a == '0')
                        a++;
                while (*b == '0')
                        b++;
                while (is_digit(*a) && is_digit(*b)) {
                        if (!first_diff)
                                first_diff = *a - *b;
                        a++;
                        b++;
                }
                if (is_digit(*a))
                        return 1;
                if (is_digit(*b))
                        return -1;
                if (first_diff)
                        return first_diff;
        }
        return 0;
}

static int version_compare(const Version *a, const Version *b) {
        if (a->epoch != b->epoch)
                return a->epoch > b->epoch ? 1 : -1;
        int r = verrevcmp(a->upstream, b->upstream);
        return r ? r : verrevcmp(a->revision, b->revision);
}

/* dpkg 1.21's --compare-versions relations (src/main/enquiry.c) but the two it warns about:
 * exit status if lesser, equal, greater, if only a is empty, both, only b. */
static const struct {
        const char *op;
        char status[6];
} relations[] = {
        {"le", {0, 0, 1, 0, 0, 1}},    {"lt", {0, 1, 1, 0, 1, 1}},    {"eq", {1, 0, 1, 1, 0, 1}},
        {"ne", {0, 1, 0, 0, 1, 0}},    {"ge", {1, 0, 0, 1, 0, 0}},    {"gt", {1, 1, 0, 1, 1, 0}},
        {"le-nl", {0, 0, 1, 1, 0, 0}}, {"lt-nl", {0, 1, 1, 1, 1, 0}}, {"ge-nl", {1, 0, 0, 0, 0, 1}},
        {"gt-nl", {1, 1, 0, 0, 1, 1}}, {"<=", {0, 0, 1, 0, 0, 1}},    {"<<", {0, 1, 1, 0, 1, 1}},
        {"=", {1, 0, 1, 1, 0, 1}},     {">=", {1, 0, 0, 1, 0, 0}},    {">>", {1, 1, 0, 1, 1, 0}},
};

/* A version argument: 1 empty (dpkg's blank), 0 parsed, -1 not for us. */
static int version_arg(const char *s, Version *v) {
        if (!*s || strcmp(s, "<unknown>") == 0)
                return 1;
        return parse_version(s, v) ? 0 : -1;
}

static int compare_versions(const char *a, const char *op, const char *b) {
        Version va, vb;
        int ea = version_arg(a, &va), eb = version_arg(b, &vb);
        for (size_t i = 0; ea >= 0 && eb >= 0 && i < sizeof(relations) / sizeof(relations[0]);
             i++) {
                if (strcmp(relations[i].op, op) != 0)
                        continue;
                const char *st = relations[i].status;
                if (ea && eb)
                        return st[4];
                if (ea || eb)
                        return ea ? st[3] : st[5];
                int r = version_compare(&va, &vb);
                return r < 0 ? st[0] : r == 0 ? st[1] : st[2];
        }
        return -1;
}

static int dpkg_query(int argc, char **argv) {
        Version v;
        if (argc == 4 && strcmp(argv[1], "--validate-version") == 0 && strcmp(argv[2], "--") == 0)
                return parse_version(argv[3], &v) ? 0 : -1;
        if (argc == 3 && strcmp(argv[1], "--validate-version") == 0 && argv[2][0] != '-')
                return parse_version(argv[2], &v) ? 0 : -1;
        if (argc == 5 && strcmp(argv[1], "--compare-versions") == 0)
                return compare_versions(argv[2], argv[3], argv[4]);
        if (argc == 6 && strcmp(argv[1], "--compare-versions") == 0 && strcmp(argv[2], "--") == 0)
                return compare_versions(argv[3], argv[4], argv[5]);
        return -1;
}

int main(int argc, char **argv) {
        if (argc < 1 || !argv[0])
                return 2;
        const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        int r = -1;
        if (strcmp(name, "dpkg-deb") == 0 && argc == 4 && strcmp(argv[1], "--control") == 0)
                r = control(argv[2], argv[3]);
        else if (strcmp(name, "dpkg-deb") == 0 && argc == 3 &&
                 strcmp(argv[1], "--fsys-tarfile") == 0)
                r = fsys_tarfile(argv[2]);
        else if (strcmp(name, "dpkg-split") == 0 && argc == 4 && strcmp(argv[1], "-Qao") == 0)
                r = split_query(argv[3]);
        else if (strcmp(name, "dpkg") == 0)
                r = dpkg_query(argc, argv);
        if (r >= 0)
                return r;
        /* Everything else: the root's own program (for tests: exit 3 instead). */
        if (getenv("VMCOMPOSE_DEB_NO_FALLBACK"))
                return 3;
        char real[64];
        if (strcmp(name, "dpkg-deb") != 0 && strcmp(name, "dpkg-split") != 0 &&
            strcmp(name, "dpkg") != 0) {
                fprintf(stderr, "vmcompose-deb: run as %s: only dpkg-deb, dpkg-split, dpkg\n",
                        name);
                return 2;
        }
        snprintf(real, sizeof(real), "/usr/bin/%s", name);
        argv[0] = real;
        execv(real, argv);
        fprintf(stderr, "vmcompose-deb: cannot run %s: %s\n", real, strerror(errno));
        return 2;
}
