/* SPDX-License-Identifier: MIT */
/* The RPM backend's install: librpm's own transaction into the root (its ordering, its
 * scriptlets), the way `rpm --root` and dnf's installroot do it, with no dnf on the host. Every
 * package is verified first (verify.c): the repository's key, the payload against the signed
 * header, and each path it would write. librpm chroots the process to run scriptlets, so the
 * transaction runs in a forked child, never in vmcompose's own process; its messages and the
 * scriptlets' output come back through a pipe. The policy's path exclusions become
 * %_netsharedpath (rpm records those files as not installed: `rpm -V` stays truthful),
 * %_excludedocs and %_install_langs. Each scriptlet runs with /proc, /sys and a minimal /dev
 * mounted in the root (as dpkg's scripts do, composer/install/mounts.c), in the child's own mount
 * namespace, unmounted after it: rpm sets up those directories themselves, unmounted. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rpm/header.h>
#include <rpm/rpmcallback.h>
#include <rpm/rpmio.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmps.h>
#include <rpm/rpmte.h>
#include <rpm/rpmts.h>

#include "rpm-install.h"
#include "vmcompose/arch.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"

/* Sorts '/' before every other byte: a directory's subtree is one run of the sorted list. */
static int path_cmp(const void *a, const void *b) {
        const unsigned char *x = *(const unsigned char *const *)a;
        const unsigned char *y = *(const unsigned char *const *)b;
        for (;; x++, y++) {
                unsigned cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
                if (cx != cy || cx == 0)
                        return (int)cx - (int)cy;
        }
}

/* The first index in sorted[0..n) not below key, in path_cmp() order. */
static size_t lower_bound(char *const *sorted, size_t n, const char *key) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (path_cmp(&sorted[mid], &key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

char *rpm_netshared_paths(char *const *files, char *const *exclude, char *const *include) {
        size_t n = strv_length(files);
        if (n == 0 || !exclude)
                return NULL;
        _cleanup_free_ char **sorted = xcalloc(n + 1, sizeof(char *));
        memcpy(sorted, files, n * sizeof(char *));
        qsort(sorted, n, sizeof(char *), path_cmp);
        /* kept[i]: how many of sorted[0..i) are not excluded. */
        _cleanup_free_ size_t *kept = xcalloc(n + 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
                kept[i + 1] = kept[i] + !install_path_excluded(sorted[i], exclude, include);
        Buffer b = {};
        _cleanup_free_ char *last = NULL; /* the last directory given: its subtree is covered */
        for (size_t i = 0; i < n; i++) {
                const char *f = sorted[i];
                if ((i > 0 && streq(f, sorted[i - 1])) || kept[i + 1] > kept[i])
                        continue;
                size_t ll = last ? strlen(last) : 0;
                if (last && strneq(f, last, ll) && (f[ll] == '/' || f[ll] == 0))
                        continue;
                /* The topmost excluded ancestor whose whole subtree in the list is excluded. */
                _cleanup_free_ char *top = NULL;
                for (const char *s = strchr(f + 1, '/'); !top; s = s ? strchr(s + 1, '/') : NULL) {
                        _cleanup_free_ char *a = s ? xstrndup(f, (size_t)(s - f)) : xstrdup(f);
                        _cleanup_free_ char *below = xasprintf("%s/", a);
                        _cleanup_free_ char *after = xasprintf("%s0", a); /* '0' follows '/' */
                        size_t from = lower_bound(sorted, n, below);
                        size_t to = lower_bound(sorted, n, after);
                        if (install_path_excluded(a, exclude, include) && kept[to] == kept[from])
                                top = TAKE_PTR(a);
                        if (!s)
                                break;
                }
                if (!top)
                        top = xstrdup(f);
                buffer_printf(&b, "%s%s", b.len ? ":" : "", top);
                free(last);
                last = TAKE_PTR(top);
        }
        return b.data;
}

const char *rpm_install_langs(char *const *exclude, char *const *include) {
        if (install_path_excluded("/usr/share/locale/de/LC_MESSAGES/vmcompose.mo", exclude,
                                  include))
                return "C:en:en_US";
        return NULL;
}

bool rpm_exclude_docs(char *const *exclude, char *const *include) {
        static const char *const probes[] = {"/usr/share/doc/vmcompose/README",
                                             "/usr/share/man/man1/vmcompose.1.gz",
                                             "/usr/share/info/vmcompose.info.gz"};
        for (size_t i = 0; i < ELEMENTSOF(probes); i++)
                if (!install_path_excluded(probes[i], exclude, include))
                        return false;
        return true;
}

/* Each package verified and its paths checked; the paths appended to *files. */
static int check_packages(const InstallPackage *pkgs, size_t n, char ***files, Diagnostics *diag) {
        for (size_t i = 0; i < n; i++) {
                const InstallPackage *p = &pkgs[i];
                _cleanup_free_ char *error = NULL;
                int r;
                if (!p->signing_key && !p->unsigned_ok)
                        return diag_add_errno(diag, ENOKEY,
                                              "install: %s %s: its repository names no signing "
                                              "key (and does not say gpgcheck: false)",
                                              p->name, p->version);
                r = rpm_verify_package(p->deb_path, p->signing_key, &error);
                if (r == 0)
                        r = rpm_check_file_list(p->deb_path, files, &error);
                if (r < 0) {
                        diag_add(diag, NULL, "install: package %s refused: %s", p->name, error);
                        return r;
                }
                if (signals_interrupted())
                        return -EINTR;
        }
        return 0;
}

/* What the child tells the parent goes to this fd (a pipe). */
typedef struct Child {
        int out;
        const InstallPackage *pkgs;
        unsigned script_errors;
        InstallMounts mounts; /* /proc, /sys and /dev, mounted while a scriptlet runs */
        unsigned mount_errors;
        uint64_t script_start; /* when the running scriptlet started (spawn_monotonic_usec()) */
        uint64_t *script_usec; /* the scriptlets' time so far, in memory the parent shares */
} Child;

static void child_say(const Child *c, const char *fmt, ...) _printf_(2, 3);
static void child_say(const Child *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = NULL;
        if (vasprintf(&s, fmt, ap) >= 0)
                (void)write_all(c->out, s, strlen(s));
        va_end(ap);
}

static Child *child_state;

static int child_log(rpmlogRec rec, rpmlogCallbackData data) {
        (void)data;
        const char *m = rpmlogRecMessage(rec);
        if (rpmlogRecPriority(rec) <= RPMLOG_WARNING && child_state)
                (void)write_all(child_state->out, m, strlen(m));
        return 0;
}

static const char *script_name(uint64_t tag) {
        switch (tag) {
        case RPMTAG_PREIN:
                return "%pre";
        case RPMTAG_POSTIN:
                return "%post";
        case RPMTAG_PRETRANS:
                return "%pretrans";
        case RPMTAG_POSTTRANS:
                return "%posttrans";
        case RPMTAG_TRIGGERIN:
                return "%triggerin";
        default:
                return "scriptlet";
        }
}

static void *notify(const void *arg, const rpmCallbackType what, const rpm_loff_t amount,
                    const rpm_loff_t total, fnpyKey key, rpmCallbackData data) {
        (void)total;
        Child *c = data;
        const InstallPackage *p = key;
        static FD_t fd;
        switch (what) {
        case RPMCALLBACK_INST_OPEN_FILE:
                if (!p)
                        return NULL;
                fd = Fopen(p->deb_path, "r.ufdio");
                if (!fd || Ferror(fd)) {
                        child_say(c, "install: cannot open %s\n", p->deb_path);
                        if (fd)
                                Fclose(fd);
                        fd = NULL;
                }
                return fd;
        case RPMCALLBACK_INST_CLOSE_FILE:
                if (fd)
                        Fclose(fd);
                fd = NULL;
                return NULL;
        case RPMCALLBACK_SCRIPT_START: {
                /* After the files of the packages before it (the directories /proc, /sys and
                 * /dev among them, which rpm sets up itself) and with librpm chrooted: the
                 * mounts are named through the fds opened before. */
                _cleanup_free_ char *error = NULL;
                if (install_mount_api(&c->mounts, &error) < 0) {
                        child_say(c, "install: %s\n", error);
                        c->mount_errors++;
                }
                c->script_start = spawn_monotonic_usec();
                return NULL;
        }
        case RPMCALLBACK_SCRIPT_STOP: {
                if (c->script_usec && c->script_start)
                        *c->script_usec += spawn_monotonic_usec() - c->script_start;
                c->script_start = 0;
                _cleanup_free_ char *failed = NULL;
                int r = install_unmount_all(&c->mounts, &failed);
                if (r < 0) {
                        child_say(c, "install: cannot unmount %s: %s\n", failed, strerror(-r));
                        c->mount_errors++;
                }
                return NULL;
        }
        case RPMCALLBACK_SCRIPT_ERROR: {
                Header h = (Header)arg;
                const char *name = h ? headerGetString(h, RPMTAG_NAME) : NULL;
                c->script_errors++;
                child_say(c, "install: the %s scriptlet of package %s failed\n",
                          script_name(amount),
                          name ? name
                          : p  ? p->name
                               : "?");
                return NULL;
        }
        default:
                return NULL;
        }
}

static void push_macro(const char *name, const char *value) {
        rpmPushMacro(NULL, name, NULL, value, RMIL_CMDLINE);
}

/* The settings the policies' exclusions amount to, as rpm's macros, for this process only. */
static void child_settings(const InstallOptions *o, const char *netshared) {
        const char *langs = o ? rpm_install_langs(o->path_exclude, o->path_include) : NULL;
        /* Each package's signature was checked against its repository's key: the transaction
         * checks the digests (header and payload) again as it reads them. */
        push_macro("_pkgverify_level", "digest");
        if (netshared)
                push_macro("_netsharedpath", netshared);
        if (langs)
                push_macro("_install_langs", langs);
        if (o && rpm_exclude_docs(o->path_exclude, o->path_include))
                push_macro("_excludedocs", "1");
        if (o && o->source_date_epoch > 0) {
                char sde[32];
                snprintf(sde, sizeof(sde), "%llu", (unsigned long long)o->source_date_epoch);
                setenv("SOURCE_DATE_EPOCH", sde, 1);
        }
}

/* Says each of the transaction's problems; returns how many there were. */
static unsigned child_problems(const Child *c, rpmts ts) {
        rpmps ps = rpmtsProblems(ts);
        unsigned n = (unsigned)rpmpsNumProblems(ps);
        rpmpsi it = rpmpsInitIterator(ps);
        for (rpmProblem p; (p = rpmpsiNext(it));) {
                _cleanup_free_ char *s = rpmProblemString(p);
                child_say(c, "install: %s\n", s);
        }
        rpmpsFreeIterator(it);
        rpmpsFree(ps);
        return n;
}

/* A transaction on root (checked as librpm holds it) with every package added. NULL when
 * either fails (said). */
static rpmts child_transaction(const char *root, const InstallPackage *pkgs, size_t n, Child *c) {
        rpmts ts = rpmtsCreate();
        /* librpm ignores a root that is not absolute and installs into "/" instead: the root
         * is checked as librpm holds it, never assumed. */
        const char *have = rpmtsSetRootDir(ts, root) == 0 ? rpmtsRootDir(ts) : NULL;
        if (!rpm_root_is(have, root)) {
                child_say(c, "install: librpm does not take %s as the root (%s)\n", root,
                          have ?: "refused");
                return rpmtsFree(ts);
        }
        rpmtsSetVSFlags(ts, RPMVSF_MASK_NOSIGNATURES);
        rpmtsSetNotifyCallback(ts, notify, c);
        for (size_t i = 0; i < n; i++) {
                FD_t fd = Fopen(pkgs[i].deb_path, "r.ufdio");
                Header h = NULL;
                rpmRC rc = fd ? rpmReadPackageFile(ts, fd, pkgs[i].deb_path, &h) : RPMRC_FAIL;
                if (fd)
                        Fclose(fd);
                int r = rc == RPMRC_OK ? rpmtsAddInstallElement(ts, h, (fnpyKey)&pkgs[i], 0, NULL)
                                       : -1;
                headerFree(h);
                if (r != 0) {
                        child_say(c, "install: cannot add %s to the transaction\n",
                                  pkgs[i].deb_path);
                        return rpmtsFree(ts);
                }
        }
        return ts;
}

/* A mount namespace of the child's own (what is mounted in it goes with the child, however it
 * ends) and what the scriptlets' mounts need, opened before librpm chroots. */
static int child_mounts(const char *root, Child *c) {
        _cleanup_free_ char *error = NULL;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                child_say(c, "install: cannot make a mount namespace: %s\n", strerror(errno));
                return -errno;
        }
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = root_fd < 0 ? -errno : install_mounts_open(&c->mounts, root, root_fd, &error);
        if (r < 0)
                child_say(c, "install: %s\n", error ?: strerror(-r));
        return r;
}

/* The child's transaction: checked (dependencies), ordered, run. Returns its exit status. */
static int child_run(const char *root, const InstallPackage *pkgs, size_t n,
                     const InstallOptions *o, const char *netshared, Child *c) {
        child_state = c;
        rpmlogSetCallback(child_log, NULL);
        child_settings(o, netshared);
        if (child_mounts(root, c) < 0)
                return 1;
        rpmts ts = child_transaction(root, pkgs, n, c);
        if (!ts)
                return 1;
        FD_t script = fdDup(c->out);
        rpmtsSetScriptFd(ts, script);
        int status = 0;
        if (rpmtsCheck(ts) != 0 || child_problems(c, ts) > 0)
                status = 1;
        else if (rpmtsOrder(ts) != 0) {
                child_say(c, "install: rpm cannot order the transaction\n");
                status = 1;
        } else {
                /* rpm checks a package's architecture against the host's; for a foreign
                 * root (arm64 built on x86-64) the resolver has already chosen the
                 * profile architecture's packages, and the scriptlets run emulated. */
                const Arch *arch = o && o->architecture ? arch_find(o->architecture) : NULL;
                rpmprobFilterFlags filter = arch && arch_is_foreign(arch)
                                                    ? RPMPROB_FILTER_IGNOREARCH
                                                    : RPMPROB_FILTER_NONE;
                int r = rpmtsRun(ts, NULL, filter);
                if (child_problems(c, ts) > 0 || r != 0 || c->script_errors > 0 ||
                    c->mount_errors > 0)
                        status = 1;
        }
        rpmtsFree(ts);
        Fclose(script);
        install_mounts_close(&c->mounts);
        return status;
}

/* Forks the transaction's child and collects what it says. */
static int run_transaction(const char *root, const InstallPackage *pkgs, size_t n,
                           const InstallOptions *o, const char *netshared, Diagnostics *diag) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return diag_add_errno(diag, errno, "install: cannot make a pipe: %m");
        /* The scriptlets' time, for the build's timing line (spawn_count_in_root()). */
        uint64_t *script_usec = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (script_usec == MAP_FAILED)
                script_usec = NULL;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                if (script_usec)
                        munmap(script_usec, sizeof(uint64_t));
                return diag_add_errno(diag, r, "install: cannot fork: %m");
        }
        if (pid == 0) {
                close(p[0]);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, STDIN_FILENO);
                dup2(p[1], STDOUT_FILENO);
                dup2(p[1], STDERR_FILENO);
                /* The scriptlets get none of the build host's environment. */
                clearenv();
                setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
                setenv("LC_ALL", "C", 1);
                setenv("HOME", "/root", 1);
                Child c = {.out = p[1], .pkgs = pkgs, .script_usec = script_usec};
                _exit(child_run(root, pkgs, n, o, netshared, &c));
        }
        close(p[1]);
        Buffer out = {};
        char buf[4096];
        for (ssize_t k; (k = read(p[0], buf, sizeof(buf))) != 0;) {
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        break;
                buffer_append(&out, buf, (size_t)k);
        }
        close(p[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (script_usec) {
                spawn_count_in_root(*script_usec);
                munmap(script_usec, sizeof(uint64_t));
        }
        int r = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                const char *text = out.data ? out.data : "";
                size_t len = strlen(text);
                if (len > 8000)
                        text += len - 8000;
                diag_add(diag, NULL, "install: the rpm transaction in %s failed%s:\n%s", root,
                         WIFSIGNALED(status) ? " (killed by a signal)" : "", text);
                r = -EIO;
        } else
                log_debug_sub("install", "rpm transaction:\n%s", out.data ? out.data : "");
        buffer_done(&out);
        return r;
}

int rpm_install_root(const char *root_dir, const InstallPackage *pkgs, size_t n,
                     const InstallOptions *o, Diagnostics *diag) {
        _cleanup_strv_free_ char **files = NULL;
        int r = rpm_lib_init();
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot read librpm's configuration");
        r = check_packages(pkgs, n, &files, diag);
        if (r < 0)
                return r;
        r = mkdir_p(root_dir);
        if (r < 0)
                return diag_add_errno(diag, r, "install: cannot make %s: %m", root_dir);
        /* librpm takes an absolute root only (a relative one would make it install into the
         * host's "/"), and never "/" itself. */
        _cleanup_free_ char *root = realpath(root_dir, NULL);
        if (!root)
                return diag_add_errno(diag, errno, "install: cannot resolve %s: %m", root_dir);
        if (streq(root, "/"))
                return diag_add_errno(diag, EINVAL, "install: refusing to install into / (%s)",
                                      root_dir);
        _cleanup_close_ int root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return diag_add_errno(diag, errno, "install: cannot open %s: %m", root_dir);
        for (size_t i = 0; o && i < o->n_files; i++) {
                const InstallFile *f = &o->files[i];
                r = root_write_file(root_fd, f->path, f->content, strlen(f->content),
                                    f->mode ? f->mode : 0644, ROOT_WRITE_MKDIR);
                if (r < 0)
                        return diag_add_errno(diag, r, "install: cannot write %s: %m", f->path);
        }
        _cleanup_free_ char *netshared =
                o ? rpm_netshared_paths(files, o->path_exclude, o->path_include) : NULL;
        r = run_transaction(root, pkgs, n, o, netshared, diag);
        if (r < 0)
                return r;
        log_info("install: %zu RPM packages installed by librpm", n);
        return 0;
}
