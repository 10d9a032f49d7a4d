/* SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/macro.h"
#include "vmcompose/signals.h"

static volatile sig_atomic_t received;

static void on_signal(int sig) {
        received = sig;
}

void signals_install(void) {
        /* No SA_RESTART: a blocking call returns EINTR so the code above it can stop. */
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
}

bool signals_interrupted(void) {
        return received != 0;
}

int signals_received(void) {
        return received;
}

/* What rm_rf() removes, in nftw()'s order: the files and symlinks, and the directories
 * deepest first. */
typedef struct RmList {
        char **files, **dirs;
        size_t n_files, n_dirs, a_files, a_dirs;
} RmList;

static RmList *rm_list; /* nftw() passes no user data: the list being filled */

static void rm_list_add(char ***l, size_t *n, size_t *a, const char *path) {
        if (*n == *a) {
                *a = *a ? *a * 2 : 256;
                *l = xrealloc(*l, *a * sizeof(char *));
        }
        (*l)[(*n)++] = xstrdup(path);
}

static int list_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void)st;
        (void)ftw;
        if (type == FTW_DP)
                rm_list_add(&rm_list->dirs, &rm_list->n_dirs, &rm_list->a_dirs, path);
        else
                rm_list_add(&rm_list->files, &rm_list->n_files, &rm_list->a_files, path);
        return 0;
}

typedef struct RmWork {
        char **files;
        size_t n;
        size_t next; /* the next index to take (atomic) */
        int error;   /* the first errno other than ENOENT (atomic) */
} RmWork;

static void *unlink_some(void *userdata) {
        RmWork *w = userdata;
        for (;;) {
                size_t i = __atomic_fetch_add(&w->next, 64, __ATOMIC_RELAXED);
                if (i >= w->n)
                        return NULL;
                for (size_t j = i; j < MIN(i + 64, w->n); j++)
                        if (unlink(w->files[j]) < 0 && errno != ENOENT) {
                                int expected = 0;
                                __atomic_compare_exchange_n(&w->error, &expected, errno, false,
                                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED);
                        }
        }
}

/* Threads that unlink at once: each unlink waits on the filesystem's journal, and on a busy
 * disk several waiting together finish a root tree in a third of the time one takes. */
#define RM_THREADS 4

int rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        RmList l = {};
        rm_list = &l;
        int r = nftw(path, list_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0
                        ? (errno ? -errno : -EIO)
                        : 0;
        rm_list = NULL;
        RmWork w = {.files = l.files, .n = l.n_files};
        pthread_t threads[RM_THREADS];
        size_t n_threads = 0;
        while (r == 0 && l.n_files > 256 && n_threads < RM_THREADS &&
               pthread_create(&threads[n_threads], NULL, unlink_some, &w) == 0)
                n_threads++;
        if (r == 0)
                (void)unlink_some(&w); /* this thread too, and alone when no thread started */
        for (size_t i = 0; i < n_threads; i++)
                pthread_join(threads[i], NULL);
        if (r == 0 && w.error)
                r = -w.error;
        for (size_t i = 0; r == 0 && i < l.n_dirs; i++)
                if (rmdir(l.dirs[i]) < 0 && errno != ENOENT)
                        r = -errno;
        for (size_t i = 0; i < l.n_files; i++)
                free(l.files[i]);
        for (size_t i = 0; i < l.n_dirs; i++)
                free(l.dirs[i]);
        free(l.files);
        free(l.dirs);
        return r;
}
