/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Rootless builds: an ordinary user's build runs as uid 0 of a user namespace that maps 0 to
 * the user and 1..65536 to the user's subordinate ids (/etc/subuid, /etc/subgid, written by
 * newuidmap and newgidmap from the uidmap package), with its own mount, PID and IPC
 * namespaces, as mmdebstrap's unshare mode and rootless podman do. Every id a maintainer script
 * gives a file is then, inside, the id of the image, and the build reads the tree with those
 * ids: the bytes are those of a build made as root. */

/* How many ids the namespace maps (0..USERNS_IDS-1 inside). */
#define USERNS_IDS 65537u

/* One subordinate range: the first host id and how many. */
typedef struct SubidRange {
        unsigned long start, count;
} SubidRange;

/* The first range for user (by name or by its numeric id uid) in the text of an /etc/subuid
 * or /etc/subgid file that has at least count ids. 0 and *ret, or -ENOENT. Pure, for tests. */
int subid_find(const char *text, const char *user, unsigned long uid, unsigned long count,
               SubidRange *ret);
/* The first start at or above 100000 where count ids overlap no range of the file text:
 * what a line to add can use. */
unsigned long subid_free_start(const char *text, unsigned long count);

/* The sysctls that decide whether an ordinary user may make a user namespace, each as read
 * from /proc/sys, or -1 when this kernel has none (or it cannot be read). */
typedef struct UsernsSysctls {
        long max_user_namespaces;                   /* user., per user namespace; 0: none */
        long unprivileged_userns_clone;             /* kernel., Debian's before 6.x; 0: off */
        long apparmor_restrict_unprivileged_userns; /* kernel., Ubuntu's; 1: restricted */
} UsernsSysctls;

/* Why a user namespace was refused (error: the negative errno of the refusal), as a sentence
 * naming the sysctl that decides it and the line that changes it; the errno's text when none
 * of s explains it. Pure, for tests. Caller frees. */
char *userns_refusal_message(int error, const UsernsSysctls *s);

/* Whether this process can build rootless: the user namespace sysctls, newuidmap and
 * newgidmap, and the user's subordinate ranges. 0 when it can, or a negative errno with
 * *ret_message (caller frees) saying which of these is missing and what to add. */
int userns_check(SubidRange *ret_uids, SubidRange *ret_gids, char **ret_message);

/* Enters the namespaces. Returns 0 in the namespace, where the caller goes on as uid 0, as
 * PID 1 of a new PID namespace, with a fresh /proc; a positive 1 in the calling process once
 * the namespace is gone, with the exit status of the code that ran inside in *ret_status
 * (SIGINT, SIGTERM and SIGHUP sent to the caller are passed in); or a negative errno, with
 * *ret_message (caller frees), when the namespace could not be made. */
int userns_enter(const SubidRange *uids, const SubidRange *gids, int *ret_status,
                 char **ret_message);

/* Whether this process runs in a user namespace that is not the initial one (as after
 * userns_enter()). */
bool userns_active(void);
