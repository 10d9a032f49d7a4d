/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmcompose/profile.h"

/* `vmcompose audit IMAGE` (composer/audit/): any disk image, opened read-only with libguestfs,
 * checked against policies, with a summary of its attack surface. */

typedef struct AuditPackage {
        char *name, *version, *architecture;
        char *source;            /* the source package; NULL: unknown */
        char *section;           /* "utils", "x11" (no archive area prefix); NULL: unknown */
        uint64_t installed_size; /* bytes; 0: unknown */
} AuditPackage;

typedef struct AuditFile {
        char *path; /* "/usr/bin/less" */
        uint32_t mode;
        uint32_t uid;
} AuditFile;

typedef struct AuditImage {
        char *os;               /* "debian 12.5" */
        char *package_format;   /* "deb", "rpm", ... */
        AuditPackage *packages; /* sorted by name */
        size_t n_packages;
        AuditFile *files; /* every path of the mounted filesystems, sorted */
        size_t n_files;
        char **owners;    /* "path\tpackage" pairs from the package database's file lists
                           * (DistroOps.db_lists_dir), sorted by path */
        char **enabled;   /* systemd units enabled at boot ("ssh.service") */
        char **listening; /* "ssh.socket: 22", "sshd (ssh.service)": what listens on the network */
        /* Container runtimes' API sockets: "/run/containerd/containerd.sock (containerd,
         * containerd.service enabled)"; whoever can connect runs containers as root. */
        char **runtime_sockets;
        /* The images containerd's metadata database records (vmcompose's containers: write
         * them): "REF sha256:... (namespace NS), in containerd's /var/lib/...meta.db". */
        char **container_images;
} AuditImage;

void audit_image_done(AuditImage *img);

/* containerd's API socket as config.toml's [grpc] address sets it; NULL when it does not (the
 * default, /run/containerd/containerd.sock, applies). Caller frees. */
char *audit_containerd_address(const char *config);

/* Opens path read-only with libguestfs (TCG when KVM cannot run guests here), finds the
 * operating system, mounts its filesystems read-only and reads what the audit needs. Returns 0
 * or a negative errno, logged with libguestfs's message. */
int audit_read_image(const char *path, AuditImage *ret);

/* The package that owns path according to the package database's file lists, or NULL. */
const char *audit_owner(const AuditImage *img, const char *path);

typedef struct AuditFinding {
        char *kind;    /* "forbidden-package", "forbidden-section", "forbidden-path" */
        char *subject; /* the package or the path */
        char *package; /* forbidden-path: the package that owns it, or NULL */
        char *rule;    /* "policy headless: pattern less (profiles/policies/headless.yaml:20)" */
} AuditFinding;

typedef struct AuditReport {
        AuditFinding *findings;
        size_t n_findings;
        uint64_t installed_size;
        char **setuid;         /* "/usr/bin/passwd (setuid root)" */
        char **world_writable; /* files and non-sticky directories anyone may write */
} AuditReport;

void audit_report_done(AuditReport *r);

/* Checks img against every policy of p (loaded with profile_load_policies()): forbidden
 * packages (names and globs), sections and paths, plus the attack surface summary. Pure. */
void audit_check(const AuditImage *img, const Profile *p, AuditReport *ret);

/* The report as text (for a terminal) or JSON. New strings. */
char *audit_format_text(const char *image, const AuditImage *img, const AuditReport *r);
char *audit_format_json(const char *image, const AuditImage *img, const AuditReport *r);
