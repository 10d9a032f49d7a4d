/* SPDX-License-Identifier: MIT */
/* rpm-md repositories: repodata/repomd.xml, checked with gpgv against the repository's own key
 * (repomd.xml.asc), then primary and filelists as repomd.xml lists them, each checked against
 * its SHA-256 there and kept in the content-addressed cache as served (gz, xz, zstd: libsolv
 * reads them compressed). */
#include <solv/chksum.h>
#include <solv/knownid.h>
#include <solv/pool.h>
#include <solv/repo.h>
#include <solv/repo_repomdxml.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpm.h"
#include "vmcompose/fetch.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/spawn.h"
#include "vmcompose/signals.h"

#define REPOMD_MAX (UINT64_C(16) << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(Pool *, pool_free);

int rpm_repos_load(const ProfileRepository *repos, size_t n, const char *config_root,
                   RepoSources *ret, Diagnostics *diag) {
        int r = 0;

        (void)config_root;
        for (size_t i = 0; i < n; i++) {
                const ProfileRepository *it = &repos[i];
                if (it->system) {
                        diag_add(diag, &it->mark,
                                 "repositories: system: the host's dnf configuration is not read; "
                                 "list the rpm-md repositories (uri, suite, signed-by)");
                        r = -EBADMSG;
                        continue;
                }
                if (it->components) {
                        diag_add(diag, &it->mark,
                                 "repositories: %s: components: rpm-md repositories have none",
                                 it->uri);
                        r = -EBADMSG;
                }
                if (!it->signed_by && !it->allow_unsigned) {
                        diag_add(diag, &it->mark,
                                 "repositories: %s: signed-by: an rpm-md repository needs its "
                                 "key (or allow-unsigned: true)",
                                 it->uri);
                        r = -EBADMSG;
                }
                if (r < 0)
                        continue;
                size_t l = strlen(it->uri);
                while (l > 1 && it->uri[l - 1] == '/')
                        l--;
                ret->items = xrealloc(ret->items, (ret->n + 1) * sizeof(RepoSource));
                ret->items[ret->n++] = (RepoSource){
                        .uri = xstrndup(it->uri, l),
                        .suite = xstrdup(it->suite),
                        .keyrings = NULL,
                        .allow_unsigned = it->allow_unsigned,
                        .origin = xasprintf("%s:%u", it->mark.file, it->mark.line),
                        .metalink = it->metalink ? xstrdup(it->metalink) : NULL,
                        .gpgcheck = it->gpgcheck,
                        .priority = it->priority,
                        .cost = it->cost,
                };
                if (it->signed_by)
                        strv_extend(&ret->items[ret->n - 1].keyrings, it->signed_by);
        }
        return r;
}

/* The key for gpgv: as given, or dearmored into tmp when it is an armored (.asc) key. */
static int gpgv_keyring(const RepoSource *src, const char *tmp, char **ret) {
        _cleanup_free_ char *head = NULL;
        const char *key = src->keyrings[0];
        size_t size;
        int r = read_full_file(key, 1 << 20, &head, &size);
        if (r < 0)
                return log_error_errno(r, "%s: repository %s: cannot read its key %s: %m",
                                       src->origin, src->suite, key);
        if (!strstr(head, "-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
                *ret = xstrdup(key);
                return 0;
        }
        _cleanup_free_ char *out = path_join(tmp, "key.gpg");
        char *const argv[] = {(char *)"gpg",   (char *)"--batch",
                              (char *)"--yes", (char *)"--dearmor",
                              (char *)"-o",    out,
                              (char *)key,     NULL};
        r = spawn_run(argv, NULL, NULL);
        if (r != 0)
                return log_error_errno(r < 0 ? r : EIO,
                                       "%s: repository %s: cannot read the armored key %s",
                                       src->origin, src->suite, key);
        *ret = TAKE_PTR(out);
        return 0;
}

/* repomd.xml (in tmp) against repomd.xml.asc with gpgv and the repository's key only. */
static int verify_repomd(const RepoSource *src, const char *tmp, const char *repomd) {
        _cleanup_free_ char *asc = path_join(tmp, "repomd.xml.asc");
        _cleanup_free_ char *uri = xasprintf("%s/repodata/repomd.xml.asc", src->uri);
        _cleanup_free_ char *keyring = NULL;
        const char *why = NULL;
        int r;

        r = fetch_url(uri, asc, REPOMD_MAX);
        if (r == -ENOENT)
                return log_error_errno(EBADMSG,
                                       "%s: repository %s: %s/repodata/repomd.xml is not signed "
                                       "(no repomd.xml.asc)",
                                       src->origin, src->suite, src->uri);
        if (r < 0)
                return log_error_errno(r, "%s: repository %s: cannot fetch %s: %m", src->origin,
                                       src->suite, uri);
        r = gpgv_keyring(src, tmp, &keyring);
        if (r < 0)
                return r;
        char *const keyrings[] = {keyring, NULL};
        r = repo_gpgv_verify(keyrings, asc, repomd, NULL, &why);
        if (r < 0)
                return log_error_errno(r, "%s: repository %s: %s/repodata/repomd.xml: %s",
                                       src->origin, src->suite, src->uri, why);
        return 0;
}

/* The location and SHA-256 repomd.xml gives for type ("primary"); -ENOENT, not logged, when
 * an optional type is not listed. */
static int repomd_find(Pool *pool, Repo *repo, const RepoSource *src, const char *type,
                       bool optional, char **ret_location, char **ret_sha256, uint64_t *ret_size) {
        Dataiterator di;
        const char *loc = NULL;
        const unsigned char *sum = NULL;
        Id sumtype = 0;
        uint64_t size = 0;

        dataiterator_init(&di, pool, repo, SOLVID_META, REPOSITORY_REPOMD_TYPE, type,
                          SEARCH_STRING);
        dataiterator_prepend_keyname(&di, REPOSITORY_REPOMD);
        if (dataiterator_step(&di)) {
                dataiterator_setpos_parent(&di);
                loc = pool_lookup_str(pool, SOLVID_POS, REPOSITORY_REPOMD_LOCATION);
                sum = pool_lookup_bin_checksum(pool, SOLVID_POS, REPOSITORY_REPOMD_CHECKSUM,
                                               &sumtype);
                size = pool_lookup_num(pool, SOLVID_POS, REPOSITORY_REPOMD_SIZE, 0);
        }
        dataiterator_free(&di);
        if (!loc && optional)
                return -ENOENT;
        if (!loc) {
                log_error("%s: repository %s: %s/repodata/repomd.xml lists no %s metadata",
                          src->origin, src->suite, src->uri, type);
                return -EBADMSG;
        }
        if (!sum || sumtype != REPOKEY_TYPE_SHA256) {
                log_error("%s: repository %s: %s/repodata/repomd.xml gives %s's checksum as %s; "
                          "vmcompose checks sha256",
                          src->origin, src->suite, src->uri, loc,
                          sum ? solv_chksum_type2str(sumtype) : "nothing");
                return -EBADMSG;
        }
        if (strstr(loc, "..")) {
                log_error("%s: repository %s: repomd.xml names %s: a path outside the repository",
                          src->origin, src->suite, loc);
                return -EBADMSG;
        }
        *ret_location = xstrdup(loc);
        *ret_sha256 = xstrdup(pool_bin2hex(pool, sum, solv_chksum_len(sumtype)));
        *ret_size = size;
        return 0;
}

/* Fetches the verified repomd.xml's primary, filelists and (when it lists one) group data
 * into the cache: ret[0..2], the group's NULL when there is none. */
static int fetch_metadata(const RepoSource *src, const char *repomd, const char *cache_dir,
                          char *ret[3]) {
        static const char *const types[] = {"primary", "filelists", "group"};
        _cleanup_(pool_freep) Pool *pool = pool_create();
        Repo *repo = repo_create(pool, src->suite);
        char *location[3] = {}, *sha[3] = {}, *name[3] = {}, *uri[3] = {};
        FetchItem items[3] = {};
        FetchOptions o = {.cache_dir = cache_dir};
        size_t n = 0;
        int r = 0;

        FILE *f = fopen(repomd, "re");
        if (!f)
                return -errno;
        if (repo_add_repomdxml(repo, f, 0) != 0) {
                log_error("%s: repository %s: %s/repodata/repomd.xml: %s", src->origin, src->suite,
                          src->uri, pool_errstr(pool));
                r = -EBADMSG;
        }
        fclose(f);
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(types); i++, n++) {
                bool optional = streq(types[i], "group");
                r = repomd_find(pool, repo, src, types[i], optional, &location[i], &sha[i],
                                &items[i].size);
                if (r == -ENOENT && optional) {
                        r = 0;
                        break;
                }
                if (r < 0)
                        break;
                uri[i] = xasprintf("%s/%s", src->uri, location[i]);
                name[i] = xasprintf("repository %s: %s", src->suite, uri[i]);
                items[i].name = name[i];
                items[i].uri = uri[i];
                items[i].sha256 = sha[i];
        }
        if (r == 0)
                r = fetch_all(items, n, &o, NULL);
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                if (r == 0)
                        ret[i] = TAKE_PTR(items[i].path);
                free(location[i]);
                free(sha[i]);
                free(name[i]);
                free(uri[i]);
                free(items[i].path);
        }
        return r;
}

/* The text between each "<tag ...>" and "</tag>" in xml whose opening tag contains attr
 * (NULL: any), in order. Caller frees. A metalink is small and flat: no XML parser needed. */
static char **xml_texts(const char *xml, const char *tag, const char *attr) {
        _cleanup_free_ char *open = xasprintf("<%s", tag), *close = xasprintf("</%s>", tag);
        char **l = NULL;
        for (const char *p = xml; (p = strstr(p, open));) {
                const char *gt = strchr(p, '>'), *end;
                size_t n = strlen(open);
                if (!gt)
                        break;
                if ((p[n] != ' ' && p[n] != '>') ||
                    (attr && !memmem(p, (size_t)(gt - p), attr, strlen(attr)))) {
                        p = gt;
                        continue;
                }
                end = strstr(gt + 1, close);
                if (!end)
                        break;
                strv_push(&l, xstrndup(gt + 1, (size_t)(end - gt - 1)));
                p = end;
        }
        return l;
}

/* src's metalink: its mirrors' repomd.xml, in order, until one has a SHA-256 the metalink
 * lists. 0 and *ret_base (the mirror's base URI; caller frees) with repomd written, -ENOENT
 * when the metalink cannot be fetched (the caller falls back to uri), -EBADMSG when no mirror
 * serves a matching repomd.xml. */
static int fetch_metalink(const RepoSource *src, const char *tmp, const char *repomd,
                          char **ret_base) {
        static const char suffix[] = "/repodata/repomd.xml";
        _cleanup_free_ char *path = path_join(tmp, "metalink.xml"), *text = NULL;
        _cleanup_strv_free_ char **hashes = NULL, **urls = NULL;
        int r = fetch_url(src->metalink, path, REPOMD_MAX);
        if (r == 0)
                r = read_full_file(path, REPOMD_MAX, &text, NULL);
        if (r < 0) {
                log_warning_errno(r,
                                  "%s: repository %s: cannot fetch the metalink %s (%m), using %s",
                                  src->origin, src->suite, src->metalink, src->uri);
                return -ENOENT;
        }
        hashes = xml_texts(text, "hash", "type=\"sha256\"");
        urls = xml_texts(text, "url", NULL);
        for (char **u = urls; u && *u; u++) {
                size_t l = strlen(*u);
                if (l <= strlen(suffix) || !streq(*u + l - strlen(suffix), suffix))
                        continue;
                _cleanup_free_ char *data = NULL;
                size_t size;
                char hex[65];
                uint8_t d[SHA256_DIGEST_SIZE];
                if (fetch_url(*u, repomd, REPOMD_MAX) < 0 ||
                    read_full_file(repomd, REPOMD_MAX, &data, &size) < 0) {
                        log_debug_sub("repo", "%s: mirror %s failed", src->suite, *u);
                        continue;
                }
                sha256(data, size, d);
                sha256_hex(d, hex);
                if (!strv_contains(hashes, hex)) {
                        log_warning("%s: repository %s: %s is not the repomd.xml the metalink "
                                    "lists (SHA-256 %s), trying the next mirror",
                                    src->origin, src->suite, *u, hex);
                        continue;
                }
                *ret_base = xstrndup(*u, l - strlen(suffix));
                return 0;
        }
        log_error("%s: repository %s: no mirror of the metalink %s serves the repomd.xml it lists",
                  src->origin, src->suite, src->metalink);
        return -EBADMSG;
}

int rpm_repo_fetch(const RepoSource *src, const char *arch, const char *cache_dir,
                   RepoIndexes *ret) {
        _cleanup_free_ char *tmp_parent = path_join(cache_dir, "tmp");
        _cleanup_free_ char *tmp = path_join(tmp_parent, "rpm-md-XXXXXX");
        _cleanup_free_ char *repomd = NULL, *uri = NULL, *text = NULL;
        _cleanup_free_ char *base = NULL;
        char *files[3] = {}; /* primary, filelists, group */
        size_t size;
        int r;

        (void)arch; /* an rpm-md repository serves one architecture (and noarch) */
        if ((mkdir(cache_dir, 0755) < 0 && errno != EEXIST) ||
            (mkdir(tmp_parent, 0755) < 0 && errno != EEXIST) || !mkdtemp(tmp))
                return log_error_errno(errno, "repo: cannot use the cache %s: %m", cache_dir);
        repomd = path_join(tmp, "repomd.xml");
        /* The mirror a metalink names stands in for uri: the same repository elsewhere. */
        RepoSource at = *src;
        r = src->metalink ? fetch_metalink(src, tmp, repomd, &base) : -ENOENT;
        if (r == 0)
                at.uri = base;
        uri = xasprintf("%s/repodata/repomd.xml", at.uri);
        if (r == -ENOENT) {
                r = fetch_url(uri, repomd, REPOMD_MAX);
                if (r < 0)
                        log_error_errno(r, "%s: repository %s: cannot fetch %s: %m", src->origin,
                                        src->suite, uri);
        }
        if (r == 0 && src->allow_unsigned)
                log_warning("%s: repository %s: allow-unsigned: NOT verifying %s's signature",
                            src->origin, src->suite, uri);
        else if (r == 0)
                r = verify_repomd(&at, tmp, repomd);
        if (r == 0)
                r = read_full_file(repomd, REPOMD_MAX, &text, &size);
        if (r == 0)
                r = fetch_metadata(&at, repomd, cache_dir, files);
        (void)rm_rf(tmp);
        if (r < 0) {
                for (size_t i = 0; i < ELEMENTSOF(files); i++)
                        free(files[i]);
                return r;
        }

        uint8_t d[SHA256_DIGEST_SIZE];
        sha256(text, size, d);
        ret->items = xrealloc(ret->items, (ret->n + 1) * sizeof(RepoIndex));
        RepoIndex *x = &ret->items[ret->n++];
        *x = (RepoIndex){
                .name = xstrdup(src->suite),
                .uri = xstrdup(at.uri),
                .packages_path = files[0],
                .filelists_path = files[1],
                .comps_path = files[2],
                .priority = src->priority,
                .cost = src->cost,
                .package_key = src->gpgcheck && src->keyrings ? xstrdup(src->keyrings[0]) : NULL,
                .packages_unsigned_ok = !src->gpgcheck,
        };
        sha256_hex(d, x->release_sha256);
        log_debug_sub("repo", "%s: primary %s, filelists %s", x->name, x->packages_path,
                      x->filelists_path);
        return 0;
}
