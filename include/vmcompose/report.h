/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The reports written next to every image (composer/report/): the SPDX 2.3 SBOM, from the
 * packages in the image and the licences their copyright files declare. */

/* A licence named in a copyright file that has no SPDX identifier: the SBOM declares it as
 * LicenseRef-... with the text the copyright file gives for it. */
typedef struct LicenseRef {
        char *id;   /* "LicenseRef-public-domain" */
        char *name; /* the copyright file's short name: "public-domain" */
        char *text; /* the copyright file's text for it, or a pointer to the file */
} LicenseRef;

typedef struct LicenseInfo {
        char *expression; /* SPDX licence expression; NULL: not machine-readable */
        LicenseRef *refs;
        size_t n_refs;
} LicenseInfo;

void license_info_done(LicenseInfo *l);

/* Maps one Debian copyright-format short name ("GPL-2+", "Expat", "BSD-3-clause") to an SPDX
 * licence identifier ("GPL-2.0-or-later", "MIT", "BSD-3-Clause"). Returns a static string, or
 * NULL when SPDX has no identifier for it. */
const char *license_spdx_id(const char *debian_name);

/* Reads a machine-readable (DEP-5) debian/copyright text: the licences of its Files paragraphs,
 * joined with AND, each mapped to SPDX (or to a LicenseRef-). A file that is not in the
 * machine-readable format leaves ret->expression NULL. file names the source, for the refs'
 * text. Returns 0 (ret filled, owned by the caller) or -EBADMSG for a malformed text. */
int license_from_copyright(const char *text, const char *file, LicenseInfo *ret);

typedef struct SbomPackage {
        const char *name, *version, *architecture, *source;
        const char *sha256;         /* of the .deb; NULL: unknown */
        const char *download;       /* where it was fetched from; NULL: unknown */
        char *const *depends;       /* names of other packages of the list it depends on */
        const LicenseInfo *license; /* NULL: none found */
        /* A package that is not the distribution's (a baked container image): its own purl,
         * supplier, primaryPackagePurpose and comment; purl NULL: a distribution package. */
        const char *purl, *supplier, *purpose, *comment;
} SbomPackage;

typedef struct SbomInput {
        const char *image_name;
        const char *distro; /* purl distro qualifier: "debian-12" */
        /* The package URL of a package (the distribution backend's: sbom_deb_purl). */
        char *(*purl)(const char *name, const char *version, const char *arch, const char *distro);
        const char *namespace_seed; /* makes the document namespace: same input, same SBOM */
        uint64_t created;           /* seconds since the epoch */
        const char *tool;           /* "vmcompose-0.1.0" */
        const SbomPackage *packages;
        size_t n_packages;
} SbomInput;

/* The package URL of a Debian package: pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=D, with
 * the version percent-encoded (an epoch's ':'). Returns a new string. */
char *sbom_deb_purl(const char *name, const char *version, const char *arch, const char *distro);

/* Writes the SPDX 2.3 JSON document for in: a package for the image that CONTAINS one package
 * per entry, each with its purl, checksum and licence, DEPENDS_ON relationships, and the
 * LicenseRefs used. Returns a new string. */
char *sbom_spdx_json(const SbomInput *in);

/* The deviation report (NAME.deviations.md and .json): every way the image differs from its
 * upstream base profile, each with the profile line that caused it, its why: and category:. */
typedef struct Deviation {
        char *kind;     /* "package-added", "package-removed", "paths-stripped", "file", ... */
        char *subject;  /* "openssh-server", "/etc/motd", "hostname: minimal" */
        char *where;    /* "profiles/minimal.yaml:15" */
        char *why;      /* NULL: undocumented */
        char *category; /* NULL: none given */
        char *detail;   /* NULL or "+3 dependencies: a, b, c", "412 files, 8.1 MiB" */
        uint64_t count, bytes; /* paths-stripped: the files and bytes never unpacked */
} Deviation;

typedef struct DeviationReport {
        char *image, *base; /* the image's name; the base profile's file */
        bool root_given;    /* --root: the packages and system: items were declared, and
                             * not applied by vmcompose */
        Deviation *items;
        size_t n;
} DeviationReport;

/* Appends an item; the strings are copied (why, category, detail may be NULL). */
Deviation *deviations_add(DeviationReport *r, const char *kind, const char *subject,
                          const char *where, const char *why, const char *category,
                          const char *detail);
void deviation_report_done(DeviationReport *r);

/* The items without a why:, as "where: kind subject" lines (NULL when there are none). */
char **deviations_undocumented(const DeviationReport *r);

/* The report as JSON ({"image", "base", "summary": {category: count}, "undocumented": n,
 * "deviations": [...]}) and as Markdown grouped by category. New strings. */
char *deviations_json(const DeviationReport *r);
char *deviations_markdown(const DeviationReport *r);
