/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmcompose/util.h"

/* Resolution (composer/resolve/): repository indexes plus the profile's requests in, the exact
 * package set out. Backends sit behind one table (deb today; rpm-md for Fedora and Azure Linux
 * later): adding one means one file and one row. */

/* One verified package index to solve over. */
typedef struct ResolveRepo {
        const char *name;          /* for messages: "bookworm/main" */
        const char *uri;           /* base URI the index's file names are relative to */
        const char *packages_path; /* a verified, uncompressed index (Packages); rpm-md: primary.xml
                                    * (gz, xz, zstd or plain) */
        const char *filelists_path; /* rpm-md: filelists.xml; NULL elsewhere */
        const char *comps_path;     /* rpm-md: the comps groups (repomd's "group"); NULL: none */
        uint64_t priority, cost;    /* rpm-md: dnf's priority and cost (lower wins) */
} ResolveRepo;

/* A package that must never be installed, and who says so. */
typedef struct ResolveForbid {
        const char *pattern; /* a package name or fnmatch(3) glob */
        bool section;        /* pattern matches the archive Section (x11, sound, ...) */
        const char *origin;  /* "policy headless (profiles/policies/headless.yaml:12:7)" */
} ResolveForbid;

/* Every field is part of the plan cache's key (resolve_plan_key()): a new one goes there too. */
typedef struct ResolveRequest {
        const char *architecture;
        const char *base; /* essential | required | important | none */
        char **install;   /* names the profile asks for */
        char **groups;    /* rpm-md comps groups: their mandatory and default packages */
        char **remove;    /* names the profile removes: never installed */
        const ResolveForbid *forbid;
        size_t n_forbid;
        char **allow; /* names the profile excepts from the forbid rules (allow:) */
        bool recommends;
} ResolveRequest;

/* Every field is written to the plan cache (plan_serialize()): a new one goes there too. */
typedef struct PlanPackage {
        char *name, *version, *architecture;
        char *repo;     /* ResolveRepo.name */
        char *uri;      /* full download URI */
        char *filename; /* the index's Filename: */
        char *sha256;   /* lower-case hex from the signed index */
        uint64_t size;  /* download size */
        uint64_t installed_size;
        char *source; /* source package name */
        char *section, *priority;
        bool essential;
        char *reason;       /* "requested", "base (required)", "dependency of X", ... */
        char **depends;     /* plan packages that satisfy its Depends */
        char **pre_depends; /* plan packages that satisfy its Pre-Depends */
} PlanPackage;

/* The resolved set, sorted by name. */
typedef struct Plan {
        PlanPackage *packages;
        size_t n_packages;
} Plan;

void plan_done(Plan *p);

/* The plan cache (resolve/plan-cache.c). resolve_plan_key(): the hex SHA-256 of everything
 * resolve_plan() reads: code_digest (the resolver's own code: the vmcompose binary's digest),
 * libsolv's version, the family, every field of req, and each repository's name, URI,
 * priority, cost and index files (path, size and mtime: the cache names them by their content's
 * digest). 0, or a negative errno when an index file cannot be read. */
int resolve_plan_key(const char *family, const ResolveRepo *repos, size_t n_repos,
                     const ResolveRequest *req, const char *code_digest, char ret[65]);
/* The plan as text (the caller frees it), and back: plan_deserialize() parses text in place
 * into *ret (owned by the caller, plan_done()); -EBADMSG for anything but a whole plan. */
char *plan_serialize(const Plan *p);
int plan_deserialize(char *text, Plan *ret);
/* resolve_plan() through CACHE_DIR/plans/KEY: 1 when the plan came from the cache, 0 when it
 * was solved (and kept there), or resolve_plan()'s negative errno. ret_key gets the key ("" when
 * there is none: no cache_dir or code_digest, an index that cannot be read). */
int resolve_plan_cached(const char *cache_dir, const char *code_digest, const char *family,
                        const ResolveRepo *repos, size_t n_repos, const ResolveRequest *req,
                        Plan *ret, Buffer *problems, char ret_key[65]);
const PlanPackage *plan_find(const Plan *p, const char *name);

/* A package pinned by a lock file. */
typedef struct LockedPackage {
        const char *name, *version, *architecture, *sha256;
} LockedPackage;

typedef struct ResolverBackend {
        const char *family; /* distro.family */
        bool groups;        /* it reads ResolveRequest.groups */
        int (*solve)(const ResolveRepo *repos, size_t n_repos, const ResolveRequest *req, Plan *ret,
                     Buffer *problems);
        /* The plan for exactly the pinned set, as the repositories offer it now. */
        int (*locked)(const ResolveRepo *repos, size_t n_repos, const char *architecture,
                      const LockedPackage *pins, size_t n_pins, Plan *ret, Buffer *problems);
} ResolverBackend;

const ResolverBackend *resolver_backend_find(const char *family);

/* Solves req over repos. Returns 0 and the plan; -ENOPKG when the request cannot be satisfied,
 * with libsolv's problems in plain words (and, for a forbidden package, the chain of
 * dependencies that pulls it in) appended to problems; -EPERM when the profile asks for a
 * forbidden package by name; another negative errno on I/O errors. */
int resolve_plan(const char *family, const ResolveRepo *repos, size_t n_repos,
                 const ResolveRequest *req, Plan *ret, Buffer *problems);

/* Finds every pinned package in the repositories. Returns 0 and the plan, or -ENOPKG naming
 * each pinned package that is missing or whose SHA-256 changed. */
int resolve_locked(const char *family, const ResolveRepo *repos, size_t n_repos,
                   const char *architecture, const LockedPackage *pins, size_t n_pins, Plan *ret,
                   Buffer *problems);
