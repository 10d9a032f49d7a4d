/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "vmcompose/node.h"
#include "vmcompose/profile.h"
#include "vmcompose/util.h"

/* Repositories (composer/repo/): a profile's repository list becomes verified, local package
 * indexes. `system` reads the host's apt sources and verification settings. InRelease is
 * checked with gpgv against the repository's keyring and only the signed bytes are parsed;
 * every index is checked against the SHA-256 in them. */

typedef struct RepoSource {
        char *uri; /* base URI, no trailing slash */
        char *suite;
        char **components;
        char **keyrings;     /* Signed-By (files); NULL: the host's trusted keyrings */
        char *inline_key;    /* Signed-By given as an armored key block in a .sources file */
        bool allow_unsigned; /* verification off (warned on every use) */
        bool check_valid_until;
        bool check_date;
        char *origin; /* where it was declared: "file:line" */
        /* rpm-md (composer/distro/rpm/): uri is the baseurl, suite the repository's id. */
        char *metalink;    /* a metalink listing mirrors and repomd.xml's digest; NULL: none */
        bool gpgcheck;     /* packages' signatures checked (the install side) */
        uint64_t priority; /* dnf's priority: lower wins; 99 when not given */
        uint64_t cost;     /* dnf's cost: among equal priorities lower wins; 1000 */
} RepoSource;

typedef struct RepoSources {
        RepoSource *items;
        size_t n;
} RepoSources;

void repo_sources_done(RepoSources *s);

/* apt's verification settings from APT_ROOT/apt.conf and APT_ROOT/apt.conf.d/<star>:
 * Acquire::Check-Valid-Until and Acquire::Check-Date (true unless set to false). */
typedef struct AptSettings {
        bool check_valid_until, check_date;
} AptSettings;

int apt_settings_load(const char *apt_root, AptSettings *ret);
/* Parses apt.conf text, updating *s. */
void apt_settings_parse(const char *text, AptSettings *s);

/* Reads the host's deb sources: APT_ROOT/sources.list.d/<star>.sources (deb822) and
 * APT_ROOT/sources.list and sources.list.d/<star>.list (one-line). Only "deb" entries; one
 * RepoSource per URI and suite. Appends to *s. */
int repo_sources_from_apt(const char *apt_root, RepoSources *s);
/* Parses one deb822 .sources text / one-line .list text (file names the origin). */
int repo_sources_parse_deb822(const char *text, const char *file, const AptSettings *apt,
                              RepoSources *s);
int repo_sources_parse_list(const char *text, const char *file, const AptSettings *apt,
                            RepoSources *s);

/* The profile's distro.repositories list (n entries): "system" entries expand to the host's
 * sources. */
int repo_sources_from_profile(const ProfileRepository *repos, size_t n, const char *apt_root,
                              RepoSources *s, Diagnostics *diag);

typedef struct RepoRelease {
        char *origin, *suite, *codename;
        time_t date, valid_until; /* 0: absent */
        bool by_hash;
        struct RepoFile {
                char *path; /* "main/binary-amd64/Packages.xz" */
                char *sha256;
                uint64_t size;
        } * files;
        size_t n_files;
} RepoRelease;

/* Parses the signed Release text. */
int repo_release_parse(const char *text, RepoRelease *ret);
void repo_release_done(RepoRelease *r);
/* Checks Date and Valid-Until against now as the source's settings say. Returns 0 or
 * -EKEYEXPIRED / -ETIME with a message in *ret_error (caller frees). */
int repo_release_check_dates(const RepoRelease *r, const RepoSource *src, time_t now,
                             char **ret_error);

/* One verified, uncompressed Packages index. */
typedef struct RepoIndex {
        char *name;              /* "SUITE/COMPONENT" */
        char *uri;               /* the repository's base URI (package file names are relative) */
        char *packages_path;     /* in the cache */
        char release_sha256[65]; /* hex SHA-256 of the signed Release text the index is from */
        /* rpm-md: packages_path is primary.xml (compressed as served, checked against
         * repomd.xml), filelists_path filelists.xml; release_sha256 is repomd.xml's. */
        char *filelists_path;
        char *comps_path; /* rpm-md: the "group" metadata (comps.xml); NULL: none */
        uint64_t priority, cost;
        /* rpm-md: the key file each package must be signed with (signed-by), or
         * packages_unsigned_ok (gpgcheck: false); neither: the packages are refused. */
        char *package_key;
        bool packages_unsigned_ok;
} RepoIndex;

typedef struct RepoIndexes {
        RepoIndex *items;
        size_t n;
} RepoIndexes;

void repo_indexes_done(RepoIndexes *x);

/* gpgv's verdict from its status lines (--status-fd): NULL for a good, valid signature by a key
 * of the keyrings (VALIDSIG and GOODSIG, no BADSIG or ERRSIG), else why not, as a message
 * fragment (static): "signed by an unknown key" (NO_PUBKEY), "bad signature (tampered?)", ...;
 * status NULL: gpgv did not run. Pure, for tests. */
const char *repo_gpgv_why(const char *status);
/* Checks file with gpgv against keyrings only (gpg keyring files; NULL-terminated, not empty):
 * its detached signature, or, signature NULL, file clearsigned, whose signed text gpgv writes to
 * out when out is not NULL. 0 for a good signature; -EBADMSG and *ret_why (repo_gpgv_why())
 * otherwise (not logged; gpgv's status lines at debug level, VMCOMPOSE_DEBUG=repo). */
int repo_gpgv_verify(char *const *keyrings, const char *signature, const char *file,
                     const char *out, const char **ret_why);

/* Fetches and verifies src's indexes for arch into cache_dir, appending to *ret. */
int repo_fetch_indexes(const RepoSource *src, const char *arch, const char *cache_dir,
                       RepoIndexes *ret);

/* Parses a deb822 text into stanzas of (field, value) pairs, calling fn for each stanza.
 * Continuation lines are joined with '\n'; comments (#) are skipped. fn returns < 0 to stop. */
typedef struct Deb822Field {
        char *name, *value;
        unsigned line;
} Deb822Field;

int deb822_parse(const char *text,
                 int (*fn)(const Deb822Field *fields, size_t n, unsigned first_line,
                           void *userdata),
                 void *userdata);
const char *deb822_get(const Deb822Field *fields, size_t n, const char *name);
