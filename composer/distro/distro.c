/* SPDX-License-Identifier: MIT */
/* The table of distribution backends: one row per package family. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompose/distro.h"

extern const DistroOps distro_debian;
extern const DistroOps distro_fedora;
extern const DistroOps distro_azurelinux;

static const DistroOps *const distros[] = {
        &distro_debian,
        &distro_fedora,
        &distro_azurelinux,
};

const DistroOps *distro_find(const char *family) {
        for (size_t i = 0; family && i < ELEMENTSOF(distros); i++)
                if (streq(distros[i]->family, family))
                        return distros[i];
        return NULL;
}

const DistroOps *const *distro_list(size_t *ret_n) {
        *ret_n = ELEMENTSOF(distros);
        return distros;
}

const DistroOps *distro_find_format(const char *package_format) {
        for (size_t i = 0; package_format && i < ELEMENTSOF(distros); i++)
                if (streq(distros[i]->package_format, package_format))
                        return distros[i];
        return NULL;
}

int distro_compare_installed(const char *db_name, char *const *have, const Plan *plan,
                             Diagnostics *diag) {
        int bad = 0;
        for (size_t i = 0; i < plan->n_packages; i++) {
                const PlanPackage *p = &plan->packages[i];
                _cleanup_free_ char *want =
                        xasprintf("%s %s %s", p->name, p->version, p->architecture);
                if (!strv_contains((char **)have, want)) {
                        diag_add(diag, NULL, "install: %s is not installed as planned", want);
                        bad++;
                }
        }
        size_t n = strv_length((char **)have);
        if (n != plan->n_packages) {
                diag_add(diag, NULL, "install: the %s holds %zu packages, the plan has %zu",
                         db_name, n, plan->n_packages);
                bad++;
        }
        return bad ? -EBADMSG : 0;
}

/* The members cache's format: a header line, then one member a line, "d|f SIZE PATH". */
#define MEMBERS_MAGIC "vmcompose-members 1\n"

typedef struct MembersRecord {
        Buffer text;
        bool cacheable; /* false: a path the line format cannot hold */
        int (*fn)(const char *path, uint64_t size, bool directory, void *userdata);
        void *userdata;
} MembersRecord;

static int record_member(const char *path, uint64_t size, bool directory, void *userdata) {
        MembersRecord *m = userdata;
        if (strchr(path, '\n'))
                m->cacheable = false;
        else
                buffer_printf(&m->text, "%c %llu %s\n", directory ? 'd' : 'f',
                              (unsigned long long)size, path);
        return m->fn(path, size, directory, m->userdata);
}

/* Checks the whole text first, so that fn never sees half a list. 0, or -EBADMSG. */
static int members_parse(char *text, size_t size, bool call,
                         int (*fn)(const char *path, uint64_t size, bool directory, void *userdata),
                         void *userdata) {
        size_t magic = strlen(MEMBERS_MAGIC);
        if (size < magic || memcmp(text, MEMBERS_MAGIC, magic) != 0 || text[size - 1] != '\n' ||
            memchr(text, 0, size))
                return -EBADMSG;
        for (char *l = text + magic; l < text + size;) {
                char *nl = strchr(l, '\n'), *end = NULL;
                *nl = 0;
                errno = 0;
                unsigned long long n = strtoull(l + 2, &end, 10);
                bool ok = (l[0] == 'd' || l[0] == 'f') && l[1] == ' ' && l[2] >= '0' &&
                          l[2] <= '9' && errno == 0 && end && *end == ' ' && end[1];
                int r = ok ? 0 : -EBADMSG;
                if (ok && call)
                        r = fn(end + 1, n, l[0] == 'd', userdata);
                *nl = '\n';
                if (r < 0)
                        return r;
                l = nl + 1;
        }
        return 0;
}

int distro_package_members_cached(const DistroOps *ops, const char *cache_dir, const char *sha256,
                                  const char *package_path,
                                  int (*fn)(const char *path, uint64_t size, bool directory,
                                            void *userdata),
                                  void *userdata) {
        if (!cache_dir || !sha256 || strlen(sha256) != 64 || strchr(sha256, '/'))
                return ops->package_members(package_path, fn, userdata);

        _cleanup_free_ char *dir = path_join(cache_dir, "members");
        _cleanup_free_ char *path = path_join(dir, sha256);
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        if (read_full_file(path, 256 << 20, &text, &size) == 0 &&
            members_parse(text, size, false, fn, userdata) == 0)
                return members_parse(text, size, true, fn, userdata);

        MembersRecord m = {.cacheable = true, .fn = fn, .userdata = userdata};
        buffer_puts(&m.text, MEMBERS_MAGIC);
        int r = ops->package_members(package_path, record_member, &m);
        if (r == 0 && m.cacheable && mkdir_p(dir) >= 0)
                (void)write_file_atomic(path, m.text.data, m.text.len, 0644);
        buffer_done(&m.text);
        return r;
}

bool distro_is_database_file(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(distros); i++) {
                const DistroOps *d = distros[i];
                size_t l = strlen(d->db_lists_dir);
                if (streq(path, d->db_status_path))
                        return true;
                if (strneq(path, d->db_lists_dir, l) && path[l] == '/' &&
                    d->list_package(path + l + 1) > 0)
                        return true;
        }
        return false;
}
