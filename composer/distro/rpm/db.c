/* SPDX-License-Identifier: MIT */
/* The RPM backend's installed-package database: the rpmdb (sqlite, /var/lib/rpm/rpmdb.sqlite)
 * read with librpm, never by running anything in the root; the package files' members; the
 * License tag (SPDX in Fedora); the package URLs. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmfiles.h>
#include <rpm/rpmio.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmts.h>

#include "rpm-install.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/spawn.h"

#define RPMDB_FILE RPM_DBPATH "/rpmdb.sqlite"

/* Calls fn for each package header of the rpmdb under root_dir (not gpg-pubkey's). -ENOENT
 * when the root has no rpmdb, -EBADMSG when librpm cannot read it. */
static int each_installed(const char *root_dir, int (*fn)(Header h, void *userdata),
                          void *userdata) {
        int r = rpm_lib_init();
        if (r < 0)
                return r;
        _cleanup_free_ char *db = xasprintf("%s%s", root_dir, RPMDB_FILE);
        if (access(db, F_OK) < 0)
                return -errno;
        /* librpm takes an absolute root only; with another it would read the host's rpmdb. */
        _cleanup_free_ char *root = realpath(root_dir, NULL);
        if (!root)
                return -errno;
        rpmts ts = rpmtsCreate();
        if (rpmtsSetRootDir(ts, root) != 0 || !rpm_root_is(rpmtsRootDir(ts), root)) {
                rpmtsFree(ts);
                return -EINVAL;
        }
        rpmtsSetVSFlags(ts, RPMVSF_MASK_NOSIGNATURES);
        rpmdbMatchIterator mi = rpmtsInitIterator(ts, RPMDBI_PACKAGES, NULL, 0);
        if (!mi) {
                rpmtsFree(ts);
                return -EBADMSG;
        }
        r = 0;
        for (Header h; r >= 0 && (h = rpmdbNextIterator(mi));)
                if (!streq(headerGetString(h, RPMTAG_NAME) ?: "", "gpg-pubkey"))
                        r = fn(h, userdata);
        rpmdbFreeIterator(mi);
        rpmtsFree(ts);
        return r;
}

/* [EPOCH:]VERSION-RELEASE, as the plan (libsolv) names versions: no "0:" for epoch 0. */
static char *header_evr(Header h) {
        uint64_t epoch = headerGetNumber(h, RPMTAG_EPOCH);
        const char *v = headerGetString(h, RPMTAG_VERSION) ?: "",
                   *rel = headerGetString(h, RPMTAG_RELEASE) ?: "";
        return epoch > 0 ? xasprintf("%llu:%s-%s", (unsigned long long)epoch, v, rel)
                         : xasprintf("%s-%s", v, rel);
}

static int on_list(Header h, void *userdata) {
        _cleanup_free_ char *evr = header_evr(h);
        strv_push(userdata, xasprintf("%s %s %s", headerGetString(h, RPMTAG_NAME), evr,
                                      headerGetString(h, RPMTAG_ARCH) ?: "noarch"));
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int rpm_list_installed(const char *root_dir, char ***ret) {
        char **l = NULL;
        int r = each_installed(root_dir, on_list, &l);
        if (r < 0) {
                strv_free(l);
                return r;
        }
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = l ?: xcalloc(1, sizeof(char *));
        return 0;
}

int rpm_verify_installed(const char *root_dir, const Plan *plan, Diagnostics *diag) {
        _cleanup_strv_free_ char **have = NULL;
        int r = rpm_list_installed(root_dir, &have);
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot read the rpmdb of %s: %m",
                                      root_dir);
        return distro_compare_installed(RPM_DB_NAME, have, plan, diag);
}

/* The source package's name from SOURCERPM ("bash-5.2.26-3.fc43.src.rpm": "bash"). */
static char *source_name(const char *srpm) {
        if (!srpm)
                return NULL;
        const char *end = srpm + strlen(srpm);
        for (int dashes = 0; end > srpm && dashes < 2;)
                if (*--end == '-')
                        dashes++;
        return end > srpm ? xstrndup(srpm, (size_t)(end - srpm)) : NULL;
}

static int on_audit(Header h, void *userdata) {
        AuditImage *img = userdata;
        const char *name = headerGetString(h, RPMTAG_NAME);
        img->packages = xrealloc(img->packages, (img->n_packages + 1) * sizeof(AuditPackage));
        img->packages[img->n_packages++] = (AuditPackage){
                .name = xstrdup(name),
                .version = header_evr(h),
                .architecture = xstrdup(headerGetString(h, RPMTAG_ARCH) ?: "noarch"),
                .source = source_name(headerGetString(h, RPMTAG_SOURCERPM)),
                .installed_size = headerGetNumber(h, RPMTAG_LONGSIZE),
        };
        /* The owners of the files the package has on disk (not those the policy or
         * %_excludedocs left out: rpm records them as not installed). */
        rpmfiles files = rpmfilesNew(NULL, h, RPMTAG_BASENAMES, RPMFI_FLAGS_QUERY);
        for (int i = 0; files && i < (int)rpmfilesFC(files); i++) {
                rpmfileState st = rpmfilesFState(files, i);
                if (st != RPMFILE_STATE_NORMAL && st != RPMFILE_STATE_REPLACED)
                        continue;
                _cleanup_free_ char *fn = rpmfilesFN(files, i);
                strv_push(&img->owners, xasprintf("%s\t%s", fn, name));
        }
        rpmfilesFree(files);
        return 0;
}

static int cmp_package(const void *a, const void *b) {
        return strcmp(((const AuditPackage *)a)->name, ((const AuditPackage *)b)->name);
}

/* The rpmdb's bytes into a directory of their own, where librpm can open them. */
static int parse_db(const char *text, size_t size, AuditImage *img, char **ret_error) {
        static const char magic[] = "SQLite format 3";
        if (size < sizeof(magic) || memcmp(text, magic, sizeof(magic)) != 0) {
                *ret_error = xstrdup("rpmdb: not an SQLite database (rpm 4.16 or later)");
                return -EBADMSG;
        }
        const char *tmp = getenv("TMPDIR") ?: "/tmp";
        _cleanup_free_ char *dir = xasprintf("%s/vmcompose-rpmdb-XXXXXX", tmp);
        if (!mkdtemp(dir))
                return -errno;
        _cleanup_free_ char *dbdir = xasprintf("%s%s", dir, RPM_DBPATH);
        _cleanup_free_ char *db = xasprintf("%s%s", dir, RPMDB_FILE);
        int r = mkdir_p(dbdir);
        if (r == 0)
                r = write_file_atomic(db, text, size, 0644);
        size_t before = img->n_packages;
        if (r == 0) {
                r = each_installed(dir, on_audit, img);
                if (r == -EBADMSG)
                        *ret_error = xstrdup("rpmdb: librpm cannot read it");
        }
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                (void)root_rm_rf(fd, "var");
        (void)rmdir(dir);
        if (r < 0)
                return r;
        if (img->n_packages > before)
                qsort(img->packages, img->n_packages, sizeof(AuditPackage), cmp_package);
        if (img->owners)
                qsort(img->owners, strv_length(img->owners), sizeof(char *), cmp_str);
        return 0;
}

int rpm_parse_installed(const char *text, size_t size, AuditImage *img, char **ret_error) {
        return parse_db(text, size, img, ret_error);
}

/* The rpmdb keeps no file lists as files: the owners come with parse_installed(). */
size_t rpm_list_package(const char *name) {
        (void)name;
        return 0;
}

int rpm_read_installed(int root_fd, AuditImage *img) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t size;
        int r = root_read_file(root_fd, RPMDB_FILE + 1, 1u << 30, &text, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return parse_db(text, size, img, &error);
}

int rpm_package_members(const char *package_path,
                        int (*fn)(const char *path, uint64_t size, bool directory, void *userdata),
                        void *userdata) {
        int r = rpm_lib_init();
        if (r < 0)
                return r;
        FD_t fd = Fopen(package_path, "r.ufdio");
        if (!fd || Ferror(fd)) {
                if (fd)
                        Fclose(fd);
                return -ENOENT;
        }
        rpmts ts = rpmtsCreate();
        rpmtsSetVSFlags(ts, RPMVSF_MASK_NOSIGNATURES);
        Header h = NULL;
        rpmRC rc = rpmReadPackageFile(ts, fd, package_path, &h);
        Fclose(fd);
        rpmtsFree(ts);
        if (rc != RPMRC_OK) {
                headerFree(h);
                return -EBADMSG;
        }
        rpmfiles files = rpmfilesNew(NULL, h, RPMTAG_BASENAMES, RPMFI_FLAGS_QUERY);
        r = 0;
        for (int i = 0; r >= 0 && files && i < (int)rpmfilesFC(files); i++) {
                _cleanup_free_ char *path = rpmfilesFN(files, i);
                mode_t mode = rpmfilesFMode(files, i);
                r = fn(path, S_ISREG(mode) ? rpmfilesFSize(files, i) : 0, S_ISDIR(mode), userdata);
        }
        rpmfilesFree(files);
        headerFree(h);
        return r < 0 ? r : 0;
}

/* The entry goes, resolved inside the root. rpm has no alternatives database to update; the
 * rpmdb still lists the path, so `rpm -V` reports it missing (the deviation report names it). */
int rpm_remove_path(const char *root_dir, int root_fd, const char *path, Diagnostics *diag) {
        (void)root_dir;
        (void)diag;
        return root_unlink(root_fd, path, 0);
}

typedef struct LicenseQuery {
        const char *name;
        char *license;
} LicenseQuery;

static int on_license(Header h, void *userdata) {
        LicenseQuery *q = userdata;
        if (!q->license && streq(headerGetString(h, RPMTAG_NAME), q->name))
                q->license = xstrdup(headerGetString(h, RPMTAG_LICENSE) ?: "");
        return 0;
}

/* The License tag of the installed package (SPDX expressions in Fedora since 2023). */
int rpm_package_license(int root_fd, const char *name, LicenseInfo *ret) {
        _cleanup_free_ char *root = xasprintf("/proc/self/fd/%d", root_fd);
        LicenseQuery q = {.name = name};
        *ret = (LicenseInfo){};
        int r = each_installed(root, on_license, &q);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                free(q.license);
                return r;
        }
        if (q.license && *q.license)
                ret->expression = TAKE_PTR(q.license);
        free(q.license);
        return 0;
}

/* pkg:rpm/NAMESPACE/NAME@VERSION-RELEASE?arch=ARCH[&epoch=E]&distro=DISTRO: the purl
 * specification's rpm type, the epoch a qualifier of its own. */
static char *purl(const char *namespace, const char *name, const char *version, const char *arch,
                  const char *distro) {
        Buffer b = {};
        const char *colon = strchr(version, ':');
        buffer_printf(&b, "pkg:rpm/%s/%s@", namespace, name);
        for (const unsigned char *c = (const unsigned char *)(colon ? colon + 1 : version); *c;
             c++) {
                if (isalnum(*c) || *c == '.' || *c == '-' || *c == '_' || *c == '~')
                        buffer_printf(&b, "%c", *c);
                else
                        buffer_printf(&b, "%%%02X", *c);
        }
        buffer_printf(&b, "?arch=%s", arch);
        if (colon && !(colon - version == 1 && version[0] == '0'))
                buffer_printf(&b, "&epoch=%.*s", (int)(colon - version), version);
        if (distro)
                buffer_printf(&b, "&distro=%s", distro);
        return b.data;
}

char *rpm_purl_fedora(const char *name, const char *version, const char *arch, const char *distro) {
        return purl("fedora", name, version, arch, distro);
}

char *rpm_purl_azurelinux(const char *name, const char *version, const char *arch,
                          const char *distro) {
        return purl("azurelinux", name, version, arch, distro);
}

/* The RPM families use vmcompose's own initramfs (kernel.initramfs: vmcompose): nothing for a
 * maker in the root to read. */
void rpm_initramfs_settings(const DistroInitramfsSettings *s, InstallFile **ret, size_t *ret_n) {
        (void)s;
        *ret = xcalloc(1, sizeof(InstallFile));
        *ret_n = 0;
}

/* dracut's lsinitrd, when the profile has dracut make the initramfs. */
int rpm_initramfs_list(const char *root_dir, const char *version, Buffer *out) {
        _cleanup_free_ char *initrd = xasprintf("/boot/initramfs-%s.img", version);
        char *const argv[] = {(char *)"chroot", (char *)root_dir, (char *)"lsinitrd", initrd, NULL};
        int r = spawn_run_in_root(argv, NULL, out);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}
