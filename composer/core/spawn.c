/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"

extern char **environ;

char *shell_quote(const char *s) {
        bool plain = *s;
        for (const char *p = s; plain && *p; p++)
                plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || strchr("@+=:,./_-", *p);
        if (plain)
                return xstrdup(s);
        Buffer b = {};
        buffer_putc(&b, '\'');
        for (const char *p = s; *p; p++)
                if (*p == '\'')
                        buffer_puts(&b, "'\\''");
                else
                        buffer_putc(&b, *p);
        buffer_putc(&b, '\'');
        return buffer_steal(&b);
}

char *spawn_format(char *const argv[]) {
        Buffer b = {};
        for (size_t i = 0; argv[i]; i++) {
                _cleanup_free_ char *q = shell_quote(argv[i]);
                if (i > 0)
                        buffer_putc(&b, ' ');
                buffer_puts(&b, q);
        }
        return buffer_steal(&b);
}

/* What every program run inside an image root starts from (spawn_run_in_root()). */
static char *const root_env[] = {
        (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        (char *)"LC_ALL=C.UTF-8",
        (char *)"LANGUAGE=",
        (char *)"HOME=/root",
        NULL,
};

static int spawn(char *const argv[], bool clean, char *const env_extra[], Buffer *output);

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* The flushes the filter answers with success: the calls that wait for the disk. */
#define NOSYNC_RETURN_0(nr)                                                                        \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0)

int spawn_filter_sync(void) {
#ifdef NATIVE_AUDIT_ARCH
        struct sock_filter filter[] = {
                /* Another ABI's system call numbers mean other calls: let them through. */
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                NOSYNC_RETURN_0(__NR_fsync),
                NOSYNC_RETURN_0(__NR_fdatasync),
                NOSYNC_RETURN_0(__NR_sync),
                NOSYNC_RETURN_0(__NR_syncfs),
                NOSYNC_RETURN_0(__NR_sync_file_range),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = ELEMENTSOF(filter), .filter = filter};
        if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
#else
        return -EOPNOTSUPP;
#endif
}

int spawn_run(char *const argv[], char *const env_extra[], Buffer *output) {
        return spawn(argv, false, env_extra, output);
}

/* The wall-clock time spent in programs run inside image roots, for the build's timing line. */
static uint64_t in_root_usec;

uint64_t spawn_monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int spawn_run_in_root(char *const argv[], char *const env_extra[], Buffer *output) {
        uint64_t start = spawn_monotonic_usec();
        int r = spawn(argv, true, env_extra, output);
        __atomic_add_fetch(&in_root_usec, spawn_monotonic_usec() - start, __ATOMIC_RELAXED);
        return r;
}

static unsigned native_programs;

void spawn_note_native(unsigned n) {
        __atomic_store_n(&native_programs, n, __ATOMIC_RELAXED);
}

unsigned spawn_native_programs(void) {
        return __atomic_load_n(&native_programs, __ATOMIC_RELAXED);
}

void spawn_count_in_root(uint64_t usec) {
        __atomic_add_fetch(&in_root_usec, usec, __ATOMIC_RELAXED);
}

double spawn_in_root_seconds(void) {
        return (double)__atomic_load_n(&in_root_usec, __ATOMIC_RELAXED) / 1e6;
}

static int spawn(char *const argv[], bool clean, char *const env_extra[], Buffer *output) {
        int pipefd[2];
        pid_t pid;

        if (log_debug_enabled("spawn")) {
                _cleanup_free_ char *cmd = spawn_format(argv);
                log_debug_sub("spawn", "running %s", cmd);
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;

        /* A pipe from the child tells the parent whether exec worked. */
        int errpipe[2];
        if (pipe2(errpipe, O_CLOEXEC) < 0) {
                int r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }

        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                close(errpipe[0]);
                close(errpipe[1]);
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
                    dup2(pipefd[1], STDOUT_FILENO) < 0 || dup2(pipefd[1], STDERR_FILENO) < 0)
                        _exit(127);
                signal(SIGPIPE, SIG_DFL);
                if (clean) {
                        /* An optimisation only: without it the programs flush as they like. */
                        (void)spawn_filter_sync();
                        (void)clearenv();
                        for (size_t i = 0; root_env[i]; i++)
                                putenv(root_env[i]);
                }
                for (size_t i = 0; env_extra && env_extra[i]; i++)
                        putenv(env_extra[i]);
                execvp(argv[0], argv);
                int e = errno;
                ssize_t _unused_ n = write(errpipe[1], &e, sizeof(e));
                _exit(127);
        }

        close(pipefd[1]);
        close(errpipe[1]);

        char buf[4096];
        for (;;) {
                ssize_t n = read(pipefd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR) {
                        /* Interrupted: stop the child; its output ends when it does. */
                        if (signals_interrupted())
                                (void)kill(pid, SIGTERM);
                        continue;
                }
                if (n <= 0)
                        break;
                if (output)
                        buffer_append(output, buf, (size_t)n);
        }
        close(pipefd[0]);

        int exec_errno = 0;
        ssize_t n = read(errpipe[0], &exec_errno, sizeof(exec_errno));
        close(errpipe[0]);

        int status;
        bool killed = false;
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return -errno;
                if (signals_interrupted() && !killed) {
                        (void)kill(pid, SIGTERM);
                        killed = true;
                }
        }
        if (signals_interrupted())
                return -EINTR;
        if (n == (ssize_t)sizeof(exec_errno) && exec_errno != 0)
                return -exec_errno;
        if (WIFSIGNALED(status))
                return -EINTR;
        return WEXITSTATUS(status);
}
