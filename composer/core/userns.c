/* SPDX-License-Identifier: MIT */
/* Rootless builds in a user namespace (see userns.h). Three processes: the caller stays
 * outside, writes the id maps with newuidmap/newgidmap and waits; its child unshares the user
 * namespace, then the mount, PID and IPC namespaces, and waits for its own child, PID 1 of the
 * new PID namespace, which returns to the caller's code as uid 0. Each dies with its parent
 * (PR_SET_PDEATHSIG), and when PID 1 ends the kernel ends every process left in its PID
 * namespace: no maintainer script, no namespace holder outlives the build. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"
#include "vmcompose/userns.h"

/* Subordinate ids the namespace needs: 1..65536 inside. */
#define SUBIDS (USERNS_IDS - 1)

int subid_find(const char *text, const char *user, unsigned long uid, unsigned long count,
               SubidRange *ret) {
        char uidstr[32];
        snprintf(uidstr, sizeof(uidstr), "%lu", uid);
        for (const char *line = text; line && *line;) {
                const char *end = strchrnul(line, '\n');
                _cleanup_free_ char *l = xstrndup(line, (size_t)(end - line));
                line = *end ? end + 1 : end;
                char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c1 = *c2 = 0;
                if (!streq(l, user) && !streq(l, uidstr))
                        continue;
                char *e1, *e2;
                errno = 0;
                unsigned long start = strtoul(c1 + 1, &e1, 10), n = strtoul(c2 + 1, &e2, 10);
                if (errno || e1 == c1 + 1 || *e1 || e2 == c2 + 1 || (*e2 && *e2 != '\r'))
                        continue;
                if (n >= count) {
                        *ret = (SubidRange){.start = start, .count = n};
                        return 0;
                }
        }
        return -ENOENT;
}

unsigned long subid_free_start(const char *text, unsigned long count) {
        unsigned long start = 100000;
        for (bool moved = true; moved;) {
                moved = false;
                for (const char *line = text; line && *line;) {
                        unsigned long s, n;
                        if (sscanf(line, "%*[^:]:%lu:%lu", &s, &n) == 2 && s < start + count &&
                            start < s + n) {
                                /* The next multiple of 65536 past this range. */
                                start = (s + n + 65535) / 65536 * 65536;
                                moved = true;
                        }
                        const char *nl = strchr(line, '\n');
                        line = nl ? nl + 1 : NULL;
                }
        }
        return start;
}

static long read_sysctl(const char *path) {
        _cleanup_free_ char *text = NULL;
        if (read_full_file(path, 64, &text, NULL) < 0)
                return -1;
        return strtol(text, NULL, 10);
}

/* Whether name is an executable file in one of PATH's directories (or /usr/bin, /usr/sbin,
 * /bin, /sbin when PATH is unset). */
static bool in_path(const char *name) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = xstrdup(path ? path : "/usr/bin:/usr/sbin:/bin:/sbin");
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = path_join(d, name);
                if (access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

/* Tries a user namespace and, in it, a mount namespace (which an AppArmor restriction
 * refuses though the user namespace itself is made). 0 or the negative errno of the step that
 * failed. */
static int probe_userns(void) {
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (unshare(CLONE_NEWUSER) < 0 || unshare(CLONE_NEWNS) < 0)
                        _exit(errno & 0xff);
                _exit(0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

char *userns_refusal_message(int error, const UsernsSysctls *s) {
        if (s->max_user_namespaces == 0)
                return xstrdup("user namespaces are disabled: the sysctl user.max_user_namespaces "
                               "is 0 (as root: sysctl -w user.max_user_namespaces=15000)");
        if (s->unprivileged_userns_clone == 0)
                return xstrdup("user namespaces are disabled for users: the sysctl "
                               "kernel.unprivileged_userns_clone is 0 (as root: sysctl -w "
                               "kernel.unprivileged_userns_clone=1)");
        if (s->apparmor_restrict_unprivileged_userns == 1)
                return xstrdup("AppArmor restricts unprivileged user namespaces: the sysctl "
                               "kernel.apparmor_restrict_unprivileged_userns is 1 (as root: "
                               "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an "
                               "AppArmor profile for vmcompose that allows 'userns,')");
        errno = error < 0 ? -error : error;
        return xasprintf("cannot create a user namespace: %m");
}

/* Why this kernel refuses unprivileged user namespaces, from the sysctls this process sees
 * (the user ones are those of its own user namespace). */
static char *userns_refused_message(int r) {
        const UsernsSysctls s = {
                .max_user_namespaces = read_sysctl("/proc/sys/user/max_user_namespaces"),
                .unprivileged_userns_clone =
                        read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
                .apparmor_restrict_unprivileged_userns =
                        read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        };
        return userns_refusal_message(r, &s);
}

/* Checks one of /etc/subuid, /etc/subgid for user's range; a message when there is none. */
static int check_subids(const char *file, const char *user, unsigned long id, SubidRange *ret,
                        char **ret_message) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(file, 16 << 20, &text, NULL);
        if (r < 0 && r != -ENOENT) {
                errno = -r;
                *ret_message = xasprintf("cannot read %s: %m", file);
                return r;
        }
        if (r == 0 && subid_find(text, user, id, SUBIDS, ret) == 0)
                return 0;
        unsigned long start = subid_free_start(text, SUBIDS);
        bool uids = strstr(file, "subuid") != NULL;
        *ret_message = xasprintf("%s has no range of %u subordinate %s ids for %s, which a build "
                                 "as an ordinary user needs: add the line\n  %s:%lu:%u\nto %s "
                                 "(as root: usermod --add-sub%ss %lu-%lu %s)",
                                 file, SUBIDS, uids ? "user" : "group", user, user, start, SUBIDS,
                                 file, uids ? "uid" : "gid", start, start + SUBIDS - 1, user);
        return -ENOENT;
}

int userns_check(SubidRange *ret_uids, SubidRange *ret_gids, char **ret_message) {
        int r = probe_userns();
        if (r < 0) {
                *ret_message = userns_refused_message(r);
                return r;
        }
        static const char *const tools[] = {"newuidmap", "newgidmap"};
        for (size_t i = 0; i < ELEMENTSOF(tools); i++)
                if (!in_path(tools[i])) {
                        *ret_message = xasprintf("%s is not installed: it comes with the package "
                                                 "uidmap (as root: apt-get install uidmap)",
                                                 tools[i]);
                        return -ENOENT;
                }
        uid_t uid = getuid();
        struct passwd *pw = getpwuid(uid);
        if (!pw) {
                *ret_message = xasprintf("uid %lu has no user name (no entry in /etc/passwd)",
                                         (unsigned long)uid);
                return -ENOENT;
        }
        _cleanup_free_ char *user = xstrdup(pw->pw_name);
        SubidRange u, g;
        r = check_subids("/etc/subuid", user, uid, &u, ret_message);
        if (r < 0)
                return r;
        r = check_subids("/etc/subgid", user, getgid(), &g, ret_message);
        if (r < 0)
                return r;
        *ret_uids = u;
        *ret_gids = g;
        return 0;
}

/* What the processes in the namespace tell the caller over the status pipe. */
typedef enum NsStep {
        NS_UNSHARED, /* the user namespace exists: write its maps */
        NS_SETID,
        NS_UNSHARE_MORE,
        NS_PRIVATE,
        NS_FORK,
        NS_PROC,
        NS_READY, /* PID 1 runs the caller's code */
} NsStep;

typedef struct NsReport {
        int step, error;
} NsReport;

static void report(int fd, NsStep step, int error) {
        NsReport m = {step, error};
        ssize_t _unused_ n = write(fd, &m, sizeof(m));
}

static volatile sig_atomic_t forward_pid;

static void forward_signal(int sig) {
        if (forward_pid > 0)
                (void)kill((pid_t)forward_pid, sig);
}

/* SIGINT, SIGTERM and SIGHUP go on to pid (the build inside, which cleans up and ends). */
static void forward_signals_to(pid_t pid) {
        struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        forward_pid = pid;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
}

/* waitpid() for pid; its exit status, or 128 + the signal that ended it. */
static int wait_status(pid_t pid) {
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 127;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The child: the namespaces, then PID 1 in them; the child itself waits for PID 1 and ends
 * with its status. Returns only in PID 1. */
static void namespace_child(pid_t parent, int status_fd, int go_fd) {
        char c;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
        if (unshare(CLONE_NEWUSER) < 0) {
                report(status_fd, NS_UNSHARED, errno);
                _exit(127);
        }
        report(status_fd, NS_UNSHARED, 0);
        if (read(go_fd, &c, 1) != 1) /* the caller could not write the maps */
                _exit(127);
        close(go_fd);
        if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0) {
                report(status_fd, NS_SETID, errno);
                _exit(127);
        }
        if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC) < 0) {
                report(status_fd, NS_UNSHARE_MORE, errno);
                _exit(127);
        }
        /* Nothing mounted in here reaches the host's mount namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                report(status_fd, NS_PRIVATE, errno);
                _exit(127);
        }
        pid_t pid = fork();
        if (pid < 0) {
                report(status_fd, NS_FORK, errno);
                _exit(127);
        }
        if (pid == 0) {
                /* PID 1: only signals it handles reach it, so handle them at once. */
                signals_install();
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
                        report(status_fd, NS_FORK, errno);
                        _exit(127);
                }
                /* The host's binfmt_misc (the handlers are the kernel's, for every namespace),
                 * seen again under the new /proc: the check of another architecture's handler
                 * reads it there. Without it, that check says what to mount. */
                int binfmt = open("/proc/sys/fs/binfmt_misc", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                        report(status_fd, NS_PROC, errno);
                        _exit(127);
                }
                if (binfmt >= 0) {
                        char path[64];
                        snprintf(path, sizeof(path), "/proc/self/fd/%d", binfmt);
                        if (faccessat(binfmt, "status", F_OK, 0) == 0)
                                (void)mount(path, "/proc/sys/fs/binfmt_misc", NULL,
                                            MS_BIND | MS_REC, NULL);
                        close(binfmt);
                }
                report(status_fd, NS_READY, 0);
                close(status_fd);
                return;
        }
        close(status_fd);
        forward_signals_to(pid);
        _exit(wait_status(pid));
}

static int write_map(const char *tool, pid_t pid, unsigned long id, const SubidRange *range,
                     char **ret_message) {
        char p[32], own[32], start[32], count[32];
        snprintf(p, sizeof(p), "%ld", (long)pid);
        snprintf(own, sizeof(own), "%lu", id);
        snprintf(start, sizeof(start), "%lu", range->start);
        snprintf(count, sizeof(count), "%u", SUBIDS);
        char *argv[] = {(char *)tool, p,     (char *)"0", own, (char *)"1",
                        (char *)"1",  start, count,       NULL};
        Buffer out = {};
        int r = spawn_run(argv, NULL, &out);
        if (r != 0) {
                _cleanup_free_ char *cmd = spawn_format(argv);
                errno = r < 0 ? -r : 0;
                *ret_message = r < 0 ? xasprintf("cannot run %s: %m", cmd)
                                     : xasprintf("%s failed (exit status %d): %s", cmd, r,
                                                 out.data ? out.data : "");
                r = r < 0 ? r : -EPERM;
        }
        buffer_done(&out);
        return r;
}

static const char *step_name(int step) {
        switch (step) {
        case NS_UNSHARED:
                return "cannot create a user namespace";
        case NS_SETID:
                return "cannot become uid 0 in the user namespace";
        case NS_UNSHARE_MORE:
                return "cannot create the mount, PID and IPC namespaces";
        case NS_PRIVATE:
                return "cannot make the namespace's mounts private";
        case NS_FORK:
                return "cannot start PID 1 of the namespace";
        case NS_PROC:
                return "cannot mount /proc in the namespace";
        default:
                return "the namespace failed";
        }
}

int userns_enter(const SubidRange *uids, const SubidRange *gids, int *ret_status,
                 char **ret_message) {
        int status_pipe[2], go_pipe[2];
        pid_t parent = getpid();

        if (pipe2(status_pipe, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(go_pipe, O_CLOEXEC) < 0) {
                int r = -errno;
                close(status_pipe[0]);
                close(status_pipe[1]);
                return r;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(status_pipe[0]);
                close(status_pipe[1]);
                close(go_pipe[0]);
                close(go_pipe[1]);
                return r;
        }
        if (pid == 0) {
                close(status_pipe[0]);
                close(go_pipe[1]);
                namespace_child(parent, status_pipe[1], go_pipe[0]);
                return 0; /* PID 1 of the namespace */
        }
        close(status_pipe[1]);
        close(go_pipe[0]);
        /* Until the namespace runs, an interruption ends it; afterwards it is passed in. */
        forward_signals_to(pid);

        NsReport m = {-1, 0};
        int r = 0;
        for (;;) {
                ssize_t n = read(status_pipe[0], &m, sizeof(m));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != (ssize_t)sizeof(m)) {
                        *ret_message = xstrdup("the namespace's first process ended early");
                        r = -ECHILD;
                        break;
                }
                if (m.error != 0) {
                        errno = m.error;
                        *ret_message = xasprintf("%s: %m", step_name(m.step));
                        r = -m.error;
                        break;
                }
                if (m.step == NS_READY)
                        break;
                if (m.step == NS_UNSHARED) {
                        r = write_map("newuidmap", pid, getuid(), uids, ret_message);
                        if (r == 0)
                                r = write_map("newgidmap", pid, getgid(), gids, ret_message);
                        if (r < 0)
                                break;
                        char c = 1;
                        if (write(go_pipe[1], &c, 1) != 1) {
                                r = -errno;
                                *ret_message = xstrdup("the namespace's first process ended");
                                break;
                        }
                }
        }
        close(status_pipe[0]);
        close(go_pipe[1]);
        if (r < 0) {
                (void)kill(pid, SIGKILL);
                (void)wait_status(pid);
                return r;
        }
        *ret_status = wait_status(pid);
        return 1;
}

bool userns_active(void) {
        _cleanup_free_ char *map = NULL;
        if (read_full_file("/proc/self/uid_map", 4096, &map, NULL) < 0)
                return false;
        unsigned long inside, outside, count;
        if (sscanf(map, "%lu %lu %lu", &inside, &outside, &count) != 3)
                return true;
        return !(inside == 0 && outside == 0 && count == 4294967295UL);
}
