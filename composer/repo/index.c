/* SPDX-License-Identifier: MIT */
/* InRelease -> gpgv -> signed Release -> verified Packages indexes in the cache. */
#include <archive.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/fetch.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/repo.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"

#define METADATA_MAX (UINT64_C(64) << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

void repo_indexes_done(RepoIndexes *x) {
        for (size_t i = 0; i < x->n; i++) {
                free(x->items[i].name);
                free(x->items[i].uri);
                free(x->items[i].packages_path);
                free(x->items[i].filelists_path);
                free(x->items[i].package_key);
                free(x->items[i].comps_path);
        }
        free(x->items);
        *x = (RepoIndexes){};
}

/* The keyrings to trust, appended to *ret: Signed-By, else the host's trusted keyrings, as apt
 * does. Armored (.asc) keyrings are converted for gpgv into tmp. */
static int keyrings_for(const RepoSource *src, const char *tmp, char ***ret) {
        _cleanup_strv_free_ char **keys = NULL;
        if (src->inline_key) {
                /* The key itself, from the .sources file: armored, converted below. */
                _cleanup_free_ char *asc = path_join(tmp, "inline-key.asc");
                _cleanup_free_ char *text = xasprintf("%s\n", src->inline_key);
                int r = write_file_atomic(asc, text, strlen(text), 0600);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot write %s: %m", src->origin, asc);
                strv_extend(&keys, asc);
        } else if (src->keyrings) {
                for (char **k = src->keyrings; *k; k++)
                        strv_extend(&keys, *k);
        } else {
                static const char *const defaults[] = {"/etc/apt/trusted.gpg.d",
                                                       "/etc/apt/trusted.gpg"};
                DIR *d = opendir(defaults[0]);
                for (struct dirent *de; d && (de = readdir(d));) {
                        size_t n = strlen(de->d_name);
                        if (n > 4 && (streq(de->d_name + n - 4, ".gpg") ||
                                      streq(de->d_name + n - 4, ".asc")))
                                strv_push(&keys, path_join(defaults[0], de->d_name));
                }
                if (d)
                        closedir(d);
                if (access(defaults[1], R_OK) == 0)
                        strv_extend(&keys, defaults[1]);
        }
        if (!keys)
                return log_error_errno(ENOKEY,
                                       "%s: no keyring to verify %s with (set "
                                       "signed-by)",
                                       src->origin, src->uri);
        unsigned i = 0;
        for (char **k = keys; *k; k++, i++) {
                if (access(*k, R_OK) < 0)
                        return log_error_errno(errno, "%s: keyring %s: %m", src->origin, *k);
                size_t n = strlen(*k);
                char *use = xstrdup(*k);
                if (n > 4 && streq(*k + n - 4, ".asc")) {
                        free(use);
                        use = xasprintf("%s/key%u.gpg", tmp, i);
                        char *const dearmor[] = {(char *)"gpg",
                                                 (char *)"--batch",
                                                 (char *)"--yes",
                                                 (char *)"--dearmor",
                                                 (char *)"-o",
                                                 use,
                                                 *k,
                                                 NULL};
                        int r = spawn_run(dearmor, NULL, NULL);
                        if (r != 0) {
                                free(use);
                                return log_error_errno(r < 0 ? r : EIO,
                                                       "%s: cannot read the armored keyring %s",
                                                       src->origin, *k);
                        }
                }
                strv_push(ret, use);
        }
        return 0;
}

/* Verifies signed (InRelease, or Release with detached_sig) and writes the signed bytes to
 * out. Returns 0, or -EBADMSG with the reason logged. */
static int verify(const RepoSource *src, const char *tmp, const char *signed_file,
                  const char *detached_sig, const char *out) {
        _cleanup_strv_free_ char **keyrings = NULL;
        const char *why = NULL;
        int r;

        r = keyrings_for(src, tmp, &keyrings);
        if (r < 0)
                return r;
        r = repo_gpgv_verify(keyrings, detached_sig, signed_file, detached_sig ? NULL : out, &why);
        if (r < 0) {
                log_error("%s: %s/dists/%s: %s", src->origin, src->uri, src->suite, why);
                return r;
        }
        if (detached_sig) {
                _cleanup_free_ char *data = NULL;
                size_t size;
                r = read_full_file(signed_file, METADATA_MAX, &data, &size);
                if (r < 0)
                        return r;
                return write_file_atomic(out, data, size, 0644);
        }
        return 0;
}

/* The body of a clearsigned file without checking it (allow-unsigned only). */
static char *strip_clearsign(const char *text) {
        const char *begin = strstr(text, "-----BEGIN PGP SIGNED MESSAGE-----");
        if (!begin)
                return xstrdup(text);
        const char *body = strstr(begin, "\n\n");
        const char *end = strstr(text, "\n-----BEGIN PGP SIGNATURE-----");
        if (!body || !end || end < body)
                return xstrdup("");
        return xstrndup(body + 2, (size_t)(end - body - 1));
}

static int fetch_release(const RepoSource *src, const char *tmp, RepoRelease *ret,
                         char ret_sha256[65]) {
        _cleanup_free_ char *inrel = path_join(tmp, "InRelease");
        _cleanup_free_ char *signed_text = path_join(tmp, "Release.signed");
        _cleanup_free_ char *uri = xasprintf("%s/dists/%s/InRelease", src->uri, src->suite);
        _cleanup_free_ char *text = NULL;
        int r;

        r = fetch_url(uri, inrel, METADATA_MAX);
        if (r == -ENOENT) {
                /* No InRelease: Release with a detached Release.gpg. */
                _cleanup_free_ char *rel = path_join(tmp, "Release");
                _cleanup_free_ char *sig = path_join(tmp, "Release.gpg");
                _cleanup_free_ char *ru = xasprintf("%s/dists/%s/Release", src->uri, src->suite);
                _cleanup_free_ char *su = xasprintf("%s.gpg", ru);
                r = fetch_url(ru, rel, METADATA_MAX);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot fetch %s: %m", src->origin, ru);
                if (src->allow_unsigned) {
                        log_warning("%s: %s: allow-unsigned: NOT verifying the repository's "
                                    "signature",
                                    src->origin, src->uri);
                        r = rename(rel, signed_text) < 0 ? -errno : 0;
                } else {
                        r = fetch_url(su, sig, METADATA_MAX);
                        if (r < 0)
                                return log_error_errno(r,
                                                       "%s: %s is not signed (no InRelease, "
                                                       "no Release.gpg)",
                                                       src->origin, src->uri);
                        r = verify(src, tmp, rel, sig, signed_text);
                }
        } else if (r < 0)
                return log_error_errno(r, "%s: cannot fetch %s: %m", src->origin, uri);
        else if (src->allow_unsigned) {
                log_warning("%s: %s: allow-unsigned: NOT verifying the repository's signature",
                            src->origin, src->uri);
                _cleanup_free_ char *raw = NULL;
                r = read_full_file(inrel, METADATA_MAX, &raw, NULL);
                if (r == 0) {
                        _cleanup_free_ char *body = strip_clearsign(raw);
                        r = write_file_atomic(signed_text, body, strlen(body), 0644);
                }
        } else
                r = verify(src, tmp, inrel, NULL, signed_text);
        if (r < 0)
                return r;

        r = read_full_file(signed_text, METADATA_MAX, &text, NULL);
        if (r < 0)
                return r;
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256(text, strlen(text), d);
        sha256_hex(d, ret_sha256);
        r = repo_release_parse(text, ret);
        if (r < 0)
                return log_error_errno(r,
                                       "%s: %s/dists/%s: the signed Release data has no "
                                       "SHA256 list",
                                       src->origin, src->uri, src->suite);
        _cleanup_free_ char *err = NULL;
        r = repo_release_check_dates(ret, src, time(NULL), &err);
        if (r < 0) {
                log_error("%s: %s/dists/%s: %s", src->origin, src->uri, src->suite, err);
                repo_release_done(ret);
        }
        return r;
}

static const struct RepoFile *find_file(const RepoRelease *rel, const char *path) {
        for (size_t i = 0; i < rel->n_files; i++)
                if (streq(rel->files[i].path, path))
                        return &rel->files[i];
        return NULL;
}

/* Decompresses a verified index into the cache, under the digest of its content. */
static int decompress(const char *from, const char *expect_sha256, const char *cache_dir,
                      const char *tmp, char **ret_path) {
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        _cleanup_free_ char *out = path_join(tmp, "Packages");
        _cleanup_close_ int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        struct archive_entry *e;
        Sha256 *h = sha256_new();
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[65];
        int r = 0;

        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        if (fd < 0 || archive_read_open_filename(a, from, 1 << 16) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) != ARCHIVE_OK)
                r = -EBADMSG;
        for (char buf[1 << 16]; r == 0;) {
                la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
                if (n < 0)
                        r = -EBADMSG;
                else if (n == 0)
                        break;
                else {
                        sha256_update(h, buf, (size_t)n);
                        if (write(fd, buf, (size_t)n) != n)
                                r = -EIO;
                }
        }
        sha256_finish(h, d);
        if (r < 0)
                return r;
        sha256_hex(d, hex);
        if (expect_sha256 && !streq(hex, expect_sha256)) {
                log_error("repo: %s decompresses to content with SHA-256 %s, the signed Release "
                          "says %s",
                          from, hex, expect_sha256);
                return -EBADMSG;
        }
        _cleanup_free_ char *final = fetch_cache_path(cache_dir, hex);
        r = mkdir_parents(final);
        if (r < 0)
                return r;
        if (fsync(fd) < 0 || rename(out, final) < 0)
                return -errno;
        *ret_path = TAKE_PTR(final);
        return 0;
}

static int fetch_component(const RepoSource *src, const RepoRelease *rel,
                           const char *release_sha256, const char *comp, const char *arch,
                           const char *cache_dir, const char *tmp, RepoIndexes *ret) {
        static const char *const exts[] = {".xz", ".gz", ""};
        _cleanup_free_ char *base = xasprintf("%s/binary-%s/Packages", comp, arch);
        const struct RepoFile *plain = find_file(rel, base), *f = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(exts) && !f; i++) {
                _cleanup_free_ char *p = xasprintf("%s%s", base, exts[i]);
                f = find_file(rel, p);
        }
        if (!f)
                return log_error_errno(ENOENT, "%s: %s/dists/%s has no %s index", src->origin,
                                       src->uri, src->suite, base);

        _cleanup_free_ char *dir = path_dirname(f->path);
        _cleanup_free_ char *uri =
                rel->by_hash ? xasprintf("%s/dists/%s/%s/by-hash/SHA256/%s", src->uri, src->suite,
                                         dir, f->sha256)
                             : xasprintf("%s/dists/%s/%s", src->uri, src->suite, f->path);
        _cleanup_free_ char *name = xasprintf("%s/dists/%s/%s", src->uri, src->suite, f->path);
        FetchItem item = {.name = name, .uri = uri, .sha256 = f->sha256, .size = f->size};
        FetchOptions o = {.cache_dir = cache_dir};

        /* Already decompressed and verified in an earlier build? */
        _cleanup_free_ char *have = plain ? fetch_cache_path(cache_dir, plain->sha256) : NULL;
        char *packages = NULL;
        if (have && access(have, R_OK) == 0)
                packages = TAKE_PTR(have);
        else {
                r = fetch_all(&item, 1, &o, NULL);
                if (r < 0)
                        return r;
                if (streq(f->path, base)) /* served uncompressed */
                        packages = TAKE_PTR(item.path);
                else {
                        r = decompress(item.path, plain ? plain->sha256 : NULL, cache_dir, tmp,
                                       &packages);
                        free(item.path);
                        if (r < 0)
                                return r;
                }
        }
        ret->items = xrealloc(ret->items, (ret->n + 1) * sizeof(RepoIndex));
        ret->items[ret->n++] = (RepoIndex){
                .name = xasprintf("%s/%s", src->suite, comp),
                .uri = xstrdup(src->uri),
                .packages_path = packages,
        };
        snprintf(ret->items[ret->n - 1].release_sha256, sizeof(ret->items[0].release_sha256), "%s",
                 release_sha256);
        log_debug_sub("repo", "%s/%s: %s", src->suite, comp, packages);
        return 0;
}

int repo_fetch_indexes(const RepoSource *src, const char *arch, const char *cache_dir,
                       RepoIndexes *ret) {
        _cleanup_free_ char *tmp_parent = path_join(cache_dir, "tmp");
        _cleanup_free_ char *tmp = path_join(tmp_parent, "repo-XXXXXX");
        RepoRelease rel = {};
        char release_sha256[65] = "";
        int r;

        if ((mkdir_p(cache_dir) < 0) || (mkdir(tmp_parent, 0755) < 0 && errno != EEXIST) ||
            !mkdtemp(tmp))
                return log_error_errno(errno, "repo: cannot use the cache %s: %m", cache_dir);
        r = fetch_release(src, tmp, &rel, release_sha256);
        for (char **c = src->components; r == 0 && c && *c; c++)
                r = fetch_component(src, &rel, release_sha256, *c, arch, cache_dir, tmp, ret);
        repo_release_done(&rel);
        (void)rm_rf(tmp);
        return r;
}
